"""Notices for desktops and supervisors: switch operating modes (1.1) and, through
:meth:`SwitchModes.announce`, published notices (``system.notice``, 1.2).

:class:`SwitchModes` keeps the mode of every switch the server knows (``system.mode``,
docs/protocol.md "System notices") and pushes each change to every desktop and
supervisor session that speaks 1.1:

* a switch session starts or resumes → ``normal`` (the server routes its calls);
* a switch's connection drops → ``fallback`` (its failover decider distributes calls
  by itself while the link is down);
* a switch's session expires → it stays ``fallback`` (it may still be running alone);
  a switch that logs out is forgotten;
* its ``switch.fallback_report`` (last part) → ``normal`` with a detail naming the
  outage (``link_down_at`` … ``link_up_at``) and the calls reconciled.

After every ``snapshot`` result a 1.1 desktop / supervisor gets the mode of every
known switch in ``fallback`` (:meth:`SwitchModes.push_all`): a switch
not mentioned runs normally, so a client resets its banner state with each snapshot and
the common case (all normal) costs no events. 1.0 sessions get nothing.

The last reconciliation notice of each switch (the ``normal`` with the outage in its
detail) is kept for ``notice_seconds`` (default 10 minutes): a desktop or supervisor
whose snapshot comes in that window (e.g. it connected to a restarted server after the
switch's report) gets it too, after the snapshot, unless the switch went to fallback
again since (R-IN-3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from cti_server.ws import Session, SessionState
from shared.clock import Clock, SystemClock
from shared.protocol.base import Event
from shared.protocol.handshake import ClientKind
from shared.protocol.messages import speaks
from shared.protocol.system import SwitchMode, SystemMode

NOTICE_KINDS = frozenset({ClientKind.DESKTOP, ClientKind.SUPERVISOR})
"""Client kinds that get ``system.mode``."""
NOTICE_SECONDS = 600.0
"""How long a reconciliation notice is repeated to sessions taking a snapshot."""


@dataclass(frozen=True, slots=True)
class ModeEntry:
    mode: SwitchMode
    since: float
    detail: str | None = None


def _hhmmss(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class SwitchModes:
    """Modes by switch id, and the desktop / supervisor sessions told of changes."""

    def __init__(
        self, clock: Clock | None = None, *, notice_seconds: float = NOTICE_SECONDS
    ) -> None:
        if notice_seconds < 0:
            raise ValueError("notice_seconds must be >= 0")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.notice_seconds = notice_seconds
        self._modes: dict[str, ModeEntry] = {}
        self._sessions: dict[str, Session] = {}
        self._reported: dict[str, int] = {}
        """Calls in the fallback report parts received so far, per switch."""
        self._notices: dict[str, tuple[ModeEntry, float]] = {}
        """Last reconciliation notice per switch and the monotonic time it was made."""

    # -- who listens ---------------------------------------------------------------------

    def listen(self, session: Session) -> None:
        """Track a desktop / supervisor session (others are ignored)."""
        if session.principal.kind in NOTICE_KINDS:
            self._sessions[session.session_id] = session

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.session_id, None)

    # -- modes ---------------------------------------------------------------------------

    def get(self, switch_id: str) -> ModeEntry | None:
        return self._modes.get(switch_id)

    @property
    def switch_ids(self) -> list[str]:
        return sorted(self._modes)

    def set(
        self, switch_id: str, mode: SwitchMode, since: float, detail: str | None = None
    ) -> None:
        """Record the mode and push it when it changed (or carries a new detail)."""
        old = self._modes.get(switch_id)
        entry = ModeEntry(mode, since, detail[:1024] if detail else None)
        self._modes[switch_id] = entry
        if mode is SwitchMode.FALLBACK:
            self._notices.pop(switch_id, None)  # a new outage: its own report will follow
        if old is None and mode is SwitchMode.NORMAL and detail is None:
            return  # a switch first seen in normal mode is no news
        if old is not None and old.mode is mode and detail is None:
            return
        self._broadcast(self._event(switch_id, entry))

    def forget(self, switch_id: str) -> None:
        self._modes.pop(switch_id, None)
        self._reported.pop(switch_id, None)
        self._notices.pop(switch_id, None)

    def notice(self, switch_id: str) -> ModeEntry | None:
        """The switch's last reconciliation notice while it is still repeated."""
        kept = self._notices.get(switch_id)
        if kept is None:
            return None
        entry, at = kept
        if self.clock.monotonic() - at > self.notice_seconds:
            del self._notices[switch_id]
            return None
        return entry

    def report_part(
        self, switch_id: str, *, calls: int, last_part: bool, down_at: float, up_at: float
    ) -> None:
        """A ``switch.fallback_report`` part; the last one announces ``normal`` with the
        outage in ``detail``."""
        total = self._reported.get(switch_id, 0) + calls
        if not last_part:
            self._reported[switch_id] = total
            return
        self._reported.pop(switch_id, None)
        self.set(
            switch_id,
            SwitchMode.NORMAL,
            up_at,
            f"switch {switch_id} ran in fallback (no CTI) from {_hhmmss(down_at)} "
            f"to {_hhmmss(up_at)}; {total} call(s) reconciled",
        )
        self._notices[switch_id] = (self._modes[switch_id], self.clock.monotonic())

    def push_all(self, session: Session) -> None:
        """The mode of every switch in fallback to ``session`` (if it speaks 1.1), and the
        recent reconciliation notice of every switch running normally again."""
        if session.principal.kind not in NOTICE_KINDS:
            return
        for switch_id in self.switch_ids:
            entry = self._modes[switch_id]
            if entry.mode is SwitchMode.NORMAL:
                notice = self.notice(switch_id)
                if notice is None:
                    continue
                entry = notice
            event = self._event(switch_id, entry)
            if speaks(session.version, event):
                session.push(event)

    @staticmethod
    def _event(switch_id: str, entry: ModeEntry) -> SystemMode:
        return SystemMode(
            switch_id=switch_id, mode=entry.mode, since=entry.since, detail=entry.detail
        )

    def announce(self, event: Event, wants: Callable[[Session], bool] | None = None) -> int:
        """Push ``event`` (e.g. a ``system.notice``) to every listening session that speaks
        its version and that ``wants`` accepts; returns how many got it."""
        reached = 0
        for session_id, session in list(self._sessions.items()):
            if session.state is SessionState.ENDED:
                del self._sessions[session_id]
            elif speaks(session.version, event) and (wants is None or wants(session)):
                session.push(event)
                reached += 1
        return reached

    def _broadcast(self, event: SystemMode) -> None:
        self.announce(event)
