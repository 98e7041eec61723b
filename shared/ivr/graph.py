"""The edges of a flow graph: which field of which node leads where."""

from __future__ import annotations

from dataclasses import dataclass

from shared.ivr.model import (
    BranchNode,
    CallbackNode,
    CollectNode,
    LookupNode,
    MenuNode,
    Node,
    PromptNode,
    SayNode,
    SetNode,
    SurveyNode,
)


@dataclass(frozen=True, slots=True)
class Edge:
    field: str
    """The field holding the reference (``options[0].next``, ``on_fail`` …)."""
    target: str | None
    needs_input: bool
    """Taken only after the caller pressed keys (menu choice, accepted collect input)."""
    required: bool
    """A missing target is a dead end."""


def edges(node: Node) -> list[Edge]:
    """Every outgoing reference of ``node`` (terminal nodes have none)."""
    if isinstance(node, MenuNode):
        return [
            *(Edge(f"options[{i}].next", o.next, True, True) for i, o in enumerate(node.options)),
            Edge("on_fail", node.on_fail, False, True),
        ]
    if isinstance(node, CollectNode):
        return [Edge("next", node.next, True, True), Edge("on_fail", node.on_fail, False, True)]
    if isinstance(node, BranchNode):
        return [
            *(Edge(f"cases[{i}].next", c.next, False, True) for i, c in enumerate(node.cases)),
            Edge("default", node.default, False, True),
        ]
    if isinstance(node, LookupNode):
        return [Edge("next", node.next, False, True), Edge("on_error", node.on_error, False, True)]
    if isinstance(node, SayNode):
        return [Edge("next", node.next, False, True), Edge("on_error", node.on_error, False, False)]
    if isinstance(node, PromptNode | SetNode | SurveyNode | CallbackNode):
        return [Edge("next", node.next, False, True)]
    return []
