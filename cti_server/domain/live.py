"""Live reload of the routing configuration (R-SKILL-1..3, R-TIER-3): an administrator's
change — through the REST API or the web console — reaches the running engine without a
restart.

:func:`apply_config` compares the configuration the centre runs with a fresh one read
from the store and changes the engine in place:

* tiers: new ones are added, changed SL targets / seconds / weights apply at once (calls
  already waiting keep the SL deadline they had on arrival);
* agents: new active agents are added, changed skills, levels, groups or order keys apply
  at once — a logged-on agent keeps their state (a ready agent stays ready and may be
  offered a waiting call at once); an agent who is ringing or talking gets the change as
  soon as that call is over; a deactivated or deleted agent leaves the engine at logout;
* agent groups and queues: new ones are added;
* not-ready reason codes: the new set applies to the next request.

The engine cannot change an existing queue (strategy, overflow, max wait, calendar) or
which tiers an existing agent group serves while calls are routed: such changes are
stored and reported as ``restart`` items (they apply at the next start). Waiting calls
stay queued through any reload.

:class:`LiveConfigStore` is the :class:`~cti_server.store.ConfigStore` the composition
root hands to the HTTP side: after every successful routing-configuration write it calls
``on_change`` (which runs :meth:`ContactCentre.reload_config` and waits for it), so the
REST answer or the web page's redirect comes once the change is live.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cti_server.routing import (
    Action,
    AgentGroupSpec,
    AgentSpec,
    Calendar,
    OverflowRule,
    QueueSpec,
    RoutingError,
    TierSpec,
)
from cti_server.routing import AgentState as EngineState
from cti_server.store import (
    AgentConfig,
    AgentGroupConfig,
    ConfigStore,
    QueueConfig,
    RoutingConfig,
    TierConfig,
)
from cti_server.ws import DomainError

from .model import AgentRecord
from .supervisor import AgentCountIndex, SlCounter

if TYPE_CHECKING:
    from .centre import ContactCentre

log = logging.getLogger("cti_server.domain.live")

_ROUTING_ENTITIES = frozenset(
    {"tier", "skill", "agent", "agent_group", "queue", "reason_code", "calendar"}
)
_BUSY = (EngineState.RESERVED, EngineState.BUSY)


# --- specs from the store's plain data --------------------------------------------------------


def tier_spec(tier: TierConfig) -> TierSpec:
    return TierSpec(
        tier_id=tier.tier_id,
        sl_seconds=tier.sl_seconds,
        sl_target=tier.sl_target,
        priority_weight=tier.priority_weight,
    )


def group_spec(group: AgentGroupConfig) -> AgentGroupSpec:
    return AgentGroupSpec(group_id=group.group_id, tiers=frozenset(group.tiers))


def queue_spec(queue: QueueConfig, config: RoutingConfig) -> QueueSpec:
    calendar = None
    if queue.calendar_id is not None and queue.calendar_id in config.calendars:
        cal = config.calendars[queue.calendar_id]
        weekly: dict[int | str, Iterable[tuple[str, str]]] = {}
        weekly.update(cal.weekly)
        calendar = Calendar(
            tz=cal.tz, weekly=weekly, holidays=cal.holidays, open_days=cal.open_days
        )
    return QueueSpec(
        queue_id=queue.queue_id,
        skill=queue.skill,
        max_level=queue.max_level,
        overflow=tuple(
            OverflowRule(
                after=r.after,
                widen_to_level=r.widen_to_level,
                add_groups=r.add_groups,
                add_queues=r.add_queues,
            )
            for r in queue.overflow
        ),
        max_wait=queue.max_wait,
        max_wait_action=queue.max_wait_action,
        calendar=calendar,
        acw_seconds=queue.acw_seconds,
    )


def agent_spec(agent: AgentConfig) -> AgentSpec:
    return AgentSpec(
        agent_id=agent.agent_id,
        skills=dict(agent.skills),
        groups=agent.groups,
        order_key=agent.order_key,
    )


# --- the reload ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ReloadReport:
    """What a reload changed: ``applied`` now, ``deferred`` (applies when the agent's call
    or session ends), ``restart`` (stored; the engine takes it at the next start)."""

    applied: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    restart: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"applied": self.applied, "deferred": self.deferred, "restart": self.restart}


def _calendar_changed(queue: QueueConfig, old: RoutingConfig, new: RoutingConfig) -> bool:
    cid = queue.calendar_id
    return cid is not None and old.calendars.get(cid) != new.calendars.get(cid)


def _agent_routing(agent: AgentConfig) -> tuple[Any, ...]:
    return (dict(agent.skills), agent.groups, agent.order_key)


def apply_config(centre: ContactCentre, new: RoutingConfig) -> tuple[ReloadReport, list[Action]]:
    """Change the running engine and the centre's indexes to ``new`` (synchronous: no
    other event runs in between). Returns the report and the engine's actions (offers of
    waiting calls to agents who became eligible) for :meth:`ContactCentre.run`."""
    old = centre.config
    engine = centre.engine
    report = ReloadReport()
    actions: list[Action] = []
    failed_tiers: set[str] = set()
    window = centre.domain.engine.sl_window

    for tier_id, tier in new.tiers.items():
        previous = old.tiers.get(tier_id)
        if previous is None:
            if _try(report, f"tier {tier_id} added", engine.add_tier, tier_spec(tier)):
                centre._tier_sl[tier_id] = SlCounter(window)
            else:
                failed_tiers.add(tier_id)
        elif previous != tier and not _try(
            report, f"tier {tier_id} changed", engine.update_tier, tier_spec(tier)
        ):
            failed_tiers.add(tier_id)
    tiers: dict[str, TierConfig] = {}
    for tier_id, tier in new.tiers.items():  # a refused change keeps what the engine has
        if tier_id not in failed_tiers:
            tiers[tier_id] = tier
        elif tier_id in old.tiers:
            tiers[tier_id] = old.tiers[tier_id]
    for tier_id in old.tiers.keys() - new.tiers.keys():
        tiers[tier_id] = old.tiers[tier_id]  # the engine keeps it until the next start
        report.restart.append(f"tier {tier_id} deleted")

    groups = dict(new.groups)
    for group_id, group in new.groups.items():
        previous_group = old.groups.get(group_id)
        if previous_group is None:
            if not _try(
                report, f"agent group {group_id} added", engine.add_agent_group, group_spec(group)
            ):
                del groups[group_id]
        elif previous_group.tiers != group.tiers:
            groups[group_id] = dataclasses.replace(group, tiers=previous_group.tiers)
            report.restart.append(f"agent group {group_id}: tiers served")
    for group_id in old.groups.keys() - new.groups.keys():
        report.restart.append(f"agent group {group_id} deleted")

    queues: dict[str, QueueConfig] = {}
    for queue_id, queue in new.queues.items():
        previous_queue = old.queues.get(queue_id)
        if previous_queue is None:
            if _try(report, f"queue {queue_id} added", engine.add_queue, queue_spec(queue, new)):
                centre._queue_sl[queue_id] = SlCounter(window)
                queues[queue_id] = queue
        elif previous_queue != queue or _calendar_changed(queue, old, new):
            queues[queue_id] = previous_queue  # the engine still routes by the old spec
            report.restart.append(f"queue {queue_id} changed")
        else:
            queues[queue_id] = queue
    for queue_id in old.queues.keys() - new.queues.keys():
        queues[queue_id] = old.queues[queue_id]
        report.restart.append(f"queue {queue_id} deleted")

    now = centre.now()
    for agent_id, agent in new.agents.items():
        if not agent.active:
            continue
        rec = centre.agents.get(agent_id)
        if rec is None:
            if not _try(report, f"agent {agent_id} added", engine.add_agent, agent_spec(agent)):
                continue
            centre.agents[agent_id] = AgentRecord(
                agent_id,
                agent.name,
                str(agent.role),
                dict(agent.skills),
                _queues_of(agent.skills, queues),
                since=centre.clock.wall(),
                on_state=centre._agent_state_changed,
            )
            continue
        rec.name, rec.role = agent.name, str(agent.role)
        centre.pending_config.pop(agent_id, None)
        before = old.agents.get(agent_id)
        if before is not None and before.active and _agent_routing(before) == _agent_routing(agent):
            continue
        if engine.agent_state(agent_id) in _BUSY:
            centre.pending_config[agent_id] = agent
            report.deferred.append(f"agent {agent_id}: after the current call")
            continue
        try:
            actions += centre.call_engine(engine.update_agent, agent_spec(agent), now)
        except (RoutingError, DomainError) as exc:
            report.restart.append(f"agent {agent_id} changed: {exc}")
            log.warning("live reload: agent %s not changed: %s", agent_id, exc)
            continue
        rec.skills = dict(agent.skills)
        rec.queues = _queues_of(agent.skills, queues)
        report.applied.append(f"agent {agent_id} changed")
    agents = {a: c for a, c in new.agents.items() if c.active}
    for agent_id in list(centre.agents):
        if agent_id in agents:
            continue
        if engine.agent_state(agent_id) == EngineState.LOGGED_OUT:
            engine.remove_agent(agent_id)
            del centre.agents[agent_id]
            centre.pending_config.pop(agent_id, None)
            report.applied.append(f"agent {agent_id} removed")
        else:
            centre.pending_config[agent_id] = None
            previous_agent = old.agents.get(agent_id)
            if previous_agent is not None:
                agents[agent_id] = previous_agent
            report.deferred.append(f"agent {agent_id} removed at logout")

    for rec in centre.agents.values():  # queues may have come: the per-queue counts follow
        rec.queues = _queues_of(rec.skills, queues)
    centre.reasons = {r.reason_id: r.label for r in new.reason_codes.values() if r.active}
    if new.reason_codes != old.reason_codes:
        report.applied.append("reason codes")
    centre.config = dataclasses.replace(
        new, tiers=tiers, groups=groups, queues=queues, agents={**new.agents, **agents}
    )
    _recount(centre)
    return report, actions


def _try(report: ReloadReport, what: str, fn: Callable[..., object], *args: object) -> bool:
    """One engine change; a refusal is reported (and logged), not raised, so the rest of
    the reload still applies."""
    try:
        fn(*args)
    except (RoutingError, DomainError) as exc:
        report.restart.append(f"{what}: {exc}")
        log.warning("live reload: %s refused by the engine: %s", what, exc)
        return False
    report.applied.append(what)
    return True


def _queues_of(skills: Mapping[str, int], queues: Mapping[str, QueueConfig]) -> tuple[str, ...]:
    return tuple(q.queue_id for q in queues.values() if q.skill in skills)


def _recount(centre: ContactCentre) -> None:
    """Rebuild the per-queue agent counts (queues or agents' queues may have changed)."""
    from shared.protocol.agent import AgentState

    counts = AgentCountIndex(centre.config.queues)
    for rec in centre.agents.values():
        if rec.state is not AgentState.LOGGED_OFF:
            counts.changed(rec.queues, AgentState.LOGGED_OFF, rec.state)
    centre.agent_counts = counts


def settle_pending(centre: ContactCentre, agent_id: str) -> list[Action]:
    """A change held back while the agent was ringing or talking (or logged on, for a
    removal): apply it now if the agent is free. Called on every agent state change."""
    if agent_id not in centre.pending_config:
        return []
    state = centre.engine.agent_state(agent_id)
    if state in _BUSY:
        return []
    agent = centre.pending_config[agent_id]
    if agent is None:
        if state != EngineState.LOGGED_OUT:
            return []
        del centre.pending_config[agent_id]
        centre.engine.remove_agent(agent_id)
        centre.agents.pop(agent_id, None)
        _recount(centre)
        log.info("agent %s removed from routing after logout", agent_id)
        return []
    del centre.pending_config[agent_id]
    actions = centre.call_engine(centre.engine.update_agent, agent_spec(agent), centre.now())
    rec = centre.agents.get(agent_id)
    if rec is not None:
        old_queues = rec.queues
        rec.skills = dict(agent.skills)
        rec.queues = _queues_of(agent.skills, centre.config.queues)
        if rec.queues != old_queues:
            _recount(centre)
    log.info("deferred skill change of agent %s applied", agent_id)
    return actions


# --- what the console shows about switches ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SwitchView:
    switch_id: str
    connected: bool
    mode: str
    mode_since: float | None
    mode_detail: str | None
    last_seen: float | None
    """Wall-clock time the server last had a connection to it (now when connected)."""
    protocol: str | None


def switch_overview(centre: ContactCentre) -> list[SwitchView]:
    """Every switch the server knows: connected or not, its mode and when last seen."""
    wall, mono = centre.clock.wall(), centre.clock.monotonic()
    views = []
    for switch_id in sorted(set(centre.switches.switch_ids) | set(centre.modes.switch_ids)):
        session = centre.switches.session(switch_id)
        mode = centre.modes.get(switch_id)
        connected = session is not None and session.live
        last_seen: float | None = None
        if connected:
            last_seen = wall
        elif session is not None and session.detached_at is not None:
            last_seen = wall - (mono - session.detached_at)
        elif mode is not None:
            last_seen = mode.since
        views.append(
            SwitchView(
                switch_id=switch_id,
                connected=connected,
                mode=str(mode.mode) if mode is not None else "normal",
                mode_since=mode.since if mode is not None else None,
                mode_detail=mode.detail if mode is not None else None,
                last_seen=last_seen,
                protocol=str(session.version) if session is not None else None,
            )
        )
    return views


# --- the store the HTTP side writes through -----------------------------------------------------


class LiveConfigStore(ConfigStore):
    """A :class:`ConfigStore` that calls ``on_change`` after every successful write of
    routing configuration (blocking, from the writer's worker thread)."""

    on_change: Callable[[], None] | None = None

    def changed(self, entity: str) -> None:
        """Tell the running centre (``on_change``) that ``entity`` rows changed."""
        if entity in _ROUTING_ENTITIES and self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                log.exception("live reload of the routing configuration failed")

    def create(
        self, actor: str, entity: str, entity_id: str, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        result = super().create(actor, entity, entity_id, data)
        self.changed(entity)
        return result

    def update(
        self, actor: str, entity: str, entity_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        result = super().update(actor, entity, entity_id, changes)
        self.changed(entity)
        return result

    def delete(self, actor: str, entity: str, entity_id: str) -> None:
        super().delete(actor, entity, entity_id)
        self.changed(entity)

    def set_agent_skills(self, actor: str, agent_id: str, levels: Mapping[str, int]) -> None:
        super().set_agent_skills(actor, agent_id, levels)
        self.changed("agent")

    def set_group_members(self, actor: str, group_id: str, agent_ids: Iterable[str]) -> None:
        super().set_group_members(actor, group_id, agent_ids)
        self.changed("agent_group")

    def set_group_tiers(self, actor: str, group_id: str, tier_ids: Iterable[str]) -> None:
        super().set_group_tiers(actor, group_id, tier_ids)
        self.changed("agent_group")
