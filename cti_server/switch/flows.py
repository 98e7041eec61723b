"""The switch's IVR flow cache (R-IVR-5, R-IN-3).

Route responses name a flow and its version (``flow_id``, ``flow_version``); the flows
themselves are versioned data on the CTI server. :class:`FlowCache` is the core's
:data:`~cti_server.switch.core.b2bua.FlowSource`:

* :meth:`FlowCache.prefetch` (awaited by the core on a call's arrival, before the
  flow starts) returns the cached version or fetches it over the link
  (``switch.flow_get``, protocol 1.2) within ``fetch_timeout``, and stores it in
  memory and on disk (``<folder>/<flow id, URL-quoted>@<version>.json``);
* calling the cache (the synchronous ``FlowSource``) returns the cached version; for a
  version it does not have it starts a background fetch and meanwhile runs the
  version it last ran for that flow id; ``version=None`` (the fallback ACD's route
  answer, a transfer to an IVR destination) is the version the server named last —
  so while the link is down, and after a restart, the last fetched flows keep running;
* with nothing cached it falls back to the shipped flow (``shipped_flow_source``).

Which version is current per flow id is kept in ``<folder>/current.json``. Every file
is written to a temporary name and renamed, so a crash never leaves half a flow. A
fetched document that is not a valid ``shared.ivr`` flow is refused (logged) and the
cache keeps what it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from cti_server.switch.core.b2bua import FlowSource, shipped_flow_source
from cti_server.switch.ports import DecisionUnavailable
from shared.ivr import Flow, FlowFormatError, Severity, parse_flow, validate
from shared.ivr.library import DEFAULT_FLOW
from shared.protocol.errors import ProtocolError
from shared.protocol.switch import FlowDocument

log = logging.getLogger("switch.flows")

FlowFetch = Callable[[str, int | None], Awaitable[FlowDocument]]
"""``async (flow_id, version) -> FlowDocument`` (``CtiLink.fetch_flow``)."""

CURRENT_FILE = "current.json"
RETRY_AFTER = 30.0
"""Seconds before a failed background fetch of the same version is tried again."""


class FlowRefused(ValueError):
    """A fetched document is not a usable flow."""


def flow_from_document(doc: FlowDocument) -> Flow:
    """The flow of a fetched document (its ``id`` / ``version`` as the server stores
    them); raises :class:`FlowRefused` when it is not a valid flow."""
    try:
        flow = parse_flow(dict(doc.document))
    except FlowFormatError as exc:
        raise FlowRefused(f"flow {doc.flow_id}@{doc.version}: {exc}") from None
    problems = [p for p in validate(flow) if p.severity is Severity.ERROR]
    if problems:
        first = problems[0]
        raise FlowRefused(
            f"flow {doc.flow_id}@{doc.version}: {first.node or ''}.{first.field}: {first.message}"
        )
    return msgspec.structs.replace(flow, id=doc.flow_id, version=doc.version)


class FlowCache:
    """Cached flow versions, fetched over the CTI link (see the module docstring)."""

    def __init__(
        self,
        folder: Path,
        fetch: FlowFetch | None = None,
        *,
        fallback: FlowSource = shipped_flow_source,
        fetch_timeout: float = 2.0,
        default_flow_id: str = DEFAULT_FLOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.fetch = fetch
        self.fallback = fallback
        self.fetch_timeout = fetch_timeout
        self.default_flow_id = default_flow_id
        self.clock = clock
        self._flows: dict[tuple[str, int], Flow] = {}
        self._current: dict[str, int] = {}
        self._inflight: dict[tuple[str, int | None], asyncio.Task[Flow | None]] = {}
        self._failed: dict[tuple[str, int | None], float] = {}
        self.fetched = 0
        """Documents fetched and stored."""
        self.fetch_failures = 0
        self._load()

    def attach(self, fetch: FlowFetch) -> None:
        """Fetch through ``fetch`` from now on (the link may be built after the cache)."""
        self.fetch = fetch

    # -- the FlowSource ------------------------------------------------------------------

    def __call__(self, flow_id: str | None, flow_version: int | None) -> Flow:
        """The flow to run now (never waits; see the module docstring)."""
        fid = flow_id or self.default_flow_id
        if flow_version is not None:
            hit = self._flows.get((fid, flow_version))
            if hit is not None:
                return hit
            self._fetch_later(fid, flow_version)
        current = self.cached(fid)
        if current is not None:
            return current
        if flow_version is None:
            self._fetch_later(fid, None)
        return self.fallback(flow_id, flow_version)

    def cached(self, flow_id: str, version: int | None = None) -> Flow | None:
        """A cached version; without ``version`` the current one (else the highest)."""
        if version is not None:
            return self._flows.get((flow_id, version))
        current = self._current.get(flow_id)
        if current is not None and (flow_id, current) in self._flows:
            return self._flows[(flow_id, current)]
        versions = [v for (fid, v) in self._flows if fid == flow_id]
        return self._flows[(flow_id, max(versions))] if versions else None

    def current_version(self, flow_id: str) -> int | None:
        return self._current.get(flow_id)

    async def prefetch(self, flow_id: str | None, flow_version: int | None) -> Flow:
        """Make the route's flow version available (fetching it within
        ``fetch_timeout`` if needed) and return the flow the call should run."""
        if flow_id is not None and flow_version is not None:
            if (flow_id, flow_version) in self._flows:
                self._make_current(flow_id, flow_version)
            else:
                await self._fetch(flow_id, flow_version)
        return self(flow_id, flow_version)

    # -- fetching -------------------------------------------------------------------------

    def _fetch_later(self, flow_id: str, version: int | None) -> None:
        key = (flow_id, version)
        if self.fetch is None or key in self._inflight:
            return
        failed_at = self._failed.get(key)
        if failed_at is not None and self.clock() - failed_at < RETRY_AFTER:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._fetch_now(flow_id, version))
        self._inflight[key] = task
        task.add_done_callback(lambda _t: self._inflight.pop(key, None))

    async def _fetch(self, flow_id: str, version: int | None) -> Flow | None:
        key = (flow_id, version)
        task = self._inflight.get(key)
        if task is None:
            if self.fetch is None:
                return None
            task = asyncio.get_running_loop().create_task(self._fetch_now(flow_id, version))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.fetch_timeout)
        except TimeoutError:
            log.warning(
                "flow %s@%s: not fetched within %.1f s", flow_id, version, self.fetch_timeout
            )
            return None

    async def _fetch_now(self, flow_id: str, version: int | None) -> Flow | None:
        """One fetch; stores the result, or logs why there is none (never raises)."""
        key = (flow_id, version)
        fetch = self.fetch
        if fetch is None:
            return None
        try:
            doc = await fetch(flow_id, version)
            if doc.flow_id != flow_id or (version is not None and doc.version != version):
                raise FlowRefused(f"asked for {flow_id}@{version}, got {doc.flow_id}@{doc.version}")
            flow = flow_from_document(doc)
        except (DecisionUnavailable, ProtocolError, FlowRefused) as exc:
            self.fetch_failures += 1
            self._failed[key] = self.clock()
            log.warning("flow %s@%s: not fetched (%s); keeping what runs now", *key, exc)
            return None
        except asyncio.CancelledError:
            raise
        except Exception:
            self.fetch_failures += 1
            self._failed[key] = self.clock()
            log.exception("flow %s@%s: fetch failed", *key)
            return None
        self._failed.pop(key, None)
        self._store(doc, flow)
        return flow

    # -- storage ----------------------------------------------------------------------------

    def _path(self, flow_id: str, version: int) -> Path:
        return self.folder / f"{urllib.parse.quote(flow_id, safe='')}@{version}.json"

    def _store(self, doc: FlowDocument, flow: Flow) -> None:
        self._flows[(doc.flow_id, doc.version)] = flow
        self.fetched += 1
        try:
            _write_atomic(
                self._path(doc.flow_id, doc.version),
                msgspec.json.encode(
                    {"flow_id": doc.flow_id, "version": doc.version, "document": doc.document}
                ),
            )
        except OSError as exc:
            log.warning("flow %s@%s: not written to %s: %s", *doc_key(doc), self.folder, exc)
        self._make_current(doc.flow_id, doc.version)

    def _make_current(self, flow_id: str, version: int) -> None:
        if self._current.get(flow_id) == version:
            return
        self._current[flow_id] = version
        try:
            _write_atomic(self.folder / CURRENT_FILE, json.dumps(self._current).encode())
        except OSError as exc:
            log.warning("flow cache %s: current versions not written: %s", self.folder, exc)

    def _load(self) -> None:
        """Read what earlier runs fetched (unreadable or invalid files are skipped)."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*@*.json")):
            try:
                raw = msgspec.json.decode(path.read_bytes(), type=dict[str, Any])
                doc = FlowDocument(
                    flow_id=raw["flow_id"], version=raw["version"], document=raw["document"]
                )
                self._flows[(doc.flow_id, doc.version)] = flow_from_document(doc)
            except (OSError, msgspec.DecodeError, KeyError, TypeError, FlowRefused) as exc:
                log.warning("flow cache: %s skipped: %s", path.name, exc)
        with contextlib.suppress(OSError, ValueError):
            current = json.loads((self.folder / CURRENT_FILE).read_text(encoding="utf-8"))
            if isinstance(current, Mapping):
                self._current = {str(k): int(v) for k, v in current.items() if isinstance(v, int)}
        log.info(
            "flow cache %s: %d cached flow version(s), current %s",
            self.folder,
            len(self._flows),
            self._current,
        )


def doc_key(doc: FlowDocument) -> tuple[str, int]:
    return doc.flow_id, doc.version


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
