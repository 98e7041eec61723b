"""The switch's built-in flows: callback confirmation and queue-overflow targets (R-IVR-4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.ivr.library import (
    builtin_flows,
    callback_confirm_flow,
    overflow_hangup_flow,
    overflow_voicemail_flow,
    parse_prompt_manifest,
)
from shared.ivr.model import Language
from shared.ivr.run import CallContext, Hangup, Play, RecordVoicemail, RequestCallback
from shared.ivr.simulate import Simulation, simulate
from shared.ivr.validate import validate

PROMPTS = Path(__file__).resolve().parents[3] / "resources" / "prompts"
NOW = 1_780_000_000.0


def callbacks(sim: Simulation) -> list[RequestCallback]:
    return [a for e in sim.events for a in e.actions if isinstance(a, RequestCallback)]


def played(sim: Simulation) -> list[str]:
    return [p for e in sim.events for a in e.actions if isinstance(a, Play) for p in a.prompts]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_builtin_flows_validate_against_the_shipped_prompts(language: Language) -> None:
    ids = parse_prompt_manifest((PROMPTS / "manifest.json").read_bytes()).ids()
    flows = {
        "callback": callback_confirm_flow("q_billing", language, intro=("agents_busy",)),
        "voicemail": overflow_voicemail_flow("after_hours", language),
        "hangup": overflow_hangup_flow(language),
        **builtin_flows(),
    }
    for name, flow in flows.items():
        assert validate(flow, prompt_ids=ids) == [], name


@pytest.mark.parametrize(
    ("keys", "number", "why"),
    [
        ("1", "13912345678", "confirmed"),
        ("2 13800138000#", "13800138000", "another number"),
        ("7 9 *", "13912345678", "three invalid keys: the caller's number"),
        ("", "13912345678", "silence: the caller's number"),
        ("2 12#, 34#, 5#", "13912345678", "another number never valid: the caller's"),
    ],
)
def test_callback_confirmation_reads_back_and_registers(keys: str, number: str, why: str) -> None:
    """R-IVR-4: the caller's number read back digit by digit, 1 = yes, 2 = key another;
    bad keys are retried twice, then the caller's own number is used; then the
    confirmation, goodbye, hang up."""
    flow = callback_confirm_flow("q_billing", "en")
    sim = simulate(flow, CallContext(tier="gold", caller="13912345678"), keys, now=NOW)
    [request] = callbacks(sim)
    assert (request.number, request.queue_id, request.business_selection) == (
        number,
        "q_billing",
        "callback",
    ), why
    assert request.tier == "gold"
    assert isinstance(sim.outcome, Hangup)
    prompts = played(sim)
    assert prompts[:3] == ["callback_number_is", "num_1", "num_3"]
    assert prompts[-2:] == ["callback_confirm", "goodbye"]


def test_callback_confirmation_reads_chinese_digits_and_asks_anonymous_callers() -> None:
    sim = simulate(callback_confirm_flow(None, "zh"), CallContext(caller="110"), "1", now=NOW)
    assert played(sim)[:4] == ["callback_number_is", "num_yao", "num_yao", "num_0"]
    anonymous = simulate(callback_confirm_flow(), CallContext(), "13800138000#", now=NOW)
    assert anonymous.path[:2] == ("cb_say", "cb_enter")
    assert [c.number for c in callbacks(anonymous)] == ["13800138000"]


def test_overflow_flows_end_in_voicemail_or_a_polite_hangup() -> None:
    vm = simulate(overflow_voicemail_flow("after_hours", "en"), CallContext(), now=NOW)
    assert isinstance(vm.outcome, RecordVoicemail) and vm.outcome.mailbox == "after_hours"
    assert played(vm) == ["agents_busy", "leave_message", "beep"]
    bye = simulate(overflow_hangup_flow("zh"), CallContext(), now=NOW)
    assert bye.outcome == Hangup(reason="queue overflow")
    assert played(bye) == ["agents_busy", "call_again_later"]
