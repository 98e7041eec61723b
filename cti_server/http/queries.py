"""Read-only queries the admin API needs and :class:`ConfigStore` does not offer (yet).

Totals for paging, agents' skills and groups, groups' members and tiers, and the
audit log with time filters and a total. Everything here only reads; every write
goes through :class:`~cti_server.store.ConfigStore` so it is validated and audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from cti_server.store import try_normalise
from cti_server.store.models import (
    Agent,
    AgentGroup,
    AgentGroupMember,
    AgentGroupTier,
    AgentSkill,
    AuditEntry,
    Calendar,
    Customer,
    CustomerNumber,
    Queue,
    ReasonCode,
    Skill,
    Tier,
)

MODELS: dict[str, type[DeclarativeBase]] = {
    "tier": Tier,
    "skill": Skill,
    "agent": Agent,
    "agent_group": AgentGroup,
    "queue": Queue,
    "reason_code": ReasonCode,
    "calendar": Calendar,
    "customer": Customer,
}


def count(sessions: sessionmaker[Session], entity: str) -> int:
    with sessions() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(MODELS[entity]))
        return int(total or 0)


def agent_relations(
    sessions: sessionmaker[Session], agent_ids: Sequence[str]
) -> dict[str, tuple[dict[str, int], list[str]]]:
    """agent id -> (skill id -> level, sorted group ids)."""
    out: dict[str, tuple[dict[str, int], list[str]]] = {a: ({}, []) for a in agent_ids}
    if not agent_ids:
        return out
    with sessions() as session:
        for agent_id, skill_id, level in session.execute(
            sa.select(AgentSkill.agent_id, AgentSkill.skill_id, AgentSkill.level)
            .where(AgentSkill.agent_id.in_(agent_ids))
            .order_by(AgentSkill.level, AgentSkill.skill_id)
        ):
            out[agent_id][0][skill_id] = level
        for agent_id, group_id in session.execute(
            sa.select(AgentGroupMember.agent_id, AgentGroupMember.group_id)
            .where(AgentGroupMember.agent_id.in_(agent_ids))
            .order_by(AgentGroupMember.group_id)
        ):
            out[agent_id][1].append(group_id)
    return out


def group_relations(
    sessions: sessionmaker[Session], group_ids: Sequence[str]
) -> dict[str, tuple[list[str], list[str]]]:
    """group id -> (sorted member agent ids, sorted tier ids)."""
    out: dict[str, tuple[list[str], list[str]]] = {g: ([], []) for g in group_ids}
    if not group_ids:
        return out
    with sessions() as session:
        for group_id, agent_id in session.execute(
            sa.select(AgentGroupMember.group_id, AgentGroupMember.agent_id)
            .where(AgentGroupMember.group_id.in_(group_ids))
            .order_by(AgentGroupMember.agent_id)
        ):
            out[group_id][0].append(agent_id)
        for group_id, tier_id in session.execute(
            sa.select(AgentGroupTier.group_id, AgentGroupTier.tier_id)
            .where(AgentGroupTier.group_id.in_(group_ids))
            .order_by(AgentGroupTier.tier_id)
        ):
            out[group_id][1].append(tier_id)
    return out


def count_customers(
    sessions: sessionmaker[Session],
    *,
    text: str | None,
    tier_id: str | None,
    blacklisted: bool | None,
) -> int:
    """The total matching :meth:`ConfigStore.search_customers` with the same filters."""
    query = sa.select(sa.func.count(sa.distinct(Customer.id))).select_from(Customer)
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
    with sessions() as session:
        return int(session.scalar(query) or 0)


def audit_page(
    sessions: sessionmaker[Session],
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Audit rows newest first and the total matching the filters (``until`` exclusive)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if entity is not None:
        conditions.append(AuditEntry.entity == entity)
    if entity_id is not None:
        conditions.append(AuditEntry.entity_id == entity_id)
    if actor is not None:
        conditions.append(AuditEntry.actor == actor)
    if action is not None:
        conditions.append(AuditEntry.action == action)
    if since is not None:
        conditions.append(AuditEntry.at >= _aware(since))
    if until is not None:
        conditions.append(AuditEntry.at < _aware(until))
    with sessions() as session:
        total = session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(*conditions)
        )
        rows = session.scalars(
            sa.select(AuditEntry)
            .where(*conditions)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
            .offset(offset)
        )
        items = [
            {
                "id": row.id,
                "at": row.at,
                "actor": row.actor,
                "action": row.action,
                "entity": row.entity,
                "entity_id": row.entity_id,
                "before": row.before,
                "after": row.after,
            }
            for row in rows
        ]
    return items, int(total or 0)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def ping(engine: sa.Engine) -> None:
    """One round trip to the database (health check)."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
