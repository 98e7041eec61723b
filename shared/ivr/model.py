"""The flow document: an IVR flow as versioned JSON data (R-IVR-5).

A flow is a graph of nodes keyed by id. Each node is a tagged object (``kind``)
whose fields name the nodes that follow it. Decoding checks only the *shape* of
the document (field names and JSON types); everything semantic (dangling
references, dead ends, sane timeouts, prompts that exist …) is reported by
:func:`shared.ivr.validate.validate` as a list of problems, so a flow designer can
show every problem at once next to the node and field it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

Language = Literal["en", "zh"]
"""Prompt language: ``en`` (English) or ``zh`` (Mandarin Chinese)."""

LANGUAGES: tuple[Language, ...] = ("en", "zh")

NODE_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}\Z"
"""Node ids: 1-64 of ``A-Z a-z 0-9 _ . : -``."""

PROMPT_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z"
"""Prompt ids double as file names (``<id>.wav``), so no slashes and no leading dot."""

VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]{0,63}\Z"
"""Variable names: an identifier, dots allowed (``survey.q1``)."""

DTMF_KEYS = "0123456789*#ABCD"
"""Every key a caller can press (RFC 4733 events 0-15)."""

BUILTIN_VARIABLES = ("caller", "called", "tier", "language", "business_selection")
"""Variables every run has from the start (from the call context)."""


class _Struct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


# --- branch conditions ----------------------------------------------------------


class TierIs(_Struct, frozen=True, kw_only=True, tag="tier", tag_field="kind"):
    """True when the caller's tier is one of ``tiers``."""

    tiers: tuple[str, ...]


class Schedule(_Struct, frozen=True, kw_only=True, tag="schedule", tag_field="kind"):
    """True when ``now`` is inside the weekly opening hours and not a holiday.

    ``weekly`` maps ``mon`` … ``sun`` to ``[["08:00", "20:00"], …]`` ranges (start
    inclusive, end exclusive, ``24:00`` allowed as an end) in time zone ``tz``;
    ``holidays`` lists ``YYYY-MM-DD`` dates that are closed all day. With
    ``open: false`` the condition is true when closed instead.
    """

    tz: str
    weekly: dict[str, tuple[tuple[str, str], ...]]
    holidays: tuple[str, ...] = ()
    open: bool = True


CompareOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "prefix", "set", "unset"]


class VariableIs(_Struct, frozen=True, kw_only=True, tag="variable", tag_field="kind"):
    """Compare a variable: ``eq``/``ne``/``prefix`` on text, ``lt``/``le``/``gt``/``ge``
    numerically (false when either side is not a number), ``in`` against ``values``,
    ``set``/``unset`` on presence (a missing or empty variable is unset)."""

    name: str
    op: CompareOp
    value: str = ""
    values: tuple[str, ...] = ()


class CallerPrefix(_Struct, frozen=True, kw_only=True, tag="caller_prefix", tag_field="kind"):
    """True when the caller number starts with one of ``prefixes``."""

    prefixes: tuple[str, ...]


class CalledPrefix(_Struct, frozen=True, kw_only=True, tag="called_prefix", tag_field="kind"):
    """True when the called number (DNIS) starts with one of ``prefixes``."""

    prefixes: tuple[str, ...]


class Blacklisted(_Struct, frozen=True, kw_only=True, tag="blacklisted", tag_field="kind"):
    """True when the caller is blacklisted."""


class LanguageIs(_Struct, frozen=True, kw_only=True, tag="language", tag_field="kind"):
    """True when the run's current language is ``language``."""

    language: Language


Condition = TierIs | Schedule | VariableIs | CallerPrefix | CalledPrefix | Blacklisted | LanguageIs


class BranchCase(_Struct, frozen=True, kw_only=True):
    """Go to ``next`` when every condition in ``when`` holds."""

    when: tuple[Condition, ...]
    next: str
    label: str | None = None


class MenuOption(_Struct, frozen=True, kw_only=True):
    digit: str
    next: str
    label: str | None = None


class SurveyQuestion(_Struct, frozen=True, kw_only=True):
    id: str
    prompts: tuple[str, ...]
    digits: str
    """The keys that are valid answers, e.g. ``"12345"``."""


class TransferTarget(_Struct, frozen=True, kw_only=True):
    """Exactly one of ``agent_id`` (an agent of this centre) or ``number`` (external)."""

    agent_id: str | None = None
    number: str | None = None


# --- nodes ----------------------------------------------------------------------


class _Node(_Struct, frozen=True, kw_only=True, tag_field="kind"):
    label: str | None = None
    """Designer caption; not used by the interpreter."""


class PromptNode(_Node, frozen=True, kw_only=True, tag="prompt"):
    prompts: tuple[str, ...]
    next: str | None = None
    barge_in: bool = False


class MenuNode(_Node, frozen=True, kw_only=True, tag="menu"):
    prompts: tuple[str, ...]
    options: tuple[MenuOption, ...]
    on_fail: str | None = None
    timeout: float = 5.0
    retries: int = 2
    """Re-prompts after the first attempt; after that many failures, ``on_fail``."""
    invalid_prompts: tuple[str, ...] = ()
    timeout_prompts: tuple[str, ...] = ()
    barge_in: bool = True


class CollectNode(_Node, frozen=True, kw_only=True, tag="collect"):
    prompts: tuple[str, ...]
    variable: str
    next: str | None = None
    on_fail: str | None = None
    min_length: int = 1
    max_length: int = 20
    terminator: str | None = "#"
    timeout: float = 5.0
    """Seconds to wait for the first key after the prompts."""
    inter_digit_timeout: float = 3.0
    retries: int = 2
    pattern: str | None = None
    """A regular expression the whole input must match (``re.fullmatch``)."""
    invalid_prompts: tuple[str, ...] = ()
    timeout_prompts: tuple[str, ...] = ()
    mask: bool = False
    """Keep the digits out of the trajectory (PINs, passwords)."""
    barge_in: bool = True


class BranchNode(_Node, frozen=True, kw_only=True, tag="branch"):
    cases: tuple[BranchCase, ...]
    default: str | None = None


class SetNode(_Node, frozen=True, kw_only=True, tag="set"):
    next: str | None = None
    business_selection: str | None = None
    variables: dict[str, str] = {}
    language: Language | None = None


class LookupNode(_Node, frozen=True, kw_only=True, tag="lookup"):
    """Self-service data look-up through the CTI server (e.g. ``balance``)."""

    service: str
    next: str | None = None
    on_error: str | None = None
    args: dict[str, str] = {}
    """Service argument name → variable name."""
    results: dict[str, str] = {}
    """Result field → variable name; a missing field is an error."""
    timeout: float = 5.0


SayFormat = Literal["number", "amount", "digits"]


class SayNode(_Node, frozen=True, kw_only=True, tag="say"):
    """Read a variable out: a number, a money amount (yuan) or digit by digit."""

    variable: str
    format: SayFormat = "number"
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    next: str | None = None
    on_error: str | None = None
    """Where to go when the value cannot be read out (else ``next``)."""
    barge_in: bool = False


class QueueNode(_Node, frozen=True, kw_only=True, tag="queue"):
    """Hand the call to a human through a queue, with tier and business selection."""

    queue: str | None = None
    skill: str | None = None
    business_selection: str | None = None
    priority: int | None = None
    prompts: tuple[str, ...] = ()


class TransferNode(_Node, frozen=True, kw_only=True, tag="transfer"):
    target: TransferTarget
    business_selection: str | None = None
    prompts: tuple[str, ...] = ()


class SurveyNode(_Node, frozen=True, kw_only=True, tag="survey"):
    questions: tuple[SurveyQuestion, ...]
    next: str | None = None
    timeout: float = 5.0
    retries: int = 1
    invalid_prompts: tuple[str, ...] = ()


class VoicemailNode(_Node, frozen=True, kw_only=True, tag="voicemail"):
    """Play ``prompts`` (ending with a beep) and record a message into ``mailbox``."""

    mailbox: str
    prompts: tuple[str, ...] = ()
    max_seconds: float = 120.0
    business_selection: str | None = None


class CallbackNode(_Node, frozen=True, kw_only=True, tag="callback"):
    """Ask for a call back to the caller (or the number in ``number_variable``)."""

    queue: str | None = None
    business_selection: str | None = None
    number_variable: str | None = None
    prompts: tuple[str, ...] = ()
    """Confirmation played after the request."""
    next: str | None = None


class HangupNode(_Node, frozen=True, kw_only=True, tag="hangup"):
    prompts: tuple[str, ...] = ()
    reason: str = "normal"


Node = (
    PromptNode
    | MenuNode
    | CollectNode
    | BranchNode
    | SetNode
    | LookupNode
    | SayNode
    | QueueNode
    | TransferNode
    | SurveyNode
    | VoicemailNode
    | CallbackNode
    | HangupNode
)

TERMINAL_KINDS = frozenset({"queue", "transfer", "voicemail", "hangup"})
"""Node kinds that end the flow."""

HANDOFF_KINDS = frozenset({"queue", "transfer", "voicemail", "callback"})
"""Node kinds that hand the caller to a human; they carry tier + business selection."""


# --- flow-level rules -----------------------------------------------------------


class SkipMenu(_Struct, frozen=True, kw_only=True):
    """R-IVR-3: callers of ``tiers`` (or flagged ``skip_ivr`` by the CTI server) go
    to ``target`` (a queue or transfer node) instead of hearing any menu."""

    tiers: tuple[str, ...]
    target: str


class BarBlacklisted(_Struct, frozen=True, kw_only=True):
    """R-IVR-3: blacklisted callers hear ``prompts`` and are hung up, before any node."""

    prompts: tuple[str, ...] = ()
    reason: str = "blacklisted"


class Flow(_Struct, frozen=True, kw_only=True):
    id: str
    entry: str
    nodes: dict[str, Node]
    version: int = 1
    description: str = ""
    language: Language = "zh"
    variables: dict[str, str] = {}
    """Initial values (the call context's variables override them)."""
    skip_menu: SkipMenu | None = None
    bar_blacklisted: BarBlacklisted | None = None


def node_kind(node: Node) -> str:
    """The ``kind`` tag of a node (``"menu"``, ``"queue"`` …)."""
    tag = type(node).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


class FlowFormatError(ValueError):
    """The document is not a flow (bad JSON, unknown field, wrong type …).

    ``path`` is the JSON path msgspec reports (``$.nodes.menu.timeout``) when known.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def _path_of(message: str) -> str | None:
    marker = " - at `"
    if marker in message and message.endswith("`"):
        return message.rsplit(marker, 1)[1][:-1]
    return None


def _locate(raw: object, message: str) -> tuple[str, str | None]:
    """Name the node msgspec reports only as ``$.nodes[...]``."""
    path = _path_of(message)
    if path is None or not path.startswith("$.nodes[...]") or not isinstance(raw, dict):
        return message, path
    nodes = raw.get("nodes")
    if not isinstance(nodes, dict):
        return message, path
    for nid, node in nodes.items():
        try:
            msgspec.convert(node, type=Node)
        except msgspec.ValidationError as exc:
            inner = str(exc)
            inner_path = _path_of(inner) or "$"
            where = f"$.nodes.{nid}{inner_path[1:]}"
            text = inner.rsplit(" - at `", 1)[0] if " - at `" in inner else inner
            return f"{text} - at `{where}`", where
    return message, path


def parse_flow(document: bytes | str | Mapping[str, Any]) -> Flow:
    """Decode a flow from JSON text/bytes or from an already-parsed JSON object.

    Raises :class:`FlowFormatError` when the document does not have the flow's shape;
    its ``path`` names the offending field (``$.nodes.menu.timeout``).
    """
    try:
        raw: object = (
            msgspec.json.decode(document) if isinstance(document, bytes | str) else document
        )
        return msgspec.convert(raw, type=Flow)
    except msgspec.ValidationError as exc:
        message, path = _locate(raw, str(exc))
        raise FlowFormatError(message, path) from None
    except msgspec.DecodeError as exc:
        raise FlowFormatError(f"not valid JSON: {exc}") from None


def flow_to_json(flow: Flow) -> bytes:
    """Encode a flow as JSON (round-trips through :func:`parse_flow`)."""
    return msgspec.json.encode(flow)


def flow_to_dict(flow: Flow) -> dict[str, Any]:
    """The flow as plain JSON-compatible objects (what the CTI store keeps)."""
    result = msgspec.to_builtins(flow)
    assert isinstance(result, dict)
    return result
