"""The flow interpreter: every node kind, retries, barge-in, VIP skip, blacklist bar
and the trajectory it reports (R-IVR-1..3, R-IN-5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from shared.ivr.model import Flow, parse_flow
from shared.ivr.run import (
    CallContext,
    CollectDigits,
    FlowRun,
    FlowRunError,
    Hangup,
    Lookup,
    Play,
    Queue,
    RecordVoicemail,
    RequestCallback,
    StartTimer,
    StopPlayback,
    SurveyAnswer,
    Transfer,
    Waiting,
)
from shared.ivr.validate import errors, validate
from shared.protocol.call import TrajectoryKind, TrajectoryStep

T0 = 1_772_000_000.0
NORMAL = CallContext(tier="normal", caller="13700137000", called="10086")


def make(nodes: dict[str, Any], entry: str = "start", **flow: Any) -> Flow:
    doc = {"id": "t", "entry": entry, "nodes": nodes, **flow}
    parsed = parse_flow(doc)
    assert errors(validate(parsed)) == [], validate(parsed)
    return parsed


MENU_FLOW: dict[str, Any] = {
    "start": {"kind": "prompt", "prompts": ["welcome"], "barge_in": True, "next": "menu"},
    "menu": {
        "kind": "menu",
        "prompts": ["main_menu"],
        "options": [
            {"digit": "1", "next": "billing", "label": "billing"},
            {"digit": "2", "next": "tech"},
        ],
        "timeout": 5,
        "retries": 2,
        "invalid_prompts": ["invalid_choice"],
        "timeout_prompts": ["no_input"],
        "on_fail": "bye",
    },
    "billing": {
        "kind": "queue",
        "queue": "q_billing",
        "business_selection": "billing",
        "priority": 7,
    },
    "tech": {"kind": "queue", "skill": "broadband", "business_selection": "tech"},
    "bye": {"kind": "hangup", "prompts": ["goodbye"], "reason": "no_choice"},
}


def only(actions: list[Any], kind: type) -> Any:
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, actions
    return found[0]


def to_menu(run: FlowRun, context: CallContext = NORMAL) -> CollectDigits:
    """Start and play through the greeting and the menu prompt."""
    assert only(run.start(context, now=T0), Play).prompts == ("welcome",)
    assert only(run.on_prompt_done(now=T0 + 2), Play).prompts == ("main_menu",)
    wait: CollectDigits = only(run.on_prompt_done(now=T0 + 5), CollectDigits)
    return wait


# --- prompt and menu ----------------------------------------------------------------


def test_menu_choice_queues_with_tier_and_business_selection() -> None:
    """R-IVR-2: the hand-off carries the tier and the business selection."""
    run = FlowRun(make(MENU_FLOW))
    wait = to_menu(run)
    assert (wait.max_digits, wait.timeout, wait.terminator) == (1, 5, None)
    assert run.waiting is Waiting.INPUT
    actions = run.on_dtmf("1", now=T0 + 6)
    queued = only(actions, Queue)
    assert actions == [
        Queue(
            queue_id="q_billing",
            skill=None,
            tier="normal",
            business_selection="billing",
            priority=7,
            variables=queued.variables,
        )
    ]
    assert queued.variables["caller"] == "13700137000"
    assert run.done and run.outcome == queued
    assert run.path == ["start", "menu", "billing"]


def test_invalid_keys_and_timeouts_share_the_retry_budget_then_on_fail() -> None:
    run = FlowRun(make(MENU_FLOW))
    to_menu(run)
    retry = only(run.on_dtmf("9", now=T0 + 6), Play)
    assert retry.prompts == ("invalid_choice", "main_menu") and retry.barge_in
    wait = only(run.on_prompt_done(now=T0 + 8), CollectDigits)
    retry = only(run.on_timeout(now=T0 + 13, timer_id=wait.timer_id), Play)
    assert retry.prompts == ("no_input", "main_menu")
    run.on_prompt_done(now=T0 + 15)
    actions = run.on_dtmf("#", now=T0 + 16)  # third failure > retries=2
    assert only(actions, Play).prompts == ("goodbye",)
    assert run.on_prompt_done(now=T0 + 17) == [Hangup(reason="no_choice")]
    details = [s.detail for s in run.trajectory if s.node == "menu"]
    assert details == ["menu", "invalid, retry 1", "timeout, retry 2", "failed (invalid)"]
    assert run.path[-1] == "bye"


def test_stale_timer_and_play_ids_are_ignored() -> None:
    run = FlowRun(make(MENU_FLOW))
    first = to_menu(run)
    run.on_dtmf("7", now=T0 + 6)  # invalid: replays the menu
    assert run.on_timeout(now=T0 + 11, timer_id=first.timer_id) == []  # the old timer
    assert run.on_prompt_done(now=T0 + 7, play_id=12345) == []
    assert run.waiting is Waiting.PROMPT


def test_barge_in_key_stops_the_menu_prompt_and_counts() -> None:
    run = FlowRun(make(MENU_FLOW))
    run.start(NORMAL, now=T0)
    menu_play = only(run.on_prompt_done(now=T0 + 2), Play)
    actions = run.on_dtmf("2", now=T0 + 3)
    assert actions[0] == StopPlayback(play_id=menu_play.play_id)
    assert only(actions, Queue).business_selection == "tech"
    # the late "done" of the stopped prompt changes nothing
    assert run.on_prompt_done(now=T0 + 4, play_id=menu_play.play_id) == []


def test_type_ahead_during_greeting_answers_the_menu_unheard() -> None:
    run = FlowRun(make(MENU_FLOW))
    greeting = only(run.start(NORMAL, now=T0), Play)
    assert greeting.barge_in
    actions = run.on_dtmf("1", now=T0 + 1)
    assert actions[0] == StopPlayback(play_id=greeting.play_id)
    assert not [a for a in actions if isinstance(a, Play)]  # menu prompt skipped
    assert only(actions, Queue).queue_id == "q_billing"
    assert [s.kind for s in run.trajectory][-2:] == [
        TrajectoryKind.IVR_NODE,
        TrajectoryKind.QUEUE_ENTER,
    ]


def test_keys_during_prompts_without_barge_in_are_discarded() -> None:
    nodes = {**MENU_FLOW, "start": {**MENU_FLOW["start"], "barge_in": False}}
    run = FlowRun(make(nodes))
    run.start(NORMAL, now=T0)
    assert run.on_dtmf("1", now=T0 + 1) == []
    only(run.on_prompt_done(now=T0 + 2), Play)  # the menu prompt plays normally
    assert run.on_dtmf("Z", now=T0 + 3) == []  # not a key at all


# --- collect ------------------------------------------------------------------------

COLLECT: dict[str, Any] = {
    "start": {
        "kind": "collect",
        "prompts": ["enter_pin"],
        "variable": "pin",
        "min_length": 4,
        "max_length": 6,
        "pattern": "[1-9][0-9]*",
        "terminator": "#",
        "timeout": 8,
        "inter_digit_timeout": 3,
        "retries": 1,
        "invalid_prompts": ["invalid_input"],
        "mask": True,
        "next": "q",
        "on_fail": "bye",
    },
    "q": {"kind": "queue", "queue": "q_billing"},
    "bye": {"kind": "hangup", "reason": "failed"},
}


def press(run: FlowRun, keys: str, at: float = T0) -> list[Any]:
    out: list[Any] = []
    for key in keys:
        out += run.on_dtmf(key, now=at)
    return out


def test_collect_with_terminator_stores_and_masks_the_value() -> None:
    run = FlowRun(make(COLLECT))
    run.start(NORMAL, now=T0)
    first = only(run.on_prompt_done(now=T0 + 1), CollectDigits)
    assert (first.timeout, first.max_digits, first.terminator) == (8, 6, "#")
    second = only(run.on_dtmf("1", now=T0 + 2), CollectDigits)
    assert (second.timeout, second.max_digits) == (3, 5)  # inter-digit timeout now
    actions = press(run, "234#")
    queued = only(actions, Queue)
    assert run.variables["pin"] == "1234"
    assert "pin" not in queued.variables  # masked input stays in the switch
    assert any(s.detail == "pin=****" for s in run.trajectory)
    assert all("1234" not in (s.detail or "") for s in run.trajectory)


def test_collect_ends_at_max_length_and_on_timeout_with_enough_digits() -> None:
    run = FlowRun(make(COLLECT))
    run.start(NORMAL, now=T0)
    run.on_prompt_done(now=T0)
    assert only(press(run, "123456"), Queue)
    run = FlowRun(make(COLLECT))
    run.start(NORMAL, now=T0)
    run.on_prompt_done(now=T0)
    press(run, "98765"[:4])
    assert only(run.on_timeout(now=T0 + 4), Queue)
    assert run.variables["pin"] == "9876"


@pytest.mark.parametrize("keys", ["12#", "0123#"], ids=["too-short", "pattern-mismatch"])
def test_bad_input_retries_then_fails(keys: str) -> None:
    run = FlowRun(make(COLLECT))
    run.start(NORMAL, now=T0)
    run.on_prompt_done(now=T0)
    retry = only(press(run, keys), Play)
    assert retry.prompts == ("invalid_input", "enter_pin")
    run.on_prompt_done(now=T0 + 1)
    assert press(run, keys)[-1] == Hangup(reason="failed")
    assert "pin" not in run.variables


# --- lookup and say -----------------------------------------------------------------

SELF_SERVICE: dict[str, Any] = {
    "start": {
        "kind": "set",
        "variables": {"account": "123456"},
        "business_selection": "balance",
        "next": "lookup",
    },
    "lookup": {
        "kind": "lookup",
        "service": "balance",
        "args": {"account": "account"},
        "results": {"balance": "balance"},
        "timeout": 4,
        "next": "say",
        "on_error": "sorry",
    },
    "say": {
        "kind": "say",
        "variable": "balance",
        "format": "amount",
        "prefix": ["balance_is"],
        "next": "bye",
        "on_error": "sorry",
    },
    "sorry": {"kind": "hangup", "prompts": ["lookup_failed"], "reason": "lookup_failed"},
    "bye": {"kind": "hangup", "reason": "normal"},
}


def start_lookup(language: str = "zh") -> tuple[FlowRun, Lookup, StartTimer]:
    run = FlowRun(make(SELF_SERVICE, language=language))
    actions = run.start(NORMAL, now=T0)
    lookup, timer = only(actions, Lookup), only(actions, StartTimer)
    assert (lookup.service, lookup.args, timer.seconds) == ("balance", {"account": "123456"}, 4)
    assert run.waiting is Waiting.LOOKUP
    return run, lookup, timer


def test_lookup_result_is_read_out_in_chinese() -> None:
    run, lookup, _timer = start_lookup("zh")
    assert run.on_dtmf("5", now=T0) == []  # keys during a look-up are discarded
    play = only(
        run.on_lookup_result(now=T0 + 1, values={"balance": "123.4"}, request_id=lookup.request_id),
        Play,
    )
    # 您的余额为 一百二十三元四角
    assert play.prompts == (
        "balance_is",
        "num_1",
        "num_hundred",
        "num_2",
        "num_10",
        "num_3",
        "cur_yuan",
        "num_4",
        "cur_jiao",
    )
    assert play.language == "zh"
    assert run.on_prompt_done(now=T0 + 5) == [Hangup(reason="normal")]


def test_lookup_result_is_read_out_in_english() -> None:
    run, _lookup, _timer = start_lookup("en")
    play = only(run.on_lookup_result(now=T0 + 1, values={"balance": 1234.5}), Play)
    assert play.prompts[1:] == (
        "num_1",
        "num_thousand",
        "num_2",
        "num_hundred",
        "num_30",
        "num_4",
        "cur_yuan",
        "num_and",
        "num_50",
        "cur_cents",
    )
    assert play.language == "en"


@pytest.mark.parametrize("how", ["error", "timeout", "missing-field", "unreadable"], ids=str)
def test_lookup_failures_take_on_error(how: str) -> None:
    run, lookup, timer = start_lookup()
    if how == "error":
        actions = run.on_lookup_result(now=T0 + 1, error="account locked")
    elif how == "timeout":
        actions = run.on_timeout(now=T0 + 4, timer_id=timer.timer_id)
        # a late answer is ignored
        assert run.on_lookup_result(now=T0 + 5, values={"balance": "1"}) == []
    elif how == "missing-field":
        actions = run.on_lookup_result(now=T0 + 1, values={"other": "1"})
    else:
        actions = run.on_lookup_result(now=T0 + 1, values={"balance": "lots"})
    assert only(actions, Play).prompts == ("lookup_failed",)
    assert "sorry" in run.path
    del lookup


def test_lookup_without_its_argument_fails_without_asking() -> None:
    nodes = {**SELF_SERVICE, "start": {"kind": "set", "next": "lookup"}}
    run = FlowRun(parse_flow({"id": "t", "entry": "start", "nodes": nodes}))
    actions = run.start(NORMAL, now=T0)
    assert not [a for a in actions if isinstance(a, Lookup)]
    assert only(actions, Play).prompts == ("lookup_failed",)


# --- branch and set -----------------------------------------------------------------

SHANGHAI_HOURS = {
    "kind": "schedule",
    "tz": "Asia/Shanghai",
    "weekly": {"tue": [["08:00", "20:00"]]},
    "holidays": ["2026-03-10"],
}


def branch_flow(*cases: Any) -> Flow:
    return make(
        {
            "start": {
                "kind": "branch",
                "cases": [{"when": when, "next": f"q{i}"} for i, when in enumerate(cases)],
                "default": "qd",
            },
            **{f"q{i}": {"kind": "queue", "queue": f"q{i}"} for i in range(len(cases))},
            "qd": {"kind": "queue", "queue": "qd"},
        },
        variables={"balance": "-12.5", "region": "sh"},
    )


def shanghai(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    local = dt.datetime(year, month, day, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return local.timestamp()


@pytest.mark.parametrize(
    ("when", "context", "now", "queue"),
    [
        ([{"kind": "tier", "tiers": ["vip", "gold"]}], CallContext(tier="gold"), T0, "q0"),
        ([{"kind": "tier", "tiers": ["vip"]}], CallContext(tier="normal"), T0, "qd"),
        ([SHANGHAI_HOURS], NORMAL, shanghai(2026, 3, 3, 8, 0), "q0"),  # Tuesday 08:00
        ([SHANGHAI_HOURS], NORMAL, shanghai(2026, 3, 3, 19, 59), "q0"),
        ([SHANGHAI_HOURS], NORMAL, shanghai(2026, 3, 3, 20, 0), "qd"),  # end is exclusive
        ([SHANGHAI_HOURS], NORMAL, shanghai(2026, 3, 4, 10, 0), "qd"),  # Wednesday
        ([SHANGHAI_HOURS], NORMAL, shanghai(2026, 3, 10, 10, 0), "qd"),  # holiday Tuesday
        ([{**SHANGHAI_HOURS, "open": False}], NORMAL, shanghai(2026, 3, 4, 10), "q0"),
        ([{"kind": "variable", "name": "balance", "op": "lt", "value": "0"}], NORMAL, T0, "q0"),
        ([{"kind": "variable", "name": "balance", "op": "ge", "value": "0"}], NORMAL, T0, "qd"),
        (
            [{"kind": "variable", "name": "region", "op": "in", "values": ["bj", "sh"]}],
            NORMAL,
            T0,
            "q0",
        ),
        ([{"kind": "variable", "name": "region", "op": "gt", "value": "a"}], NORMAL, T0, "qd"),
        ([{"kind": "variable", "name": "nothing", "op": "unset"}], NORMAL, T0, "q0"),
        ([{"kind": "caller_prefix", "prefixes": ["137", "0755"]}], NORMAL, T0, "q0"),
        ([{"kind": "called_prefix", "prefixes": ["95"]}], NORMAL, T0, "qd"),
        ([{"kind": "blacklisted"}], CallContext(blacklisted=True), T0, "q0"),
        ([{"kind": "language", "language": "en"}], CallContext(language="en"), T0, "q0"),
        # all conditions of a case must hold
        ([{"kind": "tier", "tiers": ["normal"]}, {"kind": "blacklisted"}], NORMAL, T0, "qd"),
    ],
)
def test_branch_conditions(when: list[Any], context: CallContext, now: float, queue: str) -> None:
    run = FlowRun(branch_flow(when))
    assert only(run.start(context, now=now), Queue).queue_id == queue


def test_branch_trajectory_names_the_case_taken() -> None:
    run = FlowRun(branch_flow([{"kind": "tier", "tiers": ["normal"]}]))
    run.start(NORMAL, now=T0)
    assert run.trajectory[1].detail == "case 1: tier in normal"


def test_set_changes_language_selection_and_variables() -> None:
    run = FlowRun(
        make(
            {
                "start": {
                    "kind": "set",
                    "language": "en",
                    "business_selection": "english_line",
                    "variables": {"campaign": "spring"},
                    "next": "hello",
                },
                "hello": {"kind": "prompt", "prompts": ["welcome"], "next": "q"},
                "q": {"kind": "queue", "queue": "q_sales"},
            }
        )
    )
    assert only(run.start(NORMAL, now=T0), Play).language == "en"
    queued = only(run.on_prompt_done(now=T0 + 1), Queue)
    assert queued.business_selection == "english_line"
    assert queued.variables["campaign"] == "spring"
    assert queued.variables["business_selection"] == "english_line"


# --- hand-offs ----------------------------------------------------------------------


def test_transfer_to_agent_and_external_number() -> None:
    for target, expected in (
        ({"agent_id": "1001"}, ("1001", None)),
        ({"number": "+8610123456"}, (None, "+8610123456")),
    ):
        run = FlowRun(
            make(
                {
                    "start": {
                        "kind": "transfer",
                        "target": target,
                        "business_selection": "complaint",
                        "prompts": ["please_hold"],
                    }
                }
            )
        )
        only(run.start(NORMAL, now=T0), Play)
        transfer = only(run.on_prompt_done(now=T0 + 1), Transfer)
        assert (transfer.agent_id, transfer.number) == expected
        assert (transfer.tier, transfer.business_selection) == ("normal", "complaint")
        assert run.trajectory[-1].kind is TrajectoryKind.TRANSFER


def test_voicemail_records_after_its_prompts() -> None:
    run = FlowRun(
        make(
            {
                "start": {
                    "kind": "voicemail",
                    "mailbox": "general",
                    "prompts": ["leave_message", "beep"],
                    "max_seconds": 60,
                }
            }
        )
    )
    assert only(run.start(NORMAL, now=T0), Play).prompts == ("leave_message", "beep")
    record = only(run.on_prompt_done(now=T0 + 3), RecordVoicemail)
    assert (record.mailbox, record.max_seconds, record.tier) == ("general", 60, "normal")
    assert run.done


def test_callback_request_then_goodbye() -> None:
    run = FlowRun(
        make(
            {
                "start": {
                    "kind": "callback",
                    "queue": "q_billing",
                    "business_selection": "billing",
                    "prompts": ["callback_confirm"],
                    "next": "bye",
                },
                "bye": {"kind": "hangup", "prompts": ["goodbye"]},
            }
        )
    )
    actions = run.start(NORMAL, now=T0)
    request = only(actions, RequestCallback)
    assert (request.number, request.queue_id, request.tier) == (
        "13700137000",
        "q_billing",
        "normal",
    )
    assert only(actions, Play).prompts == ("callback_confirm",)
    assert only(run.on_prompt_done(now=T0 + 1), Play).prompts == ("goodbye",)
    assert run.on_prompt_done(now=T0 + 2) == [Hangup(reason="normal")]


# --- survey -------------------------------------------------------------------------

SURVEY: dict[str, Any] = {
    "start": {
        "kind": "survey",
        "questions": [
            {"id": "satisfaction", "prompts": ["q1"], "digits": "123"},
            {"id": "resolved", "prompts": ["q2"], "digits": "12"},
            {"id": "recommend", "prompts": ["q3"], "digits": "12"},
        ],
        "timeout": 5,
        "retries": 1,
        "invalid_prompts": ["invalid_choice"],
        "next": "bye",
    },
    "bye": {"kind": "hangup", "reason": "survey_done"},
}


def test_survey_answers_invalid_keys_and_silence() -> None:
    """R-IN-5: the caller rates the service after the call."""
    run = FlowRun(make(SURVEY))
    assert only(run.start(NORMAL, now=T0), Play).prompts == ("q1",)
    actions = run.on_dtmf("2", now=T0 + 1)  # barge-in answer
    assert only(actions, SurveyAnswer) == SurveyAnswer(
        node="start", question="satisfaction", digit="2"
    )
    assert only(actions, Play).prompts == ("q2",)
    run.on_prompt_done(now=T0 + 2)
    assert only(run.on_dtmf("9", now=T0 + 3), Play).prompts == ("invalid_choice", "q2")
    run.on_prompt_done(now=T0 + 4)
    actions = run.on_timeout(now=T0 + 9)  # second failure: question skipped
    assert only(actions, Play).prompts == ("q3",)
    run.on_prompt_done(now=T0 + 10)
    actions = run.on_dtmf("1", now=T0 + 11)
    assert only(actions, SurveyAnswer).question == "recommend"
    assert actions[-1] == Hangup(reason="survey_done")
    assert run.variables["survey.satisfaction"] == "2"
    assert "survey.resolved" not in run.variables
    assert any(s.detail == "resolved: no answer" for s in run.trajectory)


# --- VIP skip and blacklist bar (R-IVR-3) -------------------------------------------

SKIP = {"tiers": ["vip"], "target": "billing"}


@pytest.mark.parametrize(
    "context",
    [CallContext(tier="vip"), CallContext(tier="normal", skip_ivr=True)],
    ids=["vip-tier", "skip-ivr-flag"],
)
def test_vip_hears_the_greeting_then_goes_straight_to_the_queue(context: CallContext) -> None:
    run = FlowRun(make(MENU_FLOW, skip_menu=SKIP))
    assert only(run.start(context, now=T0), Play).prompts == ("welcome",)
    actions = run.on_prompt_done(now=T0 + 2)
    queued = only(actions, Queue)
    assert not [a for a in actions if isinstance(a, Play | CollectDigits)]
    assert (queued.queue_id, queued.tier) == ("q_billing", context.tier)
    assert any((s.detail or "").startswith("menu skipped") for s in run.trajectory)


def test_normal_tier_still_hears_the_menu() -> None:
    run = FlowRun(make(MENU_FLOW, skip_menu=SKIP))
    to_menu(run)


def test_blacklisted_callers_are_barred_before_any_node() -> None:
    run = FlowRun(make(MENU_FLOW, bar_blacklisted={"prompts": ["barred"]}))
    caller = CallContext(tier="vip", caller="13600136000", blacklisted=True)
    play = only(run.start(caller, now=T0), Play)
    assert play.prompts == ("barred",) and not play.barge_in
    assert run.on_dtmf("1", now=T0 + 1) == []
    assert run.on_prompt_done(now=T0 + 2) == [Hangup(reason="blacklisted")]
    assert run.path == []
    assert run.trajectory[-1].kind is TrajectoryKind.RELEASE


def test_blacklisted_callers_without_a_bar_rule_are_served() -> None:
    run = FlowRun(make(MENU_FLOW))
    to_menu(run, CallContext(tier="normal", blacklisted=True))


# --- trajectory, robustness ---------------------------------------------------------


def test_trajectory_matches_the_protocol() -> None:
    run = FlowRun(make(MENU_FLOW))
    to_menu(run)
    run.on_dtmf("1", now=T0 + 6)
    steps = run.protocol_trajectory()
    assert [(s.kind, s.node) for s in steps] == [
        (TrajectoryKind.IVR_NODE, "start"),
        (TrajectoryKind.IVR_NODE, "menu"),
        (TrajectoryKind.MENU_CHOICE, "menu"),
        (TrajectoryKind.IVR_NODE, "billing"),
        (TrajectoryKind.QUEUE_ENTER, "q_billing"),
    ]
    assert [s.at for s in steps] == [T0, T0 + 2, T0 + 6, T0 + 6, T0 + 6]
    assert steps[2].detail == "1 → billing"
    assert steps[4].detail == "business_selection=billing tier=normal"
    wire = msgspec.json.encode(steps)
    assert msgspec.json.decode(wire, type=tuple[TrajectoryStep, ...]) == steps


def test_misuse_raises_but_events_after_the_end_are_ignored() -> None:
    run = FlowRun(make(MENU_FLOW))
    with pytest.raises(FlowRunError):
        run.on_dtmf("1", now=T0)
    to_menu(run)
    with pytest.raises(FlowRunError):
        run.start(NORMAL, now=T0)
    run.on_dtmf("1", now=T0)
    assert run.on_dtmf("1", now=T0) == []
    assert run.on_timeout(now=T0) == []
    assert run.on_prompt_done(now=T0) == []
    assert run.on_lookup_result(now=T0, values={}) == []
    assert run.on_caller_hangup(now=T0) == []


def test_caller_hangup_ends_the_run() -> None:
    run = FlowRun(make(MENU_FLOW))
    to_menu(run)
    assert run.on_caller_hangup(now=T0 + 7) == []
    assert run.done and run.caller_hung_up and run.outcome is None
    assert run.trajectory[-1].detail == "caller hung up"


def test_unvalidated_flows_cannot_crash_the_interpreter() -> None:
    dangling = parse_flow(
        {"id": "x", "entry": "a", "nodes": {"a": {"kind": "prompt", "prompts": ["p"]}}}
    )
    run = FlowRun(dangling)
    run.start(NORMAL, now=T0)
    assert run.on_prompt_done(now=T0) == [Hangup(reason="flow_error")]
    missing = parse_flow({"id": "x", "entry": "nope", "nodes": {}})
    assert FlowRun(missing).start(NORMAL, now=T0) == [Hangup(reason="flow_error")]
    loop = parse_flow(
        {
            "id": "x",
            "entry": "a",
            "nodes": {"a": {"kind": "set", "next": "b"}, "b": {"kind": "set", "next": "a"}},
        }
    )
    assert FlowRun(loop, max_silent_hops=50).start(NORMAL, now=T0) == [Hangup(reason="loop_guard")]
