"""Store side of the IVR flow designer (R-IVR-5; docs/web.md "IVR flow designer").

Plain blocking functions over sqlalchemy sessions (the pages run them in threads). The
``ivr_flows`` table keeps one immutable row per flow version with one published version
per flow (:class:`~cti_server.store.models.IvrFlow`):

* :func:`save_draft` stores a document as the flow's next version, unpublished. The
  document must have the flow's shape (``shared.ivr.parse_flow``); semantic errors are
  allowed in a draft (work in progress) and reported back;
* :func:`publish_version` validates the stored version against the prompt catalogue
  (uploaded and shipped prompts) and makes it the published one; a version with errors
  is refused with :class:`PublishRefused` (every problem). Publishing an older version
  is a roll-back (audit action ``rollback``);
* routing picks the published version up on the next call: the route response names
  ``(flow_id, version)`` read from the table per call, and a switch fetches a version it
  has not cached (``FlowCache.prefetch``), so no cache needs invalidating;
* :func:`simulate_document` runs ``shared.ivr.simulate`` for a caller number, with the
  tier looked up the way the CTI server does for a real call.

Every write leaves an ``audit_log`` row (entity ``ivr_flow``, id ``<flow>@<version>``)
in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import msgspec
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import audit
from cti_server.store.models import IvrFlow, Queue, Skill, Tier
from cti_server.store.prompts import SHIPPED_PROMPTS, PromptStore
from cti_server.store.tiers import TierDirectory
from shared.ivr import CallContext, Flow, Problem, Severity, parse_flow, simulate, validate
from shared.ivr.model import (
    LANGUAGES,
    NODE_ID_PATTERN,
    BranchNode,
    FlowFormatError,
    Language,
    Node,
    SetNode,
)
from shared.ivr.model import node_kind as kind_of

from .data import Invalid, WebUser

ENTITY = "ivr_flow"
DEFAULT_FLOW = "default"
"""``DomainConfig.default_flow``: the flow of tiers without a ``tier:<id>`` flow."""
DEFAULT_TIER = "normal"
"""``DomainConfig.default_tier``: the tier of callers who are not customers."""
MAX_DIGITS_SCRIPT = 200
_FLOW_ID = re.compile(NODE_ID_PATTERN)

NODE_KINDS: tuple[str, ...] = tuple(
    str(t.__struct_config__.tag) for t in get_args(Node) if t.__struct_config__.tag
)
"""Every node kind ``shared.ivr.model`` defines, in the model's order."""


class PublishRefused(Exception):
    """The version has errors; ``problems`` lists them (and the warnings)."""

    def __init__(self, flow_id: str, version: int, problems: list[Problem]) -> None:
        super().__init__(f"{flow_id}@{version} has errors")
        self.flow_id = flow_id
        self.version = version
        self.problems = problems


class BadDocument(Exception):
    """The document is not a flow at all (its shape); nothing was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = problems


class EditConflict(Exception):
    """Somebody saved a newer version since the editor loaded ``base``."""

    def __init__(self, flow_id: str, base: int | None, latest: int) -> None:
        super().__init__(f"{flow_id}: edited from version {base}, latest is {latest}")
        self.flow_id = flow_id
        self.base = base
        self.latest = latest


# --- prompts ------------------------------------------------------------------------------


def _wav_ids(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.stem for p in folder.glob("*.wav") if p.is_file()}


def prompt_ids(prompts: PromptStore | None, languages: Iterable[str] = LANGUAGES) -> frozenset[str]:
    """Prompt ids a switch can play in every one of ``languages``: uploaded over shipped
    (``prompts`` None: the shipped ones only)."""
    roots = [prompts.root, prompts.shipped_root] if prompts is not None else [SHIPPED_PROMPTS]
    found: set[str] | None = None
    for language in languages:
        ids: set[str] = set()
        for root in roots:
            ids |= _wav_ids(root / language)
        found = ids if found is None else found & ids
    return frozenset(found or ())


def flow_languages(flow: Flow) -> list[Language]:
    """The prompt languages a flow can play in (its own and those its set nodes pick)."""
    found: set[Language] = {flow.language}
    for node in flow.nodes.values():
        if isinstance(node, SetNode) and node.language is not None:
            found.add(node.language)
    return sorted(found)


def problem_dict(problem: Problem) -> dict[str, Any]:
    return {
        "severity": problem.severity.value,
        "code": problem.code,
        "node": problem.node,
        "field": problem.field,
        "message": problem.message,
    }


def check_document(
    flow_id: str, document: Mapping[str, Any], prompts: PromptStore | None
) -> tuple[Flow | None, list[Problem]]:
    """Parse and validate ``document`` as flow ``flow_id`` against the prompt catalogue."""
    doc = dict(document)
    doc["id"] = flow_id
    doc.setdefault("version", 1)
    try:
        flow = parse_flow(doc)
    except FlowFormatError as exc:
        return None, [
            Problem(
                severity=Severity.ERROR,
                code="format",
                node=_node_of_path(exc.path),
                field=exc.path or "",
                message=exc.message,
            )
        ]
    catalogue = prompt_ids(prompts, flow_languages(flow))
    return flow, validate(flow, prompt_ids=catalogue)


def _node_of_path(path: str | None) -> str | None:
    if path and path.startswith("$.nodes.") and "[...]" not in path:
        return path[len("$.nodes.") :].split(".", 1)[0].split("[", 1)[0] or None
    return None


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.severity is Severity.ERROR for p in problems)


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowSummary:
    flow_id: str
    versions: int
    latest: int
    published: int | None
    name: str
    updated_at: dt.datetime
    used_by: tuple[str, ...] = ()
    """Tiers whose calls run this flow now (``tier:<id>`` or the default flow)."""


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: int
    name: str
    published: bool
    created_at: dt.datetime
    created_by: str
    changes: dict[str, Any] = field(default_factory=dict)
    """:func:`diff_summary` against the version before it."""


def check_flow_id(flow_id: str) -> str:
    flow_id = flow_id.strip()
    if not _FLOW_ID.match(flow_id):
        raise Invalid("ivr_err_flow_id")
    return flow_id


def routing(session: Session) -> dict[str, str]:
    """Tier → the flow id its calls run now (what ``route_request`` picks: a published
    ``tier:<tier>`` flow, else the default flow)."""
    published = set(session.scalars(sa.select(IvrFlow.id).where(IvrFlow.published)).all())
    tiers = session.scalars(sa.select(Tier.id).order_by(Tier.id)).all()
    return {t: (f"tier:{t}" if f"tier:{t}" in published else DEFAULT_FLOW) for t in tiers}


def list_flows(sessions: sessionmaker[Session]) -> tuple[list[FlowSummary], dict[str, str]]:
    """Every flow (newest version's name) and the tier → flow routing table."""
    with sessions() as session:
        rows = session.execute(
            sa.select(
                IvrFlow.id, IvrFlow.version, IvrFlow.name, IvrFlow.published, IvrFlow.created_at
            ).order_by(IvrFlow.id, IvrFlow.version)
        ).all()
        route = routing(session)
    by_flow: dict[str, list[Any]] = {}
    for row in rows:
        by_flow.setdefault(row.id, []).append(row)
    summaries = []
    for flow_id, versions in by_flow.items():
        last = versions[-1]
        published = next((v.version for v in versions if v.published), None)
        summaries.append(
            FlowSummary(
                flow_id=flow_id,
                versions=len(versions),
                latest=last.version,
                published=published,
                name=last.name,
                updated_at=last.created_at,
                used_by=tuple(t for t, f in route.items() if f == flow_id),
            )
        )
    return summaries, route


def diff_summary(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    """What changed between two documents: nodes added / removed / changed (by id) and
    the flow-level fields changed (``entry``, ``description`` …; not ``version``)."""
    if before is None:
        return {"first": True, "added": sorted(after.get("nodes") or {}), "removed": []}
    old_nodes = before.get("nodes") or {}
    new_nodes = after.get("nodes") or {}
    fields = sorted(
        k
        for k in set(before) | set(after)
        if k not in ("nodes", "version", "id") and before.get(k) != after.get(k)
    )
    return {
        "first": False,
        "added": sorted(set(new_nodes) - set(old_nodes)),
        "removed": sorted(set(old_nodes) - set(new_nodes)),
        "changed": sorted(
            n for n in set(old_nodes) & set(new_nodes) if old_nodes[n] != new_nodes[n]
        ),
        "fields": fields,
    }


def flow_versions(sessions: sessionmaker[Session], flow_id: str) -> list[VersionRow]:
    """The versions of a flow, newest first, each with its changes against the one
    before; raises ``LookupError`` for an unknown flow."""
    with sessions() as session:
        rows = session.scalars(
            sa.select(IvrFlow).where(IvrFlow.id == flow_id).order_by(IvrFlow.version)
        ).all()
        if not rows:
            raise LookupError(flow_id)
        found: list[VersionRow] = []
        previous: Mapping[str, Any] | None = None
        for row in rows:
            found.append(
                VersionRow(
                    version=row.version,
                    name=row.name,
                    published=row.published,
                    created_at=row.created_at,
                    created_by=row.created_by,
                    changes=diff_summary(previous, row.document),
                )
            )
            previous = row.document
    return found[::-1]


def load_version(
    sessions: sessionmaker[Session], flow_id: str, version: int | None = None
) -> dict[str, Any]:
    """A stored version (``None``: the latest) with its document; ``LookupError`` if none."""
    with sessions() as session:
        query = sa.select(IvrFlow).where(IvrFlow.id == flow_id)
        if version is not None:
            query = query.where(IvrFlow.version == version)
        row = session.scalars(query.order_by(IvrFlow.version.desc()).limit(1)).first()
        if row is None:
            raise LookupError(f"{flow_id}@{version}")
        published = session.scalar(
            sa.select(IvrFlow.version).where(IvrFlow.id == flow_id, IvrFlow.published)
        )
        latest = session.scalar(
            sa.select(sa.func.max(IvrFlow.version)).where(IvrFlow.id == flow_id)
        )
        return {
            "flow_id": row.id,
            "version": row.version,
            "name": row.name,
            "published": row.published,
            "published_version": published,
            "latest_version": latest,
            "created_at": row.created_at.isoformat(),
            "created_by": row.created_by,
            "document": dict(row.document),
        }


def choices(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    """Names the side form offers (queues, skills, tiers, flows)."""
    with sessions() as session:
        return {
            "queues": list(session.scalars(sa.select(Queue.id).order_by(Queue.id)).all()),
            "skills": list(session.scalars(sa.select(Skill.id).order_by(Skill.id)).all()),
            "tiers": list(session.scalars(sa.select(Tier.id).order_by(Tier.id)).all()),
        }


def new_flow_document(flow_id: str) -> dict[str, Any]:
    """The starting document of a new flow: a greeting that hangs up."""
    return {
        "id": flow_id,
        "version": 1,
        "description": "",
        "language": "zh",
        "entry": "greeting",
        "nodes": {
            "greeting": {"kind": "prompt", "prompts": ["welcome"], "next": "bye"},
            "bye": {"kind": "hangup", "prompts": ["goodbye"]},
        },
    }


# --- writing ------------------------------------------------------------------------------


def save_draft(
    sessions: sessionmaker[Session],
    user: WebUser,
    flow_id: str,
    document: Mapping[str, Any],
    prompts: PromptStore | None,
    *,
    base_version: int | None = None,
    name: str = "",
) -> tuple[int, list[Problem]]:
    """Store ``document`` as the next version of ``flow_id`` (unpublished, audited);
    returns the version and the document's problems.

    ``base_version`` is the version the editor started from (None: a new flow); when a
    newer one exists, :class:`EditConflict` and nothing is stored. A document without
    the flow's shape raises :class:`BadDocument`."""
    flow_id = check_flow_id(flow_id)
    if not isinstance(document, Mapping):
        raise BadDocument(
            [Problem(severity=Severity.ERROR, code="format", node=None, field="$", message="")]
        )
    _, problems = check_document(flow_id, document, prompts)
    if any(p.code == "format" for p in problems):
        raise BadDocument(problems)
    label = (name.strip() or str(document.get("description") or "") or flow_id)[:200]
    for attempt in range(3):
        try:
            with sessions.begin() as session:
                latest = session.scalar(
                    sa.select(sa.func.max(IvrFlow.version)).where(IvrFlow.id == flow_id)
                )
                if latest is not None and base_version != latest:
                    raise EditConflict(flow_id, base_version, int(latest))
                version = (latest or 0) + 1
                doc = {**dict(document), "id": flow_id, "version": version}
                session.add(
                    IvrFlow(
                        id=flow_id,
                        version=version,
                        name=label,
                        document=doc,
                        published=False,
                        created_by=user.agent_id,
                    )
                )
                session.flush()
                errors = [p for p in problems if p.severity is Severity.ERROR]
                audit.record(
                    session,
                    actor=user.agent_id,
                    action="create",
                    entity=ENTITY,
                    entity_id=f"{flow_id}@{version}",
                    after={
                        "name": label,
                        "version": version,
                        "base_version": base_version,
                        "errors": len(errors),
                        "via": "designer",
                    },
                )
            return version, problems
        except IntegrityError:  # a concurrent save took this number
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def publish_version(
    sessions: sessionmaker[Session],
    user: WebUser,
    flow_id: str,
    version: int,
    prompts: PromptStore | None,
) -> dict[str, Any]:
    """Make ``version`` the published one, if it is valid (prompts included); an older
    version than the published one is a roll-back. Returns ``{flow_id, version,
    previous, action, warnings}``; raises :class:`PublishRefused` (nothing changed) or
    ``LookupError``."""
    with sessions.begin() as session:
        target = session.get(IvrFlow, (flow_id, version))
        if target is None:
            raise LookupError(f"{flow_id}@{version}")
        _, problems = check_document(flow_id, target.document, prompts)
        if has_errors(problems):
            raise PublishRefused(flow_id, version, problems)
        previous = session.scalars(
            sa.select(IvrFlow.version).where(IvrFlow.id == flow_id, IvrFlow.published)
        ).all()
        before = max(previous, default=None)
        action = "rollback" if before is not None and version < before else "publish"
        session.execute(
            sa.update(IvrFlow)
            .where(IvrFlow.id == flow_id)
            .values(published=(IvrFlow.version == version))
        )
        audit.record(
            session,
            actor=user.agent_id,
            action=action,
            entity=ENTITY,
            entity_id=f"{flow_id}@{version}",
            before={"published": list(previous)},
            after={"published": [version], "via": "designer"},
        )
    return {
        "flow_id": flow_id,
        "version": version,
        "previous": before,
        "action": action,
        "warnings": [problem_dict(p) for p in problems],
    }


# --- simulation ---------------------------------------------------------------------------


def caller_tier(sessions: sessionmaker[Session], caller: str) -> dict[str, Any]:
    """The tier a call from ``caller`` gets, as ``route_request`` finds it: the customer
    behind the number (R-TIER-2), else the default tier; plus blacklist and skip-IVR."""
    bind = sessions.kw.get("bind")
    customer = None
    if caller and isinstance(bind, sa.Engine):
        customer = TierDirectory(bind, max_entries=0).lookup(caller)
    with sessions() as session:
        tiers = {t.id: t for t in session.scalars(sa.select(Tier)).all()}
        tier_id = customer.tier_id if customer is not None else None
        if tier_id not in tiers:
            if DEFAULT_TIER in tiers:
                tier_id = DEFAULT_TIER
            else:
                ordered = sorted(tiers.values(), key=lambda t: (t.priority_weight, t.id))
                tier_id = ordered[0].id if ordered else None
        tier = tiers.get(tier_id or "")
        blacklisted = bool(customer is not None and customer.blacklisted)
        return {
            "tier": tier_id,
            "customer_id": customer.customer_id if customer is not None else None,
            "customer_name": customer.name if customer is not None else None,
            "blacklisted": blacklisted,
            "skip_ivr": bool(tier is not None and tier.skip_ivr and not blacklisted),
        }


def simulate_document(
    sessions: sessionmaker[Session],
    flow_id: str,
    document: Mapping[str, Any],
    *,
    caller: str,
    digits: str,
    called: str = "",
    tier: str | None = None,
    lookups: Mapping[str, Mapping[str, str] | None] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """A dry run of ``document`` for a call from ``caller`` pressing ``digits``
    (``tier`` overrides the looked-up tier). Raises :class:`BadDocument` for a document
    that is not a flow and :class:`~.data.Invalid` for bad digits."""
    if len(digits) > MAX_DIGITS_SCRIPT:
        raise Invalid("ivr_err_digits")
    doc = {**dict(document), "id": flow_id}
    doc.setdefault("version", 1)
    try:
        flow = parse_flow(doc)
    except FlowFormatError as exc:
        raise BadDocument(
            [
                Problem(
                    severity=Severity.ERROR,
                    code="format",
                    node=_node_of_path(exc.path),
                    field=exc.path or "",
                    message=exc.message,
                )
            ]
        ) from None
    who = caller_tier(sessions, caller.strip())
    if tier:
        who = {**who, "tier": tier, "tier_overridden": True}
    context = CallContext(
        tier=who["tier"],
        caller=caller.strip() or None,
        called=called.strip() or None,
        blacklisted=who["blacklisted"],
        skip_ivr=who["skip_ivr"],
    )
    try:
        result = simulate(flow, context, digits, now=now or time.time(), lookups=lookups)
    except ValueError:
        raise Invalid("ivr_err_digits") from None
    builtins = msgspec.to_builtins(result)
    tier_branch = [
        step["detail"]
        for step in builtins["trajectory"]
        if step["kind"] == "ivr_node"
        and isinstance(flow.nodes.get(step["node"] or ""), BranchNode)
        and step["detail"]
        and (step["detail"].startswith("case") or step["detail"] == "default")
    ]
    edges = [[a, b] for a, b in zip(result.path, result.path[1:], strict=False)]
    return {
        "caller": who,
        "path": list(result.path),
        "edges": edges,
        "trajectory": builtins["trajectory"],
        "outcome": builtins["outcome"],
        "variables": builtins["variables"],
        "unused_digits": result.unused_digits,
        "branches": tier_branch,
        "kinds": {nid: kind_of(flow.nodes[nid]) for nid in result.path if nid in flow.nodes},
    }


def document_json(document: Mapping[str, Any]) -> str:
    """Pretty JSON of a document (the designer's "JSON" tab)."""
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
