"""Shipped flows, the prompt catalogue and the designer's simulation (R-IVR-1..5, R-IN-3)."""

from __future__ import annotations

import datetime as dt
import wave
from pathlib import Path

import pytest

from shared.ivr.library import (
    default_flow,
    load_shipped_flow,
    parse_prompt_manifest,
    shipped_flow_names,
)
from shared.ivr.model import flow_to_json, parse_flow
from shared.ivr.run import CallContext, Hangup, Play, Queue, RecordVoicemail, RequestCallback
from shared.ivr.say import NUMBER_PROMPTS
from shared.ivr.simulate import simulate
from shared.ivr.validate import validate

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = ROOT / "resources" / "prompts"
# Tuesday 2026-03-03 10:00 in Shanghai (open) and 22:00 (closed)
OPEN = dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC).timestamp()
CLOSED = dt.datetime(2026, 3, 3, 14, 0, tzinfo=dt.UTC).timestamp()
BALANCE = {"account_balance": {"balance": "1234.5"}}


def manifest_ids() -> frozenset[str]:
    return parse_prompt_manifest((PROMPTS / "manifest.json").read_bytes()).ids()


def test_the_expected_flows_ship() -> None:
    assert set(shipped_flow_names()) >= {"default", "vip", "normal", "survey"}
    with pytest.raises(KeyError):
        load_shipped_flow("nope")


@pytest.mark.parametrize("name", shipped_flow_names())
def test_shipped_flows_validate_against_the_shipped_prompts(name: str) -> None:
    flow = load_shipped_flow(name)
    assert flow.id == name
    assert validate(flow, prompt_ids=manifest_ids()) == []
    assert parse_flow(flow_to_json(flow)) == flow


def test_every_manifest_prompt_is_an_8khz_mono_16bit_wav_in_both_languages() -> None:
    manifest = parse_prompt_manifest((PROMPTS / "manifest.json").read_bytes())
    assert set(NUMBER_PROMPTS) <= manifest.ids()
    total = 0
    for pid in manifest.ids():
        for language in ("en", "zh"):
            path = PROMPTS / language / f"{pid}.wav"
            with wave.open(str(path), "rb") as wav:
                assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
                assert 0.1 < wav.getnframes() / 8000 < 10, path
            total += path.stat().st_size
    assert total < 4_000_000  # 81 ids, 162 files: 3.6 MB
    assert {p.stem for p in PROMPTS.glob("*/*.wav")} == set(manifest.ids())


@pytest.mark.parametrize(
    ("digits", "queue", "selection"),
    [
        ("1", "q_billing", "billing"),
        ("2", "q_broadband", "technical_support"),
        ("3", "q_sales", "sales"),
        ("0", "q_billing", "agent"),
        ("", "q_billing", "agent"),  # silence: still reaches an agent
    ],
)
def test_default_flow_reaches_a_queue_without_the_cti_server(
    digits: str, queue: str, selection: str
) -> None:
    """R-IN-3: with the CTI server down the switch knows nothing but the caller."""
    result = simulate(default_flow(), CallContext(caller="13700137000"), digits, now=OPEN)
    assert isinstance(result.outcome, Queue)
    assert (result.outcome.queue_id, result.outcome.business_selection) == (queue, selection)
    assert result.path[:2] == ("greeting", "main_menu")


def test_normal_flow_balance_self_service() -> None:
    normal = load_shipped_flow("normal")
    context = CallContext(tier="normal", caller="13700137000")
    result = simulate(normal, context, "1 1 123456# 9876#", now=OPEN, lookups=BALANCE)
    assert result.path[:8] == (
        "by_tier",
        "greeting",
        "main_menu",
        "billing_menu",
        "collect_account",
        "collect_pin",
        "lookup_balance",
        "say_balance",
    )
    assert result.variables["account"] == "123456"
    plays = [a for e in result.events for a in e.actions if isinstance(a, Play)]
    read_out = next(p for p in plays if p.prompts[0] == "balance_is")
    # 您的余额为 一千二百三十四元五角
    assert read_out.prompts[1:] == (
        "num_1",
        "num_thousand",
        "num_2",
        "num_hundred",
        "num_3",
        "num_10",
        "num_4",
        "cur_yuan",
        "num_5",
        "cur_jiao",
    )
    assert result.outcome == Hangup(reason="normal")  # silent after the read-out


def test_normal_flow_lookup_failure_returns_to_the_billing_menu() -> None:
    normal = load_shipped_flow("normal")
    result = simulate(
        normal,
        CallContext(tier="normal"),
        "11123456#9876#0",
        now=OPEN,
        lookups={"account_balance": None},
    )
    assert result.path[-3:] == ("lookup_failed", "billing_menu", "queue_billing")
    assert isinstance(result.outcome, Queue)
    assert "pin" not in result.outcome.variables


def test_simulation_shows_the_tier_branch_taken() -> None:
    normal = load_shipped_flow("normal")
    gold = simulate(normal, CallContext(tier="gold"), "3", now=OPEN)
    assert gold.path[:2] == ("by_tier", "greeting_gold")
    assert gold.trajectory[1].detail == "case 1: gold"
    plain = simulate(normal, CallContext(tier="normal"), "3", now=OPEN)
    assert plain.trajectory[1].detail == "default"
    assert isinstance(plain.outcome, Queue) and plain.outcome.tier == "normal"


def test_after_hours_callers_get_callback_or_voicemail() -> None:
    normal = load_shipped_flow("normal")
    callback = simulate(normal, CallContext(tier="normal", caller="13700137000"), "01", now=CLOSED)
    assert "closed_menu" in callback.path
    requests = [a for e in callback.events for a in e.actions if isinstance(a, RequestCallback)]
    assert [r.number for r in requests] == ["13700137000"]
    assert callback.outcome == Hangup(reason="normal")
    voicemail = simulate(normal, CallContext(tier="normal"), "02", now=CLOSED)
    assert isinstance(voicemail.outcome, RecordVoicemail)


def test_vip_flow_skips_the_menu() -> None:
    """R-IVR-3: greeting, then straight to the VIP queue."""
    result = simulate(load_shipped_flow("vip"), CallContext(tier="vip"), "", now=OPEN)
    assert result.path == ("greeting", "main_menu", "vip_queue")
    assert isinstance(result.outcome, Queue)
    assert (result.outcome.tier, result.outcome.business_selection) == ("vip", "vip_service")
    assert not [e for e in result.events if e.event.startswith("timeout")]


@pytest.mark.parametrize("name", ["default", "normal"])
def test_blacklisted_callers_never_reach_an_agent(name: str) -> None:
    context = CallContext(tier="vip", caller="13600136000", blacklisted=True)
    result = simulate(load_shipped_flow(name), context, "0000", now=OPEN)
    assert result.outcome == Hangup(reason="blacklisted")
    assert result.unused_digits == "0000"


def test_survey_flow_records_answers() -> None:
    result = simulate(load_shipped_flow("survey"), CallContext(), "31", now=OPEN)
    assert (result.variables["survey.satisfaction"], result.variables["survey.resolved"]) == (
        "3",
        "1",
    )
    assert result.outcome == Hangup(reason="survey_done")


def test_simulation_script_timeouts_and_bad_characters() -> None:
    result = simulate(default_flow(), CallContext(), ",2", now=OPEN)
    assert isinstance(result.outcome, Queue) and result.outcome.queue_id == "q_broadband"
    assert [e.event for e in result.events].count("timeout") == 1
    with pytest.raises(ValueError, match="digits may hold only"):
        simulate(default_flow(), CallContext(), "1x", now=OPEN)
