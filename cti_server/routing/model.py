"""Configuration and input objects of the routing engine (frozen, validated)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from .calendar import Calendar
from .errors import ConfigError


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    NOT_READY = "not_ready"
    READY = "ready"
    RESERVED = "reserved"  # offered a call, ringing
    BUSY = "busy"
    ACW = "acw"  # after-call work


class CallState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CONNECTED = "connected"


class CallSelection(StrEnum):
    SL_GAP = "sl_gap"
    FIFO = "fifo"
    STATIC_PRIORITY = "static_priority"


class AgentOrder(StrEnum):
    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    LEAST_TALK_TIME = "least_talk_time"
    FIXED = "fixed"


class MaxWaitAction(StrEnum):
    CALLBACK = "callback"
    OVERFLOW = "overflow"  # written "overflow:<queue_id>" in QueueSpec
    FLOW = "flow"  # leave the queue; the IVR flow decides (voicemail, announcement, ...)


def _check_id(kind: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{kind} must be a non-empty string, got {value!r}")


def _check_duration(name: str, value: float, *, allow_zero: bool = True) -> None:
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(
            f"{name} must be a finite {'non-negative' if allow_zero else 'positive'} "
            f"number, got {value!r}"
        )


@dataclass(frozen=True, kw_only=True)
class TierSpec:
    """A customer tier (R-TIER-1, R-TIER-3): answer ``sl_target`` of calls within ``sl_seconds``."""

    tier_id: str
    sl_seconds: float
    sl_target: float  # fraction 0..1
    priority_weight: float = 1.0

    def __post_init__(self) -> None:
        _check_id("tier_id", self.tier_id)
        _check_duration("sl_seconds", self.sl_seconds, allow_zero=False)
        if not 0.0 <= self.sl_target <= 1.0:
            raise ConfigError(f"sl_target must be a fraction 0..1, got {self.sl_target!r}")
        if not math.isfinite(self.priority_weight) or self.priority_weight <= 0:
            raise ConfigError(f"priority_weight must be positive, got {self.priority_weight!r}")


@dataclass(frozen=True, kw_only=True)
class AgentGroupSpec:
    """An agent group (话务员群组) serving some tiers (R-SKILL-3)."""

    group_id: str
    tiers: frozenset[str]

    def __post_init__(self) -> None:
        _check_id("group_id", self.group_id)
        object.__setattr__(self, "tiers", frozenset(self.tiers))


@dataclass(frozen=True, kw_only=True)
class OverflowRule:
    """After ``after`` seconds in the queue, widen who may take the call.

    Effects are cumulative over the rules already passed: the eligible level
    limit becomes the largest ``widen_to_level`` so far, ``add_groups`` lets
    members of these agent groups take the call whatever tiers they serve, and
    ``add_queues`` lets agents of these queues (their skill, at the level limit
    of that queue) take it as well; there it competes with that queue's own
    callers by the same call-selection rule.
    """

    after: float
    widen_to_level: int | None = None
    add_groups: frozenset[str] = frozenset()
    add_queues: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_duration("OverflowRule.after", self.after)
        if self.widen_to_level is not None and self.widen_to_level < 1:
            raise ConfigError("widen_to_level must be >= 1")
        object.__setattr__(self, "add_groups", frozenset(self.add_groups))
        object.__setattr__(self, "add_queues", tuple(self.add_queues))


@dataclass(frozen=True, kw_only=True)
class QueueSpec:
    """A queue feeding one skill (R-SKILL-1)."""

    queue_id: str
    skill: str
    max_level: int | None = None  # initially eligible levels (1..max_level); None = all
    overflow: tuple[OverflowRule, ...] = ()
    max_wait: float | None = None
    max_wait_action: str = "callback"  # "callback" | "overflow:<queue_id>" | "flow"
    calendar: Calendar | None = None
    acw_seconds: float = 0.0

    def __post_init__(self) -> None:
        _check_id("queue_id", self.queue_id)
        _check_id("skill", self.skill)
        if self.max_level is not None and self.max_level < 1:
            raise ConfigError("max_level must be >= 1 or None")
        rules = tuple(sorted(self.overflow, key=lambda r: r.after))
        object.__setattr__(self, "overflow", rules)
        if self.max_wait is not None:
            _check_duration("max_wait", self.max_wait)
        _check_duration("acw_seconds", self.acw_seconds)
        self.parsed_max_wait_action()

    def parsed_max_wait_action(self) -> tuple[MaxWaitAction, str | None]:
        """``(action, target queue)`` from ``max_wait_action``."""
        text = self.max_wait_action
        if text == "callback":
            return MaxWaitAction.CALLBACK, None
        if text == "flow":
            return MaxWaitAction.FLOW, None
        if text.startswith("overflow:") and len(text) > len("overflow:"):
            target = text.split(":", 1)[1]
            if target == self.queue_id:
                raise ConfigError(f"queue {self.queue_id} cannot overflow to itself")
            return MaxWaitAction.OVERFLOW, target
        raise ConfigError(
            f"max_wait_action must be 'callback', 'flow' or 'overflow:<queue_id>', got {text!r}"
        )


@dataclass(frozen=True, kw_only=True)
class AgentSpec:
    """An agent: skill -> level (1 = first skill, R-SKILL-2) and agent groups (R-SKILL-3)."""

    agent_id: str
    skills: Mapping[str, int]
    groups: frozenset[str] = frozenset()
    order_key: int = 0  # used by the "fixed" agent order, lower first

    def __post_init__(self) -> None:
        _check_id("agent_id", self.agent_id)
        for skill, level in self.skills.items():
            _check_id("skill", skill)
            if not isinstance(level, int) or level < 1:
                raise ConfigError(f"agent {self.agent_id}: level of {skill!r} must be an int >= 1")
        object.__setattr__(self, "skills", MappingProxyType(dict(self.skills)))
        object.__setattr__(self, "groups", frozenset(self.groups))


@dataclass(frozen=True, kw_only=True, slots=True, init=False)
class CallSpec:
    """A call handed to a queue by the flow (R-IVR-2 passes tier and business selection)."""

    call_id: str
    queue_id: str
    tier_id: str
    business_selection: str = ""
    priority: int = 0  # higher first; dominates within a tier

    def __init__(
        self,
        *,
        call_id: str,
        queue_id: str,
        tier_id: str,
        business_selection: str = "",
        priority: int = 0,
    ) -> None:
        # Hand-written (one is built per call): the generated frozen-dataclass __init__
        # goes through object.__setattr__ per field; the slot descriptors are 2x faster.
        if type(call_id) is not str or not call_id:
            _check_id("call_id", call_id)
        if type(queue_id) is not str or not queue_id:
            _check_id("queue_id", queue_id)
        if type(tier_id) is not str or not tier_id:
            _check_id("tier_id", tier_id)
        s0, s1, s2, s3, s4 = _CALL_SPEC_SETTERS
        s0(self, call_id)
        s1(self, queue_id)
        s2(self, tier_id)
        s3(self, business_selection)
        s4(self, priority)


_CALL_SPEC_SETTERS: tuple[Callable[[object, object], None], ...] = tuple(
    getattr(CallSpec, name).__set__
    for name in ("call_id", "queue_id", "tier_id", "business_selection", "priority")
)


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Engine behaviour. ``explain=False`` skips building the Explanation of each decision
    (actions carry ``actions.NOT_EXPLAINED``); the decisions themselves are unchanged. The
    live server keeps the default (every decision is stored with its call); the simulator
    turns it off."""

    call_selection: str = "sl_gap"  # "sl_gap" | "fifo" | "static_priority"
    agent_order: str = "longest_idle"
    sl_window: float = 1800.0  # sliding window of the achieved service level, seconds
    rona_to_not_ready: bool = True
    rona_reason: str = "ring-no-answer"
    short_abandon_seconds: float = 0.0  # abandons quicker than this do not count in SL
    explain: bool = True  # build an Explanation (candidates, SL figures) for every decision
    selection: CallSelection = field(init=False, repr=False)
    order: AgentOrder = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            selection = CallSelection(self.call_selection)
        except ValueError:
            raise ConfigError(f"unknown call_selection {self.call_selection!r}") from None
        try:
            order = AgentOrder(self.agent_order)
        except ValueError:
            raise ConfigError(f"unknown agent_order {self.agent_order!r}") from None
        _check_duration("sl_window", self.sl_window, allow_zero=False)
        _check_duration("short_abandon_seconds", self.short_abandon_seconds)
        object.__setattr__(self, "selection", selection)
        object.__setattr__(self, "order", order)
