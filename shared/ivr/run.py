"""The flow interpreter: a pure state machine driven by call events.

A :class:`FlowRun` runs one flow for one call. The switch feeds it events, each
with the wall-clock time ``now`` (UTC epoch seconds), and executes the actions it
returns, in order. Nothing here does I/O, reads a clock or raises on caller input.

Events and when they count:

* ``start(context, now=…)`` once, first.
* ``on_prompt_done(now=…, play_id=…)`` when a :class:`Play` finished playing all its
  prompts. Ignored unless that play is the one awaited (``play_id=None`` means
  "the current play").
* ``on_dtmf(digit, now=…)``, one key at a time:

  - while digits are awaited (after :class:`CollectDigits`), the key counts;
  - during a :class:`Play` with ``barge_in`` the playback stops
    (:class:`StopPlayback`) and the key counts as type-ahead: it is kept and
    delivered to the next node that reads keys (the current menu/collect/survey,
    or the one after a prompt/say node), as if pressed there;
  - during a play without barge-in, during a look-up, or after the end, the key is
    discarded. Keys other than ``0-9 * # A-D`` are discarded.

* ``on_timeout(now=…, timer_id=…)`` when the timer of the latest
  :class:`CollectDigits` or :class:`StartTimer` lapsed; stale timer ids are ignored.
  The switch keeps at most one timer per run: each new one replaces the previous.
* ``on_lookup_result(now=…, values=… | error=…, request_id=…)`` answers a
  :class:`Lookup`; a late answer (after its timer fired) is ignored.
* ``on_caller_hangup(now=…)`` ends the run without an action.

Bad input (an invalid menu key, too few digits, a pattern mismatch, silence) goes
through the node's retry rules and finally its ``on_fail`` node. A flow that was
not validated cannot make the interpreter raise either: a missing node hangs up
with reason ``flow_error``; more than ``max_silent_hops`` nodes in a row without
caller input hang up with reason ``loop_guard``.

The run ends with exactly one terminal action — :class:`Queue`, :class:`Transfer`,
:class:`RecordVoicemail` or :class:`Hangup` — or with the caller hanging up.
"""

from __future__ import annotations

import enum
import functools
import re
from collections import deque
from collections.abc import Callable, Mapping

import msgspec

from shared.ivr import say as say_mod
from shared.ivr.conditions import Facts, describe, holds
from shared.ivr.model import (
    DTMF_KEYS,
    BranchNode,
    CallbackNode,
    CollectNode,
    Flow,
    HangupNode,
    Language,
    LookupNode,
    MenuNode,
    Node,
    PromptNode,
    QueueNode,
    SayNode,
    SetNode,
    SurveyNode,
    TransferNode,
    VoicemailNode,
    node_kind,
)
from shared.protocol.call import TrajectoryKind, TrajectoryStep

MAX_TYPE_AHEAD = 32
"""Keys kept for type-ahead; further keys are dropped until some are consumed."""

MAX_TRAJECTORY = 256
"""The protocol's limit on trajectory steps per call."""


class CallContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the switch knows about the call when the flow starts (from the route response)."""

    tier: str | None = None
    caller: str | None = None
    called: str | None = None
    blacklisted: bool = False
    skip_ivr: bool = False
    """The CTI server asks to skip menus (R-IVR-3) even if the flow does not list the tier."""
    variables: dict[str, str] = {}
    language: Language | None = None
    """Overrides the flow's default language."""


# --- actions --------------------------------------------------------------------


class _Action(msgspec.Struct, frozen=True, kw_only=True, tag_field="action"):
    pass


class Play(_Action, frozen=True, kw_only=True, tag="play"):
    """Play ``prompts`` (``resources/prompts/<language>/<id>.wav``) one after another."""

    play_id: int
    prompts: tuple[str, ...]
    language: Language
    barge_in: bool


class StopPlayback(_Action, frozen=True, kw_only=True, tag="stop_playback"):
    play_id: int


class CollectDigits(_Action, frozen=True, kw_only=True, tag="collect_digits"):
    """Keys are awaited now: arm the timer (``on_timeout(timer_id=…)`` after ``timeout``)."""

    timer_id: int
    timeout: float
    max_digits: int
    terminator: str | None


class StartTimer(_Action, frozen=True, kw_only=True, tag="start_timer"):
    timer_id: int
    seconds: float


class Lookup(_Action, frozen=True, kw_only=True, tag="lookup"):
    """Ask the CTI server's self-service ``service``; answer with ``on_lookup_result``."""

    request_id: int
    service: str
    args: dict[str, str]


class SurveyAnswer(_Action, frozen=True, kw_only=True, tag="survey_answer"):
    node: str
    question: str
    digit: str


class RequestCallback(_Action, frozen=True, kw_only=True, tag="request_callback"):
    number: str | None
    queue_id: str | None
    tier: str | None
    business_selection: str | None
    variables: dict[str, str]


class Queue(_Action, frozen=True, kw_only=True, tag="queue"):
    """Terminal: hand the call to a human through a queue (R-IVR-2)."""

    queue_id: str | None
    skill: str | None
    tier: str | None
    business_selection: str | None
    priority: int | None
    variables: dict[str, str]


class Transfer(_Action, frozen=True, kw_only=True, tag="transfer"):
    """Terminal: transfer to an agent or an external number (R-IVR-2)."""

    agent_id: str | None
    number: str | None
    tier: str | None
    business_selection: str | None
    variables: dict[str, str]


class RecordVoicemail(_Action, frozen=True, kw_only=True, tag="record_voicemail"):
    """Terminal: record a message (then the switch hangs up)."""

    mailbox: str
    max_seconds: float
    tier: str | None
    business_selection: str | None
    variables: dict[str, str]


class Hangup(_Action, frozen=True, kw_only=True, tag="hangup"):
    """Terminal: hang up. ``reason``: the node's reason, ``blacklisted``, ``flow_error``,
    ``loop_guard``."""

    reason: str


Action = (
    Play
    | StopPlayback
    | CollectDigits
    | StartTimer
    | Lookup
    | SurveyAnswer
    | RequestCallback
    | Queue
    | Transfer
    | RecordVoicemail
    | Hangup
)
TerminalAction = Queue | Transfer | RecordVoicemail | Hangup
TERMINAL_ACTIONS = (Queue, Transfer, RecordVoicemail, Hangup)


class Waiting(enum.StrEnum):
    """What the run waits for."""

    NOT_STARTED = "not_started"
    PROMPT = "prompt"
    INPUT = "input"
    LOOKUP = "lookup"
    DONE = "done"


class FlowRunError(RuntimeError):
    """The run was driven out of order (an event before ``start``, ``start`` twice)."""


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _clip(text: str) -> str:
    return text if len(text) <= 256 else text[:255] + "…"


_Continuation = Callable[[float, list[Action]], None]

_DEAD_END = "\x00dead-end"
"""Internal marker: a required successor was missing."""


class FlowRun:
    """One call's walk through one flow."""

    def __init__(self, flow: Flow, *, max_silent_hops: int = 256) -> None:
        self.flow = flow
        self.max_silent_hops = max_silent_hops
        self.waiting = Waiting.NOT_STARTED
        self.variables: dict[str, str] = {}
        self.business_selection: str | None = None
        self.language: Language = flow.language
        self.context = CallContext()
        self.trajectory: list[TrajectoryStep] = []
        self.path: list[str] = []
        """Node ids in the order they were entered."""
        self.outcome: TerminalAction | None = None
        self.caller_hung_up = False
        self._node_id: str | None = None
        self._skip = False
        self._seq = 0
        self._play_id = 0
        self._play_barge_in = False
        self._on_done: _Continuation | None = None
        self._timer_id = 0
        self._lookup_id = 0
        self._attempts = 0
        self._digits: list[str] = []
        self._question = 0
        self._buffer: deque[str] = deque()
        self._next: str | None = None
        self._hops = 0
        self._secret: set[str] = set()

    # --- events ----------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.waiting is Waiting.DONE

    @property
    def node_id(self) -> str | None:
        """The node being run (None before start)."""
        return self._node_id

    def start(self, context: CallContext, *, now: float) -> list[Action]:
        if self.waiting is not Waiting.NOT_STARTED:
            raise FlowRunError("start() called twice")
        self.context = context
        self.language = context.language or self.flow.language
        self.variables = {**self.flow.variables, **context.variables}
        self._sync_builtins()
        skip = self.flow.skip_menu
        self._skip = skip is not None and (
            context.skip_ivr or (context.tier is not None and context.tier in skip.tiers)
        )
        self.waiting = Waiting.PROMPT  # transiently "busy" until something waits
        out: list[Action] = []
        bar = self.flow.bar_blacklisted
        if context.blacklisted and bar is not None:
            self._step(now, TrajectoryKind.IVR_NODE, None, "blacklisted caller barred")
            self._play(bar.prompts, False, self._then_finish(Hangup(reason=bar.reason)), now, out)
        else:
            self._next = self.flow.entry
        self._advance(now, out)
        return out

    def on_prompt_done(self, *, now: float, play_id: int | None = None) -> list[Action]:
        self._require_started()
        if self.waiting is not Waiting.PROMPT or play_id not in (None, self._play_id):
            return []
        out: list[Action] = []
        self._resume(now, out)
        self._advance(now, out)
        return out

    def on_dtmf(self, digit: str, *, now: float) -> list[Action]:
        self._require_started()
        digit = digit.upper()
        if len(digit) != 1 or digit not in DTMF_KEYS:
            return []
        out: list[Action] = []
        if self.waiting is Waiting.INPUT:
            self._digit(digit, now, out)
        elif self.waiting is Waiting.PROMPT and self._play_barge_in:
            out.append(StopPlayback(play_id=self._play_id))
            if len(self._buffer) < MAX_TYPE_AHEAD:
                self._buffer.append(digit)
            self._resume(now, out)
        else:
            return []
        self._advance(now, out)
        return out

    def on_timeout(self, *, now: float, timer_id: int | None = None) -> list[Action]:
        self._require_started()
        if timer_id not in (None, self._timer_id):
            return []
        out: list[Action] = []
        if self.waiting is Waiting.INPUT:
            self._timeout(now, out)
        elif self.waiting is Waiting.LOOKUP:
            self._lookup_failed("timeout", now)
        else:
            return []
        self._advance(now, out)
        return out

    def on_lookup_result(
        self,
        *,
        now: float,
        values: Mapping[str, str | int | float] | None = None,
        error: str | None = None,
        request_id: int | None = None,
    ) -> list[Action]:
        self._require_started()
        if self.waiting is not Waiting.LOOKUP or request_id not in (None, self._lookup_id):
            return []
        node = self._node()
        assert isinstance(node, LookupNode)
        out: list[Action] = []
        if error is not None or values is None:
            self._lookup_failed(error or "no result", now)
        else:
            missing = [key for key in node.results if key not in values]
            if missing:
                self._lookup_failed(f"missing {', '.join(missing)}", now)
            else:
                for key, var in node.results.items():
                    self.variables[var] = str(values[key])
                self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"{node.service}: ok")
                self._goto(node.next)
        self._advance(now, out)
        return out

    def on_caller_hangup(self, *, now: float) -> list[Action]:
        self._require_started()
        if self.waiting is not Waiting.DONE:
            self.caller_hung_up = True
            self.waiting = Waiting.DONE
            self._step(now, TrajectoryKind.RELEASE, self._node_id, "caller hung up")
        return []

    def protocol_trajectory(self) -> tuple[TrajectoryStep, ...]:
        """The trajectory for ``shared.protocol`` (its last 256 steps)."""
        return tuple(self.trajectory[-MAX_TRAJECTORY:])

    # --- plumbing --------------------------------------------------------------

    def _require_started(self) -> None:
        if self.waiting is Waiting.NOT_STARTED:
            raise FlowRunError("event before start()")

    def _id(self) -> int:
        self._seq += 1
        return self._seq

    def _step(self, now: float, kind: TrajectoryKind, node: str | None, detail: str) -> None:
        self.trajectory.append(
            TrajectoryStep(at=max(now, 0.0), kind=kind, node=node, detail=_clip(detail))
        )

    def _node(self) -> Node | None:
        return None if self._node_id is None else self.flow.nodes.get(self._node_id)

    def _sync_builtins(self) -> None:
        ctx = self.context
        self.variables.update(
            caller=ctx.caller or "",
            called=ctx.called or "",
            tier=ctx.tier or "",
            language=self.language,
            business_selection=self.business_selection or "",
        )

    def _goto(self, target: str | None) -> None:
        self._next = _DEAD_END if target is None else target

    def _resume(self, now: float, out: list[Action]) -> None:
        on_done, self._on_done = self._on_done, None
        self.waiting = Waiting.PROMPT  # busy until the continuation decides
        if on_done is not None:
            on_done(now, out)

    def _advance(self, now: float, out: list[Action]) -> None:
        """Enter nodes until the run waits for something."""
        while self._next is not None and self.waiting is not Waiting.DONE:
            target, self._next = self._next, None
            self._hops += 1
            if self._hops > self.max_silent_hops:
                self._step(now, TrajectoryKind.IVR_NODE, target, "loop guard: too many nodes")
                self._finish(Hangup(reason="loop_guard"), now, out)
                break
            self._enter(target, now, out)

    def _finish(self, action: TerminalAction, now: float, out: list[Action]) -> None:
        if self.waiting is Waiting.DONE:
            return
        self.outcome = action
        self.waiting = Waiting.DONE
        self._next = None
        if isinstance(action, Hangup):
            self._step(now, TrajectoryKind.RELEASE, self._node_id, action.reason)
        out.append(action)

    def _then_finish(self, action: TerminalAction) -> _Continuation:
        def finish(now: float, out: list[Action]) -> None:
            self._finish(action, now, out)

        return finish

    def _then_goto(self, target: str | None) -> _Continuation:
        def goto(_now: float, _out: list[Action]) -> None:
            self._goto(target)

        return goto

    def _play(
        self,
        prompts: tuple[str, ...],
        barge_in: bool,
        on_done: _Continuation,
        now: float,
        out: list[Action],
    ) -> None:
        if not prompts:
            self._on_done = None
            on_done(now, out)
            return
        self._play_id = self._id()
        self._play_barge_in = barge_in
        self._on_done = on_done
        self.waiting = Waiting.PROMPT
        out.append(
            Play(play_id=self._play_id, prompts=prompts, language=self.language, barge_in=barge_in)
        )

    # --- entering nodes -----------------------------------------------------------

    def _enter(self, nid: str, now: float, out: list[Action]) -> None:
        if nid == _DEAD_END:
            self._step(now, TrajectoryKind.IVR_NODE, self._node_id, "no next node")
            self._finish(Hangup(reason="flow_error"), now, out)
            return
        node = self.flow.nodes.get(nid)
        self._node_id = nid
        self.path.append(nid)
        if node is None:
            self._step(now, TrajectoryKind.IVR_NODE, nid, "missing node")
            self._finish(Hangup(reason="flow_error"), now, out)
            return
        kind = node_kind(node)
        self._attempts = 0
        self._digits = []
        self._question = 0
        skip = self.flow.skip_menu
        if isinstance(node, MenuNode) and self._skip and skip is not None:
            why = f"tier {self.context.tier}" if self.context.tier in skip.tiers else "skip_ivr"
            self._step(now, TrajectoryKind.IVR_NODE, nid, f"menu skipped ({why})")
            self._next = skip.target
            return
        self._step(now, TrajectoryKind.IVR_NODE, nid, kind if node.label is None else node.label)
        if isinstance(node, PromptNode):
            self._play(node.prompts, node.barge_in, self._then_goto(node.next), now, out)
        elif isinstance(node, MenuNode | CollectNode):
            if self._buffer:  # type-ahead: the keys answer this node's prompt unheard
                self._await_input(now, out)
            else:
                self._play(node.prompts, node.barge_in, self._await_input, now, out)
        elif isinstance(node, SurveyNode):
            self._ask(node, (), now, out)
        elif isinstance(node, BranchNode):
            self._branch(nid, node, now)
        elif isinstance(node, SetNode):
            if node.business_selection is not None:
                self.business_selection = node.business_selection
            if node.language is not None:
                self.language = node.language
            self.variables.update(node.variables)
            self._sync_builtins()
            self._goto(node.next)
        elif isinstance(node, LookupNode):
            self._lookup(node, now, out)
        elif isinstance(node, SayNode):
            self._say(node, now, out)
        elif isinstance(node, CallbackNode):
            self._callback(node, now, out)
        else:
            self._handoff(node, now, out)

    def _shared_variables(self) -> dict[str, str]:
        """Variables handed on with the call; masked inputs (PINs) stay behind."""
        return {k: v for k, v in self.variables.items() if k not in self._secret}

    def _selection(self, override: str | None) -> str | None:
        if override is not None:
            self.business_selection = override
            self._sync_builtins()
        return self.business_selection

    def _handoff(
        self,
        node: QueueNode | TransferNode | VoicemailNode | HangupNode,
        now: float,
        out: list[Action],
    ) -> None:
        tier = self.context.tier
        action: TerminalAction
        if isinstance(node, QueueNode):
            selection = self._selection(node.business_selection)
            action = Queue(
                queue_id=node.queue,
                skill=node.skill,
                tier=tier,
                business_selection=selection,
                priority=node.priority,
                variables=self._shared_variables(),
            )
            where = node.queue or node.skill
            detail = f"business_selection={selection} tier={tier}"
            kind = TrajectoryKind.QUEUE_ENTER
            barge = False
        elif isinstance(node, TransferNode):
            selection = self._selection(node.business_selection)
            action = Transfer(
                agent_id=node.target.agent_id,
                number=node.target.number,
                tier=tier,
                business_selection=selection,
                variables=self._shared_variables(),
            )
            where = node.target.agent_id
            detail = f"to {node.target.agent_id or node.target.number} tier={tier}"
            kind = TrajectoryKind.TRANSFER
            barge = False
        elif isinstance(node, VoicemailNode):
            selection = self._selection(node.business_selection)
            action = RecordVoicemail(
                mailbox=node.mailbox,
                max_seconds=node.max_seconds,
                tier=tier,
                business_selection=selection,
                variables=self._shared_variables(),
            )
            where, detail = self._node_id, f"voicemail {node.mailbox}"
            kind = TrajectoryKind.IVR_NODE
            barge = False
        else:
            self._play(node.prompts, False, self._then_finish(Hangup(reason=node.reason)), now, out)
            return

        def finish(at: float, sink: list[Action]) -> None:
            self._step(at, kind, where, detail)
            self._finish(action, at, sink)

        self._play(node.prompts, barge, finish, now, out)

    def _branch(self, nid: str, node: BranchNode, now: float) -> None:
        facts = Facts(
            now=now,
            tier=self.context.tier,
            caller=self.context.caller,
            called=self.context.called,
            blacklisted=self.context.blacklisted,
            language=self.language,
            variables=self.variables,
        )
        for index, case in enumerate(node.cases):
            if all(holds(cond, facts) for cond in case.when):
                text = case.label or " and ".join(describe(c) for c in case.when) or "always"
                self._step(now, TrajectoryKind.IVR_NODE, nid, f"case {index + 1}: {text}")
                self._goto(case.next)
                return
        self._step(now, TrajectoryKind.IVR_NODE, nid, "default")
        self._goto(node.default)

    def _lookup(self, node: LookupNode, now: float, out: list[Action]) -> None:
        args: dict[str, str] = {}
        for arg, var in node.args.items():
            value = self.variables.get(var, "")
            if value == "":
                self._lookup_failed(f"variable {var} not set", now)
                return
            args[arg] = value
        self._lookup_id = self._id()
        self._timer_id = self._id()
        out.append(Lookup(request_id=self._lookup_id, service=node.service, args=args))
        out.append(StartTimer(timer_id=self._timer_id, seconds=node.timeout))
        self.waiting = Waiting.LOOKUP

    def _lookup_failed(self, why: str, now: float) -> None:
        node = self._node()
        assert isinstance(node, LookupNode)
        self.waiting = Waiting.PROMPT
        self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"{node.service}: error: {why}")
        self._goto(node.on_error)

    def _say(self, node: SayNode, now: float, out: list[Action]) -> None:
        value = self.variables.get(node.variable, "")
        try:
            words = say_mod.say(value, node.format, self.language)
        except say_mod.UnreadableValue:
            self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"cannot read {value!r}")
            self._goto(node.on_error or node.next)
            return
        prompts = (*node.prefix, *words, *node.suffix)
        self._play(prompts, node.barge_in, self._then_goto(node.next), now, out)

    def _callback(self, node: CallbackNode, now: float, out: list[Action]) -> None:
        number = (
            self.variables.get(node.number_variable, "")
            if node.number_variable is not None
            else self.context.caller or ""
        )
        selection = self._selection(node.business_selection)
        out.append(
            RequestCallback(
                number=number or None,
                queue_id=node.queue,
                tier=self.context.tier,
                business_selection=selection,
                variables=self._shared_variables(),
            )
        )
        self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"callback to {number or '?'}")
        self._play(node.prompts, False, self._then_goto(node.next), now, out)

    # --- keys, timeouts, retries ------------------------------------------------------

    def _await_input(self, now: float, out: list[Action]) -> None:
        """Read the next key: from the type-ahead buffer, else wait for one."""
        if self._buffer:
            self.waiting = Waiting.INPUT
            self._digit(self._buffer.popleft(), now, out)
            return
        node = self._node()
        if isinstance(node, CollectNode):
            timeout = node.inter_digit_timeout if self._digits else node.timeout
            max_digits = node.max_length - len(self._digits)
            terminator = node.terminator
        elif isinstance(node, MenuNode | SurveyNode):
            timeout, max_digits, terminator = node.timeout, 1, None
        else:  # pragma: no cover - only input nodes await keys
            return
        self._timer_id = self._id()
        out.append(
            CollectDigits(
                timer_id=self._timer_id,
                timeout=timeout,
                max_digits=max_digits,
                terminator=terminator,
            )
        )
        self.waiting = Waiting.INPUT

    def _accepted(self) -> None:
        self._hops = 0

    def _digit(self, digit: str, now: float, out: list[Action]) -> None:
        node = self._node()
        self.waiting = Waiting.PROMPT  # busy
        if isinstance(node, MenuNode):
            for option in node.options:
                if option.digit == digit:
                    text = f"{digit} → {option.label or option.next}"
                    self._step(now, TrajectoryKind.MENU_CHOICE, self._node_id, text)
                    self._accepted()
                    self._goto(option.next)
                    return
            self._retry(node, "invalid", now, out)
        elif isinstance(node, CollectNode):
            if digit == node.terminator:
                self._collected(node, now, out)
                return
            self._digits.append(digit)
            if len(self._digits) >= node.max_length:
                self._collected(node, now, out)
            else:
                self._await_input(now, out)
        elif isinstance(node, SurveyNode):
            question = node.questions[self._question]
            if digit in question.digits:
                out.append(
                    SurveyAnswer(node=self._node_id or "", question=question.id, digit=digit)
                )
                self.variables[f"survey.{question.id}"] = digit
                self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"{question.id}={digit}")
                self._accepted()
                self._next_question(node, now, out)
            else:
                self._retry(node, "invalid", now, out)

    def _timeout(self, now: float, out: list[Action]) -> None:
        node = self._node()
        self.waiting = Waiting.PROMPT  # busy
        if isinstance(node, CollectNode) and self._digits:
            self._collected(node, now, out)
        elif isinstance(node, MenuNode | CollectNode | SurveyNode):
            self._retry(node, "timeout", now, out)

    def _collected(self, node: CollectNode, now: float, out: list[Action]) -> None:
        value = "".join(self._digits)
        self._digits = []
        pattern = None if node.pattern is None else _compiled(node.pattern)
        if len(value) < node.min_length or (
            node.pattern is not None and (pattern is None or not pattern.fullmatch(value))
        ):
            self._retry(node, "invalid", now, out)
            return
        self.variables[node.variable] = value
        if node.mask:
            self._secret.add(node.variable)
        shown = "*" * len(value) if node.mask else value
        self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"{node.variable}={shown}")
        self._accepted()
        self._goto(node.next)

    def _retry(
        self, node: MenuNode | CollectNode | SurveyNode, why: str, now: float, out: list[Action]
    ) -> None:
        self._buffer.clear()
        self._digits = []
        self._attempts += 1
        if self._attempts > node.retries:
            if isinstance(node, SurveyNode):
                question = node.questions[self._question].id
                self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"{question}: no answer")
                self._next_question(node, now, out)
                return
            self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"failed ({why})")
            self._goto(node.on_fail)
            return
        self._step(now, TrajectoryKind.IVR_NODE, self._node_id, f"{why}, retry {self._attempts}")
        if isinstance(node, SurveyNode):
            extra = node.invalid_prompts if why == "invalid" else ()
            self._ask(node, extra, now, out)
            return
        extra = node.invalid_prompts if why == "invalid" else node.timeout_prompts
        self._play((*extra, *node.prompts), node.barge_in, self._await_input, now, out)

    def _ask(self, node: SurveyNode, extra: tuple[str, ...], now: float, out: list[Action]) -> None:
        if not node.questions:
            self._goto(node.next)
            return
        if self._buffer:
            self._await_input(now, out)
            return
        question = node.questions[self._question]
        self._play((*extra, *question.prompts), True, self._await_input, now, out)

    def _next_question(self, node: SurveyNode, now: float, out: list[Action]) -> None:
        self._question += 1
        self._attempts = 0
        if self._question >= len(node.questions):
            self._goto(node.next)
        else:
            self._ask(node, (), now, out)
