"""Request and response bodies of the REST admin API, as msgspec structs.

These structs are the single source of truth: request bodies and query strings
are decoded and validated through them (a failure names the field), responses
are converted through them, and the OpenAPI document's components are generated
from them (:mod:`.openapi`). Request structs forbid unknown fields so a typo is
an error, not a silently ignored value. ``*Patch`` structs use ``UNSET`` for
"leave unchanged" (``null`` means null where a field is nullable).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

MAX_PAGE = 500

Id = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$",
        description="Identifier chosen by the administrator (letters, digits, _ . : @ -).",
    ),
]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Password = Annotated[str, Meta(min_length=8, max_length=256, description="At least 8 characters.")]
Seconds = Annotated[float, Meta(ge=0, le=86_400)]
Limit = Annotated[int, Meta(ge=1, le=MAX_PAGE, description=f"Page size (1..{MAX_PAGE}).")]
Offset = Annotated[int, Meta(ge=0, description="Items to skip.")]
HHMM = Annotated[str, Meta(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$", description="HH:MM")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Role = Literal["agent", "team_lead", "admin"]
BlacklistAction = Literal["bar", "allow"]
AgentOrder = Literal["longest_idle", "round_robin", "fewest_calls", "least_talk_time", "fixed"]
MaxWaitAction = Annotated[
    str,
    Meta(
        pattern=r"^(callback|flow|overflow:.+)$",
        max_length=80,
        description="'callback', 'flow' or 'overflow:<queue_id>'.",
    ),
]


class _In(Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies and query strings."""


# --- errors and paging -----------------------------------------------------------------------


class ErrorInfo(Struct, kw_only=True):
    code: str
    message: str
    detail: dict[str, Any] | None = None


class ErrorBody(Struct, kw_only=True):
    """Every error answer: ``{"error": {"code", "message", "detail"}}``."""

    error: ErrorInfo


class Page[T](Struct, kw_only=True):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageQuery(_In):
    limit: Limit = 50
    offset: Offset = 0


# --- tiers ----------------------------------------------------------------------------------


class TierCreate(_In):
    id: Id
    name: Name
    sl_seconds: Annotated[
        float, Meta(gt=0, le=3600, description="Service level: answered within n seconds.")
    ]
    sl_target: Annotated[float, Meta(ge=0, le=1, description="Service-level target, 0..1.")]
    priority_weight: Annotated[float, Meta(gt=0, le=1000)] = 1.0
    skip_ivr: bool = False
    blacklist_action: BlacklistAction = "bar"


class TierPatch(_In):
    name: Name | UnsetType = UNSET
    sl_seconds: Annotated[float, Meta(gt=0, le=3600)] | UnsetType = UNSET
    sl_target: Annotated[float, Meta(ge=0, le=1)] | UnsetType = UNSET
    priority_weight: Annotated[float, Meta(gt=0, le=1000)] | UnsetType = UNSET
    skip_ivr: bool | UnsetType = UNSET
    blacklist_action: BlacklistAction | UnsetType = UNSET


class Tier(Struct, kw_only=True):
    id: str
    name: str
    sl_seconds: float
    sl_target: float
    priority_weight: float
    skip_ivr: bool
    blacklist_action: str


# --- skills ---------------------------------------------------------------------------------


class SkillCreate(_In):
    id: Id
    name: Name


class SkillPatch(_In):
    name: Name | UnsetType = UNSET


class Skill(Struct, kw_only=True):
    id: str
    name: str


# --- agents ---------------------------------------------------------------------------------


class AgentCreate(_In):
    id: Id
    name: Name
    password: Password
    role: Role = "agent"
    active: bool = True
    order_key: int = 0


class AgentPatch(_In):
    name: Name | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    order_key: int | UnsetType = UNSET


class AgentSkills(_In):
    """Replaces all skills of an agent: skill id -> level (1 = first skill)."""

    skills: dict[str, Annotated[int, Meta(ge=1, le=99)]]


class PasswordChange(_In):
    password: Password


class Agent(Struct, kw_only=True):
    id: str
    name: str
    role: str
    active: bool
    order_key: int
    skills: dict[str, int]
    groups: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


# --- agent groups ---------------------------------------------------------------------------


class AgentGroupCreate(_In):
    id: Id
    name: Name


class AgentGroupPatch(_In):
    name: Name | UnsetType = UNSET


class GroupMembers(_In):
    agents: list[str]


class GroupTiers(_In):
    tiers: list[str]


class AgentGroup(Struct, kw_only=True):
    id: str
    name: str
    members: list[str]
    tiers: list[str]


# --- queues ---------------------------------------------------------------------------------


class OverflowRule(_In, omit_defaults=True):
    after: Annotated[float, Meta(ge=0, le=86_400, description="Seconds of waiting.")]
    widen_to_level: Annotated[int, Meta(ge=1)] | None = None
    add_groups: list[str] = []
    add_queues: list[str] = []


class QueueCreate(_In):
    id: Id
    name: Name
    skill_id: str
    agent_order: AgentOrder = "longest_idle"
    max_level: Annotated[int, Meta(ge=1)] | None = None
    overflow: list[OverflowRule] = []
    max_wait: Seconds | None = None
    max_wait_action: MaxWaitAction = "callback"
    acw_seconds: Seconds = 0.0
    calendar_id: str | None = None
    recording: bool = True


class QueuePatch(_In):
    name: Name | UnsetType = UNSET
    skill_id: str | UnsetType = UNSET
    agent_order: AgentOrder | UnsetType = UNSET
    max_level: Annotated[int, Meta(ge=1)] | UnsetType | None = UNSET
    overflow: list[OverflowRule] | UnsetType = UNSET
    max_wait: Seconds | UnsetType | None = UNSET
    max_wait_action: MaxWaitAction | UnsetType = UNSET
    acw_seconds: Seconds | UnsetType = UNSET
    calendar_id: str | UnsetType | None = UNSET
    recording: bool | UnsetType = UNSET


class QueueOverflowRule(Struct, kw_only=True):
    after: float
    widen_to_level: int | None = None
    add_groups: list[str] = []
    add_queues: list[str] = []


class Queue(Struct, kw_only=True):
    id: str
    name: str
    skill_id: str
    agent_order: str
    max_level: int | None
    overflow: list[QueueOverflowRule]
    max_wait: float | None
    max_wait_action: str
    acw_seconds: float
    calendar_id: str | None
    recording: bool = True


# --- reason codes ---------------------------------------------------------------------------


class ReasonCodeCreate(_In):
    id: Id
    label: Name
    paid: bool = True
    active: bool = True


class ReasonCodePatch(_In):
    label: Name | UnsetType = UNSET
    paid: bool | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class ReasonCode(Struct, kw_only=True):
    id: str
    label: str
    paid: bool
    active: bool


# --- calendars ------------------------------------------------------------------------------

WeeklyHours = dict[Weekday, list[tuple[HHMM, HHMM]]]


class CalendarCreate(_In):
    id: Id
    name: Name
    tz: Annotated[str, Meta(min_length=1, max_length=64, description="IANA time zone.")] = "UTC"
    weekly: WeeklyHours = {}
    holidays: list[dt.date] = []
    open_days: list[dt.date] = []


class CalendarPatch(_In):
    name: Name | UnsetType = UNSET
    tz: Annotated[str, Meta(min_length=1, max_length=64)] | UnsetType = UNSET
    weekly: WeeklyHours | UnsetType = UNSET
    holidays: list[dt.date] | UnsetType = UNSET
    open_days: list[dt.date] | UnsetType = UNSET


class Calendar(Struct, kw_only=True):
    id: str
    name: str
    tz: str
    weekly: dict[str, list[tuple[str, str]]]
    holidays: list[str]
    open_days: list[str]


# --- customers ------------------------------------------------------------------------------


class CustomerQuery(_In):
    q: str | None = None
    """A number (any written form, exact match) or a fragment of the name."""
    tier: str | None = None
    blacklisted: bool | None = None
    limit: Limit = 50
    offset: Offset = 0


class CustomerPatch(_In):
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    region: Annotated[str, Meta(max_length=100)] | UnsetType = UNSET
    tier_id: str | UnsetType = UNSET
    blacklisted: bool | UnsetType = UNSET
    services: list[Any] | UnsetType = UNSET


class CustomerNumbers(_In):
    numbers: list[Annotated[str, Meta(min_length=1, max_length=64)]]


class Customer(Struct, kw_only=True):
    id: str
    name: str
    region: str
    tier_id: str
    blacklisted: bool
    services: list[Any]
    numbers: list[str]
    updated_at: dt.datetime


# --- IVR flows ------------------------------------------------------------------------------


class FlowVersionCreate(_In):
    name: Name
    document: dict[str, Any]


class FlowPublish(_In):
    version: Annotated[int, Meta(ge=1)]


class FlowPut(_In):
    """A new version of a flow, validated with ``shared.ivr`` before it is stored."""

    document: dict[str, Any]
    name: Name | None = None
    publish: bool = False
    """Publish it at once (route responses hand it out from the next call)."""


class FlowVersionCreated(Struct, kw_only=True):
    id: str
    version: int


class FlowVersionSummary(Struct, kw_only=True):
    id: str
    version: int
    name: str
    published: bool


class FlowVersion(Struct, kw_only=True):
    id: str
    version: int
    name: str
    document: dict[str, Any]
    published: bool
    created_at: dt.datetime
    created_by: str


class FlowSummary(Struct, kw_only=True):
    id: str
    name: str
    """Name of the latest version."""
    latest_version: int
    published_version: int | None
    versions: int


# --- audit ----------------------------------------------------------------------------------


class AuditQuery(_In):
    entity: str | None = None
    entity_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: Limit = 50
    offset: Offset = 0


class AuditEntry(Struct, kw_only=True):
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


# --- tier import ----------------------------------------------------------------------------

ImportFormat = Literal["csv", "xlsx"]
ImportState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ImportQuery(_In):
    format: ImportFormat | None = None
    """File format; when absent it is taken from the Content-Type."""
    replace_numbers: bool = False
    chunk_size: Annotated[int, Meta(ge=1, le=100_000)] | None = None
    encoding: Annotated[str, Meta(max_length=40)] | None = None
    sheet: Annotated[str, Meta(max_length=100)] | None = None


class ImportRowError(Struct, kw_only=True):
    line: int
    field: str
    problem: str


class ImportReport(Struct, kw_only=True):
    rows_read: int
    imported: int
    updated: int
    rejected: int
    numbers_written: int
    chunks_committed: int
    errors: list[ImportRowError]
    errors_truncated: bool
    duration_seconds: float
    encoding: str | None


class ImportJob(Struct, kw_only=True):
    id: str
    state: ImportState
    format: ImportFormat
    actor: str
    bytes_received: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    rows_done: int
    rows_total: int | None
    progress: float | None
    """rows_done / rows_total when the total is known."""
    report: ImportReport | None
    error: str | None


class ImportAccepted(Struct, kw_only=True):
    job_id: str
    status_url: str
    job: ImportJob


# --- health ---------------------------------------------------------------------------------

HealthStatus = Literal["ok", "degraded", "failing"]


class HealthCheckResult(Struct, kw_only=True):
    status: HealthStatus
    detail: str
    duration_ms: float
    critical: bool


class HealthReport(Struct, kw_only=True):
    status: HealthStatus
    checks: dict[str, HealthCheckResult]


def to_store(patch: Struct) -> dict[str, Any]:
    """The set fields of a request struct as plain JSON-ready values (``UNSET`` dropped)."""
    values = msgspec.to_builtins(patch)
    assert isinstance(values, dict)
    return values
