"""QA scorecards (R-SUP-3) on SQLite and PostgreSQL: the scoring maths checked by hand
(weights, N/A, sections, critical fail → 0), scorecards set up through the admin
forms, a call scored and re-scored by a team lead with the history kept, comments,
refusals audited, and the agent QA report with its CSV checked against hand-computed
averages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cti_server.store.models import AuditEntry, QaCriterion, QaEvaluationVersion, QaScorecard
from cti_server.web import qa_data
from cti_server.web.data import Invalid
from tests.cti_server.web.test_web_recordings import add_call
from tests.cti_server.web.web_support import ADMIN, AGENT_SH, TEAM_LEAD, Browser, WebStack


def item(
    section: str, weight: float, most: int, points: int | None, *, critical: bool = False
) -> dict[str, Any]:
    return {
        "section": section,
        "weight": weight,
        "max_points": most,
        "points": points,
        "critical": critical,
    }


def test_scoring_maths_by_hand() -> None:
    items = [
        item("Greeting", 2, 5, 4),  # 2 × 4/5 = 1.6
        item("Greeting", 1, 10, 5),  # 1 × 5/10 = 0.5
        item("Resolution", 3, 5, 5, critical=True),  # 3 × 1 = 3
        item("Resolution", 1, 5, None),  # N/A: left out of both sums
    ]
    result = qa_data.compute_score(items)
    assert result.score == 85.0  # 100 × 5.1 / 6
    assert result.critical_failed is False
    assert result.sections == {"Greeting": 70.0, "Resolution": 100.0}  # 2.1/3, 3/3

    items[2] = item("Resolution", 3, 5, 0, critical=True)
    failed = qa_data.compute_score(items)
    assert (failed.score, failed.critical_failed) == (0.0, True)
    assert failed.sections == {"Greeting": 70.0, "Resolution": 0.0}
    # a non-critical 0 only weighs in: 100 × (1.6 + 0.5) / 6 = 35
    items[2] = item("Resolution", 3, 5, 0)
    assert qa_data.compute_score(items).score == 35.0
    # 1/3 rounds to two places
    assert qa_data.compute_score([item("A", 1, 3, 1)]).score == 33.33
    with pytest.raises(Invalid) as nothing:
        qa_data.compute_score([item("A", 1, 5, None)])
    assert nothing.value.key == "qa_error_nothing_scored"


# --- through the pages ----------------------------------------------------------------------


def _setup_scorecard(web: WebStack) -> tuple[Browser, int, dict[str, int]]:
    admin = web.login(ADMIN, lang="en")
    made = admin.post(
        "/ui/qa/scorecards",
        {"action": "scorecard", "name": "Inbound calls", "description": "Standard", "active": "1"},
    )
    assert made.status_code == 303, made.text
    card_id = web.scalar(sa.select(QaScorecard.id).where(QaScorecard.name == "Inbound calls"))
    for section, label, weight, most, critical in (
        ("Greeting", "Greets by name", "2", "5", ""),
        ("Greeting", "Verifies the customer", "1", "10", ""),
        ("Resolution", "Correct information", "3", "5", "1"),
        ("Resolution", "Offers further help", "1", "5", ""),
    ):
        done = admin.post(
            "/ui/qa/scorecards",
            {
                "action": "criterion",
                "scorecard_id": card_id,
                "section": section,
                "label": label,
                "weight": weight,
                "max_points": most,
                "critical": critical,
            },
        )
        assert done.status_code == 303, done.text
    with web.engine.connect() as conn:
        ids = dict(
            conn.execute(
                sa.select(QaCriterion.label, QaCriterion.id).where(
                    QaCriterion.scorecard_id == card_id
                )
            ).all()
        )
    return admin, card_id, ids


def test_scorecards_are_set_up_by_administrators_only(web: WebStack) -> None:
    admin, card_id, ids = _setup_scorecard(web)
    page = admin.get("/ui/qa/scorecards")
    assert page.status_code == 200 and "Inbound calls" in page.text
    assert page.text.count("data-criterion=") == 4
    # bad input: a clear message, nothing written
    bad = admin.post(
        "/ui/qa/scorecards",
        {
            "action": "criterion",
            "scorecard_id": card_id,
            "section": "X",
            "label": "Y",
            "weight": "0",
            "max_points": "5",
        },
    )
    assert bad.status_code == 400 and "A number is outside its allowed range." in bad.text
    same = admin.post("/ui/qa/scorecards", {"action": "scorecard", "name": "Inbound calls"})
    assert same.status_code == 400 and "A scorecard with this name exists." in same.text
    assert web.scalar(sa.select(sa.func.count()).select_from(QaCriterion)) == 4
    # a criterion edited: weight 2 → 4, audited with before and after
    edit = admin.post(
        "/ui/qa/scorecards",
        {
            "action": "criterion",
            "scorecard_id": card_id,
            "criterion_id": ids["Greets by name"],
            "section": "Greeting",
            "label": "Greets by name",
            "weight": "4",
            "max_points": "5",
            "position": "5",
            "active": "1",
        },
    )
    assert edit.status_code == 303
    with web.engine.connect() as conn:
        entry = conn.execute(
            sa.select(AuditEntry.before, AuditEntry.after).where(
                AuditEntry.entity == "qa_criterion",
                AuditEntry.entity_id == str(ids["Greets by name"]),
                AuditEntry.action == "update",
            )
        ).one()
    assert entry.before["weight"] == 2.0 and entry.after["weight"] == 4.0

    lead = web.login(TEAM_LEAD, lang="en")
    assert lead.get("/ui/qa/scorecards").status_code == 200  # team leads may look
    refused = lead.post("/ui/qa/scorecards", {"action": "scorecard", "name": "Mine"})
    assert refused.status_code == 403
    assert web.refusals(actor=TEAM_LEAD, reason="role", entity_id="/ui/qa/scorecards")
    agent = web.login(AGENT_SH, lang="en")
    assert agent.get("/ui/qa/report").status_code == 403
    assert web.refusals(actor=AGENT_SH, reason="role", entity_id="/ui/qa/report")


def _score(
    lead: Browser, call_id: str, card_id: int, ids: dict[str, int], points: list[str], **extra: str
) -> httpx.Response:
    labels = [
        "Greets by name",
        "Verifies the customer",
        "Correct information",
        "Offers further help",
    ]
    form = {"call_id": call_id, "scorecard_id": card_id, **extra}
    form.update({f"c{ids[label]}": p for label, p in zip(labels, points, strict=True)})
    return lead.post("/ui/qa/score", form)


def test_a_call_scored_rescored_and_commented(web: WebStack) -> None:
    _admin, card_id, ids = _setup_scorecard(web)
    add_call(web.engine, "CALL-QA-1")
    lead = web.login(TEAM_LEAD, lang="en")
    form = lead.get(f"/ui/qa/score?call_id=CALL-QA-1&scorecard={card_id}")
    assert form.status_code == 200 and "Correct information" in form.text

    missing = _score(lead, "CALL-QA-1", card_id, ids, ["4", "", "5", "na"])
    assert missing.status_code == 400 and "Score every criterion" in missing.text
    too_many = _score(lead, "CALL-QA-1", card_id, ids, ["6", "5", "5", "na"])
    assert too_many.status_code == 400

    first = _score(lead, "CALL-QA-1", card_id, ids, ["4", "5", "5", "na"], comment="Good call")
    assert first.status_code == 303
    url = first.headers["location"]
    page = lead.get(url).text
    assert re.search(r'class="qa-current">85\.00', page)  # 100 × (1.6 + 0.5 + 3) / 6
    assert "Greeting 70.00" in page and "Resolution 100.00" in page
    assert "Good call" in page

    no_reason = _score(lead, "CALL-QA-1", card_id, ids, ["4", "5", "0", "na"])
    assert no_reason.status_code == 400 and "Give a reason" in no_reason.text
    again = _score(
        lead, "CALL-QA-1", card_id, ids, ["4", "5", "0", "na"], reason="Wrong tariff quoted"
    )
    assert again.status_code == 303 and again.headers["location"] == url
    page = lead.get(url).text
    assert re.search(r'class="qa-current">0\.00 <span class="error">Critical fail', page)
    assert page.count('class="card qa-version"') == 2  # the first scoring is kept
    assert "Wrong tariff quoted" in page
    with web.engine.connect() as conn:
        versions = conn.execute(
            sa.select(QaEvaluationVersion.version, QaEvaluationVersion.score).order_by(
                QaEvaluationVersion.version
            )
        ).all()
    assert [tuple(v) for v in versions] == [(1, 85.0), (2, 0.0)]

    comment = lead.post(url + "/comments", {"text": "Discussed with the agent"})
    assert comment.status_code == 303
    assert "Discussed with the agent" in lead.get(url).text
    assert lead.post(url + "/comments", {"text": "  "}).status_code == 400
    with web.engine.connect() as conn:
        actions = (
            conn.execute(
                sa.select(AuditEntry.action)
                .where(AuditEntry.entity == "qa_evaluation")
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
    assert actions == ["qa_score", "qa_score", "qa_comment"]
    # the call page lists the evaluation; CSRF is checked
    assert "0.00" in lead.get("/ui/recordings/calls/CALL-QA-1").text
    forged = lead.post(url + "/comments", {"text": "x"}, csrf="forged")
    assert forged.status_code == 403 and web.refusals(actor=TEAM_LEAD, reason="csrf")


def test_regional_team_lead_cannot_score_another_region(web: WebStack) -> None:
    _admin, card_id, ids = _setup_scorecard(web)
    add_call(web.engine, "CALL-QA-SZ", agent="1006", customer="C000002")
    with web.engine.begin() as conn:
        conn.execute(sa.text("UPDATE agents SET region = '上海' WHERE id = :id"), {"id": TEAM_LEAD})
    lead = web.login(TEAM_LEAD, lang="en")
    refused = _score(lead, "CALL-QA-SZ", card_id, ids, ["4", "5", "5", "na"])
    assert refused.status_code == 403
    assert web.refusals(actor=TEAM_LEAD, reason="region", entity_id="/ui/qa/score")
    assert web.scalar(sa.select(sa.func.count()).select_from(QaEvaluationVersion)) == 0


def test_agent_report_and_csv_match_hand_computed_figures(web: WebStack) -> None:
    _admin, card_id, ids = _setup_scorecard(web)
    nov = dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.UTC)
    # 1001: two calls in November (85, 0 critical) and one in December (100)
    # 1002: one call in November (35: critical criterion N/A, "Offers" 0)
    add_call(web.engine, "R-1", agent="1001", at=nov)
    add_call(web.engine, "R-2", agent="1001", at=nov + dt.timedelta(days=5))
    add_call(web.engine, "R-3", agent="1001", at=dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC))
    add_call(web.engine, "R-4", agent="1002", at=nov)
    lead = web.login(TEAM_LEAD, lang="en")
    for call_id, points in (
        ("R-1", ["4", "5", "5", "na"]),  # 85.00
        ("R-2", ["5", "10", "0", "5"]),  # critical fail: 0
        ("R-3", ["5", "10", "5", "5"]),  # 100
        ("R-4", ["4", "5", "na", "0"]),  # 100 × (1.6 + 0.5 + 0) / 4 = 52.5
    ):
        assert _score(lead, call_id, card_id, ids, points).status_code == 303

    page = lead.get("/ui/qa/report?from=2026-11-01&to=2026-12-31&period=month")
    assert page.status_code == 200
    rows = re.findall(
        r'data-agent="(\d+)" data-period="([\d-]+)">.*?<td class="num">(\d+)</td>'
        r'<td class="num">([\d.]+)</td><td class="num">(\d+)</td>',
        page.text,
    )
    assert rows == [
        ("1001", "2026-11", "2", "42.50", "1"),  # (85 + 0) / 2
        ("1001", "2026-12", "1", "100.00", "0"),
        ("1002", "2026-11", "1", "52.50", "0"),
    ]
    # Asia/Shanghai is not configured: periods are UTC; December only
    dec = lead.get("/ui/qa/report?from=2026-12-01&to=2026-12-31&agent=1001").text
    assert 'data-period="2026-12"' in dec and 'data-period="2026-11"' not in dec

    agents_csv = lead.get(
        "/ui/qa/report.csv?from=2026-11-01&to=2026-12-31&period=month&table=agents"
    )
    assert agents_csv.status_code == 200
    assert agents_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(agents_csv.text.lstrip("\ufeff"))))
    assert table[0][:6] == [
        "agent_id",
        "agent_name",
        "period",
        "evaluations",
        "average_score",
        "critical_fails",
    ]
    assert [(r[0], r[2], r[3], r[4], r[5]) for r in table[1:]] == [
        ("1001", "2026-11", "2", "42.50", "1"),
        ("1001", "2026-12", "1", "100.00", "0"),
        ("1002", "2026-11", "1", "52.50", "0"),
    ]
    crit_csv = lead.get("/ui/qa/report.csv?from=2026-11-01&to=2026-12-31&table=criteria").text
    crit = {(r[0], r[3]): (r[4], r[5]) for r in csv.reader(io.StringIO(crit_csv.lstrip("\ufeff")))}
    # 1001 "Greets by name": 4/5, 5/5, 5/5 → (80 + 100 + 100) / 3 = 93.33
    assert crit[("1001", "Greets by name")] == ("3", "93.33")
    # 1001 "Offers further help": N/A, 5/5, 5/5 → two evaluations, 100
    assert crit[("1001", "Offers further help")] == ("2", "100.00")
    # 1002 "Correct information" was N/A: not listed
    assert ("1002", "Correct information") not in crit
    assert crit[("1002", "Verifies the customer")] == ("1", "50.00")
    weekly = lead.get("/ui/qa/report?from=2026-11-01&to=2026-12-31&period=week").text
    # 10 Nov (Tuesday) and 15 Nov (Sunday) are both in ISO week 46; 1 Dec in week 49
    assert re.search(r'data-agent="1001" data-period="2026-W46">.*?<td class="num">2</td>', weekly)
    assert 'data-agent="1001" data-period="2026-W49"' in weekly
    assert weekly.count('data-period="2026-W') == 3


def test_concurrent_rescores_lose_no_version(web: WebStack) -> None:
    """Eight team-lead threads re-score one call at once: every success is exactly one
    new version, numbered without gaps, and the current score is the last version's."""
    import threading

    from sqlalchemy.orm import sessionmaker

    from cti_server.store.models import QaEvaluation, Role
    from cti_server.web.data import WebUser

    _admin, card_id, ids = _setup_scorecard(web)
    add_call(web.engine, "CALL-QA-RACE")
    sessions = sessionmaker(web.engine)
    lead = WebUser(TEAM_LEAD, "班长", Role.TEAM_LEAD, None, None)
    crit = [ids["Greets by name"], ids["Verifies the customer"], ids["Correct information"]]
    first = qa_data.score_call(
        sessions,
        lead,
        call_id="CALL-QA-RACE",
        scorecard_id=card_id,
        points={crit[0]: "5", crit[1]: "10", crit[2]: "5", ids["Offers further help"]: "na"},
    )
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def rescore(n: int) -> None:
        barrier.wait()
        try:
            qa_data.score_call(
                sessions,
                lead,
                call_id="CALL-QA-RACE",
                scorecard_id=card_id,
                points={
                    crit[0]: str(n % 6),
                    crit[1]: "10",
                    crit[2]: "5",
                    ids["Offers further help"]: "na",
                },
                reason=f"thread {n}",
            )
            outcomes.append("ok")
        except Invalid as bad:
            outcomes.append(bad.key)
        except sa.exc.OperationalError:  # SQLite: database is locked
            outcomes.append("locked")

    threads = [threading.Thread(target=rescore, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(outcomes) <= {"ok", "qa_error_concurrent", "locked"}
    assert "ok" in outcomes
    with web.engine.connect() as conn:
        versions = conn.execute(
            sa.select(QaEvaluationVersion.version, QaEvaluationVersion.score)
            .where(QaEvaluationVersion.evaluation_id == first)
            .order_by(QaEvaluationVersion.version)
        ).all()
        current = conn.execute(
            sa.select(QaEvaluation.version, QaEvaluation.score).where(QaEvaluation.id == first)
        ).one()
    assert [v for v, _ in versions] == list(range(1, 2 + outcomes.count("ok")))
    assert tuple(current) == tuple(versions[-1])
