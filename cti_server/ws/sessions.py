"""Sessions: what outlives a connection.

A session belongs to one principal, numbers its events (``EventSequencer``) and keeps
the last ``replay_buffer`` of them. It has at most one live connection. When the
connection is lost the session is *detached* for ``disconnect_grace`` seconds, so the
client can resume it with ``hello.resume``; after that it *expires*.

Everything here is synchronous and takes time from an injected clock, so it is
tested without an event loop; the server calls :meth:`SessionRegistry.expire_due`
from its housekeeping task. Domain code plugs in through :class:`SessionHooks`.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from cti_server.ws.auth import Principal
from cti_server.ws.errors import CloseCode, CloseReason
from cti_server.ws.stats import TransportStats
from shared.clock import Clock, SystemClock
from shared.log import log_context
from shared.protocol.base import Event, ProtocolVersion
from shared.protocol.handshake import ClientKind, Resume
from shared.protocol.session import EventSequencer

log = logging.getLogger("cti_server.ws.sessions")


class EventSink(Protocol):
    """The live connection of a session, as the session sees it."""

    @property
    def conn_id(self) -> str: ...

    def send_event(self, event: Event) -> None:
        """Queue a stamped event for the client (never blocks)."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Close after sending what is already queued (never blocks)."""
        ...


class SessionState(enum.StrEnum):
    NEW = "new"
    """Prepared for a ``hello``, not registered yet."""
    LIVE = "live"
    """A connection is attached."""
    DETACHED = "detached"
    """Connection lost; waiting ``disconnect_grace`` for a resume."""
    ENDED = "ended"
    """Logged out, taken over, expired or shut down; cannot be resumed."""


class Session:
    """One client session. Push events with :meth:`push`; keep domain state in ``data``."""

    def __init__(
        self,
        session_id: str,
        principal: Principal,
        version: ProtocolVersion,
        *,
        replay_buffer: int,
        clock: Clock,
    ) -> None:
        self.session_id = session_id
        self.principal = principal
        self.version = version
        self.sequencer = EventSequencer(capacity=replay_buffer)
        self.state = SessionState.NEW
        self.created_at = clock.monotonic()
        self.detached_at: float | None = None
        self.disconnect_reason = ""
        """Why the last connection went away (``slow consumer``, ``heartbeat timeout`` …)."""
        self.end_reason = ""
        self.data: dict[str, object] = {}
        """Free slot for the domain layer (agent id, subscriptions …)."""
        self._clock = clock
        self._sink: EventSink | None = None

    def __repr__(self) -> str:
        return (
            f"Session({self.session_id!r}, principal={self.principal.principal_id!r}, "
            f"kind={self.principal.kind.value!r}, state={self.state.value!r})"
        )

    @property
    def last_seq(self) -> int:
        return self.sequencer.last_seq

    @property
    def live(self) -> bool:
        return self._sink is not None

    @property
    def connection(self) -> EventSink | None:
        return self._sink

    def push[E: Event](self, event: E) -> E:
        """Stamp ``event`` (seq, ts), keep it for replay and queue it to the live connection.

        Never blocks: a client that cannot keep up is dropped by its connection and
        catches up on resume. Pushing to an ended session stamps but delivers nothing.
        """
        stamped = self.sequencer.stamp(event, self._clock.wall())
        if self._sink is not None:
            self._sink.send_event(stamped)
        return stamped


class SessionHooks:
    """Callbacks for the domain layer; subclass and override what you need.

    Hooks are synchronous and must not block (spawn a task for I/O). They run with
    the session's connection still attached where there is one, so events pushed in
    a hook reach the client before the connection closes. An exception in a hook is
    logged and does not disturb the transport.
    """

    def on_session_started(self, session: Session) -> None:
        """A new session (fresh login, or a resume that could not find its session)."""

    def on_session_resumed(self, session: Session) -> None:
        """A new connection took over a detached (or still live) session."""

    def on_disconnected(self, session: Session) -> None:
        """The connection was lost; the session waits ``disconnect_grace`` for a resume."""

    def on_session_expired(self, session: Session) -> None:
        """The grace period elapsed without a resume (e.g. log the agent off)."""

    def on_logout(self, session: Session) -> None:
        """The client sent ``logout``; the session ends after this hook."""

    def on_takeover(self, old_session: Session, new_session: Session) -> None:
        """The principal started ``new_session`` while ``old_session`` existed (exclusive
        client kinds). Push e.g. ``agent.logged_off(reason=taken_over)`` to the old one; it
        ends and its connection closes with ``taken over`` right after this hook."""


@dataclass(frozen=True, slots=True)
class Opening:
    """What a successful ``hello`` leads to (see :meth:`SessionRegistry.prepare`)."""

    session: Session
    new: bool
    """A session created now (not in the registry until :meth:`SessionRegistry.commit`)."""
    resumed: bool
    """``welcome.resumed``: the replay below follows the welcome."""
    replay: tuple[Event, ...] = ()
    note: str = ""
    """Why a resume was not possible (for the log)."""


class SessionRegistry:
    """All sessions of the server, their grace periods and the domain hooks."""

    def __init__(
        self,
        *,
        replay_buffer: int = 2000,
        disconnect_grace: float = 30.0,
        exclusive_kinds: frozenset[ClientKind] = frozenset(),
        hooks: SessionHooks | None = None,
        clock: Clock | None = None,
        stats: TransportStats | None = None,
    ) -> None:
        self.replay_buffer = replay_buffer
        self.disconnect_grace = disconnect_grace
        self.exclusive_kinds = exclusive_kinds
        self.hooks = hooks if hooks is not None else SessionHooks()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.stats = stats if stats is not None else TransportStats()
        self._sessions: dict[str, Session] = {}
        self._detached: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def for_principal(self, principal_id: str) -> list[Session]:
        return [s for s in self._sessions.values() if s.principal.principal_id == principal_id]

    # -- opening ------------------------------------------------------------------

    def prepare(
        self, principal: Principal, version: ProtocolVersion, resume: Resume | None = None
    ) -> Opening:
        """Decide what ``hello`` leads to, without changing anything yet.

        The caller sends the welcome (and the replay) and then calls :meth:`commit`
        with no ``await`` in between, so the session's events follow the welcome.
        """
        note = ""
        if resume is not None:
            session = self._sessions.get(resume.session_id)
            if session is None:
                note = f"unknown session {resume.session_id}"
            elif (
                session.principal.principal_id != principal.principal_id
                or session.principal.kind != principal.kind
            ):
                note = f"session {resume.session_id} belongs to another principal"
            else:
                replay = session.sequencer.replay_after(resume.last_seq)
                if replay.needs_snapshot:
                    return Opening(session, new=False, resumed=False, note=replay.reason)
                return Opening(session, new=False, resumed=True, replay=replay.events)
        session = Session(
            secrets.token_urlsafe(18),
            principal,
            version,
            replay_buffer=self.replay_buffer,
            clock=self.clock,
        )
        return Opening(session, new=True, resumed=False, note=note)

    def commit(self, opening: Opening, sink: EventSink) -> Session:
        """Attach ``sink`` to the session and run the hooks (takeover, started/resumed)."""
        session = opening.session
        if opening.new:
            self._sessions[session.session_id] = session
            self.stats.sessions_started += 1
        else:
            previous = session.connection
            if previous is not None and previous is not sink:
                self._detach(session, CloseReason.REPLACED)
                previous.close(CloseCode.REPLACED, CloseReason.REPLACED)
            self.stats.sessions_resumed += 1
        self._attach(session, sink)
        if opening.new:
            self._hook("on_session_started", session)
            if session.principal.kind in self.exclusive_kinds:
                for old in self.for_principal(session.principal.principal_id):
                    if old is not session and old.principal.kind == session.principal.kind:
                        self._take_over(old, session)
        else:
            self._hook("on_session_resumed", session)
        return session

    # -- closing ------------------------------------------------------------------

    def detach(self, session: Session, sink: EventSink, reason: str) -> bool:
        """``sink`` (the session's connection) is gone: start the grace period.

        Returns False when ``sink`` was not (or no longer) the session's connection.
        """
        if session.connection is not sink or session.state is SessionState.ENDED:
            return False
        self._detach(session, reason)
        self._hook("on_disconnected", session)
        return True

    def logout(self, session: Session) -> None:
        """The client logged out: run ``on_logout`` and end the session."""
        if session.state is SessionState.ENDED:
            return
        self._hook("on_logout", session)
        self.end(session, CloseReason.LOGGED_OUT)

    def end(self, session: Session, reason: str) -> None:
        """Forget ``session`` (no hook); its connection, if any, is left to the caller."""
        if session.state is SessionState.ENDED:
            return
        if session.state is SessionState.LIVE:
            self.stats.sessions_live -= 1
        elif session.state is SessionState.DETACHED:
            self.stats.sessions_detached -= 1
        self._sessions.pop(session.session_id, None)
        self._detached.pop(session.session_id, None)
        session._sink = None
        session.state = SessionState.ENDED
        session.end_reason = reason

    def expire_due(self, now: float | None = None) -> list[Session]:
        """End the detached sessions whose grace period is over; runs ``on_session_expired``."""
        moment = self.clock.monotonic() if now is None else now
        due = [
            s
            for s in self._detached.values()
            if s.detached_at is not None and moment - s.detached_at >= self.disconnect_grace
        ]
        for session in due:
            self.end(session, "expired")
            self.stats.sessions_expired += 1
            log.info(
                "session expired after %.1f s without a resume",
                self.disconnect_grace,
                extra={"session": session.session_id, "principal": session.principal.principal_id},
            )
            self._hook("on_session_expired", session)
        return due

    def clear(self, reason: str) -> None:
        """End every session without hooks (server shutdown)."""
        for session in list(self._sessions.values()):
            self.end(session, reason)

    # -- internals ----------------------------------------------------------------

    def _attach(self, session: Session, sink: EventSink) -> None:
        if session.state is SessionState.DETACHED:
            self.stats.sessions_detached -= 1
        if session.state is not SessionState.LIVE:
            self.stats.sessions_live += 1
        self._detached.pop(session.session_id, None)
        session._sink = sink
        session.state = SessionState.LIVE
        session.detached_at = None

    def _detach(self, session: Session, reason: str) -> None:
        if session.state is SessionState.LIVE:
            self.stats.sessions_live -= 1
            self.stats.sessions_detached += 1
        session._sink = None
        session.state = SessionState.DETACHED
        session.detached_at = self.clock.monotonic()
        session.disconnect_reason = reason
        self._detached[session.session_id] = session

    def _take_over(self, old: Session, new: Session) -> None:
        self.stats.takeovers += 1
        log.info(
            "session taken over by a new login",
            extra={"session": old.session_id, "by": new.session_id},
        )
        self._hook("on_takeover", old, new)
        sink = old.connection
        self.end(old, CloseReason.TAKEN_OVER)
        if sink is not None:
            sink.close(CloseCode.TAKEN_OVER, CloseReason.TAKEN_OVER)

    def _hook(self, name: str, *sessions: Session) -> None:
        sink = sessions[0].connection
        try:
            with log_context(conn=sink.conn_id if sink is not None else None):
                getattr(self.hooks, name)(*sessions)
        except Exception:
            self.stats.handler_exceptions += 1
            log.exception("session hook %s failed", name)
