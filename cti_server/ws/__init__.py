"""WebSocket transport of the CTI server: connections, sessions, the handler table.

The domain layer (agents, calls, the switch link, supervision) builds on this:

* register request handlers on a :class:`Router` (``router.add`` / ``@router.handles``);
* raise :class:`DomainError` from a handler to answer with a typed error;
* push events with :meth:`Session.push` (or ``ctx.push`` inside a handler);
* react to session life through :class:`SessionHooks`.

See ``docs/transport.md``.
"""

from cti_server.ws.auth import (
    SUPERVISOR_ROLES,
    Authenticator,
    Principal,
    Role,
    StaticAuthenticator,
)
from cti_server.ws.config import TransportConfig
from cti_server.ws.connection import Connection
from cti_server.ws.errors import CloseCode, CloseReason, DomainError
from cti_server.ws.handlers import Handler, RequestContext, Route, Router, to_error
from cti_server.ws.server import CtiServer
from cti_server.ws.sessions import (
    EventSink,
    Opening,
    Session,
    SessionHooks,
    SessionRegistry,
    SessionState,
)
from cti_server.ws.stats import TransportStats

__all__ = [
    "SUPERVISOR_ROLES",
    "Authenticator",
    "CloseCode",
    "CloseReason",
    "Connection",
    "CtiServer",
    "DomainError",
    "EventSink",
    "Handler",
    "Opening",
    "Principal",
    "RequestContext",
    "Role",
    "Route",
    "Router",
    "Session",
    "SessionHooks",
    "SessionRegistry",
    "SessionState",
    "StaticAuthenticator",
    "TransportConfig",
    "TransportStats",
    "to_error",
]
