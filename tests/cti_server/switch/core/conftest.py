"""Fixtures of the call-core tests: a real switch (rtpengine + SIP) on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from cti_server.switch.core import SwitchApp, SwitchAppConfig, shipped_flow_source
from cti_server.switch.core.b2bua import FlowSource
from cti_server.switch.media.process import RtpEngineConfig, RtpEngineNotFoundError, resolve_binary
from cti_server.switch.ports import Decider
from cti_server.switch.sip import Ha1
from tests.cti_server.switch.core.core_support import FAST, Phone

ROOT = Path(__file__).resolve().parents[4]
PROMPTS = ROOT / "resources" / "prompts"
PASSWORDS = {"1001": "pw-1001", "1002": "pw-1002"}

SwitchFactory = Callable[..., Awaitable[SwitchApp]]
PhoneFactory = Callable[..., Awaitable[Phone]]


@pytest.fixture
def rtpengine_binary() -> str:
    try:
        return resolve_binary(None)
    except RtpEngineNotFoundError as exc:
        pytest.skip(f"rtpengine not installed: {exc}")


async def _credentials(user: str) -> str | Ha1 | None:
    return PASSWORDS.get(user)


@pytest_asyncio.fixture
async def make_switch(rtpengine_binary: str, tmp_path: Path) -> AsyncIterator[SwitchFactory]:
    """``await make_switch(decider, flows=…, ring_timeout=…)`` → a started switch."""
    apps: list[SwitchApp] = []

    async def factory(
        decider: Decider,
        *,
        flows: FlowSource = shipped_flow_source,
        ring_timeout: float = 5.0,
    ) -> SwitchApp:
        config = SwitchAppConfig(
            prompts_dir=PROMPTS,
            moh_file=tmp_path / "moh" / "default.wav",
            sip_host="127.0.0.1",
            sip_port=0,
            rtpengine=RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=60, num_threads=2),
            recordings_dir=tmp_path / "recordings",
            sip_timers=FAST,
            ring_timeout=ring_timeout,
        )
        app = SwitchApp(config, decider, _credentials, flows=flows)
        await app.start()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.stop()


@pytest_asyncio.fixture
async def make_phone() -> AsyncIterator[PhoneFactory]:
    phones: list[Phone] = []

    async def factory(user: str, *, answer_after: float | None = 0.2) -> Phone:
        phone = await Phone.open(user, answer_after=answer_after)
        phones.append(phone)
        return phone

    yield factory
    for phone in phones:
        await phone.close()
