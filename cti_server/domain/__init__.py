"""The CTI server's domain layer: agents, calls, the switch link, supervision.

* :class:`ContactCentre` - the domain object (routing engine + store + sessions);
* :func:`build_engine` - a routing engine from the store's routing configuration;
* :func:`build_router` - the request handlers for the WebSocket transport;
* :class:`DomainHooks` - the session hooks (disconnect policy, takeover, switches);
* :class:`StoreAuthenticator` - argon2 logins and switch tokens;
* :class:`Persistence` - the store, awaited off the event loop.

See ``docs/cti_server.md``.
"""

from .authn import StoreAuthenticator
from .centre import ContactCentre, Ctx, build_engine
from .config import DomainConfig
from .errors import domain_error, engine_errors
from .handlers import build_router
from .hooks import DomainHooks
from .model import AgentRecord, CallRecord, wire_state
from .persistence import Persistence
from .supervisor import SlCounter, SupervisorFeed
from .switchlink import SwitchLink
from .timers import EngineTimer

__all__ = [
    "AgentRecord",
    "CallRecord",
    "ContactCentre",
    "Ctx",
    "DomainConfig",
    "DomainHooks",
    "EngineTimer",
    "Persistence",
    "SlCounter",
    "StoreAuthenticator",
    "SupervisorFeed",
    "SwitchLink",
    "build_engine",
    "build_router",
    "domain_error",
    "engine_errors",
    "wire_state",
]
