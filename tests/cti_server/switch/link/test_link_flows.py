"""IVR flows fetched from a real CTI server and cached by the switch (R-IVR-5, R-IN-3).

A real server publishes a new version of a flow; the next route response names it, the
switch's link fetches it (``switch.flow_get``, 1.2) into the FlowCache on disk; with
the link down the fallback ACD's route answer runs that cached version, also after a
switch restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.store import ConfigStore
from cti_server.store.flows import save_flow, seed_shipped_flows
from cti_server.switch.decider import Mode
from cti_server.switch.flows import FlowCache
from cti_server.switch.ports import DecisionUnavailable
from shared.ivr import load_shipped_flow
from shared.protocol.base import VERSION_1_1
from shared.protocol.errors import ErrorCode, ProtocolError
from tests.cti_server.switch.link.link_support import (
    FakeControl,
    Server,
    arrive,
    make_decider,
    make_link,
    until,
)

pytestmark = pytest.mark.asyncio

NEW_DEFAULT = {
    "id": "default",
    "description": "closed today",
    "entry": "closed",
    "nodes": {
        "closed": {"kind": "prompt", "prompts": ["goodbye"], "next": "bye"},
        "bye": {"kind": "hangup"},
    },
}


@pytest_asyncio.fixture
async def server(db: sa.Engine) -> AsyncIterator[Server]:
    seed_shipped_flows(ConfigStore(db))
    srv = Server(db)
    await srv.start()
    yield srv
    await srv.stop()


async def test_a_published_version_is_fetched_cached_and_runs_with_the_link_down(
    server: Server, db: sa.Engine, tmp_path: Path
) -> None:
    control = FakeControl()
    decider = make_decider(server.url, control, tmp_path / "journal.jsonl")
    cache = FlowCache(tmp_path / "flows", decider.link.fetch_flow)
    await decider.start()
    try:
        await decider.link.wait_up(3.0)
        first = await arrive(decider, "FL-1", caller="13900000001")
        assert first.flow_id == "default"
        seeded = first.flow_version
        assert seeded is not None
        flow = await cache.prefetch(first.flow_id, seeded)
        assert flow.nodes == load_shipped_flow("default").nodes

        # the admin publishes a new version: the next call's route names it
        saved = save_flow(ConfigStore(db), "9901", "default", NEW_DEFAULT, publish=True)
        second = await arrive(decider, "FL-2", caller="13900000002")
        assert (second.flow_id, second.flow_version) == ("default", saved.version)
        flow = await cache.prefetch(second.flow_id, second.flow_version)
        assert (flow.version, flow.description, flow.entry) == (
            saved.version,
            "closed today",
            "closed",
        )
        assert cache.fetched == 2
        assert (tmp_path / "flows" / f"default@{saved.version}.json").is_file()

        # the CTI server goes away: the fallback ACD answers, the cached version runs
        await server.stop()
        await until(lambda: decider.mode is Mode.FALLBACK, timeout=5.0)
        offline = await arrive(decider, "FL-3", caller="13900000003")
        assert offline.flow_id == "default" and offline.flow_version is None
        assert (await cache.prefetch(offline.flow_id, offline.flow_version)).entry == "closed"
        with pytest.raises(DecisionUnavailable):
            await decider.link.fetch_flow("default", None)
    finally:
        await decider.close()
    # a switch restarted without any server still runs it
    restarted = FlowCache(tmp_path / "flows")
    assert restarted("default", None).description == "closed today"


async def test_flow_get_refusals_and_older_servers(server: Server, tmp_path: Path) -> None:
    """Unknown flow / version → invalid_field (the cache keeps what it has); a server
    session older than 1.2 is never asked."""
    link = make_link(server.url, FakeControl(), None)
    await link.start()
    try:
        await link.wait_up(3.0)
        published = await link.fetch_flow("vip", None)
        assert (published.flow_id, published.published) == ("vip", True)
        with pytest.raises(ProtocolError) as unknown:
            await link.fetch_flow("nope", None)
        assert unknown.value.code is ErrorCode.INVALID_FIELD
        assert unknown.value.detail["field"] == "flow_id"
        with pytest.raises(ProtocolError) as version:
            await link.fetch_flow("vip", 99)
        assert version.value.code is ErrorCode.INVALID_FIELD
        assert version.value.detail["field"] == "version"
        cache = FlowCache(tmp_path, link.fetch_flow)
        assert (await cache.prefetch("vip", 99)) == load_shipped_flow("vip")
        assert cache.fetch_failures == 1
    finally:
        await link.close()

    old = make_link(server.url, FakeControl(), None)
    old.client.versions = (VERSION_1_1,)
    await old.start()
    try:
        await old.wait_up(3.0)
        assert old.version == VERSION_1_1
        with pytest.raises(DecisionUnavailable):
            await old.fetch_flow("vip", None)
    finally:
        await old.close()
