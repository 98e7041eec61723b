"""Routing engine core: pure, synchronous, no I/O (see docs/routing.md).

Usage::

    engine = RoutingEngine(EngineConfig())  # explain=False: actions carry NOT_EXPLAINED
    engine.add_tier(TierSpec(tier_id="vip", sl_seconds=10, sl_target=0.9, priority_weight=2))
    ...
    for action in engine.call_arrived(CallSpec(call_id="c1", queue_id="q", tier_id="vip"), now):
        ...
"""

from . import actions
from .actions import (
    NOT_EXPLAINED,
    Action,
    AgentCandidate,
    AgentStateChanged,
    CallbackRequested,
    CallCandidate,
    Explanation,
    LeftQueue,
    Offer,
    Overflowed,
    Queued,
    Widened,
)
from .calendar import Calendar
from .engine import RoutingEngine
from .errors import (
    ClockWentBackwards,
    ConfigError,
    DuplicateId,
    InUse,
    InvalidTransition,
    RoutingError,
    UnknownAgent,
    UnknownCall,
    UnknownGroup,
    UnknownQueue,
    UnknownTier,
)
from .model import (
    AgentGroupSpec,
    AgentOrder,
    AgentSpec,
    AgentState,
    CallSelection,
    CallSpec,
    CallState,
    EngineConfig,
    OverflowRule,
    QueueSpec,
    TierSpec,
)
from .service_level import ServiceLevelWindow, SlFigures

__all__ = [
    "NOT_EXPLAINED",
    "Action",
    "AgentCandidate",
    "AgentGroupSpec",
    "AgentOrder",
    "AgentSpec",
    "AgentState",
    "AgentStateChanged",
    "Calendar",
    "CallCandidate",
    "CallSelection",
    "CallSpec",
    "CallState",
    "CallbackRequested",
    "ClockWentBackwards",
    "ConfigError",
    "DuplicateId",
    "EngineConfig",
    "Explanation",
    "InUse",
    "InvalidTransition",
    "LeftQueue",
    "Offer",
    "OverflowRule",
    "Overflowed",
    "QueueSpec",
    "Queued",
    "RoutingEngine",
    "RoutingError",
    "ServiceLevelWindow",
    "SlFigures",
    "TierSpec",
    "UnknownAgent",
    "UnknownCall",
    "UnknownGroup",
    "UnknownQueue",
    "UnknownTier",
    "Widened",
    "actions",
]
