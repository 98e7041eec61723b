"""Random valid flows fed random events never raise, and a caller who stops pressing
keys always reaches a terminal action within a bounded number of events (R-IVR-3/5)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.ivr.model import Flow, parse_flow
from shared.ivr.run import (
    MAX_TYPE_AHEAD,
    TERMINAL_ACTIONS,
    Action,
    CallContext,
    FlowRun,
    Hangup,
    Queue,
    Transfer,
    Waiting,
)
from shared.ivr.validate import errors, validate

KEYS = "0123456789*#"
NON_TERMINAL = ["prompt", "menu", "collect", "branch", "set", "lookup", "say", "survey", "callback"]
TERMINAL = ["queue", "transfer", "voicemail", "hangup"]
CONDITIONS: list[dict[str, Any]] = [
    {"kind": "tier", "tiers": ["vip"]},
    {"kind": "caller_prefix", "prefixes": ["138"]},
    {"kind": "variable", "name": "acct", "op": "set"},
    {"kind": "variable", "name": "balance", "op": "lt", "value": "100"},
    {"kind": "blacklisted"},
    {
        "kind": "schedule",
        "tz": "Asia/Shanghai",
        "weekly": {"mon": [["08:00", "20:00"]], "sat": [["00:00", "24:00"]]},
    },
]


@st.composite
def flows(draw: st.DrawFn) -> tuple[Flow, int]:
    """A valid flow (silent edges point forward) and a bound on silent-caller events."""
    n = draw(st.integers(2, 9))
    kinds = [draw(st.sampled_from(NON_TERMINAL + TERMINAL)) for _ in range(n - 1)]
    kinds.append(draw(st.sampled_from(TERMINAL)))
    ids = [f"n{i}" for i in range(n)]

    def later(i: int) -> str:
        return ids[draw(st.integers(i + 1, n - 1))]

    def anywhere() -> str:
        return ids[draw(st.integers(0, n - 1))]

    def prompts() -> list[str]:
        return draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2))

    nodes: dict[str, Any] = {}
    cost = 4  # start, blacklist bar
    for i, kind in enumerate(kinds):
        retries = draw(st.integers(0, 3))
        barge = draw(st.booleans())
        node: dict[str, Any] = {"kind": kind}
        if kind == "prompt":
            node |= {"prompts": prompts(), "barge_in": barge, "next": later(i)}
        elif kind == "menu":
            keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True))
            node |= {
                "prompts": prompts(),
                "options": [{"digit": k, "next": anywhere()} for k in keys],
                "retries": retries,
                "timeout": 3,
                "invalid_prompts": ["inv"],
                "barge_in": barge,
                "on_fail": later(i),
            }
        elif kind == "collect":
            low = draw(st.integers(1, 4))
            node |= {
                "prompts": prompts(),
                "variable": draw(st.sampled_from(["acct", "pin"])),
                "min_length": low,
                "max_length": low + draw(st.integers(0, 4)),
                "terminator": draw(st.sampled_from(["#", "*", None])),
                "pattern": draw(st.sampled_from([None, "[0-9]+", "1.*"])),
                "retries": retries,
                "barge_in": barge,
                "next": anywhere(),
                "on_fail": later(i),
            }
        elif kind == "branch":
            cases = draw(st.lists(st.sampled_from(CONDITIONS), max_size=3))
            node |= {
                "cases": [{"when": [c], "next": later(i)} for c in cases],
                "default": later(i),
            }
        elif kind == "set":
            node |= {"business_selection": "b", "variables": {"balance": "42"}, "next": later(i)}
        elif kind == "lookup":
            node |= {
                "service": "balance",
                "args": {"account": "acct"},
                "results": {"balance": "balance"},
                "next": later(i),
                "on_error": later(i),
            }
        elif kind == "say":
            node |= {
                "variable": draw(st.sampled_from(["balance", "acct", "missing"])),
                "format": draw(st.sampled_from(["number", "amount", "digits"])),
                "barge_in": barge,
                "next": later(i),
            }
        elif kind == "survey":
            count = draw(st.integers(1, 3))
            node |= {
                "questions": [
                    {"id": f"q{j}", "prompts": ["q"], "digits": "12"} for j in range(count)
                ],
                "retries": retries,
                "next": later(i),
            }
            cost += count * 2 * (retries + 2)
        elif kind == "callback":
            node |= {"prompts": draw(st.lists(st.just("cb"), max_size=1)), "next": later(i)}
        elif kind == "queue":
            node |= {"queue": "q", "prompts": draw(st.lists(st.just("hold"), max_size=1))}
        elif kind == "transfer":
            node |= {"target": draw(st.sampled_from([{"agent_id": "1001"}, {"number": "123"}]))}
        elif kind == "voicemail":
            node |= {"mailbox": "m", "prompts": ["beep"]}
        else:
            node |= {"prompts": draw(st.lists(st.just("bye"), max_size=1))}
        cost += 2 * (retries + 2) + 2
        nodes[ids[i]] = node
    nodes["skip"] = {"kind": "queue", "queue": "vipq"}
    doc: dict[str, Any] = {"id": "random", "entry": "n0", "nodes": nodes}
    if draw(st.booleans()):
        doc["skip_menu"] = {"tiers": ["vip"], "target": "skip"}
    if draw(st.booleans()):
        doc["bar_blacklisted"] = {"prompts": ["barred"]}
    flow = parse_flow(doc)
    return flow, cost * (MAX_TYPE_AHEAD + 2)


EVENTS = st.one_of(
    st.tuples(st.just("done"), st.none()),
    st.tuples(st.just("dtmf"), st.sampled_from(KEYS + "AZ")),
    st.tuples(st.just("timeout"), st.none()),
    st.tuples(st.just("stale"), st.integers(-1, 5)),
    st.tuples(st.just("lookup_ok"), st.sampled_from(["12.5", "abc", "-3"])),
    st.tuples(st.just("lookup_err"), st.none()),
    st.tuples(st.just("lookup_partial"), st.none()),
)
CONTEXTS = st.builds(
    CallContext,
    tier=st.sampled_from([None, "vip", "normal"]),
    caller=st.sampled_from([None, "13800138000", "0755123"]),
    blacklisted=st.booleans(),
    skip_ivr=st.booleans(),
    variables=st.sampled_from([{}, {"acct": "123456"}]),
    language=st.sampled_from([None, "en", "zh"]),
)


def feed(run: FlowRun, event: tuple[str, Any], now: float) -> list[Action]:
    kind, arg = event
    if kind == "done":
        return run.on_prompt_done(now=now)
    if kind == "dtmf":
        return run.on_dtmf(arg, now=now)
    if kind == "timeout":
        return run.on_timeout(now=now)
    if kind == "stale":
        return run.on_timeout(now=now, timer_id=arg) + run.on_prompt_done(now=now, play_id=arg)
    if kind == "lookup_ok":
        return run.on_lookup_result(now=now, values={"balance": arg})
    if kind == "lookup_partial":
        return run.on_lookup_result(now=now, values={})
    return run.on_lookup_result(now=now, error="down")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow_and_bound=flows(), context=CONTEXTS, events=st.lists(EVENTS, max_size=40))
def test_random_events_never_raise_and_silence_always_ends_the_flow(
    flow_and_bound: tuple[Flow, int], context: CallContext, events: list[tuple[str, Any]]
) -> None:
    flow, bound = flow_and_bound
    assert errors(validate(flow)) == [], validate(flow)
    run = FlowRun(flow)
    now = 1_772_000_000.0
    emitted: list[Action] = list(run.start(context, now=now))
    for event in events:
        now += 1
        emitted += feed(run, event, now)
    # the caller stops pressing keys: prompts end, timers lapse, look-ups time out
    silent_events = 0
    while not run.done:
        now += 1
        silent_events += 1
        assert silent_events <= bound, (run.node_id, run.waiting)
        if run.waiting is Waiting.PROMPT:
            emitted += run.on_prompt_done(now=now)
        else:
            emitted += run.on_timeout(now=now)
    terminal = [a for a in emitted if isinstance(a, TERMINAL_ACTIONS)]
    assert len(terminal) == 1 and emitted[-1] is terminal[0] == run.outcome
    assert run.trajectory and all(s.at >= 1_772_000_000.0 for s in run.trajectory)
    if context.blacklisted and flow.bar_blacklisted is not None:
        # R-IVR-3: a barred caller never reaches a human
        assert run.outcome == Hangup(reason="blacklisted")
        assert not [a for a in emitted if isinstance(a, Queue | Transfer)]
    for event in events[:5]:
        assert feed(run, event, now) == []
