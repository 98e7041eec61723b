"""Persistence of the CTI server: SQLAlchemy 2 models, Alembic migrations, repositories.

Entry points (see docs/data.md):

- :func:`make_engine`, :func:`upgrade`, :func:`session_factory` - database set-up;
- :class:`TierDirectory` - cached caller-number -> tier look-up (R-TIER-2);
- :func:`import_tiers` - chunked CSV/.xlsx tier import with row-level errors;
- :class:`CallStore` - call events, call summaries and contact records;
- :class:`ConfigStore`, :func:`load_routing_config` - audited configuration CRUD and
  the routing configuration as plain data;
- :func:`authenticate`, :func:`hash_password`, :func:`verify_password` - argon2 auth;
- :func:`seed_demo` - the demo contact centre;
- :func:`issue_web_token`, :func:`redeem_web_token` - one-time web-panel sign-on (docs/web.md).
"""

from __future__ import annotations

from .auth import Principal, authenticate, hash_password, needs_rehash, verify_password
from .calls import (
    CallEventKind,
    CallEventView,
    CallStore,
    CallView,
    ContactView,
    WrapUpRefusal,
    WrapUpView,
)
from .db import current_revision, head_revision, make_engine, session_factory, upgrade
from .directory import (
    AgentConfig,
    AgentGroupConfig,
    CalendarConfig,
    ConfigStore,
    OverflowRuleConfig,
    QueueConfig,
    ReasonCodeConfig,
    RoutingConfig,
    SkillConfig,
    TierConfig,
    load_routing_config,
)
from .errors import (
    Conflict,
    ImmutableVersion,
    InvalidData,
    InvalidNumber,
    NotFound,
    StoreError,
    TierImportAborted,
    TierImportError,
)
from .models import BlacklistAction, Role
from .numbers import normalise, try_normalise
from .seed import seed_demo
from .tier_import import ImportReport, RowError, import_tiers
from .tiers import CustomerTier, TierDirectory
from .web_tokens import issue_web_token, redeem_web_token

__all__ = [
    "AgentConfig",
    "AgentGroupConfig",
    "BlacklistAction",
    "CalendarConfig",
    "CallEventKind",
    "CallEventView",
    "CallStore",
    "CallView",
    "ConfigStore",
    "Conflict",
    "ContactView",
    "CustomerTier",
    "ImmutableVersion",
    "ImportReport",
    "InvalidData",
    "InvalidNumber",
    "NotFound",
    "OverflowRuleConfig",
    "Principal",
    "QueueConfig",
    "ReasonCodeConfig",
    "Role",
    "RoutingConfig",
    "RowError",
    "SkillConfig",
    "StoreError",
    "TierConfig",
    "TierDirectory",
    "TierImportAborted",
    "TierImportError",
    "WrapUpRefusal",
    "WrapUpView",
    "authenticate",
    "current_revision",
    "hash_password",
    "head_revision",
    "import_tiers",
    "issue_web_token",
    "load_routing_config",
    "make_engine",
    "needs_rehash",
    "normalise",
    "redeem_web_token",
    "seed_demo",
    "session_factory",
    "try_normalise",
    "upgrade",
    "verify_password",
]
