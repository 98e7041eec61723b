"""A real switch runs the flow version a route response names, fetched into its
FlowCache before the flow starts; with the server gone the cached version keeps
running (R-IVR-5, R-IN-3).

Real SIP and rtpengine; the fetch is a stand-in for ``CtiLink.fetch_flow`` (the real
link and server: tests/cti_server/switch/link/test_link_flows.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from cti_server.switch.core import SwitchApp, SwitchAppConfig
from cti_server.switch.flows import FlowCache
from cti_server.switch.media.process import RtpEngineConfig
from cti_server.switch.ports import DecisionUnavailable
from cti_server.switch.sip import Ha1
from shared.protocol.switch import (
    FlowDocument,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
)
from tests.cti_server.switch.core.conftest import PROMPTS, PhoneFactory
from tests.cti_server.switch.core.core_support import FAST, RecordingDecider

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

K = SwitchCallEventKind

CLOSED_V7: dict[str, Any] = {
    "id": "default",
    "version": 7,
    "description": "closed today",
    "entry": "closed_today",
    "nodes": {
        "closed_today": {"kind": "prompt", "prompts": ["closed"], "next": "bye"},
        "bye": {"kind": "hangup"},
    },
}


async def _no_users(user: str) -> str | Ha1 | None:
    return None


@pytest_asyncio.fixture
async def started(rtpengine_binary: str, tmp_path: Path) -> AsyncIterator[list[SwitchApp]]:
    apps: list[SwitchApp] = []
    yield apps
    for app in apps:
        await app.stop()


async def test_the_route_s_flow_version_is_fetched_and_keeps_running_offline(
    rtpengine_binary: str,
    tmp_path: Path,
    make_phone: PhoneFactory,
    started: list[SwitchApp],
) -> None:
    fetches: list[tuple[str, int | None]] = []
    link_up = True

    async def fetch(flow_id: str, version: int | None) -> FlowDocument:
        fetches.append((flow_id, version))
        if not link_up:
            raise DecisionUnavailable("the CTI link is down")
        return FlowDocument(flow_id=flow_id, version=7, document=CLOSED_V7)

    cache = FlowCache(tmp_path / "flows", fetch)
    decider = RecordingDecider()
    decider.answers[RouteStage.ARRIVAL] = lambda q: RouteResponse(flow_id="default", flow_version=7)
    config = SwitchAppConfig(
        prompts_dir=PROMPTS,
        moh_file=tmp_path / "moh" / "default.wav",
        sip_host="127.0.0.1",
        sip_port=0,
        rtpengine=RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=40, num_threads=2),
        recordings_dir=tmp_path / "recordings",
        sip_timers=FAST,
    )
    app = SwitchApp(config, decider, _no_users, flows=cache, flow_prefetch=cache.prefetch)
    started.append(app)
    await app.start()

    caller = await make_phone("13800000301")
    assert await caller.call(app.sip_address) == 200
    node = await decider.wait_for(K.IVR_NODE)
    assert node.node == "closed_today"  # version 7, not the shipped default flow
    await asyncio.wait_for(caller.bye.wait(), 15)
    assert fetches == [("default", 7)]
    assert (tmp_path / "flows" / "default@7.json").is_file()

    # the link is down: the fallback ACD answers without a version; the cache runs v7
    link_up = False
    decider.reports.clear()
    decider.answers[RouteStage.ARRIVAL] = lambda q: RouteResponse(flow_id="default")
    second = await make_phone("13800000302")
    assert await second.call(app.sip_address) == 200
    assert (await decider.wait_for(K.IVR_NODE)).node == "closed_today"
    await asyncio.wait_for(second.bye.wait(), 15)
    assert fetches == [("default", 7)]  # nothing fetched: it had it
