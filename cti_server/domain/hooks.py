"""Session hooks: what the domain does when desktops and switches come and go."""

from __future__ import annotations

from cti_server.ws import Session, SessionHooks
from shared.protocol.agent import LogoffReason
from shared.protocol.handshake import ClientKind

from .centre import ContactCentre


class DomainHooks(SessionHooks):
    """Desktop disconnect policy, takeover, switch attach/loss, supervisor clean-up.

    Hooks are synchronous: anything that needs the database or the batch lock runs
    as a background task of the :class:`ContactCentre`.
    """

    def __init__(self, centre: ContactCentre) -> None:
        self.centre = centre

    def on_session_started(self, session: Session) -> None:
        if session.principal.kind is ClientKind.SWITCH:
            self.centre.switch_connected(session)
        self.centre.modes.listen(session)

    def on_session_resumed(self, session: Session) -> None:
        kind = session.principal.kind
        if kind is ClientKind.SWITCH:
            self.centre.switch_connected(session)
        elif kind is ClientKind.DESKTOP:
            self.centre.desktop_resumed(session)
        self.centre.modes.listen(session)

    def on_disconnected(self, session: Session) -> None:
        kind = session.principal.kind
        if kind is ClientKind.DESKTOP:
            self.centre.spawn(self.centre.desktop_disconnected(session))
        elif kind is ClientKind.SWITCH:
            self.centre.switch_disconnected(session)

    def on_session_expired(self, session: Session) -> None:
        self._ended(session, expired=True)

    def on_logout(self, session: Session) -> None:
        self._ended(session, expired=False)

    def on_takeover(self, old_session: Session, new_session: Session) -> None:
        kind = old_session.principal.kind
        if kind is ClientKind.DESKTOP:
            self.centre.desktop_taken_over(old_session, new_session)
        elif kind is ClientKind.SWITCH:
            self.centre.switch_connected(new_session)  # its calls stay with the switch id
        self.centre.feed.drop_session(old_session)
        self.centre.modes.drop(old_session)

    def _ended(self, session: Session, *, expired: bool) -> None:
        self.centre.feed.drop_session(session)
        self.centre.monitors.drop_session(session)
        self.centre.modes.drop(session)
        kind = session.principal.kind
        if kind is ClientKind.DESKTOP:
            reason = LogoffReason.TIMEOUT if expired else LogoffReason.USER
            self.centre.spawn(self.centre.desktop_expired(session, reason))
        elif kind is ClientKind.SWITCH:
            if not expired and self.centre.switches.session(session.principal.principal_id) in (
                session,
                None,
            ):
                self.centre.modes.forget(session.principal.principal_id)  # shut down on purpose
            self.centre.spawn(self.centre.switch_lost(session))
