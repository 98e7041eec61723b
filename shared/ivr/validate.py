"""Flow validation: every problem at once, each tied to a node and a field.

``validate(flow)`` never raises; it returns :class:`Problem` objects. Errors make a
flow unfit to publish; warnings are shown but do not block. The rules:

* the entry node exists; node and prompt ids are well-formed;
* every reference names an existing node (``dangling_reference``) and every
  required successor is set (``dead_end``, ``no_default`` for branches);
* every node reachable from the entry can still reach a terminal node
  (queue/transfer/voicemail/hangup: ``no_exit``); unreachable nodes are warnings;
* no cycle can be walked without the caller pressing keys (``silent_loop``): every
  cycle must pass through a menu option or an accepted collect input, so a silent
  caller always reaches a terminal node within a bounded number of events;
* menus have options with unique, valid keys; timeouts, retries and lengths are in
  range; collect patterns compile; terminators are keys;
* with a prompt catalogue, every prompt id the flow can play exists there,
  including the digit/unit prompts of ``say`` nodes;
* flow rules: the VIP skip target is a queue or transfer node; blacklist prompts exist.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping

import msgspec

from shared.ivr import say as say_mod
from shared.ivr.conditions import schedule_problems
from shared.ivr.graph import edges
from shared.ivr.model import (
    BUILTIN_VARIABLES,
    DTMF_KEYS,
    NODE_ID_PATTERN,
    PROMPT_ID_PATTERN,
    TERMINAL_KINDS,
    VARIABLE_PATTERN,
    BranchNode,
    CallbackNode,
    CalledPrefix,
    CallerPrefix,
    CollectNode,
    Condition,
    Flow,
    FlowFormatError,
    Language,
    LookupNode,
    MenuNode,
    Node,
    PromptNode,
    QueueNode,
    SayNode,
    Schedule,
    SetNode,
    SurveyNode,
    TierIs,
    TransferNode,
    VariableIs,
    VoicemailNode,
    node_kind,
    parse_flow,
)

MAX_TIMEOUT = 60.0
MAX_LOOKUP_TIMEOUT = 30.0
MAX_RETRIES = 10
MAX_DIGITS = 64
MAX_VOICEMAIL_SECONDS = 600.0

_NODE_ID = re.compile(NODE_ID_PATTERN)
_PROMPT_ID = re.compile(PROMPT_ID_PATTERN)
_VARIABLE = re.compile(VARIABLE_PATTERN)
_NAME = re.compile(r"^\S{1,64}\Z")
_NUMBER = re.compile(r"^\+?[0-9]{1,32}\Z")
_PREFIX = re.compile(r"^\+?[0-9]{1,32}\Z")


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    severity: Severity
    code: str
    """Stable machine-readable class (``dangling_reference``, ``silent_loop`` …)."""
    node: str | None
    """The node concerned; None for flow-level problems."""
    field: str
    message: str


class FlowInvalid(ValueError):
    """Raised by :func:`ensure_valid` when a flow has errors."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        where = f"{first.node}.{first.field}" if first.node else first.field
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"invalid flow: {where}: {first.message}{more}")


class _Checker:
    def __init__(self, flow: Flow, prompt_ids: set[str] | frozenset[str] | None) -> None:
        self.flow = flow
        self.prompt_ids = prompt_ids
        self.problems: list[Problem] = []
        self.reads: list[tuple[str, str, str]] = []  # (node, field, variable)
        self.writes: set[str] = set(BUILTIN_VARIABLES) | set(flow.variables)

    def add(
        self, code: str, node: str | None, field: str, message: str, *, warning: bool = False
    ) -> None:
        severity = Severity.WARNING if warning else Severity.ERROR
        self.problems.append(
            Problem(severity=severity, code=code, node=node, field=field, message=message)
        )

    # --- small checks --------------------------------------------------------

    def prompts(self, node: str | None, field: str, ids: Iterable[str]) -> None:
        for prompt in ids:
            if not _PROMPT_ID.match(prompt):
                self.add("bad_prompt_id", node, field, f"bad prompt id {prompt!r}")
            elif self.prompt_ids is not None and prompt not in self.prompt_ids:
                self.add(
                    "prompt_missing", node, field, f"prompt {prompt!r} is not in the catalogue"
                )

    def need_prompts(self, node: str, field: str, ids: tuple[str, ...]) -> None:
        if not ids:
            self.add("no_prompts", node, field, "at least one prompt is needed")
        self.prompts(node, field, ids)

    def timeout(self, node: str, field: str, value: float, limit: float = MAX_TIMEOUT) -> None:
        if not 0 < value <= limit:
            self.add("bad_timeout", node, field, f"must be > 0 and <= {limit:g} s, got {value:g}")

    def retries(self, node: str, value: int) -> None:
        if not 0 <= value <= MAX_RETRIES:
            self.add("bad_retries", node, "retries", f"must be 0..{MAX_RETRIES}, got {value}")

    def variable(self, node: str, field: str, name: str, *, write: bool) -> None:
        if not _VARIABLE.match(name):
            self.add("bad_variable", node, field, f"bad variable name {name!r}")
        elif write:
            self.writes.add(name)
        else:
            self.reads.append((node, field, name))

    def name(self, node: str | None, field: str, value: str | None) -> None:
        if value is not None and not _NAME.match(value):
            self.add("bad_name", node, field, f"must be 1-64 characters without spaces: {value!r}")

    # --- nodes ---------------------------------------------------------------

    def node(self, nid: str, node: Node) -> None:
        if isinstance(node, PromptNode):
            self.need_prompts(nid, "prompts", node.prompts)
        elif isinstance(node, MenuNode):
            self.menu(nid, node)
        elif isinstance(node, CollectNode):
            self.collect(nid, node)
        elif isinstance(node, BranchNode):
            self.branch(nid, node)
        elif isinstance(node, SetNode):
            self.name(nid, "business_selection", node.business_selection)
            for var in node.variables:
                self.variable(nid, f"variables.{var}", var, write=True)
        elif isinstance(node, LookupNode):
            self.name(nid, "service", node.service)
            self.timeout(nid, "timeout", node.timeout, MAX_LOOKUP_TIMEOUT)
            for arg, var in node.args.items():
                self.variable(nid, f"args.{arg}", var, write=False)
            for key, var in node.results.items():
                self.variable(nid, f"results.{key}", var, write=True)
        elif isinstance(node, SayNode):
            self.variable(nid, "variable", node.variable, write=False)
            self.prompts(nid, "prefix", node.prefix)
            self.prompts(nid, "suffix", node.suffix)
            for language in self.languages():
                self.prompts(nid, "format", sorted(say_mod.prompts_for(language)))
        elif isinstance(node, QueueNode):
            if node.queue is None and node.skill is None:
                self.add("no_queue", nid, "queue", "a queue or a skill is needed")
            self.name(nid, "queue", node.queue)
            self.name(nid, "skill", node.skill)
            self.name(nid, "business_selection", node.business_selection)
            if node.priority is not None and not 0 <= node.priority <= 1000:
                self.add("bad_value", nid, "priority", f"must be 0..1000, got {node.priority}")
            self.prompts(nid, "prompts", node.prompts)
        elif isinstance(node, TransferNode):
            target = node.target
            if (target.agent_id is None) == (target.number is None):
                self.add("bad_target", nid, "target", "give exactly one of agent_id or number")
            self.name(nid, "target.agent_id", target.agent_id)
            if target.number is not None and not _NUMBER.match(target.number):
                self.add("bad_target", nid, "target.number", f"not a number: {target.number!r}")
            self.name(nid, "business_selection", node.business_selection)
            self.prompts(nid, "prompts", node.prompts)
        elif isinstance(node, SurveyNode):
            self.survey(nid, node)
        elif isinstance(node, VoicemailNode):
            self.name(nid, "mailbox", node.mailbox)
            self.name(nid, "business_selection", node.business_selection)
            self.timeout(nid, "max_seconds", node.max_seconds, MAX_VOICEMAIL_SECONDS)
            self.prompts(nid, "prompts", node.prompts)
        elif isinstance(node, CallbackNode):
            self.name(nid, "queue", node.queue)
            self.name(nid, "business_selection", node.business_selection)
            if node.number_variable is not None:
                self.variable(nid, "number_variable", node.number_variable, write=False)
            self.prompts(nid, "prompts", node.prompts)
        else:
            self.prompts(nid, "prompts", node.prompts)

    def menu(self, nid: str, node: MenuNode) -> None:
        self.need_prompts(nid, "prompts", node.prompts)
        self.prompts(nid, "invalid_prompts", node.invalid_prompts)
        self.prompts(nid, "timeout_prompts", node.timeout_prompts)
        self.timeout(nid, "timeout", node.timeout)
        self.retries(nid, node.retries)
        if not node.options:
            self.add("menu_no_options", nid, "options", "a menu needs at least one option")
        seen: set[str] = set()
        for index, option in enumerate(node.options):
            field = f"options[{index}].digit"
            if len(option.digit) != 1 or option.digit not in DTMF_KEYS:
                self.add("menu_bad_digit", nid, field, f"not a key: {option.digit!r}")
            elif option.digit in seen:
                self.add("menu_duplicate_digit", nid, field, f"key {option.digit} used twice")
            seen.add(option.digit)

    def collect(self, nid: str, node: CollectNode) -> None:
        self.need_prompts(nid, "prompts", node.prompts)
        self.prompts(nid, "invalid_prompts", node.invalid_prompts)
        self.prompts(nid, "timeout_prompts", node.timeout_prompts)
        self.timeout(nid, "timeout", node.timeout)
        self.timeout(nid, "inter_digit_timeout", node.inter_digit_timeout)
        self.retries(nid, node.retries)
        self.variable(nid, "variable", node.variable, write=True)
        if not 1 <= node.min_length <= node.max_length <= MAX_DIGITS:
            self.add(
                "bad_length",
                nid,
                "max_length",
                f"need 1 <= min_length <= max_length <= {MAX_DIGITS}, "
                f"got {node.min_length}..{node.max_length}",
            )
        term = node.terminator
        if term is not None and (len(term) != 1 or term not in DTMF_KEYS):
            self.add("bad_terminator", nid, "terminator", f"not a key: {term!r}")
        if node.pattern is not None:
            try:
                re.compile(node.pattern)
            except re.error as exc:
                self.add("bad_pattern", nid, "pattern", f"not a valid regular expression: {exc}")

    def branch(self, nid: str, node: BranchNode) -> None:
        if not node.cases:
            self.add("no_cases", nid, "cases", "no cases: always takes the default", warning=True)
        for index, case in enumerate(node.cases):
            field = f"cases[{index}].when"
            if not case.when:
                self.add("always_true", nid, field, "no conditions: always taken", warning=True)
            for cond in case.when:
                self.condition(nid, field, cond)

    def condition(self, nid: str, field: str, cond: Condition) -> None:
        if isinstance(cond, Schedule):
            for sub, message in schedule_problems(cond):
                self.add("bad_schedule", nid, f"{field}.{sub}", message)
        elif isinstance(cond, TierIs):
            if not cond.tiers:
                self.add("bad_condition", nid, field, "tier condition without tiers")
        elif isinstance(cond, CallerPrefix | CalledPrefix):
            if not cond.prefixes:
                self.add("bad_condition", nid, field, "prefix condition without prefixes")
            for prefix in cond.prefixes:
                if not _PREFIX.match(prefix):
                    self.add("bad_condition", nid, field, f"not a number prefix: {prefix!r}")
        elif isinstance(cond, VariableIs):
            self.variable(nid, field, cond.name, write=False)

    def survey(self, nid: str, node: SurveyNode) -> None:
        self.timeout(nid, "timeout", node.timeout)
        self.retries(nid, node.retries)
        self.prompts(nid, "invalid_prompts", node.invalid_prompts)
        if not node.questions:
            self.add("no_questions", nid, "questions", "a survey needs at least one question")
        seen: set[str] = set()
        for index, question in enumerate(node.questions):
            field = f"questions[{index}]"
            self.name(nid, f"{field}.id", question.id)
            if question.id in seen:
                self.add("duplicate_question", nid, f"{field}.id", f"{question.id!r} used twice")
            seen.add(question.id)
            self.need_prompts(nid, f"{field}.prompts", question.prompts)
            keys = question.digits
            if not keys or any(k not in DTMF_KEYS for k in keys) or len(set(keys)) != len(keys):
                self.add("bad_answers", nid, f"{field}.digits", f"need distinct keys, got {keys!r}")
            self.writes.add(f"survey.{question.id}")

    def languages(self) -> list[Language]:
        found: set[Language] = {self.flow.language}
        for node in self.flow.nodes.values():
            if isinstance(node, SetNode) and node.language is not None:
                found.add(node.language)
        return sorted(found)


def _reachable(start: Iterable[str], succ: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        stack.extend(succ.get(nid, ()))
    return seen


def _silent_cycle(nodes: Iterable[str], succ: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle in the silent-edge graph (iterative DFS), or None."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(nodes, white)
    for root in colour:
        if colour[root] != white:
            continue
        path: list[str] = [root]
        iters = [iter(succ.get(root, ()))]
        colour[root] = grey
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                iters.pop()
                continue
            state = colour.get(nxt, black)
            if state == grey:
                return [*path[path.index(nxt) :], nxt]
            if state == white:
                colour[nxt] = grey
                path.append(nxt)
                iters.append(iter(succ.get(nxt, ())))
    return None


def validate(flow: Flow, *, prompt_ids: set[str] | frozenset[str] | None = None) -> list[Problem]:
    """Every problem of ``flow``; with ``prompt_ids``, also prompts missing from it."""
    check = _Checker(flow, prompt_ids)
    if not _NODE_ID.match(flow.id):
        check.add("bad_id", None, "id", f"bad flow id {flow.id!r}")
    if flow.version < 1:
        check.add("bad_value", None, "version", f"version must be >= 1, got {flow.version}")
    for var in flow.variables:
        check.variable("", f"variables.{var}", var, write=True)
    nodes = flow.nodes
    if not nodes:
        check.add("no_nodes", None, "nodes", "the flow has no nodes")
    if flow.entry not in nodes:
        check.add("entry_missing", None, "entry", f"entry node {flow.entry!r} does not exist")

    succ: dict[str, list[str]] = {}
    silent: dict[str, list[str]] = {}
    for nid, node in nodes.items():
        if not _NODE_ID.match(nid):
            check.add("bad_id", nid, "id", f"bad node id {nid!r}")
        check.node(nid, node)
        succ[nid] = []
        silent[nid] = []
        for edge in edges(node):
            if edge.target is None:
                if edge.required:
                    code = "no_default" if edge.field == "default" else "dead_end"
                    check.add(code, nid, edge.field, f"{node_kind(node)} node needs {edge.field}")
            elif edge.target not in nodes:
                check.add(
                    "dangling_reference",
                    nid,
                    edge.field,
                    f"refers to missing node {edge.target!r}",
                )
            else:
                succ[nid].append(edge.target)
                if not edge.needs_input:
                    silent[nid].append(edge.target)

    skip = flow.skip_menu
    skip_target: str | None = None
    if skip is not None:
        if not skip.tiers:
            check.add("bad_condition", None, "skip_menu.tiers", "no tiers listed", warning=True)
        target = nodes.get(skip.target)
        if target is None:
            check.add(
                "dangling_reference",
                None,
                "skip_menu.target",
                f"refers to missing node {skip.target!r}",
            )
        elif node_kind(target) not in ("queue", "transfer"):
            check.add(
                "bad_target",
                None,
                "skip_menu.target",
                f"must be a queue or transfer node, not {node_kind(target)}",
            )
        else:
            skip_target = skip.target
            for nid, node in nodes.items():
                if isinstance(node, MenuNode):
                    succ[nid].append(skip_target)
    if flow.bar_blacklisted is not None:
        check.prompts(None, "bar_blacklisted.prompts", flow.bar_blacklisted.prompts)

    if flow.entry in nodes:
        reachable = _reachable([flow.entry], succ)
        for nid in nodes:
            if nid not in reachable:
                check.add("unreachable", nid, "id", "no path from the entry", warning=True)
        pred: dict[str, list[str]] = {nid: [] for nid in nodes}
        for nid, targets in succ.items():
            for successor in targets:
                pred[successor].append(nid)
        terminals = [nid for nid, node in nodes.items() if node_kind(node) in TERMINAL_KINDS]
        can_finish = _reachable(terminals, pred)
        for nid in nodes:
            if nid in reachable and nid not in can_finish:
                check.add(
                    "no_exit",
                    nid,
                    "id",
                    "no path from here ends in hangup, queue, transfer or voicemail",
                )
    cycle = _silent_cycle(nodes, silent)
    if cycle is not None:
        check.add(
            "silent_loop",
            cycle[0],
            "next",
            "loop without caller input: " + " → ".join(cycle),
        )

    for nid, field, var in check.reads:
        if var not in check.writes:
            check.add(
                "unknown_variable",
                nid or None,
                field,
                f"variable {var!r} is never set by this flow (must come from the call)",
                warning=True,
            )
    return check.problems


def errors(problems: Iterable[Problem]) -> list[Problem]:
    """Only the problems of severity ``error``."""
    return [p for p in problems if p.severity is Severity.ERROR]


def ensure_valid(flow: Flow, *, prompt_ids: set[str] | frozenset[str] | None = None) -> Flow:
    """Return ``flow`` if it has no errors, else raise :class:`FlowInvalid`."""
    found = errors(validate(flow, prompt_ids=prompt_ids))
    if found:
        raise FlowInvalid(found)
    return flow


def validate_document(
    document: bytes | str | Mapping[str, object],
    *,
    prompt_ids: set[str] | frozenset[str] | None = None,
) -> tuple[Flow | None, list[Problem]]:
    """Decode and validate in one step (for the flow designer and the REST API).

    A document that is not a flow at all gives ``(None, [one "format" problem])``.
    """
    try:
        flow = parse_flow(document)
    except FlowFormatError as exc:
        problem = Problem(
            severity=Severity.ERROR,
            code="format",
            node=None,
            field=exc.path or "",
            message=exc.message,
        )
        return None, [problem]
    return flow, validate(flow, prompt_ids=prompt_ids)
