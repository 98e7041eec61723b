"""docs/ivr.md: its example flow is valid and it documents every node kind and action."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from shared.ivr.library import parse_prompt_manifest
from shared.ivr.model import Node, parse_flow
from shared.ivr.run import Action
from shared.ivr.validate import validate

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "ivr.md").read_text(encoding="utf-8")


def tags(union: object) -> set[str]:
    return {str(cls.__struct_config__.tag) for cls in typing.get_args(union)}


def test_the_example_flow_is_valid_against_the_shipped_prompts() -> None:
    example = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert example is not None
    manifest = parse_prompt_manifest((ROOT / "resources/prompts/manifest.json").read_bytes())
    assert validate(parse_flow(example.group(1)), prompt_ids=manifest.ids()) == []


def test_every_node_kind_and_action_is_documented() -> None:
    for kind in tags(Node):
        assert f"| `{kind}`" in DOC, kind
    for action in tags(Action):
        name = "".join(part.title() for part in action.split("_"))
        assert f"`{name}(" in DOC, name
