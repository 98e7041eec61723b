"""The switch link: connected switches, softphone registrations and commands.

Commands are ``switch.command`` events pushed to the switch's session (so a command
sent during a brief outage is replayed on resume). :meth:`SwitchLink.command` waits
for the switch's ``switch.command_result``; :meth:`SwitchLink.send` does not wait and
remembers the command so a failure report can be acted on (e.g. an offer the switch
could not ring).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from cti_server.ws import DomainError, Session, SessionState
from shared.clock import Clock
from shared.ids import new_id
from shared.protocol.base import Event
from shared.protocol.errors import ErrorCode
from shared.protocol.messages import speaks
from shared.protocol.switch import SwitchAction, SwitchCommand, SwitchCommandResult


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
