"""The switch link: connected switches, softphone registrations and commands.

Commands are ``switch.command`` events pushed to the switch's session (so a command
sent during a brief outage is replayed on resume). :meth:`SwitchLink.command` waits
for the switch's ``switch.command_result``; :meth:`SwitchLink.send` does not wait and
remembers the command so a failure report can be acted on (e.g. an offer the switch
could not ring).

:class:`StoredCallReports` answers reports of calls the server has in its database but
not in memory (R-IN-3): a restarted server receives the reports the switch queued during
the outage for CTI-routed calls that ended meanwhile; it closes their rows instead of
refusing the reports with ``unknown_call``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cti_server.store.calls import CallEventKind, CallStore, CallView
from cti_server.ws import DomainError, Session, SessionState
from shared.clock import Clock
from shared.ids import new_id
from shared.protocol.base import Event
from shared.protocol.call import ClearCause
from shared.protocol.errors import ErrorCode
from shared.protocol.messages import speaks
from shared.protocol.switch import (
    LegRole,
    SwitchAction,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchCommand,
    SwitchCommandResult,
)

if TYPE_CHECKING:
    from .persistence import Persistence
    from .voicemails import VoicemailBook

log = logging.getLogger("cti_server.domain.switchlink")


@dataclass(frozen=True, slots=True)
class SentCommand:
    """A command sent without waiting for its result."""

    command_id: str
    switch_id: str
    call_id: str
    action: SwitchAction
    sent_at: float


@dataclass(frozen=True, slots=True)
class Registration:
    contact: str
    expires_at: float | None
    """Monotonic time the registration lapses (``None``: until unregistered)."""


class SwitchLink:
    """Switch sessions by switch id, registrations by SIP user, commands in flight."""

    def __init__(self, clock: Clock, *, command_ttl: float) -> None:
        self._clock = clock
        self._ttl = command_ttl
        self._sessions: dict[str, Session] = {}
        self._registrations: dict[str, Registration] = {}
        self._waiting: dict[str, asyncio.Future[SwitchCommandResult]] = {}
        self._sent: dict[str, SentCommand] = {}
        # Set by the centre: takes a push to make once the current batch's call writes
        # have committed (returns False when there is no such batch: push now).
        self.hold: Callable[[Callable[[], object]], bool] | None = None

    # -- sessions ------------------------------------------------------------------------

    def attach(self, session: Session) -> None:
        self._sessions[session.principal.principal_id] = session

    def detach(self, session: Session) -> bool:
        """Forget ``session`` if it is the switch's current one."""
        switch_id = session.principal.principal_id
        if self._sessions.get(switch_id) is session:
            del self._sessions[switch_id]
            return True
        return False

    def session(self, switch_id: str) -> Session | None:
        session = self._sessions.get(switch_id)
        if session is None or session.state is SessionState.ENDED:
            return None
        return session

    @property
    def switch_ids(self) -> list[str]:
        return sorted(self._sessions)

    def broadcast(self, event: Event) -> int:
        """Push ``event`` to every switch session whose version defines it (a detached
        session keeps it for its resume); returns how many got it."""
        sent = 0
        for session in self._sessions.values():
            if session.state is not SessionState.ENDED and speaks(session.version, event):
                session.push(event)
                sent += 1
        return sent

    # -- registrations -------------------------------------------------------------------

    def register(self, sip_user: str, registered: bool, contact: str | None, expires: int) -> None:
        if not registered or contact is None:
            self._registrations.pop(sip_user, None)
            return
        expires_at = self._clock.monotonic() + expires if expires > 0 else None
        self._registrations[sip_user] = Registration(contact, expires_at)

    def contact(self, sip_user: str) -> str | None:
        """The softphone's current SIP contact, or ``None`` when not (or no longer) registered."""
        reg = self._registrations.get(sip_user)
        if reg is None:
            return None
        if reg.expires_at is not None and reg.expires_at <= self._clock.monotonic():
            del self._registrations[sip_user]
            return None
        return reg.contact

    # -- commands ------------------------------------------------------------------------

    def _push(self, switch_id: str, call_id: str, action: SwitchAction) -> str:
        session = self.session(switch_id)
        if session is None:
            raise DomainError(
                ErrorCode.UNAVAILABLE,
                f"switch {switch_id} is not connected",
                {"switch": switch_id},
            )
        command_id = new_id()
        command = SwitchCommand(
            command_id=command_id,
            call_id=call_id,
            action=action,
            expires_at=self._clock.wall() + self._ttl,
        )
        # A switch is told only what is durable (R-IN-4): inside a batch, the command
        # goes out once that batch's call writes have committed.
        if self.hold is None or not self.hold(lambda: session.push(command)):
            session.push(command)
        return command_id

    def send(self, switch_id: str, call_id: str, action: SwitchAction) -> str:
        """Push a command without waiting; a failure result comes back from :meth:`resolve`."""
        self._prune()
        command_id = self._push(switch_id, call_id, action)
        self._sent[command_id] = SentCommand(
            command_id, switch_id, call_id, action, self._clock.monotonic()
        )
        return command_id

    async def command(
        self, switch_id: str, call_id: str, action: SwitchAction, *, timeout: float
    ) -> None:
        """Push a command and wait for the switch's result.

        Raises ``DomainError``: ``unavailable`` (switch not connected), ``timeout`` (no
        result in time) or the switch's own error code when it reports failure.
        """
        future: asyncio.Future[SwitchCommandResult] = asyncio.get_running_loop().create_future()
        command_id = self._push(switch_id, call_id, action)
        self._waiting[command_id] = future
        try:
            result = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise DomainError(
                ErrorCode.TIMEOUT,
                f"the switch did not confirm `{action.__struct_config__.tag}` in {timeout:g} s",
                {"command_id": command_id, "switch": switch_id},
            ) from None
        finally:
            self._waiting.pop(command_id, None)
        if not result.ok:
            code = result.code or ErrorCode.DESTINATION_UNAVAILABLE
            raise DomainError(
                code,
                result.message or "the switch could not execute the command",
                {"command_id": command_id},
            )

    def resolve(self, result: SwitchCommandResult) -> SentCommand | None:
        """Deliver a command result; returns the fire-and-forget command it answers, if any."""
        future = self._waiting.pop(result.command_id, None)
        if future is not None:
            if not future.done():
                future.set_result(result)
            return None
        return self._sent.pop(result.command_id, None)

    def _prune(self) -> None:
        horizon = self._clock.monotonic() - self._ttl
        while self._sent:
            first = next(iter(self._sent.values()))
            if first.sent_at > horizon:
                break
            del self._sent[first.command_id]


# -- reports of calls known only to the database -------------------------------------------


def ends_call(ev: SwitchCallEvent) -> bool:
    """Whether the report ends the call for the caller (what closes its record)."""
    K = SwitchCallEventKind
    if ev.kind is K.RELEASED:
        return ev.leg in (LegRole.CALLER, LegRole.AGENT)
    if ev.kind is K.FAILED:
        return ev.leg is LegRole.CALLER
    return ev.kind is K.QUEUE_LEAVE and ev.cause is ClearCause.CALLER_ABANDONED


def stored_disposition(view: CallView, ev: SwitchCallEvent) -> str:
    """The disposition of a stored call ended by ``ev`` (as the live path decides it):
    ``answered``, ``failed`` (the switch failed it before an answer), ``abandoned``
    (queued or offered) or ``ivr``."""
    if view.answered_at is not None:
        return "answered"
    if ev.cause is ClearCause.FAILED:
        return "failed"
    if view.queued_at is not None or view.offered_at is not None:
        return "abandoned"
    return "ivr"


class StoredCallReports:
    """Reports of calls in the database that the server does not hold in memory.

    A report of such a call from the switch that owns it (``calls.switch_id``) is
    accepted: an end (``released`` caller/agent leg, ``failed`` caller leg, abandoned
    ``queue_leave``) releases and closes the row (disposition as the live path would
    give it, ``reconciled:*`` event keys) with its contact record; ``answered`` /
    ``bridged`` records the answer if the row has none; a voicemail recording is stored;
    anything else is acknowledged unchanged. A closed row acknowledges every report.
    Nothing enters the routing engine or the server's call table, and no agent state
    changes: the server has no live part of these calls (their agents, if logged on
    again, were logged on afresh). Another switch's call, or a call not in the database,
    is not accepted (``unknown_call`` as before)."""

    RECENT = 10_000
    """Calls the server ended itself that are remembered (see :meth:`ended`)."""

    def __init__(self, store: Persistence, voicemails: VoicemailBook | None = None) -> None:
        self._store = store
        self._voicemails = voicemails
        self._recent: OrderedDict[str, str] = OrderedDict()
        self.accepted = 0
        self.closed = 0

    def ended(self, call_id: str, switch_id: str) -> None:
        """The server ended (and forgot) this call itself: later reports of it (e.g. the
        caller's ``released`` after the agent's) are acknowledged without a database read."""
        self._recent[call_id] = switch_id
        self._recent.move_to_end(call_id)
        while len(self._recent) > self.RECENT:
            self._recent.popitem(last=False)

    async def report(self, switch_id: str, ev: SwitchCallEvent) -> bool:
        """Handle ``ev`` for a call not in memory; ``False``: not a stored call of
        ``switch_id`` (the caller refuses the report)."""
        recent = self._recent.get(ev.call_id)
        if recent is not None:
            if recent != switch_id:
                return False
            self.accepted += 1
            return True
        view = await asyncio.to_thread(self._store.calls.find_call, ev.call_id)
        if view is None or view.switch_id != switch_id:
            return False
        self.accepted += 1
        if view.disposition is not None:
            return True  # closed already (a repeat, or the leg after the call's end)
        K = SwitchCallEventKind
        if ends_call(ev):
            await self._close(view, ev)
        elif ev.kind in (K.ANSWERED, K.BRIDGED) and view.answered_at is None and ev.agent_id:
            await self._store.submit_event(
                ev.call_id,
                CallEventKind.ANSWERED,
                ev.at,
                {"agent_id": ev.agent_id},
                event_key="reconciled:answered",
            )
        elif self._voicemails is not None and ev.kind in (
            K.RECORDING_STARTED,
            K.RECORDING_STOPPED,
        ):
            await self._voicemails.report(switch_id, ev, caller=view.caller_number or None)
        return True

    async def _close(self, view: CallView, ev: SwitchCallEvent) -> None:
        disposition = stored_disposition(view, ev)
        by = ev.leg.value
        data: dict[str, Any] = {"reconciled": True}
        if ev.cause is not None:
            data["cause"] = ev.cause.value
        if ev.detail:
            data["detail"] = ev.detail
        summary = f"{disposition}; released by {by} while the CTI server was away"

        def close(calls: CallStore, _sessions: object) -> bool:
            return calls.close_unfinished(
                view.call_id,
                at=ev.at,
                released_by=by,
                disposition=disposition,
                summary=summary,
                data=data,
            )

        if await self._store.writer.submit(close):
            self.closed += 1
            log.info(
                "%s: closed from a report the switch queued while the server was away (%s)",
                view.call_id,
                disposition,
            )
