"""Outbound campaigns in the web console (issue 9): campaign form with the strategy
validated by the dialling core, questionnaires refused for cycles / dangling branches,
statistics and attempts on the campaign page, and the desktop's JSON answers endpoint
(CSRF header, roles, answers on the path taken only). SQLite and PostgreSQL, real HTTP."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import sqlalchemy as sa

from cti_server.store import campaigns as cmp
from cti_server.store import outbound_lists as ob
from cti_server.store import session_factory
from cti_server.store.models import AuditEntry, CmpAnswer, CmpCampaign
from tests.cti_server.web.web_support import ADMIN, AGENT_SH, AGENT_SZ, TEAM_LEAD, WebStack

T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
QUESTIONS: list[dict[str, Any]] = [
    {"id": "happy", "text": "Happy with us?", "kind": "yes_no", "branches": {"no": "why"}},
    {"id": "score", "text": "Score 1-10?", "kind": "number", "next": "end"},
    {"id": "why", "text": "Why not?", "kind": "text"},
]
STRATEGY = {"window": {"mon": [["09:00", "18:00"]]}, "max_attempts": 2}


def _form(**extra: Any) -> dict[str, Any]:
    form = {"name": "Retention May", "classification": "retention", "dial_mode": "power"}
    form |= {"power_ratio": "2.5", "abandon_ceiling": "0.03", "strategy": json.dumps(STRATEGY)}
    return form | extra


def _errors(html: str) -> list[str]:
    return re.findall(r'data-field="([^"]+)"', html)


def test_campaign_form_validation_and_state(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD, lang="en")
    bad = lead.post("/ui/campaigns/new", _form(strategy='{"max_attempts": 0}', power_ratio="0.5"))
    assert bad.status_code == 400
    assert set(_errors(bad.text)) == {"strategy.max_attempts", "power_ratio"}
    bad = lead.post("/ui/campaigns/new", _form(strategy="{not json"))
    assert bad.status_code == 400 and _errors(bad.text) == ["strategy"]
    assert web.scalar(sa.select(sa.func.count()).select_from(CmpCampaign)) == 0
    made = lead.post("/ui/campaigns/new", _form())
    assert made.status_code == 303
    url = made.headers["location"].split("?")[0]
    page = lead.get(url)
    assert page.status_code == 200 and "Retention May" in page.text
    assert "Draft" in page.text
    # Starting needs a target list.
    started = lead.post(f"{url}/state", {"state": "active"})
    assert started.status_code == 400 and "list_id" in _errors(started.text)
    assert lead.post(f"{url}/state", {"state": "finished"}).status_code == 303
    assert "Finished" in lead.get(url).text
    assert web.scalar(
        sa.select(sa.func.count()).where(AuditEntry.entity == "cmp_campaign")
    ) == 2  # fmt: skip
    agent = web.login(AGENT_SH, lang="en")
    assert agent.get("/ui/campaigns").status_code == 403


def test_questionnaire_page_refuses_cycles_and_dangling_branches(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    looped = [dict(q) for q in QUESTIONS]
    looped[2]["next"] = "happy"
    bad = admin.post("/ui/campaigns/questionnaires/new", {"name": "Q", "body": json.dumps(looped)})
    assert bad.status_code == 400 and "cycle" in bad.text
    dangling = [dict(q) for q in QUESTIONS]
    dangling[0]["branches"] = {"no": "nowhere"}
    bad = admin.post(
        "/ui/campaigns/questionnaires/new", {"name": "Q", "body": json.dumps(dangling)}
    )
    assert bad.status_code == 400 and "unknown question" in bad.text
    ok = admin.post(
        "/ui/campaigns/questionnaires/new", {"name": "Q", "body": json.dumps(QUESTIONS)}
    )
    assert ok.status_code == 303
    assert "Happy with us?" in admin.get(ok.headers["location"]).text
    script = admin.post(
        "/ui/campaigns/scripts/new",
        {"name": "Guide", "body": json.dumps([{"title": "Hi", "text": "Hello {name}"}])},
    )
    assert script.status_code == 303
    index = admin.get("/ui/campaigns").text
    assert "Guide" in index and ">Q<" in index


def _seed(web: WebStack) -> tuple[int, int, int]:
    sessions = session_factory(web.engine)
    qid = cmp.save_questionnaire(sessions, "9901", name="Q", questions=QUESTIONS)
    sid = cmp.save_script(sessions, "9901", name="G",
                          sections=[{"title": "Open", "text": "Hello <b>{name}</b>"}])  # fmt: skip
    list_id = ob.create_list(sessions, "9901", name="L", classification="survey")
    rid = ob.add_record(sessions, "9901", list_id, {"phone": "13800000001", "name": "Li Lei",
                        "account": "A1", "region": "Beijing", "type": "vip"})  # fmt: skip
    cid = cmp.create_campaign(
        sessions, "9901",
        {"name": "C", "classification": "survey", "dial_mode": "progressive",
         "strategy": STRATEGY, "questionnaire_id": qid, "script_id": sid, "list_id": list_id},
    )  # fmt: skip
    minute = dt.timedelta(minutes=1)
    mine = cmp.record_attempt(
        sessions, campaign_id=cid, record_id=rid, phone="+8613800000001", outcome="answered",
        agent_id=AGENT_SH,
        started_at=T0, answered_at=T0 + minute, ended_at=T0 + 4 * minute, right_party=True,
        conversion=True,
    )  # fmt: skip
    cmp.record_attempt(sessions, campaign_id=cid, phone="+8613800000002", outcome="abandoned",
                       started_at=T0 + minute)  # fmt: skip
    cmp.record_attempt(sessions, campaign_id=cid, phone="+8613800000003", outcome="busy",
                       started_at=T0 + 2 * minute)  # fmt: skip
    return cid, mine, qid


def test_statistics_and_attempts_on_the_campaign_page(web: WebStack) -> None:
    cid, _mine, _qid = _seed(web)
    page = web.login(TEAM_LEAD, lang="en").get(f"/ui/campaigns/{cid}").text
    stats = dict(re.findall(r'data-key="([^"]+)">([^<]*)<', page))
    assert (stats["attempts"], stats["contacts"], stats["right_party"]) == ("3", "1", "1")
    assert stats["conversions"] == "1"
    assert stats["abandon_rate"].strip() == "50.0 %"
    assert 'data-agent="1001">3:00<' in page
    assert page.count("<tr data-id=") == 3


def test_answers_endpoint_csrf_roles_and_branching(web: WebStack) -> None:
    _cid, mine, _qid = _seed(web)
    url = f"/ui/api/campaigns/attempts/{mine}/answers"
    agent = web.login(AGENT_SH, lang="en")

    def post(browser: Any, body: Any, csrf: str | None = None) -> Any:
        token = browser.csrf if csrf is None else csrf
        return browser.client.post(url, json=body, headers={"X-CSRF-Token": token})

    guide = agent.get(f"/ui/api/campaigns/attempts/{mine}/guide")
    assert guide.status_code == 200
    shown = guide.json()
    assert shown["script"] == [{"title": "Open", "text": "Hello <b>Li Lei</b>"}]
    assert [q["id"] for q in shown["questions"]] == ["happy", "score", "why"]
    assert shown["answers"] == {} and shown["csrf"] == agent.csrf
    assert post(agent, {"answers": {"happy": "yes"}}, csrf="forged").status_code == 403
    other = web.login(AGENT_SZ, lang="en")
    assert other.get(f"/ui/api/campaigns/attempts/{mine}/guide").status_code == 403
    refused = post(other, {"answers": {"happy": "yes"}})
    assert refused.status_code == 403 and refused.json()["error"] == "cmp_err_not_yours"
    off_path = post(agent, {"answers": {"happy": "yes", "why": "slow"}})
    assert off_path.status_code == 400 and "not on the path" in off_path.json()["message"]
    assert web.scalar(sa.select(sa.func.count()).select_from(CmpAnswer)) == 0
    done = post(agent, {"answers": {"happy": "yes", "score": 9}})
    assert done.status_code == 200 and done.json()["path"] == ["happy", "score"]
    changed = post(agent, {"answers": {"happy": "no"}})
    assert changed.status_code == 409
    assert web.scalar(sa.select(sa.func.count()).select_from(CmpAnswer)) == 2
    assert agent.get(f"/ui/api/campaigns/attempts/{mine}/guide").json()["answers"] == {
        "happy": "yes", "score": 9,
    }  # fmt: skip
    assert post(agent, {"answers": {}}, csrf="").status_code == 403
    missing = agent.client.post(
        "/ui/api/campaigns/attempts/999999/answers", json={"answers": {}},
        headers={"X-CSRF-Token": agent.csrf},
    )  # fmt: skip
    assert missing.status_code == 404
