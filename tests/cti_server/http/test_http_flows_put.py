"""PUT of an IVR flow (R-IVR-5): validated with shared.ivr, stored as the next
immutable version, optionally published (what route responses hand out)."""

from __future__ import annotations

from typing import Any

from tests.cti_server.http.http_support import ADMIN, TEAM_LEAD, Stack


def goodbye(description: str) -> dict[str, Any]:
    return {"entry": "bye", "description": description, "nodes": {"bye": {"kind": "hangup"}}}


def test_put_validates_stores_the_next_version_and_can_publish(stack: Stack) -> None:
    admin = stack.client(ADMIN)
    first = admin.put("/api/v1/ivr-flows/main", json={"document": goodbye("one")})
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["version"], body["published"], body["created_by"]) == (1, False, "9901")
    assert body["document"]["id"] == "main" and body["document"]["version"] == 1
    assert first.headers["location"] == "/api/v1/ivr-flows/main/versions/1"

    second = admin.put(
        "/api/v1/ivr-flows/main",
        json={"document": goodbye("two"), "name": "Main line", "publish": True},
    )
    assert second.status_code == 201, second.text
    assert (second.json()["version"], second.json()["published"]) == (2, True)
    current = admin.get("/api/v1/ivr-flows/main").json()
    assert (current["version"], current["name"]) == (2, "Main line")
    assert current["document"]["description"] == "two"
    versions = admin.get("/api/v1/ivr-flows/main/versions").json()
    assert [(v["version"], v["published"]) for v in versions] == [(1, False), (2, True)]
    audit = admin.get("/api/v1/audit", params={"entity": "ivr_flow"}).json()["items"]
    assert {(a["action"], a["entity_id"]) for a in audit} >= {
        ("create", "main@1"),
        ("create", "main@2"),
        ("publish", "main@2"),
    }


def test_put_refuses_invalid_flows_with_every_problem(stack: Stack) -> None:
    admin = stack.client(ADMIN)
    assert admin.put("/api/v1/ivr-flows/main", json={"document": goodbye("ok")}).status_code == 201
    dangling = {
        "entry": "menu",
        "nodes": {"menu": {"kind": "prompt", "prompts": ["welcome"], "next": "nowhere"}},
    }
    bad = admin.put("/api/v1/ivr-flows/main", json={"document": dangling, "publish": True})
    assert bad.status_code == 422, bad.text
    error = bad.json()["error"]
    assert error["code"] == "invalid_flow"
    assert error["detail"]["field"] == "document"
    codes = {p["code"] for p in error["detail"]["problems"]}
    assert "dangling_reference" in codes
    not_a_flow = admin.put("/api/v1/ivr-flows/main", json={"document": {"start": "x"}})
    assert not_a_flow.status_code == 422
    assert not_a_flow.json()["error"]["detail"]["problems"][0]["code"] == "format"
    other = admin.put("/api/v1/ivr-flows/main", json={"document": {**goodbye("x"), "id": "vip"}})
    assert other.status_code == 422 and other.json()["error"]["detail"]["field"] == "id"
    unknown_field = admin.put("/api/v1/ivr-flows/main", json={"document": {}, "colour": 1})
    assert unknown_field.status_code == 422
    # nothing was stored by the refused requests
    versions = admin.get("/api/v1/ivr-flows/main/versions").json()
    assert [v["version"] for v in versions] == [1]


def test_only_an_admin_may_put(stack: Stack) -> None:
    lead = stack.client(TEAM_LEAD)
    denied = lead.put("/api/v1/ivr-flows/main", json={"document": goodbye("x")})
    assert denied.status_code == 403
    anonymous = stack.client(None).put("/api/v1/ivr-flows/main", json={"document": goodbye("x")})
    assert anonymous.status_code == 401
    assert stack.client(ADMIN).get("/api/v1/ivr-flows/main").status_code == 404
