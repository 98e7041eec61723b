"""Data side of the administration console (R-SKILL-1..3, R-TIER-1..3, R-SUP-*).

Blocking functions over the configuration store; the pages (:mod:`.admin`) run them in
worker threads. Validation is the REST admin API's: form values are converted through
the same msgspec structs (:mod:`cti_server.http.schemas`) and written through the same
:class:`~cti_server.store.ConfigStore`, whose own checks and audit rows apply. The two
writes the store has no single call for — a whole page of the skill grid and an agent
group with its tiers and members — run in one transaction here, with the store's audit
row format, so a failure leaves nothing half-written.

Writes go through :attr:`AdminLink.config_store`; in the running server that is a
:class:`~cti_server.domain.live.LiveConfigStore`, which reloads the routing
configuration of the running centre after every write (and waits for it).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import ConfigStore, Conflict, InvalidData, NotFound
from cti_server.store import audit as store_audit
from cti_server.store.models import (
    Agent,
    AgentGroup,
    AgentGroupMember,
    AgentGroupTier,
    AgentSkill,
    AuditEntry,
    Role,
    Skill,
    Tier,
)
from cti_server.store.prompts import PromptStore

if TYPE_CHECKING:
    from types import ModuleType

    from cti_server.domain.live import SwitchView


def _schemas() -> ModuleType:
    """The REST API's request structs (imported late: ``cti_server.http`` imports this
    package)."""
    from cti_server.http import schemas

    return schemas


LEVEL_MAX = 99
"""Highest skill level (the REST schema's bound: ``AgentSkills`` levels 1..99)."""
GRID_PAGE = 40
"""Agents per page of the skill grid."""
CONFIG_ENTITIES = (
    "tier",
    "skill",
    "agent",
    "agent_group",
    "queue",
    "reason_code",
    "calendar",
    "prompt",
)


@dataclass(frozen=True, slots=True)
class AdminLink:
    """What the console needs from the running server (the composition root fills it)."""

    config_store: ConfigStore | None = None
    """Audited configuration writes; None: a plain store over the web's sessions."""
    prompts: PromptStore | None = None
    """Uploaded IVR prompts; None: the prompts page says uploads are not available."""
    switches: Callable[[], list[SwitchView]] | None = None
    """The switches the running server knows; None: none."""


class FormInvalid(Exception):
    """Field-level problems of a submitted form (nothing was written)."""

    def __init__(self, errors: Mapping[str, str], general: str = "") -> None:
        super().__init__(general or ", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)
        self.general = general


class StaleForm(Exception):
    """The data changed since the form was shown (another administrator saved)."""


def store_of(link: AdminLink, sessions: sessionmaker[Session]) -> ConfigStore:
    return link.config_store if link.config_store is not None else ConfigStore(sessions)


def _notify(store: ConfigStore, entity: str) -> None:
    """Writes made here (not through the store's methods) reload the centre too."""
    changed = getattr(store, "changed", None)
    if callable(changed):
        changed(entity)


def with_reload[T](
    sessions: sessionmaker[Session],
    link: AdminLink,
    fn: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> tuple[T, list[str], list[str]]:
    """Run the write ``fn(sessions, link, *args, **kwargs)`` and return its result with
    what the running server could not apply at once: ``(result, restart, later)`` —
    items the routing engine takes only at the next start, and items that apply when an
    agent's call is over (from the live reload after the write, in this thread)."""
    store = link.config_store
    forget = getattr(store, "forget_report", None)
    if callable(forget):
        forget()
    result = fn(sessions, link, *args, **kwargs)
    last = getattr(store, "last_report", None)
    report = last() if callable(last) else None
    if report is None:
        return result, [], []
    return result, list(report.restart), list(report.deferred)


def reload_query(restart: list[str], later: list[str]) -> str:
    """``&restart=…&later=…`` for the page the write redirects to (at most 20 each)."""
    from urllib.parse import urlencode

    pairs = [("restart", item[:300]) for item in restart[:20]]
    pairs += [("later", item[:300]) for item in later[:20]]
    return "&" + urlencode(pairs) if pairs else ""


_AT_FIELD = re.compile(r"at `\$\.([A-Za-z_]+)")


def validation_error(exc: msgspec.ValidationError) -> FormInvalid:
    """A REST schema failure as a field error (``detail.field`` of the API)."""
    text = str(exc)
    match = _AT_FIELD.search(text)
    name = match.group(1) if match else "_"
    return FormInvalid({name: text.split(" - at ", maxsplit=1)[0]})


# --- entity forms -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    kind: str
    """text, number, percent, int_opt, number_opt, bool, select, select_opt, json,
    weekly, dates"""
    choices: tuple[str, ...] = ()
    choices_from: str = ""
    """Entity whose ids are the choices (``skill``, ``calendar``)."""
    default: str = ""
    """What the create form shows at first (``"1"``: a ticked checkbox)."""


@dataclass(frozen=True, slots=True)
class EntityForm:
    slug: str
    entity: str
    create: type[msgspec.Struct]
    patch: type[msgspec.Struct]
    fields: tuple[FormField, ...]


ENTITY_SLUGS = ("tiers", "skills", "queues", "reasons", "calendars")


@functools.cache
def entity_forms() -> dict[str, EntityForm]:
    s = _schemas()
    forms = (
        EntityForm(
            "tiers",
            "tier",
            s.TierCreate,
            s.TierPatch,
            (
                FormField("name", "text"),
                FormField("sl_seconds", "number"),
                FormField("sl_target", "percent"),
                FormField("priority_weight", "number"),
                FormField("skip_ivr", "bool"),
                FormField("blacklist_action", "select", ("bar", "allow")),
            ),
        ),
        EntityForm("skills", "skill", s.SkillCreate, s.SkillPatch, (FormField("name", "text"),)),
        EntityForm(
            "queues",
            "queue",
            s.QueueCreate,
            s.QueuePatch,
            (
                FormField("name", "text"),
                FormField("skill_id", "select", choices_from="skill"),
                FormField(
                    "agent_order",
                    "select",
                    ("longest_idle", "round_robin", "fewest_calls", "least_talk_time", "fixed"),
                ),
                FormField("max_level", "int_opt"),
                FormField("overflow", "json"),
                FormField("max_wait", "number_opt"),
                FormField("max_wait_action", "text"),
                FormField("acw_seconds", "number"),
                FormField("calendar_id", "select_opt", choices_from="calendar"),
                FormField("recording", "bool", default="1"),
            ),
        ),
        EntityForm(
            "reasons",
            "reason_code",
            s.ReasonCodeCreate,
            s.ReasonCodePatch,
            (FormField("label", "text"), FormField("paid", "bool"), FormField("active", "bool")),
        ),
        EntityForm(
            "calendars",
            "calendar",
            s.CalendarCreate,
            s.CalendarPatch,
            (
                FormField("name", "text"),
                FormField("tz", "text"),
                FormField("weekly", "weekly"),
                FormField("holidays", "dates"),
                FormField("open_days", "dates"),
            ),
        ),
    )
    return {f.slug: f for f in forms}


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def show_value(form_field: FormField, value: Any) -> str:
    """A stored value as the text its form field shows."""
    if value is None:
        return ""
    match form_field.kind:
        case "percent":
            return f"{float(value) * 100:g}"
        case "number" | "number_opt":
            return f"{float(value):g}"
        case "json":
            return json.dumps(value, ensure_ascii=False)
        case "weekly":
            return "\n".join(
                f"{day} " + " ".join(f"{a}-{b}" for a, b in value[day])
                for day in _WEEKDAYS
                if value.get(day)
            )
        case "dates":
            return "\n".join(str(d) for d in value)
        case "bool":
            return "1" if value else ""
    return str(value)


def _number(text: str) -> float:
    return float(text.replace(",", ".").strip())


def parse_form(form: EntityForm, raw: Mapping[str, str]) -> dict[str, Any]:
    """Form text → JSON values for the REST schema; unparsable fields are errors."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for ff in form.fields:
        text = raw.get(ff.name, "").strip()
        try:
            match ff.kind:
                case "bool":
                    values[ff.name] = bool(text)
                case "number":
                    values[ff.name] = _number(text)
                case "percent":
                    percent = _number(text)
                    if not 0 <= percent <= 100:
                        raise ValueError("0..100")
                    values[ff.name] = round(percent / 100, 6)
                case "number_opt":
                    values[ff.name] = _number(text) if text else None
                case "int_opt":
                    values[ff.name] = int(text) if text else None
                case "select_opt":
                    values[ff.name] = text or None
                case "json":
                    values[ff.name] = json.loads(text) if text else []
                case "weekly":
                    values[ff.name] = _weekly(text)
                case "dates":
                    values[ff.name] = [d for d in re.split(r"[\s,;]+", text) if d]
                case _:
                    values[ff.name] = text
        except ValueError:
            errors[ff.name] = "adm_err_format_" + ff.kind
    if errors:
        raise FormInvalid(errors)
    return values


def _weekly(text: str) -> dict[str, list[list[str]]]:
    """``mon 08:00-12:00 13:00-18:00`` per line."""
    weekly: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        day, spans = parts[0].lower(), parts[1:]
        if day not in _WEEKDAYS or day in weekly:
            raise ValueError(day)
        intervals = []
        for span in spans:
            start, sep, end = span.partition("-")
            if not sep:
                raise ValueError(span)
            intervals.append([start, end])
        weekly[day] = intervals
    return weekly


def entity_rows(
    sessions: sessionmaker[Session], link: AdminLink, slug: str
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The entity's rows and the choices of its select fields."""
    store = store_of(link, sessions)
    form = entity_forms()[slug]
    rows = store.list_entities(form.entity, limit=10_000)
    choices = {
        ff.name: [r["id"] for r in store.list_entities(ff.choices_from, limit=10_000)]
        for ff in form.fields
        if ff.choices_from
    }
    return rows, choices


def save_entity(
    sessions: sessionmaker[Session],
    link: AdminLink,
    actor: str,
    *,
    slug: str,
    entity_id: str | None,
    raw: Mapping[str, str],
) -> str:
    """Create (``entity_id`` None: the id comes from ``raw["id"]``) or change one entity;
    returns its id. Raises :class:`FormInvalid` with nothing written."""
    s = _schemas()
    store = store_of(link, sessions)
    form = entity_forms()[slug]
    values = parse_form(form, raw)
    try:
        if entity_id is None:
            new_id = raw.get("id", "").strip()
            body = msgspec.convert({"id": new_id, **values}, form.create)
            data = s.to_store(body)
            data.pop("id")
            store.create(actor, form.entity, new_id, data)
            return new_id
        current = store.get(form.entity, entity_id)
        body = msgspec.convert(values, form.patch)
        changes = {k: v for k, v in s.to_store(body).items() if current.get(k) != v}
        if changes:
            store.update(actor, form.entity, entity_id, changes)
        return entity_id
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None
    except InvalidData as exc:
        raise FormInvalid({exc.field: exc.problem}) from None
    except Conflict as exc:
        raise FormInvalid({}, str(exc)) from None


def delete_entity(
    sessions: sessionmaker[Session], link: AdminLink, actor: str, entity: str, entity_id: str
) -> None:
    try:
        store_of(link, sessions).delete(actor, entity, entity_id)
    except Conflict as exc:
        raise FormInvalid({}, str(exc)) from None


# --- the skill grid (R-SKILL-1, R-SKILL-2) ------------------------------------------------------


@dataclass(slots=True)
class GridRow:
    agent_id: str
    name: str
    role: str
    active: bool
    groups: list[str]
    levels: dict[str, int]


@dataclass(slots=True)
class SkillGrid:
    skills: list[tuple[str, str]]
    rows: list[GridRow]
    page: int
    pages: int
    total: int
    stamp: str
    groups: list[str] = field(default_factory=list)


def _stamp(rows: list[GridRow]) -> str:
    data = json.dumps([[r.agent_id, sorted(r.levels.items())] for r in rows])
    return hashlib.sha256(data.encode()).hexdigest()[:20]


def _grid_rows(
    session: Session, agent_ids: list[str] | None, page: int
) -> tuple[list[GridRow], int]:
    query = sa.select(Agent).where(Agent.role != Role.DEPT_STAFF)
    total = int(
        session.scalar(
            sa.select(sa.func.count()).select_from(Agent).where(Agent.role != Role.DEPT_STAFF)
        )
        or 0
    )
    if agent_ids is not None:
        query = query.where(Agent.id.in_(agent_ids))
    else:
        query = query.limit(GRID_PAGE).offset((page - 1) * GRID_PAGE)
    agents = list(session.scalars(query.order_by(Agent.id)))
    ids = [a.id for a in agents]
    levels: dict[str, dict[str, int]] = {}
    groups: dict[str, list[str]] = {}
    if ids:
        for aid, sid, level in session.execute(
            sa.select(AgentSkill.agent_id, AgentSkill.skill_id, AgentSkill.level).where(
                AgentSkill.agent_id.in_(ids)
            )
        ):
            levels.setdefault(aid, {})[sid] = level
        for gid, aid in session.execute(
            sa.select(AgentGroupMember.group_id, AgentGroupMember.agent_id)
            .where(AgentGroupMember.agent_id.in_(ids))
            .order_by(AgentGroupMember.group_id)
        ):
            groups.setdefault(aid, []).append(gid)
    rows = [
        GridRow(a.id, a.name, str(a.role), a.active, groups.get(a.id, []), levels.get(a.id, {}))
        for a in agents
    ]
    return rows, total


def skill_grid(sessions: sessionmaker[Session], page: int = 1) -> SkillGrid:
    with sessions() as session:
        skills = [(sk.id, sk.name) for sk in session.scalars(sa.select(Skill).order_by(Skill.id))]
        rows, total = _grid_rows(session, None, page)
        group_ids = list(session.scalars(sa.select(AgentGroup.id).order_by(AgentGroup.id)))
    pages = max(1, -(-total // GRID_PAGE))
    return SkillGrid(skills, rows, page, pages, total, _stamp(rows), group_ids)


def parse_level(text: str) -> int | None:
    """A grid cell: empty = no skill, else a level 1..LEVEL_MAX (the REST schema decides)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError("adm_err_level") from None
    try:
        msgspec.convert({"skills": {"x": value}}, _schemas().AgentSkills)
    except msgspec.ValidationError:
        raise ValueError("adm_err_level") from None
    return value


def save_skill_grid(
    sessions: sessionmaker[Session],
    link: AdminLink,
    actor: str,
    stamp: str,
    cells: Mapping[str, Mapping[str, str]],
) -> list[str]:
    """Write the submitted grid page: ``cells`` = agent → skill → text. Every cell is
    validated first (errors keyed ``agent|skill``); then the changed agents are written
    in one transaction, each with its audit row (``agent`` ``update``, before/after
    ``{"skills": …}`` as the REST API writes). Returns the changed agent ids."""
    errors: dict[str, str] = {}
    wanted: dict[str, dict[str, int]] = {}
    for agent_id, texts in cells.items():
        levels: dict[str, int] = {}
        for skill_id, text in texts.items():
            try:
                level = parse_level(text)
            except ValueError as exc:
                errors[f"{agent_id}|{skill_id}"] = str(exc)
                continue
            if level is not None:
                levels[skill_id] = level
        wanted[agent_id] = levels
    if errors:
        raise FormInvalid(errors)
    store = store_of(link, sessions)
    changed: list[str] = []
    with store.sessions.begin() as session:
        current, _total = _grid_rows(session, list(wanted), 1)
        if len(current) != len(wanted) or _stamp(current) != stamp:
            raise StaleForm()
        skills = set(session.scalars(sa.select(Skill.id)))
        unknown = {sk for levels in wanted.values() for sk in levels} - skills
        if unknown:
            raise FormInvalid({}, f"unknown skills {sorted(unknown)}")
        for row in current:
            new = wanted[row.agent_id]
            if new == row.levels:
                continue
            session.execute(sa.delete(AgentSkill).where(AgentSkill.agent_id == row.agent_id))
            session.add_all(
                AgentSkill(agent_id=row.agent_id, skill_id=sk, level=lvl)
                for sk, lvl in sorted(new.items())
            )
            store_audit.record(
                session,
                actor=actor,
                action="update",
                entity="agent",
                entity_id=row.agent_id,
                before={"skills": row.levels},
                after={"skills": new},
            )
            changed.append(row.agent_id)
    if changed:
        _notify(store, "agent")
    return changed


def bulk_set_level(
    sessions: sessionmaker[Session],
    link: AdminLink,
    actor: str,
    *,
    agent_ids: list[str],
    skill_id: str,
    level_text: str,
) -> list[str]:
    """Give every agent of ``agent_ids`` the level (empty: remove the skill), one transaction."""
    if not agent_ids:
        raise FormInvalid({"bulk_agents": "adm_err_no_agents"})
    try:
        level = parse_level(level_text)
    except ValueError as exc:
        raise FormInvalid({"bulk_level": str(exc)}) from None
    store = store_of(link, sessions)
    changed: list[str] = []
    with store.sessions.begin() as session:
        if session.get(Skill, skill_id) is None:
            raise FormInvalid({"bulk_skill": "adm_err_skill"})
        rows, _total = _grid_rows(session, agent_ids, 1)
        if len(rows) != len(set(agent_ids)):
            raise FormInvalid({"bulk_agents": "adm_err_no_agents"})
        for row in rows:
            new = dict(row.levels)
            if level is None:
                new.pop(skill_id, None)
            else:
                new[skill_id] = level
            if new == row.levels:
                continue
            session.execute(
                sa.delete(AgentSkill).where(
                    AgentSkill.agent_id == row.agent_id, AgentSkill.skill_id == skill_id
                )
            )
            if level is not None:
                session.add(AgentSkill(agent_id=row.agent_id, skill_id=skill_id, level=level))
            store_audit.record(
                session,
                actor=actor,
                action="update",
                entity="agent",
                entity_id=row.agent_id,
                before={"skills": row.levels},
                after={"skills": new},
            )
            changed.append(row.agent_id)
    if changed:
        _notify(store, "agent")
    return changed


# --- agent groups per tier (R-SKILL-3, R-TIER-3) ------------------------------------------------


@dataclass(slots=True)
class GroupView:
    group_id: str
    name: str
    tiers: list[str]
    members: list[str]


def groups_page(
    sessions: sessionmaker[Session],
) -> tuple[list[GroupView], list[tuple[str, str]], list[tuple[str, str]]]:
    """Groups with tiers and members, every tier and every routable agent."""
    with sessions() as session:
        tiers: dict[str, list[str]] = {}
        for gid, tid in session.execute(
            sa.select(AgentGroupTier.group_id, AgentGroupTier.tier_id).order_by(
                AgentGroupTier.tier_id
            )
        ):
            tiers.setdefault(gid, []).append(tid)
        members: dict[str, list[str]] = {}
        for gid, aid in session.execute(
            sa.select(AgentGroupMember.group_id, AgentGroupMember.agent_id).order_by(
                AgentGroupMember.agent_id
            )
        ):
            members.setdefault(gid, []).append(aid)
        groups = [
            GroupView(g.id, g.name, tiers.get(g.id, []), members.get(g.id, []))
            for g in session.scalars(sa.select(AgentGroup).order_by(AgentGroup.id))
        ]
        all_tiers = [(t.id, t.name) for t in session.scalars(sa.select(Tier).order_by(Tier.id))]
        agents = [
            (a.id, a.name)
            for a in session.scalars(
                sa.select(Agent).where(Agent.role != Role.DEPT_STAFF).order_by(Agent.id)
            )
        ]
    return groups, all_tiers, agents


def save_group(
    sessions: sessionmaker[Session],
    link: AdminLink,
    actor: str,
    *,
    group_id: str | None,
    raw_id: str,
    name: str,
    tier_ids: list[str],
    member_ids: list[str],
) -> str:
    """Create or change a group with its tiers and members in one transaction (one audit
    row with before/after name, tiers and members)."""
    s = _schemas()
    store = store_of(link, sessions)
    new_id = raw_id.strip() if group_id is None else group_id
    try:
        if group_id is None:
            msgspec.convert({"id": new_id, "name": name.strip()}, s.AgentGroupCreate)
        else:
            msgspec.convert({"name": name.strip()}, s.AgentGroupPatch)
        msgspec.convert({"tiers": tier_ids}, s.GroupTiers)
        msgspec.convert({"agents": member_ids}, s.GroupMembers)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None
    tiers, members = sorted(set(tier_ids)), sorted(set(member_ids))
    with store.sessions.begin() as session:
        known_tiers = set(session.scalars(sa.select(Tier.id)))
        if set(tiers) - known_tiers:
            raise FormInvalid({"tiers": "adm_err_unknown"})
        known_agents = set(session.scalars(sa.select(Agent.id).where(Agent.id.in_(members))))
        if set(members) - known_agents:
            raise FormInvalid({"members": "adm_err_unknown"})
        row = session.get(AgentGroup, new_id)
        if group_id is None:
            if row is not None:
                raise FormInvalid({"id": "adm_err_exists"})
            row = AgentGroup(id=new_id, name=name.strip())
            session.add(row)
            session.flush()
            before: dict[str, Any] | None = None
        else:
            if row is None:
                raise NotFound("agent_group", group_id)
            before = {
                "name": row.name,
                "tiers": sorted(
                    session.scalars(
                        sa.select(AgentGroupTier.tier_id).where(AgentGroupTier.group_id == new_id)
                    )
                ),
                "members": sorted(
                    session.scalars(
                        sa.select(AgentGroupMember.agent_id).where(
                            AgentGroupMember.group_id == new_id
                        )
                    )
                ),
            }
            row.name = name.strip()
        after = {"name": name.strip(), "tiers": tiers, "members": members}
        if before == after:
            return new_id
        session.execute(sa.delete(AgentGroupTier).where(AgentGroupTier.group_id == new_id))
        session.execute(sa.delete(AgentGroupMember).where(AgentGroupMember.group_id == new_id))
        session.add_all(AgentGroupTier(group_id=new_id, tier_id=t) for t in tiers)
        session.add_all(AgentGroupMember(group_id=new_id, agent_id=a) for a in members)
        store_audit.record(
            session,
            actor=actor,
            action="create" if before is None else "update",
            entity="agent_group",
            entity_id=new_id,
            before=before,
            after=after,
        )
    _notify(store, "agent_group")
    return new_id


# --- the audit trail of configuration changes ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditLine:
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: str
    after: str


def recent_changes(sessions: sessionmaker[Session], limit: int = 30) -> list[AuditLine]:
    with sessions() as session:
        rows = session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.entity.in_(CONFIG_ENTITIES), AuditEntry.action != "refused")
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
        return [
            AuditLine(
                e.at,
                e.actor,
                e.action,
                e.entity,
                e.entity_id,
                json.dumps(e.before, ensure_ascii=False, sort_keys=True) if e.before else "",
                json.dumps(e.after, ensure_ascii=False, sort_keys=True) if e.after else "",
            )
            for e in rows
        ]
