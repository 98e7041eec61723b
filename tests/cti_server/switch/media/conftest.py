"""Fixtures for media tests: a real rtpengine per test and RTP legs on Python sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cti_server.switch.media.dtmf import DtmfListener
from cti_server.switch.media.process import (
    RtpEngineConfig,
    RtpEngineNotFoundError,
    RtpEngineProcess,
    resolve_binary,
)
from cti_server.switch.media.testing import Leg


@pytest.fixture
def rtpengine_binary() -> str:
    try:
        return resolve_binary(None)
    except RtpEngineNotFoundError as exc:
        pytest.skip(f"rtpengine not installed: {exc}")


@pytest_asyncio.fixture
async def dtmf_listener() -> AsyncIterator[DtmfListener]:
    async with DtmfListener() as listener:
        await listener.start()
        yield listener


@pytest_asyncio.fixture
async def engine(
    rtpengine_binary: str, tmp_path: Path, dtmf_listener: DtmfListener
) -> AsyncIterator[RtpEngineProcess]:
    assert dtmf_listener.address is not None
    config = RtpEngineConfig(
        binary=rtpengine_binary,
        dtmf_log_dest=dtmf_listener.address,
        recording_dir=tmp_path / "recordings",
        rtp_port_count=60,
        num_threads=2,
    )
    async with RtpEngineProcess(config) as proc:
        yield proc


@pytest_asyncio.fixture
async def legs() -> AsyncIterator[tuple[Leg, Leg]]:
    caller, agent = await Leg.open(), await Leg.open()
    yield caller, agent
    await caller.close()
    await agent.close()
