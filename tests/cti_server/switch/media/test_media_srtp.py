"""SDES-SRTP callers (RFC 4568 ``a=crypto``, RFC 3711) bridged to plain-RTP agents.

rtpengine does the crypto: the caller's leg is ``RTP/SAVP`` with keys exchanged in
the SDP, the agent's leg stays ``RTP/AVP``. Proven with a real rtpengine and real
SRTP from ``pylibsrtp`` (test-only dependency): the caller's encrypted 1 kHz tone
arrives at the agent as plain PCMU at 1 kHz, the agent's 600 Hz arrives at the
caller encrypted with the key rtpengine put in its ``a=crypto`` answer. Then the
same through the whole switch (SIP INVITE with SRTP SDP → bridged agent), and the
``srtp="require"`` policy refusing a plain-RTP caller with 488.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from pathlib import Path

import pytest

from cti_server.switch.core import SwitchApp, SwitchAppConfig
from cti_server.switch.media.ng import MediaOptions
from cti_server.switch.media.process import RtpEngineConfig, RtpEngineProcess
from cti_server.switch.media.rtp import (
    PT_PCMU,
    SAMPLES_PER_PACKET,
    RtpError,
    RtpPacket,
    dominant_frequency,
    pcmu_frames,
    tone,
    ulaw_decode,
)
from cti_server.switch.media.testing import Leg, audio_sdp, media_ports
from cti_server.switch.sip import IncomingCall
from shared.ivr import Flow, parse_flow
from shared.protocol.switch import RoutedAgent, RouteResponse, RouteStage, SwitchCallEventKind
from tests.cti_server.switch.core.core_support import (
    FAST,
    Phone,
    RecordingDecider,
    media_calls_gone,
)

try:
    import pylibsrtp
except ImportError:  # test-only dependency: only the tests that send SRTP need it
    HAVE_PYLIBSRTP = False
else:
    HAVE_PYLIBSRTP = True
requires_pylibsrtp = pytest.mark.skipif(
    not HAVE_PYLIBSRTP, reason="pylibsrtp (test-only dependency) is needed to send SRTP"
)

SUITE = "AES_CM_128_HMAC_SHA1_80"
ROOT = Path(__file__).resolve().parents[4]
K = SwitchCallEventKind


def srtp_sdp(port: int, session: int, key: bytes) -> str:
    """:func:`audio_sdp` as ``RTP/SAVP`` with one SDES crypto line."""
    inline = base64.b64encode(key).decode()
    return audio_sdp(port, session).replace("RTP/AVP", "RTP/SAVP") + (
        f"a=crypto:1 {SUITE} inline:{inline}\r\n"
    )


def crypto_key(sdp: str) -> bytes:
    """Master key + salt of the first ``AES_CM_128_HMAC_SHA1_80`` crypto line."""
    found = re.search(rf"^a=crypto:\d+ {SUITE} inline:([A-Za-z0-9+/=]+)", sdp, re.MULTILINE)
    assert found is not None, f"no {SUITE} a=crypto in:\n{sdp}"
    key = base64.b64decode(found.group(1))
    assert len(key) == 30
    return key


class _SrtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, leg: SrtpLeg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.leg.on_datagram(data)


class SrtpLeg:
    """A caller's media endpoint speaking SRTP: sends with its own key, decrypts with
    the key the other side (rtpengine) announced."""

    def __init__(self) -> None:
        self.key = os.urandom(30)
        self._tx = pylibsrtp.Session(
            policy=pylibsrtp.Policy(
                key=self.key,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
            )
        )
        self._rx: object | None = None
        self.received: list[RtpPacket] = []
        self.undecryptable = 0
        self.remote: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.seq = 0
        self.ts = 0

    @classmethod
    async def open(cls) -> SrtpLeg:
        leg = cls()
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _SrtpProtocol(leg), local_addr=("127.0.0.1", 0)
        )
        leg.transport = transport
        leg.port = int(transport.get_extra_info("sockname")[1])
        return leg

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def peer_key(self, key: bytes) -> None:
        self._rx = pylibsrtp.Session(
            policy=pylibsrtp.Policy(
                key=key,
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
            )
        )

    def on_datagram(self, data: bytes) -> None:
        if self._rx is None:
            self.undecryptable += 1
            return
        try:
            plain = self._rx.unprotect(data)  # type: ignore[attr-defined]
            self.received.append(RtpPacket.parse(plain))
        except (pylibsrtp.Error, RtpError):
            self.undecryptable += 1

    async def send_tone(self, frequency: float, seconds: float) -> None:
        assert self.transport is not None and self.remote is not None
        for payload in pcmu_frames(tone(frequency, seconds)):
            packet = RtpPacket(PT_PCMU, self.seq, self.ts, 0x5A5A, payload)
            self.seq += 1
            self.ts += SAMPLES_PER_PACKET
            self.transport.sendto(self._tx.protect(packet.to_bytes()), self.remote)
            await asyncio.sleep(0.005)

    def samples(self) -> list[int]:
        return ulaw_decode(b"".join(p.payload for p in self.received if p.payload_type == 0))


async def wait_for(count: int, packets: list[RtpPacket]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3.0
    while len(packets) < count and loop.time() < deadline:
        await asyncio.sleep(0.01)


def assert_tone(samples: list[int], frequency: float) -> None:
    assert len(samples) >= 1600, f"only {len(samples)} samples arrived"
    assert abs(dominant_frequency(samples) - frequency) <= 5


@requires_pylibsrtp
@pytest.mark.asyncio
async def test_media_srtp_caller_bridged_to_plain_agent_by_rtpengine(
    engine: RtpEngineProcess,
) -> None:
    caller = await SrtpLeg.open()
    agent = await Leg.open()
    try:
        options = MediaOptions()  # the switch's default: agents get RTP/AVP
        offer = await engine.client.offer(
            srtp_sdp(caller.port, 1, caller.key), "srtp-1", "caller", options
        )
        assert "RTP/AVP" in offer.sdp and "RTP/SAVP" not in offer.sdp
        assert "a=crypto" not in offer.sdp  # the agent side is plain RTP
        answer = await engine.client.answer(
            audio_sdp(agent.port, 2), "srtp-1", "caller", "agent", options
        )
        assert re.search(r"^m=audio \d+ RTP/SAVP ", answer.sdp, re.MULTILINE)
        engine_key = crypto_key(answer.sdp)
        assert engine_key != caller.key
        caller.peer_key(engine_key)
        agent.remote = ("127.0.0.1", media_ports(offer.sdp)[0])
        caller.remote = ("127.0.0.1", media_ports(answer.sdp)[0])

        await asyncio.gather(caller.send_tone(1000.0, 0.4), agent.send_tone(600.0, 0.4))
        await agent.wait_packets(15)
        await wait_for(15, caller.received)
        assert_tone(agent.pcmu_samples(), 1000.0)  # decrypted by rtpengine
        assert_tone(caller.samples(), 600.0)  # encrypted by rtpengine, decrypted here
        assert caller.undecryptable == 0
        # Plain RTP at the caller's SRTP port would not decrypt: prove the check bites.
        caller.peer_key(os.urandom(30))
        caller.received.clear()
        await agent.send_tone(600.0, 0.2)
        await asyncio.sleep(0.2)
        assert caller.received == [] and caller.undecryptable > 0
    finally:
        caller.close()
        await agent.close()


@pytest.mark.asyncio
async def test_media_srtp_forced_answer_protocol_would_strip_srtp(
    engine: RtpEngineProcess,
) -> None:
    """Why answers leave ``transport protocol`` out: forcing RTP/AVP into the answer
    hands an SRTP caller a plain answer (which it must refuse)."""
    key = os.urandom(30)
    forced = MediaOptions(force_answer_protocol=True)
    await engine.client.offer(srtp_sdp(40_000, 1, key), "srtp-2", "caller", forced)
    answer = await engine.client.answer(audio_sdp(40_010, 2), "srtp-2", "caller", "b", forced)
    assert "RTP/SAVP" not in answer.sdp and "a=crypto" not in answer.sdp
    # SDES flags reach rtpengine: offering only the 32-bit tag suite is refused.
    only_32 = MediaOptions(sdes=("no-AES_CM_128_HMAC_SHA1_80",), transport_protocol="RTP/SAVP")
    offer = await engine.client.offer(audio_sdp(40_020, 3), "srtp-3", "caller", only_32)
    assert "AES_CM_128_HMAC_SHA1_32" in offer.sdp
    assert f"{SUITE} " not in offer.sdp


STRAIGHT_TO_QUEUE = parse_flow(
    {"id": "direct", "entry": "q", "nodes": {"q": {"kind": "queue", "queue": "q_sales"}}}
)


def direct(flow_id: str | None, version: int | None) -> Flow:
    return STRAIGHT_TO_QUEUE


async def _credentials(user: str) -> str | None:
    return {"1001": "pw-1001"}.get(user)


async def start_switch(
    rtpengine_binary: str, tmp_path: Path, decider: RecordingDecider, srtp: str
) -> SwitchApp:
    config = SwitchAppConfig(
        prompts_dir=ROOT / "resources" / "prompts",
        moh_file=tmp_path / "moh" / "default.wav",
        sip_host="127.0.0.1",
        sip_port=0,
        rtpengine=RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=60, num_threads=2),
        recordings_dir=tmp_path / "recordings",
        sip_timers=FAST,
        ring_timeout=5.0,
        srtp=srtp,
    )
    app = SwitchApp(config, decider, _credentials, flows=direct)
    await app.start()
    return app


@requires_pylibsrtp
@pytest.mark.asyncio
async def test_media_srtp_trunk_call_through_the_switch(
    rtpengine_binary: str, tmp_path: Path
) -> None:
    """An SRTP caller dials the switch and is bridged to a plain-RTP softphone: 200 OK
    is RTP/SAVP + a=crypto, the agent's INVITE RTP/AVP without keys, audio both ways,
    also after the agent's phone held and resumed the call by re-INVITE."""
    decider = RecordingDecider()
    app = await start_switch(rtpengine_binary, tmp_path, decider, "allow")
    agent = await Phone.open("1001")
    caller_stack = await Phone.open("13800000010")
    leg = await SrtpLeg.open()
    try:
        assert await agent.register(app.sip_address, "pw-1001") == 200
        contact = app.core.registered_contacts()["1001"]
        decider.answers[RouteStage.AGENT_NEEDED] = lambda q: RouteResponse(
            queue_id=q.queue_id, agent=RoutedAgent(agent_id="1001", sip_contact=contact)
        )
        assert caller_stack.stack is not None and agent.leg is not None
        host, port = app.sip_address
        result = await caller_stack.stack.invite(
            f"sip:10086@{host}:{port}", sdp=srtp_sdp(leg.port, 1, leg.key).encode()
        )
        assert result.status == 200 and result.answer is not None
        answer = result.answer.to_text()
        assert re.search(r"^m=audio \d+ RTP/SAVP ", answer, re.MULTILINE)
        leg.peer_key(crypto_key(answer))
        leg.remote = ("127.0.0.1", media_ports(answer)[0])
        await decider.wait_for(K.BRIDGED)
        invite: IncomingCall = agent.invites[0]
        agent_offer = invite.request.body.decode()
        assert "RTP/AVP" in agent_offer and "a=crypto" not in agent_offer

        agent.leg.received.clear()
        leg.received.clear()
        await asyncio.gather(leg.send_tone(1000.0, 0.4), agent.leg.send_tone(600.0, 0.4))
        await agent.leg.wait_packets(15)
        await wait_for(15, leg.received)
        assert_tone(agent.leg.pcmu_samples(), 1000.0)
        assert_tone(leg.samples(), 600.0)

        # The agent's phone re-INVITEs (hold, then resume): rtpengine must keep the
        # caller's side SRTP (a plain re-offer would silence the caller).
        assert agent.stack is not None and agent.dialog is not None
        for direction in ("sendonly", "sendrecv"):
            reinvite = await agent.stack.request(
                agent.dialog, "INVITE", body=audio_sdp(agent.leg.port, 7, direction).encode()
            )
            assert reinvite.status == 200
        agent.leg.received.clear()
        leg.received.clear()
        await asyncio.gather(leg.send_tone(1000.0, 0.4), agent.leg.send_tone(600.0, 0.4))
        await agent.leg.wait_packets(15)
        await wait_for(15, leg.received)
        assert_tone(agent.leg.pcmu_samples(), 1000.0)
        assert_tone(leg.samples(), 600.0)
        assert leg.undecryptable == 0
        assert result.dialog is not None
        await caller_stack.stack.bye(result.dialog)
        await decider.wait_for(K.RELEASED)
    finally:
        leg.close()
        await caller_stack.close()
        await agent.close()
        await app.stop()


@pytest.mark.asyncio
async def test_media_srtp_required_refuses_plain_rtp_caller(
    rtpengine_binary: str, tmp_path: Path
) -> None:
    decider = RecordingDecider()
    app = await start_switch(rtpengine_binary, tmp_path, decider, "require")
    caller = await Phone.open("13800000011")
    try:
        assert caller.leg is not None
        assert await caller.call(app.sip_address) == 488
        failed = await decider.wait_for(K.FAILED)
        assert failed.detail is not None and "SRTP required" in failed.detail
        assert app.core.calls == {}
        assert await media_calls_gone(app.engine.client)
    finally:
        await caller.close()
        await app.stop()
