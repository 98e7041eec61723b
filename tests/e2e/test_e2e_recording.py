"""Call recording end to end (R-SUP-3, issue 8): a real CTI server process and a real
switch process (``--demo``; recording on by default). A caller reaches an agent through
the IVR and the server's routing, the agent's softphone answers, both talk (caller
1000 Hz, agent 450 Hz), the caller hangs up. The switch turns rtpengine's recording into
a stereo WAV and uploads it over the CTI link; team lead 9001 finds it on the call's
recordings page and its audio endpoint returns that WAV: as long as the bridged part of
the call, the caller's tone on the left channel, the agent's on the right.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import re
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from cti_server.switch.media.process import RtpEngineNotFoundError, resolve_binary
from cti_server.switch.media.rtp import goertzel_power
from cti_server.switch.media.testing import Leg
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentSetReady
from shared.protocol.call import CallEstablished
from shared.protocol.errors import ProtocolError
from tests.e2e.e2e_support import (
    LoggedProcess,
    Phone,
    expect,
    free_port,
    login_desktop,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

AGENTS = ("1003", "1004")
"""Level 1 of the "general" group: the support queue (IVR key 2) reaches them."""
SUPPORT = "2"
LEAD = "9001"
CALLER_HZ, AGENT_HZ = 1000.0, 450.0
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def send_tone(leg: Leg, frequency: float, seconds: float) -> None:
    """``frequency`` in real time: a 20 ms packet every 20 ms on an absolute schedule."""
    assert leg.transport is not None and leg.remote is not None
    loop = asyncio.get_running_loop()
    began = loop.time()
    for i, packet in enumerate(leg.tone_packets(frequency, seconds)):
        delay = began + 0.02 * i - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        leg.transport.sendto(packet.to_bytes(), leg.remote)


def level(samples: list[int], frequency: float) -> float:
    """About the amplitude of ``frequency`` over ``samples`` (8000 sent all the time)."""
    return 2 * math.sqrt(goertzel_power(samples, frequency)) if samples else 0.0


def loudest_second(samples: list[int]) -> slice:
    """The 1 s stretch (8000 samples, 20 ms steps) with the most energy."""
    step, span = 160, 8000
    best, best_at = -1, 0
    for at in range(0, max(1, len(samples) - span + 1), step):
        energy = sum(x * x for x in samples[at : at + span : 4])
        if energy > best:
            best, best_at = energy, at
    return slice(best_at, best_at + span)


class Centre:
    def __init__(self, url: str, web: str, sip: tuple[str, int]) -> None:
        self.url, self.web, self.sip = url, web, sip
        self.phones: dict[str, Phone] = {}
        self.desks: dict[str, CtiClient] = {}
        self.switch: LoggedProcess | None = None


@pytest_asyncio.fixture
async def centre(tmp_path: Path) -> AsyncIterator[Centre]:
    try:
        resolve_binary(None)
    except RtpEngineNotFoundError as exc:
        pytest.skip(f"rtpengine not installed: {exc}")
    ws_port, http_port, sip_port = free_port(), free_port(), free_port()
    server = LoggedProcess(
        "cti-server",
        "cti_server",
        [
            "--demo",
            "--set",
            f"server.ws_port={ws_port}",
            "--set",
            f"server.http_port={http_port}",
            "--set",
            f"paths.data_dir={tmp_path / 'cti'}",
        ],
    )
    switch = LoggedProcess(
        "switch",
        "cti_server.switch",
        [
            "--demo",
            "--switch-id",
            "sw-e2e-rec",
            "--set",
            f"switch.sip_port={sip_port}",
            "--set",
            "switch.rtpengine_ng=127.0.0.1:0",
            "--set",
            f"switch.cti_url=ws://127.0.0.1:{ws_port}",
            "--set",
            f"paths.data_dir={tmp_path / 'switch'}",
        ],
    )
    cc = Centre(
        f"ws://127.0.0.1:{ws_port}", f"http://127.0.0.1:{http_port}", ("127.0.0.1", sip_port)
    )
    cc.switch = switch
    try:
        await asyncio.gather(server.start(), switch.start())
        await server.wait_for(r"listening on 127\.0\.0\.1:\d+", timeout=60)
        await switch.wait_for(r"switch ready on sip:", timeout=30)
        await switch.wait_for(r"CTI mode: the CTI link", timeout=30)
        for user in AGENTS:
            cc.phones[user] = await Phone.open(user)
            assert await cc.phones[user].register(cc.sip, "demo") == 200
            cc.desks[user] = await login_desktop(cc.url, user)
            with contextlib.suppress(ProtocolError):  # already ready
                await cc.desks[user].request(AgentSetReady(id=0))
        caller = await Phone.open("13800138077")
        cc.phones["caller"] = caller
        yield cc
    finally:
        for desk in cc.desks.values():
            await desk.close()
        switch_code = await switch.stop()
        server_code = await server.stop()
        for phone in cc.phones.values():
            await phone.close()
        for proc in (server, switch):
            (tmp_path / f"{proc.name}.log").write_text("".join(proc.lines), encoding="utf-8")
            print(f"===== {proc.name} =====\n{proc.tail()}")
    assert switch_code == 0, switch.tail()
    assert server_code == 0, server.tail()
    assert "Traceback" not in "".join(switch.lines)


async def sign_in(client: httpx.AsyncClient, agent_id: str) -> None:
    form = await client.get("/ui/login")
    match = _CSRF.search(form.text)
    assert form.status_code == 200 and match is not None
    done = await client.post(
        "/ui/login", data={"csrf": match.group(1), "agent_id": agent_id, "password": "demo"}
    )
    assert done.status_code == 303, done.text


async def test_an_answered_call_is_recorded_and_played_on_the_server(centre: Centre) -> None:
    cc = centre
    caller = cc.phones["caller"]
    assert await caller.call(cc.sip) == 200
    agents = [cc.phones[a] for a in AGENTS]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not any(p.answered for p in agents):  # IVR: technical support
        assert loop.time() < deadline, "the call reached no agent"
        await caller.press(SUPPORT)
        for _ in range(40):  # noting the answer within 20 ms
            if any(p.answered for p in agents):
                break
            await asyncio.sleep(0.02)
    agent = next(p for p in agents if p.answered)
    answered = time.time()
    call_id = agent.answered[0]
    assert (await expect(cc.desks[agent.user], CallEstablished, timeout=10)).call_id == call_id

    # rtpengine confirms the recording's start a moment after the bridge (longer on a
    # loaded machine): the parties speak once it records
    assert cc.switch is not None
    await cc.switch.wait_for(rf"{call_id}: recording \S+ started", timeout=10)
    await asyncio.sleep(0.3)
    await send_tone(caller.media, CALLER_HZ, 1.0)
    await send_tone(agent.media, AGENT_HZ, 1.0)
    await asyncio.sleep(0.2)
    hung_up = time.time()
    await caller.hang_up()

    async with httpx.AsyncClient(base_url=cc.web, cookies={"lang": "en"}) as lead:
        await sign_in(lead, LEAD)
        src = re.compile(r'src="/ui/recordings/([^"/]+)/audio"')
        deadline = loop.time() + 15
        while True:
            page = await lead.get(f"/ui/recordings/calls/{call_id}")
            found = src.search(page.text) if page.status_code == 200 else None
            if found is not None:
                break
            assert loop.time() < deadline, f"no recording on the call's page ({page.status_code})"
            await asyncio.sleep(0.5)
        audio = await lead.get(f"/ui/recordings/{found.group(1)}/audio")
    assert audio.status_code == 200 and audio.headers["content-type"].startswith("audio/wav")

    with wave.open(io.BytesIO(audio.content), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        seconds = wav.getnframes() / 8000
        samples = memoryview(wav.readframes(wav.getnframes())).cast("h").tolist()
    # from the agent's answer (the bridge) to the caller's hang-up
    assert seconds == pytest.approx(hung_up - answered, abs=0.3)
    left, right = samples[0::2], samples[1::2]
    # each party spoke for 1 s (about 4000 once through G.711 and the mix) somewhere in a
    # recording whose length depends on the machine's load: each tone over its loudest second
    caller_said = loudest_second(left)
    agent_said = loudest_second(right)
    assert level(left[caller_said], CALLER_HZ) > 2500 > level(right[caller_said], CALLER_HZ) * 10
    assert level(right[agent_said], AGENT_HZ) > 2500 > level(left[agent_said], AGENT_HZ) * 10
