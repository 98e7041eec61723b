"""Flow validation: each problem class is found, tied to its node and field (R-IVR-5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.ivr.model import FlowFormatError, flow_to_dict, parse_flow
from shared.ivr.validate import (
    FlowInvalid,
    Severity,
    ensure_valid,
    errors,
    validate,
    validate_document,
)


def base() -> dict[str, Any]:
    """A small valid flow: greeting → menu (1 queue, 2 collect → lookup → say) → hangup."""
    return {
        "id": "t",
        "entry": "hello",
        "nodes": {
            "hello": {"kind": "prompt", "prompts": ["welcome"], "next": "menu"},
            "menu": {
                "kind": "menu",
                "prompts": ["main_menu"],
                "options": [
                    {"digit": "1", "next": "queue"},
                    {"digit": "2", "next": "account"},
                ],
                "on_fail": "bye",
            },
            "account": {
                "kind": "collect",
                "prompts": ["enter_account"],
                "variable": "account",
                "pattern": "[0-9]{6}",
                "next": "lookup",
                "on_fail": "bye",
            },
            "lookup": {
                "kind": "lookup",
                "service": "balance",
                "args": {"account": "account"},
                "results": {"balance": "balance"},
                "next": "say",
                "on_error": "menu",
            },
            "say": {"kind": "say", "variable": "balance", "format": "amount", "next": "menu"},
            "queue": {"kind": "queue", "queue": "q_billing", "business_selection": "billing"},
            "bye": {"kind": "hangup", "prompts": ["goodbye"]},
        },
    }


def codes(doc: dict[str, Any], **kwargs: Any) -> set[tuple[str, str | None, str]]:
    problems = validate(parse_flow(doc), **kwargs)
    return {(p.code, p.node, p.field) for p in problems}


def test_the_base_flow_is_clean() -> None:
    assert validate(parse_flow(base())) == []


def test_missing_entry() -> None:
    doc = base()
    doc["entry"] = "nowhere"
    assert ("entry_missing", None, "entry") in codes(doc)


def test_dangling_reference_names_node_and_field() -> None:
    doc = base()
    doc["nodes"]["menu"]["options"][1]["next"] = "ghost"
    found = validate(parse_flow(doc))
    [problem] = [p for p in found if p.code == "dangling_reference"]
    assert (problem.node, problem.field) == ("menu", "options[1].next")
    assert "ghost" in problem.message
    assert problem.severity is Severity.ERROR


def test_dead_end_when_a_required_next_is_missing() -> None:
    doc = base()
    del doc["nodes"]["hello"]["next"]
    assert ("dead_end", "hello", "next") in codes(doc)
    doc = base()
    del doc["nodes"]["menu"]["on_fail"]
    assert ("dead_end", "menu", "on_fail") in codes(doc)


def test_no_exit_when_a_region_cannot_reach_a_terminal() -> None:
    doc = base()
    # option 2 leads into a loop that has input but never ends anywhere
    doc["nodes"]["menu2"] = {
        "kind": "menu",
        "prompts": ["main_menu"],
        "options": [{"digit": "1", "next": "menu2b"}],
        "on_fail": "menu2b",
    }
    doc["nodes"]["menu2b"] = {
        "kind": "menu",
        "prompts": ["main_menu"],
        "options": [{"digit": "1", "next": "menu2"}],
        "on_fail": "menu2c",
    }
    doc["nodes"]["menu2c"] = {"kind": "prompt", "prompts": ["x"], "next": "menu2"}
    doc["nodes"]["menu"]["options"][1]["next"] = "menu2"
    found = codes(doc)
    assert ("no_exit", "menu2", "id") in found
    assert ("no_exit", "menu2b", "id") in found


def test_unreachable_nodes_are_warnings() -> None:
    doc = base()
    doc["nodes"]["orphan"] = {"kind": "hangup"}
    found = validate(parse_flow(doc))
    assert [(p.code, p.node, p.severity) for p in found] == [
        ("unreachable", "orphan", Severity.WARNING)
    ]
    assert errors(found) == []


def test_menu_options_must_be_unique_valid_keys() -> None:
    doc = base()
    doc["nodes"]["menu"]["options"].append({"digit": "1", "next": "bye"})
    doc["nodes"]["menu"]["options"].append({"digit": "12", "next": "bye"})
    doc["nodes"]["menu"]["options"].append({"digit": "x", "next": "bye"})
    found = codes(doc)
    assert ("menu_duplicate_digit", "menu", "options[2].digit") in found
    assert ("menu_bad_digit", "menu", "options[3].digit") in found
    assert ("menu_bad_digit", "menu", "options[4].digit") in found


def test_menu_without_options() -> None:
    doc = base()
    doc["nodes"]["menu"]["options"] = []
    assert ("menu_no_options", "menu", "options") in codes(doc)


@pytest.mark.parametrize(
    ("node", "field", "value", "code"),
    [
        ("menu", "timeout", 0, "bad_timeout"),
        ("menu", "timeout", 3600, "bad_timeout"),
        ("menu", "retries", -1, "bad_retries"),
        ("menu", "retries", 50, "bad_retries"),
        ("account", "inter_digit_timeout", -2, "bad_timeout"),
        ("account", "max_length", 0, "bad_length"),
        ("account", "max_length", 200, "bad_length"),
        ("account", "terminator", "##", "bad_terminator"),
        ("account", "pattern", "[0-9", "bad_pattern"),
        ("account", "variable", "1bad name", "bad_variable"),
        ("lookup", "timeout", 0, "bad_timeout"),
        ("queue", "priority", 5000, "bad_value"),
    ],
)
def test_values_out_of_range(node: str, field: str, value: Any, code: str) -> None:
    doc = base()
    doc["nodes"][node][field] = value
    assert code in {c for c, n, _f in codes(doc) if n == node}


def test_missing_prompts_against_the_catalogue() -> None:
    catalogue = {"welcome", "main_menu", "enter_account"}
    found = codes(base(), prompt_ids=catalogue)
    assert ("prompt_missing", "bye", "prompts") in found
    # say nodes need the digit and unit prompts of the flow's language
    assert ("prompt_missing", "say", "format") in found
    assert all(code != "prompt_missing" or node in ("bye", "say") for code, node, _ in found)


def test_prompt_ids_must_be_safe_file_names() -> None:
    doc = base()
    doc["nodes"]["hello"]["prompts"] = ["../../etc/passwd"]
    assert ("bad_prompt_id", "hello", "prompts") in codes(doc)


def test_branch_needs_a_default_and_valid_conditions() -> None:
    doc = base()
    doc["nodes"]["hello"]["next"] = "route"
    doc["nodes"]["route"] = {
        "kind": "branch",
        "cases": [
            {"when": [{"kind": "tier", "tiers": ["vip"]}], "next": "queue"},
            {
                "when": [
                    {
                        "kind": "schedule",
                        "tz": "Mars/Olympus",
                        "weekly": {"mon": [["09:00", "25:00"]], "funday": []},
                        "holidays": ["2026-13-01"],
                    }
                ],
                "next": "menu",
            },
            {"when": [{"kind": "caller_prefix", "prefixes": ["13x"]}], "next": "menu"},
        ],
    }
    found = codes(doc)
    assert ("no_default", "route", "default") in found
    bad = {field for code, node, field in found if code == "bad_schedule"}
    assert bad == {
        "cases[1].when.tz",
        "cases[1].when.weekly.mon",
        "cases[1].when.weekly.funday",
        "cases[1].when.holidays",
    }
    assert ("bad_condition", "route", "cases[2].when") in found


def test_loop_without_caller_input_is_an_error() -> None:
    doc = base()
    # menu on_fail → prompt → menu: a silent caller would loop for ever
    doc["nodes"]["again"] = {"kind": "prompt", "prompts": ["welcome"], "next": "menu"}
    doc["nodes"]["menu"]["on_fail"] = "again"
    found = validate(parse_flow(doc))
    [loop] = [p for p in found if p.code == "silent_loop"]
    assert "menu" in loop.message and "again" in loop.message


def test_loops_through_caller_input_are_allowed() -> None:
    # base() has say → menu → (key 2) → collect → lookup → say: each lap needs keys
    assert not [p for p in validate(parse_flow(base())) if p.code == "silent_loop"]


def test_skip_menu_target_must_hand_to_a_human() -> None:
    doc = base()
    doc["skip_menu"] = {"tiers": ["vip"], "target": "bye"}
    assert ("bad_target", None, "skip_menu.target") in codes(doc)
    doc["skip_menu"] = {"tiers": ["vip"], "target": "nope"}
    assert ("dangling_reference", None, "skip_menu.target") in codes(doc)
    doc["skip_menu"] = {"tiers": ["vip"], "target": "queue"}
    assert codes(doc) == set()


def test_handoff_nodes_need_a_destination() -> None:
    doc = base()
    doc["nodes"]["queue"] = {"kind": "queue"}
    doc["nodes"]["menu"]["options"].append({"digit": "3", "next": "xfer"})
    doc["nodes"]["xfer"] = {"kind": "transfer", "target": {"agent_id": "1001", "number": "110"}}
    found = codes(doc)
    assert ("no_queue", "queue", "queue") in found
    assert ("bad_target", "xfer", "target") in found


def test_survey_questions() -> None:
    doc = base()
    doc["nodes"]["menu"]["options"].append({"digit": "9", "next": "survey"})
    doc["nodes"]["survey"] = {
        "kind": "survey",
        "questions": [
            {"id": "q", "prompts": ["x"], "digits": "12"},
            {"id": "q", "prompts": [], "digits": "1!"},
        ],
        "next": "bye",
    }
    found = codes(doc)
    assert ("duplicate_question", "survey", "questions[1].id") in found
    assert ("no_prompts", "survey", "questions[1].prompts") in found
    assert ("bad_answers", "survey", "questions[1].digits") in found


def test_unknown_variables_are_warnings() -> None:
    doc = base()
    doc["nodes"]["say"]["variable"] = "balanse"
    found = validate(parse_flow(doc))
    [warning] = [p for p in found if p.code == "unknown_variable"]
    assert warning.severity is Severity.WARNING and warning.node == "say"


def test_ensure_valid_raises_with_all_errors() -> None:
    doc = base()
    doc["entry"] = "x"
    doc["nodes"]["menu"]["timeout"] = 0
    with pytest.raises(FlowInvalid) as info:
        ensure_valid(parse_flow(doc))
    assert {p.code for p in info.value.problems} == {"entry_missing", "bad_timeout"}


def test_document_shape_errors_are_typed() -> None:
    doc = base()
    doc["nodes"]["menu"]["timout"] = 5  # typo
    with pytest.raises(FlowFormatError) as info:
        parse_flow(doc)
    assert info.value.path == "$.nodes.menu"
    flow, problems = validate_document(b"{not json")
    assert flow is None and problems[0].code == "format"
    flow, problems = validate_document({"id": "x", "entry": "a", "nodes": {"a": {"kind": "?"}}})
    assert flow is None and problems[0].field == "$.nodes.a.kind"


def test_round_trip_keeps_the_flow() -> None:
    flow = parse_flow(base())
    again = parse_flow(flow_to_dict(flow))
    assert again == flow
    assert copy.deepcopy(flow_to_dict(flow)) == flow_to_dict(again)
