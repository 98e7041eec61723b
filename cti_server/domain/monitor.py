"""Supervisor listen / whisper / barge (R-SUP-2).

``supervisor.monitor(agent_id, mode)`` asks the switch that owns the agent's call to
connect the supervisor's softphone (``switch.command monitor`` with the supervisor's
registered SIP contact); the result comes after the switch's acknowledgement. Sent
again for the same agent and call it switches mode (same ``monitor_id``).
``supervisor.monitor_stop`` ends it (``monitor_stop``); when the monitored agent's
part of the call ends (release, transfer) the supervisor gets
``supervisor.monitor_ended(call_ended)``. Starts, mode changes and stops are audited.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cti_server.ws import DomainError, Session
from shared.ids import new_id
from shared.protocol.call import CallState
from shared.protocol.errors import ErrorCode
from shared.protocol.supervisor import (
    MonitorEndReason,
    MonitorMode,
    MonitorResult,
    SupervisorMonitorEnded,
)
from shared.protocol.switch import Monitor, MonitorStop

from .errors import invalid_state

if TYPE_CHECKING:
    from .centre import ContactCentre

log = logging.getLogger("cti_server.domain.monitor")

_ON_CALL = (CallState.ESTABLISHED, CallState.HELD, CallState.CONFERENCED)


@dataclass(slots=True)
class ActiveMonitor:
    monitor_id: str
    supervisor_id: str
    session: Session
    agent_id: str
    call_id: str
    """The switch's call (a consultation is monitored on its original call)."""
    switch_id: str
    mode: MonitorMode


class Monitors:
    """Running monitors by id, with the supervisor session that gets their end."""

    def __init__(self, centre: ContactCentre) -> None:
        self.centre = centre
        self._by_id: dict[str, ActiveMonitor] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, monitor_id: str) -> ActiveMonitor | None:
        return self._by_id.get(monitor_id)

    def _switch_call(self, agent_id: str) -> tuple[str, str]:
        """``(switch_id, call_id)`` of the call the agent is talking on."""
        c = self.centre
        rec = c.agent(agent_id)
        call = c.calls.get(rec.call_id or "")
        if call is None or call.state not in _ON_CALL or call.closed:
            raise invalid_state(
                f"agent {agent_id} is not on a call", agent_id=agent_id, state=rec.state
            )
        return call.switch_id, call.consult_of or call.call_id

    async def start(
        self, session: Session, supervisor_id: str, agent_id: str, mode: MonitorMode
    ) -> MonitorResult:
        c = self.centre
        if agent_id == supervisor_id:
            raise invalid_state("a supervisor cannot monitor itself", agent_id=agent_id)
        switch_id, call_id = self._switch_call(agent_id)
        running = next(
            (
                m
                for m in self._by_id.values()
                if m.supervisor_id == supervisor_id
                and m.agent_id == agent_id
                and m.call_id == call_id
            ),
            None,
        )
        sup = c.agents.get(supervisor_id)
        sip_user = (sup.extension if sup is not None else None) or supervisor_id
        contact = c.switches.contact(sip_user)
        if contact is None:
            raise DomainError(
                ErrorCode.DESTINATION_UNAVAILABLE,
                f"supervisor {supervisor_id} has no registered softphone",
                {"sip_user": sip_user},
            )
        monitor_id = running.monitor_id if running is not None else new_id()
        await c.switches.command(
            switch_id,
            call_id,
            Monitor(
                monitor_id=monitor_id,
                agent_id=agent_id,
                supervisor_id=supervisor_id,
                supervisor_contact=contact,
                mode=mode,
            ),
            timeout=c.domain.command_timeout,
        )
        call = c.calls.get(call_id)
        if call is None or call.closed:  # the call ended while the switch connected us
            with contextlib.suppress(DomainError):
                c.switches.send(switch_id, call_id, MonitorStop(monitor_id=monitor_id))
            self._by_id.pop(monitor_id, None)
            raise invalid_state(f"agent {agent_id}'s call ended", agent_id=agent_id)
        before = {"mode": running.mode.value} if running is not None else None
        if running is not None:
            running.mode, running.session = mode, session
        else:
            self._by_id[monitor_id] = ActiveMonitor(
                monitor_id, supervisor_id, session, agent_id, call_id, switch_id, mode
            )
        await c.store.audit(
            actor=supervisor_id,
            action="monitor",
            entity="agent",
            entity_id=agent_id,
            before=before,
            after={"mode": mode.value, "call_id": call_id, "monitor_id": monitor_id},
        )
        return MonitorResult(monitor_id=monitor_id, call_id=call_id)

    async def stop(self, session: Session, supervisor_id: str, monitor_id: str) -> None:
        c = self.centre
        mon = self._by_id.get(monitor_id)
        if mon is None or mon.supervisor_id != supervisor_id:
            raise DomainError(
                ErrorCode.INVALID_FIELD,
                f"no running monitor {monitor_id} of {supervisor_id}",
                {"path": "$.monitor_id", "got": monitor_id},
            )
        if c.switches.session(mon.switch_id) is not None:
            await c.switches.command(
                mon.switch_id,
                mon.call_id,
                MonitorStop(monitor_id=monitor_id),
                timeout=c.domain.command_timeout,
            )
        if self._by_id.pop(monitor_id, None) is not None:
            mon.session.push(
                SupervisorMonitorEnded(monitor_id=monitor_id, reason=MonitorEndReason.STOPPED)
            )
        await c.store.audit(
            actor=supervisor_id,
            action="monitor_stop",
            entity="agent",
            entity_id=mon.agent_id,
            before={"mode": mon.mode.value, "call_id": mon.call_id, "monitor_id": monitor_id},
            after=None,
        )

    def _end(self, mon: ActiveMonitor, reason: MonitorEndReason) -> None:
        if self._by_id.pop(mon.monitor_id, None) is not None:
            mon.session.push(SupervisorMonitorEnded(monitor_id=mon.monitor_id, reason=reason))

    def call_ended(self, call_id: str) -> None:
        """The call is over: every monitor of it ends (``call_ended``)."""
        for mon in [m for m in self._by_id.values() if m.call_id == call_id]:
            self._end(mon, MonitorEndReason.CALL_ENDED)

    def agent_left(self, call_id: str, agent_id: str) -> None:
        """The monitored agent's part of the call ended (transfer, left a conference)."""
        for mon in [
            m for m in self._by_id.values() if m.call_id == call_id and m.agent_id == agent_id
        ]:
            with contextlib.suppress(DomainError):
                self.centre.switches.send(
                    mon.switch_id, mon.call_id, MonitorStop(monitor_id=mon.monitor_id)
                )
            self._end(mon, MonitorEndReason.CALL_ENDED)

    def switch_lost(self, switch_id: str) -> None:
        for mon in [m for m in self._by_id.values() if m.switch_id == switch_id]:
            self._end(mon, MonitorEndReason.FAILED)

    def drop_session(self, session: Session) -> None:
        """The supervisor's session ended: stop its monitors (best effort, no wait)."""
        for mon in [m for m in self._by_id.values() if m.session is session]:
            del self._by_id[mon.monitor_id]
            try:
                self.centre.switches.send(
                    mon.switch_id, mon.call_id, MonitorStop(monitor_id=mon.monitor_id)
                )
            except DomainError:
                log.info("monitor %s: switch %s is away", mon.monitor_id, mon.switch_id)
