"""Authentication and roles of the REST admin API (R-SEC-1)."""

from __future__ import annotations

import pytest

from tests.cti_server.http.http_support import ADMIN, AGENT, TEAM_LEAD, Stack


def test_missing_or_bad_credentials_get_401_with_a_challenge(stack: Stack) -> None:
    """R-SEC-1: no or wrong credentials -> 401, WWW-Authenticate, JSON error, no data."""
    anonymous = stack.client(auth=None)
    answer = anonymous.get("/api/v1/tiers")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic ")
    assert answer.json()["error"]["code"] == "not_authenticated"

    wrong = stack.client(auth=("9901", "not-the-password"))
    assert wrong.get("/api/v1/tiers").status_code == 401
    unknown = stack.client(auth=("nobody", "demo"))
    assert unknown.get("/api/v1/tiers").status_code == 401
    garbage = anonymous.get("/api/v1/tiers", headers={"Authorization": "Basic %%%"})
    assert garbage.status_code == 401
    other = anonymous.get("/api/v1/tiers", headers={"Authorization": "Digest x"})
    assert other.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/tiers", None),
        ("GET", "/api/v1/customers", None),
        ("GET", "/api/v1/audit", None),
        ("POST", "/api/v1/skills", {"id": "x", "name": "X"}),
        ("GET", "/api/v1/tiers/import", None),
    ],
)
def test_agents_may_read_nothing_of_the_admin_api(
    stack: Stack, method: str, path: str, body: object
) -> None:
    """R-SEC-1: the agent role gets 403 everywhere in /api/v1."""
    answer = stack.client(AGENT).request(method, path, json=body)
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "forbidden"
    assert error["detail"]["role"] == "agent"


def test_team_lead_reads_configuration_but_cannot_change_it(stack: Stack) -> None:
    """R-SEC-1: team leads read configuration and run imports; writes are admin-only."""
    lead = stack.client(TEAM_LEAD)
    assert lead.get("/api/v1/tiers").status_code == 200
    assert lead.get("/api/v1/agents/1001").status_code == 200
    assert lead.get("/api/v1/customers?q=13800138000").json()["total"] == 1
    assert lead.get("/api/v1/tiers/import").status_code == 200
    assert lead.post("/api/v1/skills", json={"id": "x", "name": "X"}).status_code == 403
    assert lead.patch("/api/v1/tiers/vip", json={"sl_seconds": 5}).status_code == 403
    assert lead.delete("/api/v1/reason-codes/break").status_code == 403
    assert lead.get("/api/v1/audit").status_code == 403
    # nothing changed
    assert stack.client(ADMIN).get("/api/v1/tiers/vip").json()["sl_seconds"] == 10


def test_bearer_token_carries_the_same_credentials(stack: Stack) -> None:
    """R-SEC-1: ``Authorization: Bearer id:password`` works like Basic."""
    anonymous = stack.client(auth=None)
    good = anonymous.get("/api/v1/tiers", headers={"Authorization": "Bearer 9901:demo"})
    assert good.status_code == 200
    bad = anonymous.get("/api/v1/tiers", headers={"Authorization": "Bearer 9901:nope"})
    assert bad.status_code == 401


def test_successful_verifications_are_cached_and_failures_are_not(stack: Stack) -> None:
    """Each request must not cost an argon2 hash; a bad password is checked every time."""
    admin = stack.client(ADMIN)
    for _ in range(5):
        assert admin.get("/api/v1/skills").status_code == 200
    assert stack.verifications.count("9901") == 1
    wrong = stack.client(("9001", "wrong"))
    for _ in range(3):
        assert wrong.get("/api/v1/skills").status_code == 401
    assert stack.verifications.count("9001") == 3


def test_password_change_and_deactivation_take_effect_at_once(stack: Stack) -> None:
    """The credential cache forgets an agent whose password or status changes."""
    admin = stack.client(ADMIN)
    lead = stack.client(TEAM_LEAD)
    assert lead.get("/api/v1/tiers").status_code == 200  # now cached
    changed = admin.put("/api/v1/agents/9001/password", json={"password": "new-secret-1"})
    assert changed.status_code == 204
    assert lead.get("/api/v1/tiers").status_code == 401
    renewed = stack.client(("9001", "new-secret-1"))
    assert renewed.get("/api/v1/tiers").status_code == 200
    assert admin.patch("/api/v1/agents/9001", json={"active": False}).status_code == 200
    assert renewed.get("/api/v1/tiers").status_code == 401
    short = admin.put("/api/v1/agents/9001/password", json={"password": "short"})
    assert short.status_code == 422
    assert short.json()["error"]["detail"]["field"] == "password"
    entries = admin.get("/api/v1/audit", params={"action": "set_password"}).json()["items"]
    assert entries[0]["actor"] == "9901"
    assert "hash" not in str(entries[0]).lower()
    assert "new-secret-1" not in str(entries[0])


def test_public_endpoints_need_no_credentials(stack: Stack) -> None:
    anonymous = stack.client(auth=None)
    for path in ("/health", "/metrics", "/api/v1/openapi.json", "/api/v1/docs"):
        assert anonymous.get(path).status_code == 200, path
