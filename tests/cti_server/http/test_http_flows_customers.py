"""IVR flow versions (R-IVR-5) and customer browsing/editing (R-TIER-3)."""

from __future__ import annotations

from tests.cti_server.http.http_support import ADMIN, TEAM_LEAD, Stack

FLOW_V1 = {"start": "greet", "nodes": {"greet": {"type": "play", "prompt": "welcome"}}}
FLOW_V2 = {"start": "menu", "nodes": {"menu": {"type": "menu", "options": {"1": "agent"}}}}


def test_flow_versions_are_immutable_and_publishing_rolls_back(stack: Stack) -> None:
    admin = stack.client(ADMIN)
    v1 = admin.post("/api/v1/ivr-flows/main/versions", json={"name": "Main", "document": FLOW_V1})
    assert v1.status_code == 201, v1.text
    assert v1.json()["version"] == 1 and v1.json()["published"] is False
    assert v1.headers["location"] == "/api/v1/ivr-flows/main/versions/1"
    v2 = admin.post("/api/v1/ivr-flows/main/versions", json={"name": "Main", "document": FLOW_V2})
    assert v2.json()["version"] == 2

    # no published version yet: the current one is the latest
    assert admin.get("/api/v1/ivr-flows/main").json()["version"] == 2
    published = admin.post("/api/v1/ivr-flows/main/publish", json={"version": 2})
    assert published.status_code == 200 and published.json()["published"] is True
    rollback = admin.post("/api/v1/ivr-flows/main/publish", json={"version": 1})
    assert rollback.json()["version"] == 1
    current = admin.get("/api/v1/ivr-flows/main").json()
    assert current["version"] == 1 and current["document"] == FLOW_V1
    versions = admin.get("/api/v1/ivr-flows/main/versions").json()
    assert [(v["version"], v["published"]) for v in versions] == [(1, True), (2, False)]
    summary = admin.get("/api/v1/ivr-flows").json()
    assert summary["items"] == [
        {"id": "main", "name": "Main", "latest_version": 2, "published_version": 1, "versions": 2}
    ]

    # versions are immutable: no way to change one through the API
    assert admin.put("/api/v1/ivr-flows/main/versions/1", json=FLOW_V2).status_code == 405
    assert admin.patch("/api/v1/ivr-flows/main/versions/1", json={}).status_code == 405
    assert admin.get("/api/v1/ivr-flows/main/versions/1").json()["document"] == FLOW_V1

    assert admin.post("/api/v1/ivr-flows/main/publish", json={"version": 9}).status_code == 404
    assert admin.get("/api/v1/ivr-flows/main/versions/9").status_code == 404
    assert admin.get("/api/v1/ivr-flows/nope/versions").status_code == 404
    assert admin.get("/api/v1/ivr-flows/main/versions/one").status_code == 404
    not_object = admin.post("/api/v1/ivr-flows/main/versions", json={"name": "M", "document": []})
    assert not_object.status_code == 422
    assert not_object.json()["error"]["detail"]["field"] == "document"
    lead = stack.client(TEAM_LEAD)
    assert lead.get("/api/v1/ivr-flows/main").status_code == 200
    assert lead.post("/api/v1/ivr-flows/main/publish", json={"version": 2}).status_code == 403

    audit = admin.get("/api/v1/audit", params={"entity": "ivr_flow"}).json()
    assert [(e["action"], e["entity_id"]) for e in audit["items"]] == [
        ("publish", "main@1"),
        ("publish", "main@2"),
        ("create", "main@2"),
        ("create", "main@1"),
    ]
    assert audit["items"][0]["before"] == {"published": [2]}


def test_customer_search_paging_and_tier_change(any_stack: Stack) -> None:
    """R-TIER-3: browse customers by number, name or tier; a tier edit is seen by live
    look-ups at once (R-TIER-2) and audited."""
    admin = any_stack.client(ADMIN)
    by_number = admin.get("/api/v1/customers", params={"q": "+86 138-0013-8000"}).json()
    assert by_number["total"] == 1
    assert by_number["items"][0]["id"] == "C000001"
    assert by_number["items"][0]["numbers"] == ["13800138000"]

    vip = admin.get("/api/v1/customers", params={"tier": "vip", "limit": 2}).json()
    assert vip["total"] >= 1 and len(vip["items"]) <= 2
    assert all(c["tier_id"] == "vip" for c in vip["items"])
    everyone = admin.get("/api/v1/customers", params={"limit": 20}).json()
    assert everyone["total"] == 50 and len(everyone["items"]) == 20
    page3 = admin.get("/api/v1/customers", params={"limit": 20, "offset": 40}).json()
    assert len(page3["items"]) == 10
    blacklisted = admin.get("/api/v1/customers", params={"blacklisted": "true"}).json()
    assert "C000004" in [c["id"] for c in blacklisted["items"]]
    name = by_number["items"][0]["name"]
    by_name = admin.get("/api/v1/customers", params={"q": name[1:]}).json()
    assert "C000001" in [c["id"] for c in by_name["items"]]

    assert any_stack.directory.lookup("13800138000").tier_id == "vip"  # type: ignore[union-attr]
    changed = admin.patch("/api/v1/customers/C000001", json={"tier_id": "normal"})
    assert changed.status_code == 200
    assert changed.json()["tier_id"] == "normal"
    assert changed.json()["numbers"] == ["13800138000"]
    assert any_stack.directory.lookup("13800138000").tier_id == "normal"  # type: ignore[union-attr]
    unknown_tier = admin.patch("/api/v1/customers/C000001", json={"tier_id": "diamond"})
    assert unknown_tier.status_code == 409
    assert admin.patch("/api/v1/customers/C999999", json={"tier_id": "vip"}).status_code == 404

    numbers = admin.put(
        "/api/v1/customers/C000001/numbers", json={"numbers": ["13800138000", "010-1234 5678"]}
    )
    assert numbers.json()["numbers"] == ["01012345678", "13800138000"]
    taken = admin.put("/api/v1/customers/C000002/numbers", json={"numbers": ["13800138000"]})
    assert taken.status_code == 409
    invalid = admin.put("/api/v1/customers/C000002/numbers", json={"numbers": ["anonymous"]})
    assert invalid.status_code == 422

    audit = admin.get("/api/v1/audit", params={"entity": "customer", "entity_id": "C000001"})
    rows = audit.json()["items"]
    assert rows[1]["before"]["tier_id"] == "vip" and rows[1]["after"]["tier_id"] == "normal"
    assert rows[0]["after"] == {"numbers": ["01012345678", "13800138000"]}
    assert {r["actor"] for r in rows} == {"9901"}
