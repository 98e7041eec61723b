"""The switch's IVR flow cache (R-IVR-5, R-IN-3): route responses name a flow version,
the cache fetches it once, keeps it on disk and runs the last fetched versions while
the CTI link is down (and after a restart); with nothing cached the shipped flows run.

The fetch function is a stand-in for ``CtiLink.fetch_flow`` (the boundary); the
real link and server are in tests/cti_server/switch/link/test_link_flows.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cti_server.switch.flows import RETRY_AFTER, FlowCache
from cti_server.switch.ports import DecisionUnavailable
from shared.ivr import default_flow, load_shipped_flow
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import FlowDocument

pytestmark = pytest.mark.asyncio


def goodbye(version: int, flow_id: str = "default") -> dict[str, Any]:
    """A tiny valid flow (distinguishable by its description)."""
    return {
        "id": flow_id,
        "version": version,
        "description": f"goodbye v{version}",
        "entry": "bye",
        "nodes": {"bye": {"kind": "hangup"}},
    }


class Server:
    """Answers fetches from a dict of documents; counts them; can fail or stall."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, int], dict[str, Any]] = {}
        self.published: dict[str, int] = {}
        self.calls: list[tuple[str, int | None]] = []
        self.down = False
        self.stall: asyncio.Event | None = None

    def publish(self, flow_id: str, version: int, doc: dict[str, Any] | None = None) -> None:
        self.docs[(flow_id, version)] = doc if doc is not None else goodbye(version, flow_id)
        self.published[flow_id] = version

    async def fetch(self, flow_id: str, version: int | None) -> FlowDocument:
        self.calls.append((flow_id, version))
        if self.stall is not None:
            await self.stall.wait()
        if self.down:
            raise DecisionUnavailable("the CTI link is down")
        wanted = version if version is not None else self.published.get(flow_id)
        doc = self.docs.get((flow_id, wanted or 0))
        if doc is None:
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"no flow {flow_id}@{version}")
        assert wanted is not None
        return FlowDocument(flow_id=flow_id, version=wanted, document=doc)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_fetched_version_is_cached_on_disk_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    server = Server()
    server.publish("default", 2)
    cache = FlowCache(tmp_path, server.fetch)
    flow = await cache.prefetch("default", 2)
    assert (flow.id, flow.version, flow.description) == ("default", 2, "goodbye v2")
    assert server.calls == [("default", 2)]
    assert (tmp_path / "default@2.json").is_file()
    # cached: no second fetch, synchronously available
    assert (await cache.prefetch("default", 2)).description == "goodbye v2"
    assert cache("default", 2).description == "goodbye v2"
    assert server.calls == [("default", 2)]

    # a restarted switch with the link down (no fetch at all) runs the last fetched
    # version for the fallback ACD's route answer (flow_id default, no version)
    offline = FlowCache(tmp_path)
    assert offline("default", None).description == "goodbye v2"
    assert offline(None, None).description == "goodbye v2"
    assert offline("default", 2).description == "goodbye v2"
    # a flow it never fetched is the shipped one
    assert offline("vip", None) == load_shipped_flow("vip")


async def test_nothing_cached_means_the_shipped_flows(tmp_path: Path) -> None:
    cache = FlowCache(tmp_path / "never-written")
    assert cache(None, None) == default_flow()
    assert cache("vip", 3) == load_shipped_flow("vip")
    assert cache("tier:gold", 1) == default_flow()  # unknown here: the default flow
    assert await cache.prefetch("vip", 3) == load_shipped_flow("vip")  # no fetch: no link
    assert not (tmp_path / "never-written").exists()


async def test_a_new_version_replaces_the_current_one_and_rollback_works(
    tmp_path: Path,
) -> None:
    server = Server()
    server.publish("default", 1)
    cache = FlowCache(tmp_path, server.fetch)
    await cache.prefetch("default", 1)
    server.publish("default", 2)
    assert (await cache.prefetch("default", 2)).version == 2
    assert cache("default", None).version == 2
    # the server rolls back to version 1 (published again): cached, no fetch
    calls = len(server.calls)
    assert (await cache.prefetch("default", 1)).version == 1
    assert len(server.calls) == calls
    assert cache("default", None).version == 1
    assert FlowCache(tmp_path)("default", None).version == 1  # current.json followed


async def test_link_down_or_refusal_keeps_what_runs_and_retries_later(tmp_path: Path) -> None:
    server = Server()
    server.publish("default", 1)
    clock = Clock()
    cache = FlowCache(tmp_path, server.fetch, clock=clock)
    await cache.prefetch("default", 1)

    server.down = True
    server.publish("default", 2)
    assert (await cache.prefetch("default", 2)).version == 1  # keeps running v1
    assert cache.fetch_failures == 1
    # the synchronous source does not hammer the server after a failure
    assert cache("default", 2).version == 1
    await asyncio.sleep(0)
    assert server.calls.count(("default", 2)) == 1

    server.down = False
    clock.now += RETRY_AFTER + 1
    assert cache("default", 2).version == 1  # starts a background fetch
    for _ in range(100):
        if cache.cached("default", 2) is not None:
            break
        await asyncio.sleep(0.01)
    assert cache("default", 2).version == 2

    # a version the server does not have: a refusal, nothing changes
    assert (await cache.prefetch("default", 7)).version == 2
    assert cache.cached("default", 7) is None


async def test_invalid_or_mismatched_documents_are_refused(tmp_path: Path) -> None:
    server = Server()
    server.publish("default", 1)
    cache = FlowCache(tmp_path, server.fetch)
    await cache.prefetch("default", 1)
    server.publish("default", 2, {"id": "default", "entry": "x", "nodes": {}})
    assert (await cache.prefetch("default", 2)).version == 1
    assert not (tmp_path / "default@2.json").exists()

    async def liar(flow_id: str, version: int | None) -> FlowDocument:
        return FlowDocument(flow_id=flow_id, version=9, document=goodbye(9))

    cache.attach(liar)
    assert (await cache.prefetch("default", 3)).version == 1
    assert cache.cached("default", 3) is None and cache.cached("default", 9) is None


async def test_a_slow_fetch_does_not_hold_the_call(tmp_path: Path) -> None:
    """The caller waits at most ``fetch_timeout``; the fetch completes in the
    background and the next call runs the new version."""
    server = Server()
    server.publish("default", 4)
    server.stall = asyncio.Event()
    cache = FlowCache(tmp_path, server.fetch, fetch_timeout=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    flow = await cache.prefetch("default", 4)
    assert loop.time() - started < 1.0
    assert flow == default_flow()
    server.stall.set()
    for _ in range(100):
        if cache.cached("default", 4) is not None:
            break
        await asyncio.sleep(0.01)
    assert cache("default", 4).description == "goodbye v4"
    assert server.calls == [("default", 4)]  # one fetch, not one per caller


async def test_damaged_cache_files_are_skipped(tmp_path: Path) -> None:
    server = Server()
    server.publish("tier:gold", 1)
    cache = FlowCache(tmp_path, server.fetch)
    await cache.prefetch("tier:gold", 1)
    assert (tmp_path / "tier%3Agold@1.json").is_file()  # ids are quoted in file names
    (tmp_path / "default@5.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "current.json").write_text("[]", encoding="utf-8")
    again = FlowCache(tmp_path)
    assert again("tier:gold", None).description == "goodbye v1"
    assert again("default", 5) == default_flow()
