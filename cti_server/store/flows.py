"""IVR flows as versioned, validated data (R-IVR-5).

The ``ivr_flows`` table (one immutable row per flow version, one published version per
flow) already holds the documents; this module adds what the switch and the flow
designer need on top of :class:`~cti_server.store.directory.ConfigStore`:

* :func:`save_flow` validates a document with ``shared.ivr`` (every error at once,
  :class:`FlowRejected`) before it becomes a new version, optionally publishing it;
* :func:`seed_shipped_flows` stores the flows shipped in ``shared/ivr/flows`` as
  version 1, published, for every flow id that has no version yet (idempotent);
* :func:`flow_for_switch` is what ``switch.flow_get`` hands out: a stored version (or
  the published one) whose document is a valid flow.

A flow document carries its own ``id`` and ``version``; on save ``id`` must be the
flow's id (or absent) and ``version`` is set to the version number the row gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.ivr import Problem, Severity, flow_to_dict, validate_document
from shared.ivr.library import load_shipped_flow, shipped_flow_names
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import FlowDocument, SwitchFlowGet

from .directory import ConfigStore
from .errors import InvalidData, NotFound

SEED_ACTOR = "system"
"""``created_by`` of the seeded shipped flows."""


class FlowRejected(InvalidData):
    """The document is not a valid flow; ``problems`` lists every error (and warning)."""

    code = "invalid_flow"

    def __init__(self, flow_id: str, problems: list[Problem]) -> None:
        found = [p for p in problems if p.severity is Severity.ERROR]
        first = found[0]
        where = f"{first.node}.{first.field}" if first.node else first.field or "document"
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        super().__init__("ivr_flow", "document", f"{where}: {first.message}{more}")
        self.flow_id = flow_id
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SavedFlow:
    flow_id: str
    version: int
    published: bool
    warnings: tuple[Problem, ...] = ()


def check_flow(flow_id: str, document: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Validate ``document`` as flow ``flow_id``; returns it (``id`` filled in) and its
    warnings, or raises :class:`FlowRejected` / :class:`InvalidData`."""
    if not isinstance(document, Mapping):
        raise InvalidData("ivr_flow", "document", "must be a JSON object")
    doc = dict(document)
    given = doc.get("id")
    if given is None:
        doc["id"] = flow_id
    elif given != flow_id:
        raise InvalidData("ivr_flow", "id", f"the document is flow {given!r}, not {flow_id!r}")
    doc.setdefault("version", 1)
    _, problems = validate_document(doc)
    if any(p.severity is Severity.ERROR for p in problems):
        raise FlowRejected(flow_id, problems)
    return doc, problems


def _next_version(store: ConfigStore, flow_id: str) -> int:
    versions = [row["version"] for row in store.list_flows() if row["id"] == flow_id]
    return max(versions, default=0) + 1


def save_flow(
    store: ConfigStore,
    actor: str,
    flow_id: str,
    document: Mapping[str, Any],
    *,
    name: str | None = None,
    publish: bool = False,
) -> SavedFlow:
    """Validate and store ``document`` as the next version of ``flow_id`` (audited);
    ``publish`` makes it the version route responses hand out."""
    doc, problems = check_flow(flow_id, document)
    doc["version"] = _next_version(store, flow_id)
    label = name or str(doc.get("description") or flow_id)[:200] or flow_id
    version = store.add_flow_version(actor, flow_id, label, doc)
    if publish:
        store.publish_flow(actor, flow_id, version)
    return SavedFlow(flow_id, version, publish, tuple(problems))


def seed_shipped_flows(store: ConfigStore, actor: str = SEED_ACTOR) -> list[str]:
    """Store each shipped flow (``shared/ivr/flows/*.json``) as version 1, published,
    unless its id has a version already; returns the ids seeded now."""
    known = {row["id"] for row in store.list_flows()}
    seeded: list[str] = []
    for name in shipped_flow_names():
        if name in known:
            continue
        doc = flow_to_dict(load_shipped_flow(name))
        save_flow(store, actor, name, doc, name=f"{name} (shipped)", publish=True)
        seeded.append(name)
    return seeded


def flow_for_switch(
    store: ConfigStore, flow_id: str, version: int | None
) -> tuple[int, bool, dict[str, Any]]:
    """``(version, published, document)`` of a stored version (``None``: the published
    one). Raises :class:`NotFound` for an unknown flow / version, or a published-less
    flow asked without a version, and :class:`FlowRejected` for a stored document that
    is not a valid flow (older versions were stored without validation)."""
    row = store.get_flow(flow_id, version)
    if version is None and not row["published"]:
        raise NotFound("ivr_flow", f"{flow_id} (published)")
    document = dict(row["document"])
    _, problems = validate_document(document)
    if any(p.severity is Severity.ERROR for p in problems):
        raise FlowRejected(flow_id, problems)
    return int(row["version"]), bool(row["published"]), document


async def switch_flow(store: ConfigStore, request: SwitchFlowGet) -> FlowDocument:
    """The answer to ``switch.flow_get``: the document, or ``invalid_field`` (detail
    ``field`` = ``version`` for an unknown version, else ``flow_id``) when there is no
    such version or it is not a valid flow."""
    try:
        version, published, document = await asyncio.to_thread(
            flow_for_switch, store, request.flow_id, request.version
        )
    except NotFound as exc:
        field = "version" if request.version is not None else "flow_id"
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"no {exc.entity} {exc.entity_id}",
            detail={"field": field, "flow_id": request.flow_id},
        ) from None
    except FlowRejected as exc:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"flow {request.flow_id} is not a valid flow: {exc.problem}"[:1024],
            detail={"field": "flow_id", "flow_id": request.flow_id},
        ) from None
    return FlowDocument(
        flow_id=request.flow_id, version=version, published=published, document=document
    )
