"""Configuration CRUD through the REST admin API, with audit rows (R-SEC-1, R-TIER-3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cti_server.http import HttpSettings
from tests.cti_server.http.http_support import ADMIN, Stack

# collection path, audit entity, create body, patch body
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "/api/v1/tiers",
        "tier",
        {"id": "platinum", "name": "白金", "sl_seconds": 8, "sl_target": 0.95},
        {"sl_seconds": 12.5, "priority_weight": 4},
    ),
    ("/api/v1/skills", "skill", {"id": "claims", "name": "Claims"}, {"name": "理赔"}),
    (
        "/api/v1/agents",
        "agent",
        {"id": "2001", "name": "New Agent", "password": "s3cret-pass", "role": "agent"},
        {"role": "team_lead", "order_key": 7},
    ),
    (
        "/api/v1/agent-groups",
        "agent_group",
        {"id": "night", "name": "Night shift"},
        {"name": "夜班"},
    ),
    (
        "/api/v1/queues",
        "queue",
        {
            "id": "q_claims",
            "name": "Claims",
            "skill_id": "billing",
            "overflow": [{"after": 30, "widen_to_level": 2}],
            "max_wait": 120,
        },
        {"max_wait": None, "max_wait_action": "overflow:q_sales", "agent_order": "round_robin"},
    ),
    (
        "/api/v1/reason-codes",
        "reason_code",
        {"id": "coaching", "label": "Coaching"},
        {"paid": False},
    ),
    (
        "/api/v1/calendars",
        "calendar",
        {"id": "weekend", "name": "Weekend", "tz": "Asia/Shanghai"},
        {"weekly": {"sat": [["09:00", "17:00"]]}, "holidays": ["2026-10-01"]},
    ),
]


@pytest.mark.parametrize(("path", "entity", "create", "patch"), CASES, ids=[c[1] for c in CASES])
def test_crud_round_trip_is_audited(
    stack: Stack, path: str, entity: str, create: dict[str, Any], patch: dict[str, Any]
) -> None:
    """Create, read, list, change and delete; every change leaves an audit row with the
    authenticated user as actor and before/after (R-SEC-1)."""
    admin = stack.client(ADMIN)
    entity_id = create["id"]
    created = admin.post(path, json=create)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{path}/{entity_id}"
    assert "password" not in created.json()
    assert admin.get(f"{path}/{entity_id}").json() == created.json()

    listed = admin.get(path, params={"limit": 500}).json()
    assert entity_id in [item["id"] for item in listed["items"]]
    assert listed["total"] == len(listed["items"])

    changed = admin.patch(f"{path}/{entity_id}", json=patch)
    assert changed.status_code == 200, changed.text
    for key, value in patch.items():
        assert changed.json()[key] == value

    assert admin.delete(f"{path}/{entity_id}").status_code == 204
    assert admin.get(f"{path}/{entity_id}").status_code == 404

    audit = admin.get("/api/v1/audit", params={"entity": entity, "entity_id": entity_id}).json()
    assert [e["action"] for e in audit["items"]] == ["delete", "update", "create"]
    assert audit["total"] == 3
    assert {e["actor"] for e in audit["items"]} == {"9901"}
    delete, update, create_row = audit["items"]
    assert create_row["before"] is None and create_row["after"]["id"] == entity_id
    for key, value in patch.items():
        assert update["after"][key] == value
        assert update["before"][key] != value
    assert delete["after"] is None and delete["before"]["id"] == entity_id
    assert "password_hash" not in str(audit)


def test_crud_on_postgresql_too(any_stack: Stack) -> None:
    """The same API on each backend: create, 409 duplicate, change, audit, 409 in use."""
    admin = any_stack.client(ADMIN)
    body = {"id": "platinum", "name": "Platinum", "sl_seconds": 8, "sl_target": 0.95}
    assert admin.post("/api/v1/tiers", json=body).status_code == 201
    duplicate = admin.post("/api/v1/tiers", json=body)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "conflict"
    assert admin.patch("/api/v1/tiers/platinum", json={"skip_ivr": True}).json()["skip_ivr"]
    in_use = admin.delete("/api/v1/skills/billing")  # queues and agents use it
    assert in_use.status_code == 409
    assert admin.get("/api/v1/skills/billing").status_code == 200
    audit = admin.get("/api/v1/audit", params={"entity": "tier", "actor": "9901"}).json()
    assert [e["action"] for e in audit["items"]] == ["update", "create"]


TIER = {"id": "t", "name": "T", "sl_seconds": 10, "sl_target": 0.5}
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("/api/v1/tiers", {**TIER, "sl_target": 1.5}, "sl_target"),
    ("/api/v1/tiers", {"id": "t", "name": "T", "sl_target": 0.5}, "sl_seconds"),
    ("/api/v1/tiers", {**TIER, "sl_seconds": "ten"}, "sl_seconds"),
    ("/api/v1/tiers", {**TIER, "x": 1}, "x"),
    ("/api/v1/skills", {"id": "bad id!", "name": "X"}, "id"),
    ("/api/v1/agents", {"id": "3", "name": "A", "password": "longenough", "role": "boss"}, "role"),
    (
        "/api/v1/queues",
        {"id": "q", "name": "Q", "skill_id": "billing", "overflow": [{"after": -1}]},
        "overflow[0].after",
    ),
    (
        "/api/v1/calendars",
        {"id": "c", "name": "C", "weekly": {"mon": [["9:00", "18:00"]]}},
        "weekly[...][0][0]",
    ),
    ("/api/v1/calendars", {"id": "c", "name": "C", "holidays": ["2026-13-01"]}, "holidays[0]"),
]


@pytest.mark.parametrize(("path", "body", "field"), INVALID)
def test_invalid_bodies_get_422_naming_the_field(
    stack: Stack, path: str, body: dict[str, Any], field: str
) -> None:
    answer = stack.client(ADMIN).post(path, json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert error["detail"] == {"in": "body", "field": field}
    assert "Traceback" not in answer.text


def test_store_validation_errors_also_name_the_field(stack: Stack) -> None:
    """Checks only the store can make (a real time zone) come back as 422 with the field."""
    answer = stack.client(ADMIN).post(
        "/api/v1/calendars", json={"id": "c", "name": "C", "tz": "Mars/Olympus"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_data"
    assert answer.json()["error"]["detail"]["field"] == "tz"


def test_unknown_ids_references_and_bad_json(stack: Stack) -> None:
    admin = stack.client(ADMIN)
    for method, path in [
        ("GET", "/api/v1/queues/nope"),
        ("PATCH", "/api/v1/queues/nope"),
        ("DELETE", "/api/v1/queues/nope"),
        ("PUT", "/api/v1/agents/nope/skills"),
        ("PUT", "/api/v1/agent-groups/nope/members"),
    ]:
        body: dict[str, Any] = (
            {"skills": {}} if "skills" in path else {"agents": []} if "members" in path else {}
        )
        answer = admin.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    dangling = admin.post(
        "/api/v1/queues", json={"id": "q_x", "name": "X", "skill_id": "no_such_skill"}
    )
    assert dangling.status_code == 409
    malformed = admin.post(
        "/api/v1/skills", content=b'{"id": "x", ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    assert admin.get("/api/v1/no-such-thing").json()["error"]["code"] == "not_found"
    not_allowed = admin.put("/api/v1/tiers", json={})
    assert not_allowed.status_code == 405
    assert not_allowed.json()["error"]["code"] == "method_not_allowed"


def test_agent_skills_and_group_membership(stack: Stack) -> None:
    """R-SKILL-2/3: skills with levels per agent, group members and the tiers they serve."""
    admin = stack.client(ADMIN)
    agent = admin.put("/api/v1/agents/1003/skills", json={"skills": {"sales": 1, "billing": 3}})
    assert agent.status_code == 200
    assert agent.json()["skills"] == {"sales": 1, "billing": 3}
    bad_level = admin.put("/api/v1/agents/1003/skills", json={"skills": {"sales": 0}})
    assert bad_level.status_code == 422
    unknown_skill = admin.put("/api/v1/agents/1003/skills", json={"skills": {"nope": 1}})
    assert unknown_skill.status_code == 409
    assert admin.get("/api/v1/agents/1003").json()["skills"] == {"sales": 1, "billing": 3}

    assert admin.post("/api/v1/agent-groups", json={"id": "night", "name": "N"}).status_code == 201
    group = admin.put("/api/v1/agent-groups/night/members", json={"agents": ["1003", "1001"]})
    assert group.json()["members"] == ["1001", "1003"]
    group = admin.put("/api/v1/agent-groups/night/tiers", json={"tiers": ["vip"]})
    assert group.json() == {
        "id": "night",
        "name": "N",
        "members": ["1001", "1003"],
        "tiers": ["vip"],
    }
    assert "night" in admin.get("/api/v1/agents/1003").json()["groups"]

    audit = admin.get("/api/v1/audit", params={"entity": "agent", "entity_id": "1003"}).json()
    latest = audit["items"][0]
    assert latest["actor"] == "9901"
    assert latest["after"] == {"skills": {"sales": 1, "billing": 3}}


def test_paging_reports_totals(stack: Stack) -> None:
    admin = stack.client(ADMIN)
    first = admin.get("/api/v1/agents", params={"limit": 5}).json()
    second = admin.get("/api/v1/agents", params={"limit": 5, "offset": 5}).json()
    assert first["total"] == second["total"] == 12
    assert len(first["items"]) == 5
    assert not {a["id"] for a in first["items"]} & {a["id"] for a in second["items"]}
    too_big = admin.get("/api/v1/agents", params={"limit": 100_000})
    assert too_big.status_code == 422
    assert too_big.json()["error"]["detail"] == {"in": "query", "field": "limit"}
    typo = admin.get("/api/v1/agents", params={"limt": 5})
    assert typo.status_code == 422
    assert typo.json()["error"]["detail"]["field"] == "limt"


def test_audit_log_filters_and_paging(stack: Stack) -> None:
    admin = stack.client(ADMIN)
    for n in range(4):
        admin.post("/api/v1/skills", json={"id": f"s{n}", "name": f"S{n}"})
    page = admin.get("/api/v1/audit", params={"entity": "skill", "limit": 3}).json()
    assert page["total"] == 4 and len(page["items"]) == 3
    assert page["items"][0]["entity_id"] == "s3"  # newest first
    rest = admin.get("/api/v1/audit", params={"entity": "skill", "limit": 3, "offset": 3}).json()
    assert [e["entity_id"] for e in rest["items"]] == ["s0"]
    since = page["items"][0]["at"]
    recent = admin.get("/api/v1/audit", params={"entity": "skill", "since": since}).json()
    assert [e["entity_id"] for e in recent["items"]] == ["s3"]
    none = admin.get("/api/v1/audit", params={"entity": "skill", "until": "2000-01-01T00:00:00Z"})
    assert none.json()["total"] == 0
    assert admin.get("/api/v1/audit", params={"since": "yesterday"}).status_code == 422


def test_oversized_json_bodies_are_refused(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(settings=HttpSettings(max_body_bytes=1024))
    admin = stack.client(ADMIN)
    big = {"name": "Main", "document": {"prompt": "x" * 2000}}
    answer = admin.post("/api/v1/ivr-flows/main/versions", json=big)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"
    assert admin.get("/api/v1/ivr-flows/main").status_code == 404
