"""SIP session timers (RFC 4028) for calls the stack answers (trunk side).

A caller (or a proxy on its path) asks for a session interval with
``Session-Expires: N;refresher=uac|uas`` and may state its ``Min-SE``; ``Supported:
timer`` tells that the caller's UA itself implements timers. The stack then:

* answers **422** with our ``Min-SE`` when ``N`` is below our minimum (RFC 4028 8.1);
* puts the negotiated ``Session-Expires`` (and ``Require: timer`` when the caller
  supports timers) in its 2xx; a caller that supports timers but asked for none gets
  ``default_interval`` with itself as refresher;
* **as refresher** (``refresher=uas``, or the caller cannot refresh) sends a refresh
  every ``N/2``: UPDATE without a body when the caller allows UPDATE, else a
  re-INVITE with the same SDP (an unchanged offer, RFC 3264 8); a refresh answered
  408/481 or lost means the session is gone;
* **otherwise** expects a re-INVITE or UPDATE from the caller; when none arrives by
  ``N - min(32, N/3)`` (RFC 4028 10) the session has expired: the stack sends BYE
  and tells its handler (``on_session_expired``).

Perspective: ``uac``/``uas`` in a header name the client/server *of that
transaction*; :class:`_Session` keeps the role as ``we_refresh``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cti_server.switch.sip.dialog import Dialog, DialogError, DialogId, SessionTimer
from cti_server.switch.sip.message import SipMessage, SipParseError, SipRequest, SipResponse
from cti_server.switch.sip.transaction import Scheduler
from cti_server.switch.sip.transport import TransportError

if TYPE_CHECKING:
    from cti_server.switch.sip.stack import SipStack

log = logging.getLogger("switch.sip.timers")

Refresher = Literal["uac", "uas"]
RFC_MIN_SE = 90
"""RFC 4028 4: Min-SE must not be below 90 s on the wire (tests may configure less)."""


class SessionTimerError(ValueError):
    """A ``Session-Expires`` or ``Min-SE`` header that is not ``delta-seconds[;refresher=…]``."""


class SessionIntervalTooSmall(SessionTimerError):
    """The requested interval is below our ``Min-SE``: answer 422 with ``min_se``."""

    def __init__(self, requested: int, min_se: int) -> None:
        super().__init__(f"Session-Expires {requested} is below our Min-SE {min_se}")
        self.requested = requested
        self.min_se = min_se


@dataclass(frozen=True, slots=True)
class SessionTimerConfig:
    """How the stack treats session timers on calls it answers."""

    min_se: int = RFC_MIN_SE
    """Smallest interval accepted (422 below it)."""
    default_interval: int | None = 1800
    """Interval imposed on a caller that supports timers but asked for none (None: no timer)."""
    max_interval: int | None = None
    """Shorten longer requests to this (never below the caller's Min-SE or ours)."""
    prefer_refresher: Refresher = "uac"
    """Who refreshes when a timer-capable caller leaves it open (RFC 4028 9)."""

    def __post_init__(self) -> None:
        if self.min_se < 1:
            raise ValueError("min_se must be at least 1 second")
        if self.default_interval is not None and self.default_interval < self.min_se:
            raise ValueError("default_interval must not be below min_se")
        if self.max_interval is not None and self.max_interval < self.min_se:
            raise ValueError("max_interval must not be below min_se")


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """A parsed ``Session-Expires`` (compact form ``x``)."""

    interval: int
    refresher: Refresher | None = None

    def __str__(self) -> str:
        return f"{self.interval}" + (f";refresher={self.refresher}" if self.refresher else "")


def _delta(text: str, name: str) -> int:
    value = text.strip()
    if not value.isdigit() or len(value) > 10:
        raise SessionTimerError(f"{name} needs delta-seconds, got {text!r}")
    number = int(value)
    if number < 1:
        raise SessionTimerError(f"{name} must be at least 1 second")
    return number


def parse_session_expires(value: str) -> SessionExpires:
    head, *params = value.split(";")
    interval = _delta(head, "Session-Expires")
    refresher: Refresher | None = None
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "refresher":
            role = val.strip().lower()
            if role not in ("uac", "uas"):
                raise SessionTimerError(f"refresher must be uac or uas, got {val!r}")
            refresher = "uac" if role == "uac" else "uas"
    return SessionExpires(interval, refresher)


def session_expires_of(message: SipMessage) -> SessionExpires | None:
    value = message.headers.get("Session-Expires")  # also finds the compact ``x``
    return None if value is None else parse_session_expires(value)


def min_se_of(message: SipMessage) -> int:
    value = message.headers.get("Min-SE")
    return 0 if value is None else _delta(value.split(";")[0], "Min-SE")


def _option_tags(message: SipMessage, header: str) -> set[str]:
    tags: set[str] = set()
    for value in message.headers.get_all(header):  # ``k`` is Supported's compact form
        tags.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tags


def supports_timer(message: SipMessage) -> bool:
    """``timer`` in Supported (or Require) of ``message``."""
    return "timer" in _option_tags(message, "Supported") | _option_tags(message, "Require")


def allows(message: SipMessage, method: str) -> bool:
    return method.upper() in {m.upper() for m in _option_tags(message, "Allow")}


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The outcome for one INVITE we answer: our 2xx carries :meth:`response_headers`."""

    interval: int
    refresher: Refresher
    """Refresher in the INVITE transaction's terms: ``uac`` = the caller."""
    peer_supports: bool
    peer_allows_update: bool

    def response_headers(self) -> list[tuple[str, str]]:
        headers = [
            ("Session-Expires", str(SessionExpires(self.interval, self.refresher))),
            ("Supported", "timer"),
        ]
        if self.peer_supports:
            headers.append(("Require", "timer"))
        return headers


def negotiate(request: SipRequest, config: SessionTimerConfig) -> Negotiated | None:
    """RFC 4028 9 for an INVITE we answer; raises :class:`SessionIntervalTooSmall` (→ 422)
    or :class:`SessionTimerError` (→ 400). ``None``: no session timer on this call."""
    peer_supports = supports_timer(request)
    requested = session_expires_of(request)
    peer_min = min_se_of(request)
    update = allows(request, "UPDATE")
    if requested is None:
        if not peer_supports or config.default_interval is None:
            return None
        interval = max(config.default_interval, peer_min)
        return Negotiated(interval, "uac", True, update)
    if requested.interval < config.min_se:
        raise SessionIntervalTooSmall(requested.interval, config.min_se)
    interval = requested.interval
    if config.max_interval is not None and interval > config.max_interval:
        interval = max(config.max_interval, peer_min, config.min_se)
    # A caller without timer support cannot refresh: only we can (a proxy asked).
    refresher: Refresher = (
        (requested.refresher or config.prefer_refresher) if peer_supports else "uas"
    )
    return Negotiated(interval, refresher, peer_supports, update)


def expiry_delay(interval: float) -> float:
    """When the non-refreshing side gives up (RFC 4028 10): ``N - min(32, N/3)``."""
    return interval - min(32.0, interval / 3)


class _Session:
    def __init__(
        self,
        owner: SessionTimers,
        dialog: Dialog,
        negotiated: Negotiated,
        local_sdp: bytes,
    ) -> None:
        self.owner = owner
        self.dialog = dialog
        self.interval = negotiated.interval
        self.we_refresh = negotiated.refresher == "uas"
        self.peer_supports = negotiated.peer_supports
        self.use_update = negotiated.peer_allows_update
        self.local_sdp = local_sdp
        self.refreshes_sent = 0
        self.refreshes_received = 0
        self.timer = SessionTimer(owner.scheduler, self._delay(), self._fire)
        self.busy = False

    def _delay(self) -> float:
        return self.interval / 2 if self.we_refresh else expiry_delay(self.interval)

    def restart(self) -> None:
        self.timer.restart(self._delay())

    def _fire(self) -> None:
        call_id = self.dialog.call_id
        if self.we_refresh:
            self.owner._spawn(self.owner._send_refresh(self), f"sip-session-refresh-{call_id}")
        else:
            self.owner._spawn(self.owner._expire(self), f"sip-session-expired-{call_id}")


ExpiredCallback = Callable[[Dialog], Awaitable[None]]


class SessionTimers:
    """Session timers of every dialog a :class:`SipStack` answered with one."""

    def __init__(
        self,
        stack: SipStack,
        config: SessionTimerConfig,
        scheduler: Scheduler,
        on_expired: ExpiredCallback,
    ) -> None:
        self.stack = stack
        self.config = config
        self.scheduler = scheduler
        self._on_expired = on_expired
        self.sessions: dict[DialogId, _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def negotiate(self, request: SipRequest) -> Negotiated | None:
        return negotiate(request, self.config)

    def start(self, dialog: Dialog, negotiated: Negotiated, local_sdp: bytes) -> None:
        """The 2xx carrying ``negotiated`` was sent: arm the refresh or expiry timer."""
        session = _Session(self, dialog, negotiated, local_sdp)
        self.sessions[dialog.id] = session
        session.timer.start()
        log.info(
            "%s: session timer %d s, %s refreshes",
            dialog.call_id,
            negotiated.interval,
            "we" if session.we_refresh else "the caller",
        )

    def refreshed(
        self, dialog: Dialog, request: SipRequest, local_sdp: bytes | None = None
    ) -> list[tuple[str, str]]:
        """A re-INVITE or UPDATE from the peer will be answered 2xx: restart the timer and
        return the headers for that 2xx (RFC 4028 9). Unknown dialog → no headers."""
        session = self.sessions.get(dialog.id)
        if session is None:
            return []
        if local_sdp:
            session.local_sdp = local_sdp
        try:
            requested = session_expires_of(request)
        except SessionTimerError as exc:
            log.info("%s: ignoring a bad Session-Expires in a refresh: %s", dialog.call_id, exc)
            requested = None
        if requested is not None and requested.interval >= self.config.min_se:
            session.interval = requested.interval
        session.peer_supports = session.peer_supports or supports_timer(request)
        # The peer is the UAC of this transaction: refresher=uas means us.
        session.we_refresh = requested is not None and requested.refresher == "uas"
        if not session.peer_supports:
            session.we_refresh = True
        session.refreshes_received += 1
        session.restart()
        refresher: Refresher = "uas" if session.we_refresh else "uac"
        headers = [
            ("Session-Expires", str(SessionExpires(session.interval, refresher))),
            ("Supported", "timer"),
        ]
        if session.peer_supports:
            headers.append(("Require", "timer"))
        return headers

    def stop(self, dialog: Dialog) -> None:
        session = self.sessions.pop(dialog.id, None)
        if session is not None:
            session.timer.cancel()

    async def close(self) -> None:
        for session in self.sessions.values():
            session.timer.cancel()
        self.sessions.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed", name, exc_info=t.exception())

        task.add_done_callback(done)

    async def _send_refresh(self, session: _Session) -> None:
        dialog = session.dialog
        if self.sessions.get(dialog.id) is not session or session.busy:
            return
        session.busy = True
        try:
            response = await self._refresh_once(session)
            if response is not None and response.status == 422:
                with contextlib.suppress(SessionTimerError):
                    session.interval = max(session.interval, min_se_of(response))
                response = await self._refresh_once(session)
            if response is not None and response.status in (405, 501) and session.use_update:
                session.use_update = False  # UPDATE refused: re-INVITE from now on
                response = await self._refresh_once(session)
        finally:
            session.busy = False
        if self.sessions.get(dialog.id) is not session:
            return  # the dialog ended meanwhile
        if response is None or response.status in (408, 481):
            log.info("%s: session refresh failed: the session is gone", dialog.call_id)
            await self._expire(session)
            return
        if response.is_success:
            session.refreshes_sent += 1
            try:
                answered = session_expires_of(response)
            except SessionTimerError:
                answered = None
            if answered is not None:
                session.interval = answered.interval
                # We were the UAC of the refresh: refresher=uac keeps us refreshing.
                session.we_refresh = answered.refresher != "uas"
        else:
            log.info("%s: session refresh answered %d", dialog.call_id, response.status)
        session.restart()

    async def _refresh_once(self, session: _Session) -> SipResponse | None:
        dialog = session.dialog
        headers = [
            ("Session-Expires", str(SessionExpires(session.interval, "uac"))),
            ("Min-SE", str(self.config.min_se)),
            ("Supported", "timer"),
        ]
        try:
            if session.use_update:
                return await self.stack.request(dialog, "UPDATE", headers=headers)
            return await self.stack.request(
                dialog, "INVITE", body=session.local_sdp, headers=headers
            )
        except (TransportError, DialogError, SipParseError) as exc:
            log.info("%s: session refresh not sent: %s", dialog.call_id, exc)
            return None

    async def _expire(self, session: _Session) -> None:
        if self.sessions.pop(session.dialog.id, None) is None:
            return
        session.timer.cancel()
        log.warning(
            "%s: session expired (no refresh within %d s)",
            session.dialog.call_id,
            session.interval,
        )
        await self._on_expired(session.dialog)


__all__ = [
    "RFC_MIN_SE",
    "Negotiated",
    "SessionExpires",
    "SessionIntervalTooSmall",
    "SessionTimerConfig",
    "SessionTimerError",
    "SessionTimers",
    "allows",
    "expiry_delay",
    "min_se_of",
    "negotiate",
    "parse_session_expires",
    "session_expires_of",
    "supports_timer",
]
