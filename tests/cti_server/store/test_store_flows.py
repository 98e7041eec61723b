"""IVR flows as versioned, validated data (R-IVR-5): the shipped flows as seed, saves
validated with shared.ivr, and what the switch may fetch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from cti_server.store import ConfigStore, InvalidData, NotFound
from cti_server.store.flows import (
    FlowRejected,
    flow_for_switch,
    save_flow,
    seed_shipped_flows,
)
from shared.ivr import flow_to_dict, load_shipped_flow, parse_flow
from shared.ivr.library import shipped_flow_names

GOODBYE: dict[str, Any] = {
    "id": "default",
    "entry": "bye",
    "nodes": {"bye": {"kind": "hangup"}},
}


@pytest.fixture
def store(make_db: Callable[..., sa.Engine]) -> ConfigStore:
    return ConfigStore(make_db("sqlite"))


def test_shipped_flows_are_seeded_once_as_published_version_1(store: ConfigStore) -> None:
    assert seed_shipped_flows(store) == list(shipped_flow_names())
    rows = store.list_flows()
    assert {(r["id"], r["version"], r["published"]) for r in rows} == {
        (name, 1, True) for name in shipped_flow_names()
    }
    version, published, document = flow_for_switch(store, "default", None)
    assert (version, published) == (1, True)
    assert parse_flow(document) == load_shipped_flow("default")
    # idempotent: a second run (e.g. every server start) adds nothing
    assert seed_shipped_flows(store) == []
    assert len(store.list_flows()) == len(rows)


def test_a_valid_save_is_the_next_version_and_publishing_hands_it_out(
    store: ConfigStore,
) -> None:
    seed_shipped_flows(store)
    saved = save_flow(store, "9901", "default", GOODBYE, name="Goodbye")
    assert (saved.version, saved.published) == (2, False)
    assert flow_for_switch(store, "default", None)[0] == 1  # still version 1 published
    version, published, document = flow_for_switch(store, "default", 2)
    assert (version, published) == (2, False)
    assert document["version"] == 2 and document["id"] == "default"
    store.publish_flow("9901", "default", 2)
    assert flow_for_switch(store, "default", None)[:2] == (2, True)
    # a document without an id is the flow named in the path
    third = save_flow(store, "9901", "default", {**GOODBYE, "id": None}, publish=True)
    assert (third.version, third.published) == (3, True)
    assert flow_for_switch(store, "default", None)[2]["id"] == "default"


def test_an_invalid_flow_is_refused_with_every_problem_and_nothing_stored(
    store: ConfigStore,
) -> None:
    seed_shipped_flows(store)
    before = store.list_flows()
    dangling = {"id": "default", "entry": "menu", "nodes": {"menu": {"kind": "hangup2"}}}
    with pytest.raises(FlowRejected) as bad:
        save_flow(store, "9901", "default", dangling)
    assert bad.value.problems and bad.value.problems[0].code == "format"
    looping = {
        "id": "default",
        "entry": "a",
        "nodes": {"a": {"kind": "prompt", "prompts": ["welcome"], "next": "missing"}},
    }
    with pytest.raises(FlowRejected) as dead:
        save_flow(store, "9901", "default", looping)
    assert any(p.code == "dangling_reference" for p in dead.value.problems)
    with pytest.raises(InvalidData) as other:
        save_flow(store, "9901", "default", {**GOODBYE, "id": "vip"})
    assert other.value.field == "id"
    assert store.list_flows() == before


def test_what_the_switch_cannot_have(store: ConfigStore) -> None:
    """Unknown flow / version → NotFound; a flow without a published version asked for
    its published one → NotFound; a stored document that is not a flow (stored by the
    older unvalidated endpoint) → FlowRejected."""
    with pytest.raises(NotFound):
        flow_for_switch(store, "nope", None)
    seed_shipped_flows(store)
    with pytest.raises(NotFound):
        flow_for_switch(store, "default", 9)
    store.add_flow_version("9901", "draft", "Draft", flow_to_dict(load_shipped_flow("vip")))
    with pytest.raises(NotFound):
        flow_for_switch(store, "draft", None)
    store.add_flow_version("9901", "legacy", "Legacy", {"start": "x", "nodes": {}})
    store.publish_flow("9901", "legacy", 1)
    with pytest.raises(FlowRejected):
        flow_for_switch(store, "legacy", None)
