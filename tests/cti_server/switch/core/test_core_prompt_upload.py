"""The caller hears the prompt an administrator uploaded instead of the shipped one
(R-IVR-5, issue 5: "administrators can upload their own" prompts).

Real SIP and rtpengine. The upload goes through the server's real PromptStore; the
switch's PromptSync fetches it through a stand-in for the link's two requests that
answers exactly like the server's handlers (the real link and server:
tests/cti_server/switch/link/test_link_prompts.py). The tone is measured on the
caller's RTP leg.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cti_server.store.prompts import PromptNotFound, PromptStore
from cti_server.switch.core import SwitchApp, SwitchAppConfig
from cti_server.switch.media.process import RtpEngineConfig
from cti_server.switch.media.rtp import dominant_frequency, goertzel_power, rms
from cti_server.switch.prompt_sync import PromptSync
from cti_server.switch.sip import Ha1
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import (
    PromptChunk,
    PromptIndex,
    PromptIndexEntry,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
)
from tests.cti_server.prompt_support import wav_bytes
from tests.cti_server.switch.core.conftest import PROMPTS, PhoneFactory
from tests.cti_server.switch.core.core_support import FAST, Phone, RecordingDecider

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

K = SwitchCallEventKind
TONE = 1250.0


async def _no_users(user: str) -> str | Ha1 | None:
    return None


class StoreLink:
    """``switch.prompt_index`` / ``switch.prompt_get`` answered from a PromptStore the
    way the server's handlers do (cti_server/domain/handlers.py)."""

    def __init__(self, store: PromptStore) -> None:
        self.store = store

    async def fetch_prompt_index(self) -> PromptIndex:
        return PromptIndex(
            prompts=tuple(
                PromptIndexEntry(
                    language=p.language, prompt_id=p.prompt_id, sha256=p.sha256, size=p.size
                )
                for p in self.store.uploaded()
            )
        )

    async def fetch_prompt_chunk(self, language: str, prompt_id: str, offset: int) -> PromptChunk:
        try:
            info, data = self.store.chunk(language, prompt_id, offset)
        except PromptNotFound as exc:
            raise ProtocolError(ErrorCode.INVALID_FIELD, str(exc)) from None
        return PromptChunk(
            sha256=info.sha256, size=info.size, offset=offset, data=base64.b64encode(data).decode()
        )


@pytest_asyncio.fixture
async def started(rtpengine_binary: str) -> AsyncIterator[list[SwitchApp]]:
    apps: list[SwitchApp] = []
    yield apps
    for app in apps:
        await app.stop()


async def _greeting(phone: Phone, app: SwitchApp, decider: RecordingDecider) -> list[int]:
    """Call the switch and return about 1.2 s of what the caller hears in the greeting."""
    assert phone.leg is not None
    assert await phone.call(app.sip_address) == 200
    node = await decider.wait_for(K.IVR_NODE)
    assert node.node == "greeting"
    await phone.leg.send_tone(440.0, 0.1)  # rtpengine learns where the caller is
    phone.leg.received.clear()
    await asyncio.sleep(1.2)
    samples = phone.leg.pcmu_samples()
    await phone.hang_up()
    return samples


def tone_share(samples: list[int]) -> float:
    """Amplitude at 1250 Hz over the RMS: about 1.4 for a pure 1250 Hz tone, near 0 for
    speech or other tones."""
    level = rms(samples)
    return 2 * goertzel_power(samples, TONE) ** 0.5 / level if level else 0.0


async def test_the_caller_hears_the_uploaded_greeting_instead_of_the_shipped_one(
    rtpengine_binary: str, tmp_path: Path, make_phone: PhoneFactory, started: list[SwitchApp]
) -> None:
    server_store = PromptStore(tmp_path / "server" / "prompts")
    cache = tmp_path / "switch" / "prompts"
    link = StoreLink(server_store)
    sync = PromptSync(cache, link.fetch_prompt_index, link.fetch_prompt_chunk)

    decider = RecordingDecider()
    decider.answers[RouteStage.ARRIVAL] = lambda q: RouteResponse(flow_id="default")
    config = SwitchAppConfig(
        prompts_dir=PROMPTS,
        prompt_cache_dir=cache,
        moh_file=tmp_path / "moh" / "default.wav",
        sip_host="127.0.0.1",
        sip_port=0,
        rtpengine=RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=40, num_threads=2),
        recordings_dir=tmp_path / "recordings",
        sip_timers=FAST,
    )
    app = SwitchApp(config, decider, _no_users)
    started.append(app)
    await app.start()

    # the shipped greeting (speech): heard, but no steady 1250 Hz tone
    shipped = await _greeting(await make_phone("13800000401"), app, decider)
    assert rms(shipped) > 300
    assert tone_share(shipped) < 0.4

    # the admin uploads a µ-law greeting of a pure 1250 Hz tone; the switch syncs it
    server_store.save("9901", "zh", "welcome", wav_bytes(TONE, 4.0, fmt="ulaw"))
    report = await sync.sync_now()
    assert report.downloaded == ["zh/welcome"]
    assert (cache / "zh" / "welcome.wav").is_file()

    decider.reports.clear()
    uploaded = await _greeting(await make_phone("13800000402"), app, decider)
    assert rms(uploaded) > 300
    heard = dominant_frequency(uploaded)
    assert abs(heard - TONE) < 15, heard
    assert tone_share(uploaded) > 1.0

    # deleted on the server: the next sync removes it, the shipped greeting is back
    server_store.delete("9901", "zh", "welcome")
    assert (await sync.sync_now()).removed == ["zh/welcome"]
    decider.reports.clear()
    again = await _greeting(await make_phone("13800000403"), app, decider)
    assert rms(again) > 300
    assert tone_share(again) < 0.4
