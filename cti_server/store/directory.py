"""Routing configuration as plain data, and audited CRUD for the REST admin API.

:func:`load_routing_config` reads tiers, skills, agent groups, queues,
calendars, reason codes and agents with their skill levels into frozen
dataclasses; the server turns them into routing-engine specs (this module
does not import the engine).

:class:`ConfigStore` is what the REST layer calls. Entities are addressed by
kind (``"tier"``, ``"skill"``, ``"agent"``, ``"agent_group"``, ``"queue"``,
``"reason_code"``, ``"calendar"``, ``"customer"``) and handled as plain
dicts; values are validated before they reach the database
(:class:`InvalidData`), unknown ids raise :class:`NotFound` and duplicates or
rows still in use raise :class:`Conflict`. Every change and its audit row
commit in the same transaction (:mod:`.audit`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from . import audit
from .auth import DEFAULT_HASHER, hash_password
from .db import session_factory
from .errors import Conflict, InvalidData, InvalidNumber, NotFound
from .models import (
    Agent,
    AgentGroup,
    AgentGroupMember,
    AgentGroupTier,
    AgentSkill,
    BlacklistAction,
    Calendar,
    Customer,
    CustomerNumber,
    IvrFlow,
    Queue,
    ReasonCode,
    Role,
    Skill,
    Tier,
)
from .numbers import normalise, try_normalise
from .tiers import TierDirectory

AGENT_ORDERS = ("longest_idle", "round_robin", "fewest_calls", "least_talk_time", "fixed")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")


# --- plain routing data --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TierConfig:
    tier_id: str
    name: str
    sl_seconds: float
    sl_target: float
    priority_weight: float
    skip_ivr: bool
    blacklist_action: str


@dataclass(frozen=True, slots=True)
class SkillConfig:
    skill_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AgentGroupConfig:
    group_id: str
    name: str
    tiers: frozenset[str]
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class OverflowRuleConfig:
    after: float
    widen_to_level: int | None = None
    add_groups: frozenset[str] = frozenset()
    add_queues: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    calendar_id: str
    name: str
    tz: str
    weekly: Mapping[str, tuple[tuple[str, str], ...]]
    holidays: frozenset[dt.date]
    open_days: frozenset[dt.date]


@dataclass(frozen=True, slots=True)
class QueueConfig:
    queue_id: str
    name: str
    skill: str
    agent_order: str
    max_level: int | None
    overflow: tuple[OverflowRuleConfig, ...]
    max_wait: float | None
    max_wait_action: str
    acw_seconds: float
    calendar_id: str | None
    recording: bool = True
    """Record the calls of this queue (the switch is told per call, R-SUP-3)."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    agent_id: str
    name: str
    role: Role
    active: bool
    skills: Mapping[str, int]
    groups: frozenset[str]
    order_key: int


@dataclass(frozen=True, slots=True)
class ReasonCodeConfig:
    reason_id: str
    label: str
    paid: bool
    active: bool


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """Everything the routing engine is built from, keyed by id."""

    tiers: Mapping[str, TierConfig] = field(default_factory=dict)
    skills: Mapping[str, SkillConfig] = field(default_factory=dict)
    groups: Mapping[str, AgentGroupConfig] = field(default_factory=dict)
    queues: Mapping[str, QueueConfig] = field(default_factory=dict)
    calendars: Mapping[str, CalendarConfig] = field(default_factory=dict)
    agents: Mapping[str, AgentConfig] = field(default_factory=dict)
    reason_codes: Mapping[str, ReasonCodeConfig] = field(default_factory=dict)


def _overflow(rules: list[dict[str, Any]]) -> tuple[OverflowRuleConfig, ...]:
    return tuple(
        OverflowRuleConfig(
            after=float(rule["after"]),
            widen_to_level=rule.get("widen_to_level"),
            add_groups=frozenset(rule.get("add_groups", ())),
            add_queues=tuple(rule.get("add_queues", ())),
        )
        for rule in sorted(rules or [], key=lambda r: float(r["after"]))
    )


def load_routing_config(session: Session) -> RoutingConfig:
    """Read the whole routing configuration in one session (a consistent snapshot on PG)."""
    tiers = {
        t.id: TierConfig(
            tier_id=t.id,
            name=t.name,
            sl_seconds=t.sl_seconds,
            sl_target=t.sl_target,
            priority_weight=t.priority_weight,
            skip_ivr=t.skip_ivr,
            blacklist_action=t.blacklist_action,
        )
        for t in session.scalars(sa.select(Tier).order_by(Tier.id))
    }
    skills = {
        s.id: SkillConfig(skill_id=s.id, name=s.name)
        for s in session.scalars(sa.select(Skill).order_by(Skill.id))
    }
    group_tiers: dict[str, set[str]] = {}
    for gid, tid in session.execute(sa.select(AgentGroupTier.group_id, AgentGroupTier.tier_id)):
        group_tiers.setdefault(gid, set()).add(tid)
    members: dict[str, set[str]] = {}
    agent_groups: dict[str, set[str]] = {}
    for gid, aid in session.execute(
        sa.select(AgentGroupMember.group_id, AgentGroupMember.agent_id)
    ):
        members.setdefault(gid, set()).add(aid)
        agent_groups.setdefault(aid, set()).add(gid)
    groups = {
        g.id: AgentGroupConfig(
            group_id=g.id,
            name=g.name,
            tiers=frozenset(group_tiers.get(g.id, ())),
            members=frozenset(members.get(g.id, ())),
        )
        for g in session.scalars(sa.select(AgentGroup).order_by(AgentGroup.id))
    }
    calendars = {
        c.id: CalendarConfig(
            calendar_id=c.id,
            name=c.name,
            tz=c.tz,
            weekly={
                day: tuple((str(a), str(b)) for a, b in intervals)
                for day, intervals in (c.weekly or {}).items()
            },
            holidays=frozenset(dt.date.fromisoformat(d) for d in c.holidays or ()),
            open_days=frozenset(dt.date.fromisoformat(d) for d in c.open_days or ()),
        )
        for c in session.scalars(sa.select(Calendar).order_by(Calendar.id))
    }
    queues = {
        q.id: QueueConfig(
            queue_id=q.id,
            name=q.name,
            skill=q.skill_id,
            agent_order=q.agent_order,
            max_level=q.max_level,
            overflow=_overflow(q.overflow),
            max_wait=q.max_wait,
            max_wait_action=q.max_wait_action,
            acw_seconds=q.acw_seconds,
            calendar_id=q.calendar_id,
            recording=q.recording,
        )
        for q in session.scalars(sa.select(Queue).order_by(Queue.id))
    }
    levels: dict[str, dict[str, int]] = {}
    for aid, sid, level in session.execute(
        sa.select(AgentSkill.agent_id, AgentSkill.skill_id, AgentSkill.level)
    ):
        levels.setdefault(aid, {})[sid] = level
    agents = {
        a.id: AgentConfig(
            agent_id=a.id,
            name=a.name,
            role=Role(a.role),
            active=a.active,
            skills=dict(levels.get(a.id, {})),
            groups=frozenset(agent_groups.get(a.id, ())),
            order_key=a.order_key,
        )
        for a in session.scalars(
            # back-office staff (web panels only, docs/web.md) are never routed calls
            sa.select(Agent).where(Agent.role != Role.DEPT_STAFF).order_by(Agent.id)
        )
    }
    reasons = {
        r.id: ReasonCodeConfig(reason_id=r.id, label=r.label, paid=r.paid, active=r.active)
        for r in session.scalars(sa.select(ReasonCode).order_by(ReasonCode.id))
    }
    return RoutingConfig(
        tiers=tiers,
        skills=skills,
        groups=groups,
        queues=queues,
        calendars=calendars,
        agents=agents,
        reason_codes=reasons,
    )


# --- validation -----------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_tier(data: dict[str, Any]) -> None:
    if "sl_seconds" in data and not data["sl_seconds"] > 0:
        raise InvalidData("tier", "sl_seconds", "must be > 0")
    if "sl_target" in data and not 0.0 <= data["sl_target"] <= 1.0:
        raise InvalidData("tier", "sl_target", "must be a fraction 0..1")
    if "priority_weight" in data and not data["priority_weight"] > 0:
        raise InvalidData("tier", "priority_weight", "must be > 0")
    if "blacklist_action" in data and data["blacklist_action"] not in set(BlacklistAction):
        raise InvalidData("tier", "blacklist_action", f"one of {[str(a) for a in BlacklistAction]}")


def _check_agent(data: dict[str, Any]) -> None:
    if "role" in data and data["role"] not in set(Role):
        raise InvalidData("agent", "role", f"one of {[str(r) for r in Role]}")


def _check_queue(data: dict[str, Any]) -> None:
    if "agent_order" in data and data["agent_order"] not in AGENT_ORDERS:
        raise InvalidData("queue", "agent_order", f"one of {AGENT_ORDERS}")
    if data.get("max_level") is not None and data["max_level"] < 1:
        raise InvalidData("queue", "max_level", "must be >= 1 or null")
    if data.get("max_wait") is not None and data["max_wait"] < 0:
        raise InvalidData("queue", "max_wait", "must be >= 0 or null")
    if "acw_seconds" in data and data["acw_seconds"] < 0:
        raise InvalidData("queue", "acw_seconds", "must be >= 0")
    action = data.get("max_wait_action")
    if action is not None and not (
        action in ("callback", "flow") or (action.startswith("overflow:") and len(action) > 9)
    ):
        raise InvalidData("queue", "max_wait_action", "'callback', 'flow' or 'overflow:<queue_id>'")
    for index, rule in enumerate(data.get("overflow") or []):
        where = f"overflow[{index}]"
        if not isinstance(rule, dict) or not _is_number(rule.get("after")) or rule["after"] < 0:
            raise InvalidData("queue", where, "needs 'after' seconds >= 0")
        unknown = set(rule) - {"after", "widen_to_level", "add_groups", "add_queues"}
        if unknown:
            raise InvalidData("queue", where, f"unknown keys {sorted(unknown)}")
        level = rule.get("widen_to_level")
        if level is not None and (not isinstance(level, int) or level < 1):
            raise InvalidData("queue", where, "widen_to_level must be an int >= 1")
        for key in ("add_groups", "add_queues"):
            items = rule.get(key, [])
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise InvalidData("queue", where, f"{key} must be a list of ids")


def _check_dates(entity: str, name: str, values: object) -> None:
    if not isinstance(values, list):
        raise InvalidData(entity, name, "must be a list of YYYY-MM-DD dates")
    for value in values:
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise InvalidData(entity, name, f"not a YYYY-MM-DD date: {value!r}") from None


def _check_calendar(data: dict[str, Any]) -> None:
    if "tz" in data:
        try:
            ZoneInfo(data["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidData("calendar", "tz", f"unknown time zone {data['tz']!r}") from None
    weekly = data.get("weekly")
    if weekly is not None:
        if not isinstance(weekly, dict):
            raise InvalidData("calendar", "weekly", "must map weekday -> [[start, end], ...]")
        for day, intervals in weekly.items():
            if day not in _WEEKDAYS:
                raise InvalidData("calendar", "weekly", f"unknown weekday {day!r}: use {_WEEKDAYS}")
            for interval in intervals:
                ok = (
                    isinstance(interval, list | tuple)
                    and len(interval) == 2
                    and all(isinstance(t, str) and _HHMM.fullmatch(t) for t in interval)
                    and interval[0] < interval[1]
                )
                if not ok:
                    raise InvalidData(
                        "calendar", "weekly", f"{day}: bad interval {interval!r} (HH:MM, start<end)"
                    )
    for name in ("holidays", "open_days"):
        if name in data:
            _check_dates("calendar", name, data[name])


def _check_customer(data: dict[str, Any]) -> None:
    services = data.get("services")
    if services is not None and not isinstance(services, list):
        raise InvalidData("customer", "services", "must be a list")


@dataclass(frozen=True)
class _Kind:
    model: type[DeclarativeBase]
    writable: tuple[str, ...]
    hidden: tuple[str, ...] = ()
    check: Callable[[dict[str, Any]], None] | None = None


KINDS: dict[str, _Kind] = {
    "tier": _Kind(
        Tier,
        (
            "name",
            "sl_seconds",
            "sl_target",
            "priority_weight",
            "skip_ivr",
            "blacklist_action",
        ),
        check=_check_tier,
    ),
    "skill": _Kind(Skill, ("name",)),
    "agent": _Kind(
        Agent,
        ("name", "role", "active", "order_key"),
        hidden=("password_hash",),
        check=_check_agent,
    ),
    "agent_group": _Kind(AgentGroup, ("name",)),
    "queue": _Kind(
        Queue,
        (
            "name",
            "skill_id",
            "agent_order",
            "max_level",
            "overflow",
            "max_wait",
            "max_wait_action",
            "acw_seconds",
            "calendar_id",
            "recording",
        ),
        check=_check_queue,
    ),
    "reason_code": _Kind(ReasonCode, ("label", "paid", "active")),
    "calendar": _Kind(
        Calendar, ("name", "tz", "weekly", "holidays", "open_days"), check=_check_calendar
    ),
    "customer": _Kind(
        Customer,
        ("name", "region", "tier_id", "blacklisted", "services"),
        hidden=("service_password_hash",),
        check=_check_customer,
    ),
}


def _json_value(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _as_dict(kind: _Kind, row: DeclarativeBase) -> dict[str, Any]:
    table = sa.inspect(kind.model).mapper.columns
    return {c.key: _json_value(getattr(row, c.key)) for c in table if c.key not in kind.hidden}


def _coerce(entity: str, kind: _Kind, data: Mapping[str, Any]) -> dict[str, Any]:
    """Type-check the writable fields against their columns."""
    columns = sa.inspect(kind.model).mapper.columns
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in kind.writable:
            raise InvalidData(entity, name, f"not a writable field (fields: {kind.writable})")
        column = columns[name]
        if value is None:
            if not column.nullable:
                raise InvalidData(entity, name, "may not be null")
            out[name] = None
            continue
        col_type = column.type
        if isinstance(col_type, sa.Boolean):
            ok = isinstance(value, bool)
        elif isinstance(col_type, sa.Integer):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(col_type, sa.Float):
            ok = _is_number(value)
        elif isinstance(col_type, sa.String):
            ok = isinstance(value, str)
            if ok and col_type.length is not None and len(value) > col_type.length:
                raise InvalidData(entity, name, f"longer than {col_type.length} characters")
        else:  # JSON
            ok = isinstance(value, dict | list)
        if not ok:
            raise InvalidData(entity, name, f"wrong type {type(value).__name__}")
        out[name] = float(value) if isinstance(col_type, sa.Float) else value
    if kind.check is not None:
        kind.check(out)
    return out


def _check_id(entity: str, entity_id: object) -> str:
    if not isinstance(entity_id, str) or not entity_id.strip() or len(entity_id) > 64:
        raise InvalidData(entity, "id", "must be a non-empty string of at most 64 characters")
    return entity_id


# --- the admin API's store ------------------------------------------------------------------


class ConfigStore:
    """Audited configuration CRUD. Thread-safe: each call runs in its own transaction."""

    def __init__(
        self,
        engine_or_sessions: sa.Engine | sessionmaker[Session],
        *,
        tier_directory: TierDirectory | None = None,
        hasher: PasswordHasher = DEFAULT_HASHER,
    ) -> None:
        self._sessions = (
            session_factory(engine_or_sessions)
            if isinstance(engine_or_sessions, sa.Engine)
            else engine_or_sessions
        )
        self._tiers = tier_directory
        self._hasher = hasher

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    def routing_config(self) -> RoutingConfig:
        with self._sessions() as session:
            return load_routing_config(session)

    @staticmethod
    def _kind(entity: str) -> _Kind:
        try:
            return KINDS[entity]
        except KeyError:
            raise InvalidData(
                entity, "entity", f"unknown entity kind; kinds: {list(KINDS)}"
            ) from None

    # generic CRUD -----------------------------------------------------------------------

    def list_entities(
        self, entity: str, *, limit: int = 1000, offset: int = 0
    ) -> list[dict[str, Any]]:
        kind = self._kind(entity)
        pk = sa.inspect(kind.model).mapper.primary_key[0]
        with self._sessions() as session:
            rows = session.scalars(sa.select(kind.model).order_by(pk).limit(limit).offset(offset))
            return [_as_dict(kind, row) for row in rows]

    def get(self, entity: str, entity_id: str) -> dict[str, Any]:
        kind = self._kind(entity)
        with self._sessions() as session:
            row = session.get(kind.model, entity_id)
            if row is None:
                raise NotFound(entity, entity_id)
            result = _as_dict(kind, row)
            if entity == "customer":
                result["numbers"] = self._numbers(session, entity_id)
            return result

    def create(
        self, actor: str, entity: str, entity_id: str, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create an entity. Agents need ``password`` in ``data`` (stored as an argon2 hash)."""
        kind = self._kind(entity)
        _check_id(entity, entity_id)
        fields = dict(data)
        password = fields.pop("password", None) if entity == "agent" else None
        values = _coerce(entity, kind, fields)
        for column in sa.inspect(kind.model).mapper.columns:
            required = not column.nullable and column.default is None
            if required and column.key in kind.writable and column.key not in values:
                raise InvalidData(entity, column.key, "required")
        if entity == "agent":
            if not isinstance(password, str) or not password:
                raise InvalidData("agent", "password", "required when creating an agent")
            values["password_hash"] = hash_password(password, hasher=self._hasher)
        try:
            with self._sessions.begin() as session:
                if session.get(kind.model, entity_id) is not None:
                    raise Conflict(f"{entity} {entity_id!r} exists already")
                row = kind.model(id=entity_id, **values)
                session.add(row)
                session.flush()
                after = _as_dict(kind, row)
                audit.record(
                    session,
                    actor=actor,
                    action="create",
                    entity=entity,
                    entity_id=entity_id,
                    after=after,
                )
        except IntegrityError as exc:
            raise Conflict(f"{entity} {entity_id!r}: {_reason(exc)}") from exc
        return after

    def update(
        self, actor: str, entity: str, entity_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        kind = self._kind(entity)
        values = _coerce(entity, kind, changes)
        try:
            with self._sessions.begin() as session:
                row = session.get(kind.model, entity_id)
                if row is None:
                    raise NotFound(entity, entity_id)
                before = _as_dict(kind, row)
                for name, value in values.items():
                    setattr(row, name, value)
                session.flush()
                after = _as_dict(kind, row)
                audit.record(
                    session,
                    actor=actor,
                    action="update",
                    entity=entity,
                    entity_id=entity_id,
                    before=before,
                    after=after,
                )
        except IntegrityError as exc:
            raise Conflict(f"{entity} {entity_id!r}: {_reason(exc)}") from exc
        if entity == "customer":
            self._invalidate(customer_ids=[entity_id])
        return after

    def delete(self, actor: str, entity: str, entity_id: str) -> None:
        kind = self._kind(entity)
        try:
            with self._sessions.begin() as session:
                row = session.get(kind.model, entity_id)
                if row is None:
                    raise NotFound(entity, entity_id)
                before = _as_dict(kind, row)
                numbers = self._numbers(session, entity_id) if entity == "customer" else []
                session.delete(row)
                session.flush()
                audit.record(
                    session,
                    actor=actor,
                    action="delete",
                    entity=entity,
                    entity_id=entity_id,
                    before=before,
                )
        except IntegrityError as exc:
            raise Conflict(f"{entity} {entity_id!r} is still in use: {_reason(exc)}") from exc
        if entity == "customer":
            self._invalidate(numbers=numbers, customer_ids=[entity_id])

    def search_customers(
        self,
        *,
        text: str | None = None,
        tier_id: str | None = None,
        blacklisted: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Browse customers (R-TIER-3): ``text`` is a number (exact, any written form) or a
        name fragment; results include their numbers, ordered by id."""
        kind = KINDS["customer"]
        query = sa.select(Customer).order_by(Customer.id)
        if text:
            number = try_normalise(text)
            if number is not None:
                query = query.join(CustomerNumber).where(CustomerNumber.number == number)
            else:
                query = query.where(Customer.name.contains(text.strip(), autoescape=True))
        if tier_id is not None:
            query = query.where(Customer.tier_id == tier_id)
        if blacklisted is not None:
            query = query.where(Customer.blacklisted == blacklisted)
        with self._sessions() as session:
            rows = list(session.scalars(query.limit(limit).offset(offset)))
            numbers: dict[str, list[str]] = {}
            if rows:
                for number, owner in session.execute(
                    sa.select(CustomerNumber.number, CustomerNumber.customer_id)
                    .where(CustomerNumber.customer_id.in_([r.id for r in rows]))
                    .order_by(CustomerNumber.number)
                ):
                    numbers.setdefault(owner, []).append(number)
            return [{**_as_dict(kind, r), "numbers": numbers.get(r.id, [])} for r in rows]

    def customers_per_tier(self) -> dict[str, int]:
        with self._sessions() as session:
            rows = session.execute(
                sa.select(Customer.tier_id, sa.func.count()).group_by(Customer.tier_id)
            ).all()
            return {tier: int(count) for tier, count in rows}

    # relations ------------------------------------------------------------------------

    def set_agent_skills(self, actor: str, agent_id: str, levels: Mapping[str, int]) -> None:
        """Replace an agent's skills: skill id -> level (1 = first skill, R-SKILL-2)."""
        for skill_id, level in levels.items():
            if not isinstance(level, int) or isinstance(level, bool) or level < 1:
                raise InvalidData("agent_skill", skill_id, "level must be an int >= 1")

        def change(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
            old = dict(
                session.execute(
                    sa.select(AgentSkill.skill_id, AgentSkill.level).where(
                        AgentSkill.agent_id == agent_id
                    )
                ).all()
            )
            session.execute(sa.delete(AgentSkill).where(AgentSkill.agent_id == agent_id))
            session.add_all(
                AgentSkill(agent_id=agent_id, skill_id=s, level=lvl) for s, lvl in levels.items()
            )
            return {"skills": old}, {"skills": dict(levels)}

        self._relation_change(actor, "agent", agent_id, change)

    def set_group_members(self, actor: str, group_id: str, agent_ids: Iterable[str]) -> None:
        members = sorted(set(agent_ids))

        def change(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
            old = sorted(
                session.scalars(
                    sa.select(AgentGroupMember.agent_id).where(
                        AgentGroupMember.group_id == group_id
                    )
                )
            )
            session.execute(
                sa.delete(AgentGroupMember).where(AgentGroupMember.group_id == group_id)
            )
            session.add_all(AgentGroupMember(group_id=group_id, agent_id=a) for a in members)
            return {"members": old}, {"members": members}

        self._relation_change(actor, "agent_group", group_id, change)

    def set_group_tiers(self, actor: str, group_id: str, tier_ids: Iterable[str]) -> None:
        """Which tiers an agent group serves (R-SKILL-3, R-TIER-3)."""
        tiers = sorted(set(tier_ids))

        def change(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
            old = sorted(
                session.scalars(
                    sa.select(AgentGroupTier.tier_id).where(AgentGroupTier.group_id == group_id)
                )
            )
            session.execute(sa.delete(AgentGroupTier).where(AgentGroupTier.group_id == group_id))
            session.add_all(AgentGroupTier(group_id=group_id, tier_id=t) for t in tiers)
            return {"tiers": old}, {"tiers": tiers}

        self._relation_change(actor, "agent_group", group_id, change)

    def set_customer_numbers(
        self, actor: str, customer_id: str, numbers: Iterable[str]
    ) -> list[str]:
        """Replace a customer's numbers (normalised); a number of another customer conflicts."""
        try:
            wanted = sorted({normalise(n) for n in numbers})
        except InvalidNumber as exc:
            raise InvalidData("customer", "numbers", str(exc)) from exc
        old: list[str] = []

        def change(session: Session) -> tuple[dict[str, Any], dict[str, Any]]:
            old.extend(self._numbers(session, customer_id))
            taken = session.execute(
                sa.select(CustomerNumber.number, CustomerNumber.customer_id).where(
                    CustomerNumber.number.in_(wanted), CustomerNumber.customer_id != customer_id
                )
            ).all()
            if taken:
                raise Conflict(
                    "numbers owned by other customers: " + ", ".join(f"{n} ({c})" for n, c in taken)
                )
            session.execute(
                sa.delete(CustomerNumber).where(CustomerNumber.customer_id == customer_id)
            )
            session.add_all(CustomerNumber(number=n, customer_id=customer_id) for n in wanted)
            return {"numbers": list(old)}, {"numbers": wanted}

        self._relation_change(actor, "customer", customer_id, change)
        self._invalidate(numbers=[*old, *wanted], customer_ids=[customer_id])
        return wanted

    def set_agent_password(self, actor: str, agent_id: str, password: str) -> None:
        """Set a new password; the audit row records the change, never the hash."""
        self._set_secret(
            actor, Agent, agent_id, column="password_hash", label="password", password=password
        )

    def set_customer_service_password(self, actor: str, customer_id: str, password: str) -> None:
        """The customer's service password (verified by IVR/agents), stored as an argon2 hash."""
        self._set_secret(
            actor,
            Customer,
            customer_id,
            column="service_password_hash",
            label="service_password",
            password=password,
        )

    def _set_secret(
        self,
        actor: str,
        model: type[Agent] | type[Customer],
        entity_id: str,
        *,
        column: str,
        label: str,
        password: str,
    ) -> None:
        """Store an argon2 hash of ``password`` in ``column``; the audit row says only
        that ``label`` changed."""
        password_hash = hash_password(password, hasher=self._hasher)
        with self._sessions.begin() as session:
            entity = "agent" if model is Agent else "customer"
            row = session.get(model, entity_id)
            if row is None:
                raise NotFound(entity, entity_id)
            setattr(row, column, password_hash)
            audit.record(
                session,
                actor=actor,
                action=f"set_{label}",
                entity=entity,
                entity_id=entity_id,
                after={label: "changed"},
            )

    # IVR flows ---------------------------------------------------------------------------

    def add_flow_version(
        self, actor: str, flow_id: str, name: str, document: Mapping[str, Any]
    ) -> int:
        """Store a new immutable version of a flow (unpublished); returns its number."""
        _check_id("ivr_flow", flow_id)
        if not isinstance(document, Mapping):
            raise InvalidData("ivr_flow", "document", "must be a JSON object")
        for attempt in range(3):
            try:
                with self._sessions.begin() as session:
                    last = session.scalar(
                        sa.select(sa.func.max(IvrFlow.version)).where(IvrFlow.id == flow_id)
                    )
                    version = (last or 0) + 1
                    session.add(
                        IvrFlow(
                            id=flow_id,
                            version=version,
                            name=name,
                            document=dict(document),
                            published=False,
                            created_by=actor,
                        )
                    )
                    session.flush()
                    audit.record(
                        session,
                        actor=actor,
                        action="create",
                        entity="ivr_flow",
                        entity_id=f"{flow_id}@{version}",
                        after={"name": name, "version": version},
                    )
                return version
            except IntegrityError:  # a concurrent writer took this version number
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def publish_flow(self, actor: str, flow_id: str, version: int) -> None:
        """Make ``version`` the published one (exactly one published version per flow)."""
        with self._sessions.begin() as session:
            target = session.get(IvrFlow, (flow_id, version))
            if target is None:
                raise NotFound("ivr_flow", f"{flow_id}@{version}")
            previous = session.scalars(
                sa.select(IvrFlow.version).where(IvrFlow.id == flow_id, IvrFlow.published)
            ).all()
            session.execute(
                sa.update(IvrFlow)
                .where(IvrFlow.id == flow_id)
                .values(published=(IvrFlow.version == version))
            )
            audit.record(
                session,
                actor=actor,
                action="publish",
                entity="ivr_flow",
                entity_id=f"{flow_id}@{version}",
                before={"published": list(previous)},
                after={"published": [version]},
            )

    def get_flow(self, flow_id: str, version: int | None = None) -> dict[str, Any]:
        """A flow version; without ``version`` the published one (else the latest)."""
        with self._sessions() as session:
            if version is not None:
                row = session.get(IvrFlow, (flow_id, version))
            else:
                row = session.scalars(
                    sa.select(IvrFlow)
                    .where(IvrFlow.id == flow_id)
                    .order_by(IvrFlow.published.desc(), IvrFlow.version.desc())
                    .limit(1)
                ).first()
            if row is None:
                raise NotFound("ivr_flow", flow_id if version is None else f"{flow_id}@{version}")
            return {
                "id": row.id,
                "version": row.version,
                "name": row.name,
                "document": row.document,
                "published": row.published,
                "created_at": row.created_at.isoformat(),
                "created_by": row.created_by,
            }

    def list_flows(self) -> list[dict[str, Any]]:
        """One line per flow version (without documents), by flow then version."""
        with self._sessions() as session:
            rows = session.execute(
                sa.select(IvrFlow.id, IvrFlow.version, IvrFlow.name, IvrFlow.published).order_by(
                    IvrFlow.id, IvrFlow.version
                )
            )
            return [{"id": i, "version": v, "name": n, "published": p} for i, v, n, p in rows.all()]

    # audit -------------------------------------------------------------------------------

    def audit_log(
        self,
        *,
        entity: str | None = None,
        entity_id: str | None = None,
        actor: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[audit.AuditRecord]:
        with self._sessions() as session:
            return audit.entries(
                session, entity=entity, entity_id=entity_id, actor=actor, limit=limit, offset=offset
            )

    # helpers -----------------------------------------------------------------------------

    @staticmethod
    def _numbers(session: Session, customer_id: str) -> list[str]:
        return sorted(
            session.scalars(
                sa.select(CustomerNumber.number).where(CustomerNumber.customer_id == customer_id)
            )
        )

    def _invalidate(self, *, numbers: Iterable[str] = (), customer_ids: Iterable[str] = ()) -> None:
        if self._tiers is not None:
            self._tiers.invalidate(numbers=numbers, customer_ids=customer_ids)

    def _relation_change(
        self,
        actor: str,
        entity: str,
        entity_id: str,
        change: Callable[[Session], tuple[dict[str, Any], dict[str, Any]]],
    ) -> None:
        """Run ``change`` (returns before/after) and its audit row in one transaction."""
        try:
            with self._sessions.begin() as session:
                if session.get(KINDS[entity].model, entity_id) is None:
                    raise NotFound(entity, entity_id)
                before, after = change(session)
                session.flush()
                audit.record(
                    session,
                    actor=actor,
                    action="update",
                    entity=entity,
                    entity_id=entity_id,
                    before=before,
                    after=after,
                )
        except IntegrityError as exc:
            raise Conflict(f"{entity} {entity_id!r}: {_reason(exc)}") from exc


def _reason(exc: IntegrityError) -> str:
    """First line of the database's message (unknown reference, duplicate...)."""
    return str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
