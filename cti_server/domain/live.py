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
* agent groups: new ones are added; a change of the tiers a group serves applies at
  once (waiting calls of those tiers may be offered to its idle members at once);
* queues: new ones are added; a changed definition (skill, level limit, overflow, max
  wait and its action, calendar, ACW, recording) applies at once — calls waiting in it
  stay queued in their order with their SL clock, their overflow stage and timers are
  recomputed from when they entered (:meth:`RoutingEngine.update_queue`);
* deletions of tiers, queues and agent groups leave the engine at once when nothing
  needs them; a queue with waiting or ringing calls, or one another queue overflows to,
  is refused before anything is written (:func:`removal_blocker`, the REST API and the
  console show the typed reason); a group whose members are still on a call leaves when
  the last of those calls is over;
* not-ready reason codes: the new set applies to the next request.

What the engine refuses (a bad overflow reference, a removal that lost a race with a new
call) keeps what runs and is reported as a ``restart`` item with the reason. Waiting
calls stay queued through any reload.

:class:`LiveConfigStore` is the :class:`~cti_server.store.ConfigStore` the composition
root hands to the HTTP side: after every successful routing-configuration write it calls
``on_change`` (which runs :meth:`ContactCentre.reload_config` and waits for it), so the
REST answer or the web page's redirect comes once the change is live.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cti_server.routing import (
    Action,
    AgentGroupSpec,
    AgentSpec,
    Calendar,
    InUse,
    OverflowRule,
    QueueSpec,
    RoutingError,
    TierSpec,
    UnknownGroup,
    UnknownQueue,
    UnknownTier,
)
from cti_server.routing import AgentState as EngineState
from cti_server.store import (
    AgentConfig,
    AgentGroupConfig,
    ConfigStore,
    Conflict,
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
        tiers[tier_id] = old.tiers[tier_id]  # removed below, once no group serves it

    now = centre.now()
    groups = dict(new.groups)
    for group_id, group in new.groups.items():
        previous_group = old.groups.get(group_id)
        if previous_group is None:
            if not _try(
                report, f"agent group {group_id} added", engine.add_agent_group, group_spec(group)
            ):
                del groups[group_id]
        elif previous_group.tiers != group.tiers:
            served = _engine_change(
                centre,
                report,
                f"agent group {group_id}: tiers served",
                engine.update_agent_group,
                group_spec(group),
                now,
            )
            if served is None:
                groups[group_id] = dataclasses.replace(group, tiers=previous_group.tiers)
            else:
                actions += served
    for group_id in old.groups.keys() - new.groups.keys():
        groups[group_id] = old.groups[group_id]  # removed below, once no agent is in it

    added: set[str] = set()
    for queue_id, queue in new.queues.items():  # new queues first: changes may name them
        if queue_id not in old.queues and _try(
            report, f"queue {queue_id} added", engine.add_queue, queue_spec(queue, new)
        ):
            centre._queue_sl[queue_id] = SlCounter(window)
            added.add(queue_id)
    queues: dict[str, QueueConfig] = {}
    for queue_id, queue in new.queues.items():
        previous_queue = old.queues.get(queue_id)
        if previous_queue is None:
            if queue_id in added:
                queues[queue_id] = queue
            continue
        if previous_queue == queue and not _calendar_changed(queue, old, new):
            queues[queue_id] = queue
            continue
        changed = _engine_change(
            centre,
            report,
            f"queue {queue_id} changed",
            engine.update_queue,
            queue_spec(queue, new),
            now,
        )
        if changed is None:
            queues[queue_id] = previous_queue  # the engine still routes by the old spec
        else:
            queues[queue_id] = queue
            actions += changed
    for queue_id in old.queues.keys() - new.queues.keys():
        queues[queue_id] = old.queues[queue_id]  # removed below, once nothing points to it
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

    removals = [("queue", q) for q in sorted(old.queues.keys() - new.queues.keys())]
    removals += [("agent_group", g) for g in sorted(old.groups.keys() - new.groups.keys())]
    removals += [("tier", t) for t in sorted(old.tiers.keys() - new.tiers.keys())]
    centre.pending_removals = [
        r for r in centre.pending_removals if r not in removals and _still_deleted(r, new)
    ]
    held = _remove(
        centre, removals, queues=queues, groups=groups, tiers=tiers, actions=actions, report=report
    )
    centre.pending_removals += held

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


def _still_deleted(removal: tuple[str, str], new: RoutingConfig) -> bool:
    entity, entity_id = removal
    present = {"queue": new.queues, "agent_group": new.groups, "tier": new.tiers}[entity]
    return entity_id not in present  # created again meanwhile: nothing left to remove


def _remove(
    centre: ContactCentre,
    removals: list[tuple[str, str]],
    *,
    queues: dict[str, QueueConfig],
    groups: dict[str, AgentGroupConfig],
    tiers: dict[str, TierConfig],
    actions: list[Action],
    report: ReloadReport,
) -> list[tuple[str, str]]:
    """Remove deleted queues, groups and tiers from the engine, in an order that lets one
    removal clear the way for the next (a queue pointing to another deleted one, a
    group serving a deleted tier). Returns the removals held back until a member's call
    is over; what the engine refuses otherwise stays and is reported as ``restart``."""
    engine = centre.engine
    pending = list(removals)
    refused: dict[tuple[str, str], InUse] = {}
    progress = True
    while pending and progress:
        progress = False
        for removal in list(pending):
            entity, entity_id = removal
            try:
                if entity == "queue":
                    engine.remove_queue(entity_id)
                    queues.pop(entity_id, None)
                    centre._queue_sl.pop(entity_id, None)
                elif entity == "agent_group":  # not call_engine: InUse must stay typed
                    actions += engine.remove_agent_group(entity_id, centre.now())
                    groups.pop(entity_id, None)
                else:
                    engine.remove_tier(entity_id)
                    tiers.pop(entity_id, None)
                    centre._tier_sl.pop(entity_id, None)
            except InUse as exc:
                refused[removal] = exc
                continue
            except (UnknownQueue, UnknownGroup, UnknownTier) as exc:  # gone: nothing to keep
                log.warning("live reload: removing %s %s: %s", entity, entity_id, exc)
            pending.remove(removal)
            refused.pop(removal, None)
            report.applied.append(f"{_LABEL[entity]} {entity_id} deleted")
            progress = True
    held: list[tuple[str, str]] = []
    for removal in pending:
        entity, entity_id = removal
        why = refused[removal]
        if why.code in _WAIT_FOR_CALLS:
            held.append(removal)
            report.deferred.append(
                f"{_LABEL[entity]} {entity_id} deleted: {why} (removed when that is over)"
            )
        else:
            report.restart.append(f"{_LABEL[entity]} {entity_id} deleted: {why}")
            log.warning("live reload: %s %s not removed: %s", entity, entity_id, why)
    return held


_LABEL = {"queue": "queue", "agent_group": "agent group", "tier": "tier"}
_WAIT_FOR_CALLS = frozenset({"group_has_members", "tier_served"})


def _engine_change(
    centre: ContactCentre,
    report: ReloadReport,
    what: str,
    fn: Callable[..., list[Action]],
    *args: object,
) -> list[Action] | None:
    """An engine change that may offer calls; None (reported, logged) when refused."""
    try:
        actions = centre.call_engine(fn, *args)
    except (RoutingError, DomainError) as exc:
        report.restart.append(f"{what}: {exc}")
        log.warning("live reload: %s refused by the engine: %s", what, exc)
        return None
    report.applied.append(what)
    return actions


def removal_blocker(centre: ContactCentre, entity: str, entity_id: str) -> str | None:
    """Why deleting this tier, queue or agent group must be refused now (None: it may
    go): a queue with calls waiting or ringing in it or that another queue overflows to,
    a tier with calls waiting or ringing, a group a queue's overflow adds. Checked before
    the store deletes anything (:class:`LiveConfigStore`)."""
    engine = centre.engine
    try:
        if entity == "queue":
            engine.check_remove_queue(entity_id)
        elif entity == "tier":
            engine.check_remove_tier(entity_id, served_ok=True)
        elif entity == "agent_group":
            engine.check_remove_agent_group(entity_id, members_ok=True)
    except InUse as exc:
        return f"{exc} [{exc.code}]"
    except RoutingError:
        return None  # the engine does not know it: nothing runs on it
    return None


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
        return _retry_removals(centre) if centre.pending_removals else []
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
    if centre.pending_removals:
        actions += _retry_removals(centre)
    return actions


def _retry_removals(centre: ContactCentre) -> list[Action]:
    """Deletions held back while members of a group were on a call: try them again."""
    config = centre.config
    queues, groups, tiers = dict(config.queues), dict(config.groups), dict(config.tiers)
    actions: list[Action] = []
    report = ReloadReport()
    removals, centre.pending_removals = centre.pending_removals, []
    try:
        held = _remove(
            centre,
            removals,
            queues=queues,
            groups=groups,
            tiers=tiers,
            actions=actions,
            report=report,
        )
    finally:
        centre.timer.reschedule()
    centre.pending_removals = held
    if report.applied:
        centre.config = dataclasses.replace(config, queues=queues, groups=groups, tiers=tiers)
        log.info("deferred deletions applied: %s", ", ".join(report.applied))
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
    routing configuration (blocking, from the writer's worker thread).

    ``check_removal`` (when set) is asked before a tier, queue or agent group is deleted:
    a reason refuses the deletion (:class:`~cti_server.store.Conflict`, nothing written).
    :meth:`last_report` is what the reload after this thread's last write changed."""

    on_change: Callable[[], ReloadReport | None] | None = None
    check_removal: Callable[[str, str], str | None] | None = None
    _reports = threading.local()

    def changed(self, entity: str) -> None:
        """Tell the running centre (``on_change``) that ``entity`` rows changed."""
        if entity in _ROUTING_ENTITIES and self.on_change is not None:
            try:
                report = self.on_change()
            except Exception:
                log.exception("live reload of the routing configuration failed")
                return
            if report is not None:
                self._reports.last = (id(self), report)

    def last_report(self) -> ReloadReport | None:
        """The report of the reload after this thread's last write through this store."""
        last = getattr(self._reports, "last", None)
        return last[1] if last is not None and last[0] == id(self) else None

    def forget_report(self) -> None:
        self._reports.last = None

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
        if entity in _REMOVABLE and self.check_removal is not None:
            reason = self.check_removal(entity, entity_id)
            if reason is not None:
                raise Conflict(f"{entity} {entity_id!r} cannot be deleted now: {reason}")
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


_REMOVABLE = frozenset({"tier", "queue", "agent_group"})


def removal_check(
    centre: Callable[[], ContactCentre], loop: asyncio.AbstractEventLoop
) -> Callable[[str, str], str | None]:
    """``LiveConfigStore.check_removal`` for the running centre: asks
    :func:`removal_blocker` on the centre's event loop (from the writer's thread)."""

    def check(entity: str, entity_id: str) -> str | None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # on the loop itself: no other event runs in between
            return removal_blocker(centre(), entity, entity_id)

        async def ask() -> str | None:
            return removal_blocker(centre(), entity, entity_id)

        return asyncio.run_coroutine_threadsafe(ask(), loop).result(timeout=30)

    return check
