"""Voicemails on the REST API (R-IVR-4): listed with filters, marked heard and handled
by team leads and administrators; agents get 403."""

from __future__ import annotations

import time

from cti_server.store.calls import VoicemailStore
from tests.cti_server.http.http_support import ADMIN, AGENT, TEAM_LEAD, Stack


def _seed(stack: Stack) -> list[str]:
    store = VoicemailStore(stack.engine)
    now = time.time()
    made = [
        store.save(
            "VM-A",
            "VM-A.wav",
            at=now - 300,
            switch_id="sw1",
            caller_number="138 0013 8000",
            mailbox="sales",
            seconds=12.5,
        ),
        store.save(
            "VM-B", "VM-B.wav", at=now - 200, caller_number="13900139000", mailbox="billing"
        ),
        store.save("VM-C", "VM-C.wav", at=now - 100, caller_number="13800138000", mailbox="sales"),
    ]
    return [v.voicemail_id for v in made]


def test_team_lead_lists_filters_and_marks_voicemails(stack: Stack) -> None:
    a, _b, c = _seed(stack)
    lead = stack.client(TEAM_LEAD)

    listed = lead.get("/api/v1/voicemails")
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 3
    assert [v["call_id"] for v in body["items"]] == ["VM-C", "VM-B", "VM-A"]  # newest first
    first = body["items"][2]
    assert (first["mailbox"], first["seconds"], first["state"], first["caller_number"]) == (
        "sales",
        12.5,
        "new",
        "13800138000",  # normalised
    )
    sales = lead.get("/api/v1/voicemails", params={"mailbox": "sales"}).json()
    assert [v["call_id"] for v in sales["items"]] == ["VM-C", "VM-A"]
    by_number = lead.get("/api/v1/voicemails", params={"caller_number": "+86 138-0013-8000"})
    assert by_number.json()["total"] == 2

    heard = lead.post(f"/api/v1/voicemails/{a}/heard")
    assert heard.status_code == 200 and heard.json()["state"] == "heard"
    handled = lead.post(f"/api/v1/voicemails/{a}/handled")
    assert handled.status_code == 200
    assert (handled.json()["state"], handled.json()["handled_by"]) == ("handled", "9001")
    assert handled.json()["handled_at"] is not None
    again = stack.client(ADMIN).post(f"/api/v1/voicemails/{a}/handled")  # no change
    assert again.json()["handled_by"] == "9001"
    back = lead.post(f"/api/v1/voicemails/{a}/heard")
    assert back.status_code == 409 and back.json()["error"]["code"] == "conflict"

    new = lead.get("/api/v1/voicemails", params={"state": "new"}).json()
    assert {v["call_id"] for v in new["items"]} == {"VM-B", "VM-C"}
    assert lead.get(f"/api/v1/voicemails/{c}").json()["call_id"] == "VM-C"


def test_voicemail_errors_are_clear(stack: Stack) -> None:
    _seed(stack)
    lead = stack.client(TEAM_LEAD)
    missing = lead.post("/api/v1/voicemails/nope/heard")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    bad_state = lead.get("/api/v1/voicemails", params={"state": "lost"})
    assert bad_state.status_code == 422
    assert bad_state.json()["error"]["detail"]["in"] == "query"
    unknown = lead.get("/api/v1/voicemails", params={"mailboxx": "sales"})
    assert unknown.status_code == 422
    agent = stack.client(AGENT)
    assert agent.get("/api/v1/voicemails").status_code == 403
    assert agent.post("/api/v1/voicemails/nope/handled").status_code == 403
    # nothing changed
    assert lead.get("/api/v1/voicemails", params={"state": "new"}).json()["total"] == 3
