"""Outbound campaigns: strategy validated by the dialling core, questionnaires with
branching (cycles, dangling targets, unreachable questions), answers on the path taken
only (append-only), scripts with placeholders, statistics from seeded attempts (issue 9)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import campaigns as cmp
from cti_server.store import outbound_lists as ob
from cti_server.store import session_factory
from cti_server.store.errors import Conflict
from cti_server.store.models import AuditEntry, CmpAnswer

T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)

QUESTIONS: list[dict[str, Any]] = [
    {"id": "own", "text": "Do you own a car?", "kind": "yes_no", "branches": {"no": "why"}},
    {"id": "brand", "text": "Which brand?", "kind": "single", "options": ["A", "B", "Other"],
     "branches": {"Other": "other"}, "next": "km"},
    {"id": "other", "text": "Which other brand?", "kind": "text"},
    {"id": "km", "text": "Km per year?", "kind": "number", "next": "end"},
    {"id": "why", "text": "Why not?", "kind": "multiple", "options": ["cost", "city", "none"]},
]  # fmt: skip


@pytest.fixture
def sessions(engine: sa.Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def _campaign(sessions: sessionmaker[Session], **extra: Any) -> int:
    list_id = ob.create_list(sessions, "admin", name="Spring", classification="survey")
    strategy = {
        "window": {"mon": [["09:00", "18:00"]], "holidays": ["2026-10-01"]},
        "region_windows": {"Beijing": {"sat": [["10:00", "12:00"]]}},
        "region_zones": {"Beijing": "Asia/Shanghai"},
        "max_attempts": 4,
        "retry_after": {"busy": 300, "no_answer": 1200, "machine": 3600, "failed": 600},
        "skill": "survey",
    }
    values: dict[str, Any] = {
        "name": "Spring survey",
        "classification": "survey",
        "list_id": list_id,
        "dial_mode": "predictive",
        "strategy": strategy,
    }
    values.update(extra)
    return cmp.create_campaign(sessions, "admin", values)


def test_campaign_crud_state_and_audit(sessions: sessionmaker[Session]) -> None:
    cid = _campaign(sessions)
    with sessions() as session:
        view = cmp.get_campaign(session, cid)
        strategy = cmp.build_strategy(view.strategy)
    assert (view.state, view.dial_mode, view.abandon_ceiling) == ("draft", "predictive", 0.03)
    assert view.list_name == "Spring"
    assert strategy.max_attempts == 4
    assert strategy.window_for(ob_record("Beijing")) is strategy.region_windows["Beijing"]
    cmp.update_campaign(
        sessions, "lead", cid, {**_values(view), "dial_mode": "power", "power_ratio": 2.5}
    )
    cmp.set_state(sessions, "lead", cid, "active")
    cmp.set_state(sessions, "lead", cid, "paused")
    cmp.set_state(sessions, "lead", cid, "finished")
    with pytest.raises(cmp.CampaignInvalid) as bad:
        cmp.set_state(sessions, "lead", cid, "active")
    assert "finished" in bad.value.errors["state"]
    with sessions() as session:
        view = cmp.get_campaign(session, cid)
        actions = session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.entity == "cmp_campaign")
        ).all()
    assert (view.dial_mode, view.power_ratio, view.state) == ("power", 2.5, "finished")
    assert actions == ["create", "update", "update", "update", "update"]


def ob_record(region: str) -> Any:
    from cti_server.outbound import TargetRecord

    return TargetRecord("r", "+861", region=region)


def _values(view: cmp.CampaignView) -> dict[str, Any]:
    keys = ("name", "classification", "list_id", "dial_mode", "power_ratio", "abandon_ceiling")
    return {k: getattr(view, k) for k in keys} | {"strategy": view.strategy}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"strategy": {"max_attempts": 0}}, "strategy.max_attempts"),
        ({"strategy": {"retry_after": {"busy": -60}}}, "strategy.retry_after.busy"),
        ({"strategy": {"retry_after": {"busy": "x"}}}, "strategy.retry_after.busy"),
        ({"strategy": {"retry_after": {"ringing": 5}}}, "strategy.retry_after.ringing"),
        ({"strategy": {"window": {"mon": [["18:00", "09:00"]]}}}, "strategy.window"),
        ({"strategy": {"window": {"funday": [["09:00", "10:00"]]}}}, "strategy.window"),
        ({"strategy": {"region_zones": {"X": "Mars/Base"}}}, "strategy.region_zones.X"),
        ({"strategy": {"colour": "red"}}, "strategy.colour"),
        ({"abandon_ceiling": 1.5}, "abandon_ceiling"),
        ({"power_ratio": 0.5}, "power_ratio"),
        ({"dial_mode": "telepathic"}, "dial_mode"),
        ({"classification": "spam"}, "classification"),
        ({"list_id": 999999}, "list_id"),
    ],
)
def test_bad_campaign_is_refused_with_field_errors(
    sessions: sessionmaker[Session], extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(cmp.CampaignInvalid) as bad:
        _campaign(sessions, **extra)
    assert field in bad.value.errors, bad.value.errors
    with sessions() as session:
        assert cmp.list_campaigns(session) == []


def test_activation_needs_list_and_delete_needs_no_attempts(
    sessions: sessionmaker[Session],
) -> None:
    cid = _campaign(sessions, list_id=None)
    with pytest.raises(cmp.CampaignInvalid) as bad:
        cmp.set_state(sessions, "admin", cid, "active")
    assert "list_id" in bad.value.errors
    cmp.record_attempt(sessions, campaign_id=cid, phone="+8613800000001", outcome="busy",
                       started_at=T0)  # fmt: skip
    with pytest.raises(Conflict):
        cmp.delete_campaign(sessions, "admin", cid)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({0: {"branches": {"no": "nowhere"}}}, "q.own.next", "unknown question"),
        ({3: {"next": "own"}}, "q.km.next", "cycle"),
        ({0: {"branches": {"no": "km"}}}, "q.why", "unreachable"),
        ({1: {"branches": {"Maybe": "km"}}}, "q.brand.branches", "not one of the options"),
        ({4: {"branches": {"cost": "km"}}}, "q.why.branches", "only single"),
        ({2: {"id": "own"}}, "q.own.id", "duplicate"),
        ({1: {"options": ["A"]}}, "q.brand.options", "two or more"),
        ({2: {"kind": "essay"}}, "q.other.kind", "one of"),
    ],
)
def test_questionnaire_graph_validation(
    sessions: sessionmaker[Session], change: dict[int, dict[str, Any]], key: str, words: str
) -> None:
    questions = [dict(q) for q in QUESTIONS]
    for index, patch in change.items():
        questions[index].update(patch)
    with pytest.raises(cmp.CampaignInvalid) as bad:
        cmp.save_questionnaire(sessions, "admin", name="Cars", questions=questions)
    assert words in bad.value.errors.get(key, ""), bad.value.errors
    with sessions() as session:
        assert cmp.list_questionnaires(session) == []


def test_answers_follow_branching_and_are_append_only(sessions: sessionmaker[Session]) -> None:
    qid = cmp.save_questionnaire(sessions, "admin", name="Cars", questions=QUESTIONS)
    cid = _campaign(sessions, questionnaire_id=qid)
    attempt = cmp.record_attempt(
        sessions, campaign_id=cid, phone="+8613800000001", outcome="answered",
        agent_id="1001", started_at=T0, answered_at=T0, ended_at=T0 + dt.timedelta(minutes=3),
        right_party=True,
    )  # fmt: skip
    # "no" branches to "why": answering "brand" is off the path.
    with pytest.raises(cmp.CampaignInvalid) as bad:
        cmp.record_answers(sessions, "1001", attempt, {"own": "no", "brand": "A"})
    assert "not on the path" in bad.value.errors["answers.brand"]
    with pytest.raises(cmp.CampaignInvalid) as bad:
        cmp.record_answers(sessions, "1001", attempt, {"own": "maybe"})
    assert "yes or no" in bad.value.errors["answers.own"]
    with sessions() as session:
        assert cmp.attempt_answers(session, attempt) == {}
    # Step by step, as the desktop posts them.
    assert cmp.record_answers(sessions, "1001", attempt, {"own": "yes"}) == ["own"]
    path = cmp.record_answers(sessions, "1001", attempt, {"own": "yes", "brand": "Other"})
    assert path == ["own", "brand"]
    with pytest.raises(cmp.CampaignInvalid) as bad:  # "Other" leads to "other", not "km"
        cmp.record_answers(sessions, "1001", attempt, {"km": 12000})
    assert "answers.km" in bad.value.errors
    path = cmp.record_answers(sessions, "1001", attempt, {"other": "Tesla", "km": 12000})
    assert path == ["own", "brand", "other", "km"]
    with pytest.raises(Conflict):
        cmp.record_answers(sessions, "1001", attempt, {"own": "no"})
    with pytest.raises(cmp.CampaignInvalid) as bad:
        cmp.record_answers(sessions, "1001", attempt, {"why": ["cost"]})
    with sessions() as session:
        assert cmp.attempt_answers(session, attempt) == {
            "own": "yes", "brand": "Other", "other": "Tesla", "km": 12000,
        }  # fmt: skip
        assert session.scalar(sa.select(sa.func.count()).select_from(CmpAnswer)) == 4
    # A questionnaire with answers is frozen.
    with pytest.raises(Conflict):
        cmp.save_questionnaire(
            sessions, "admin", name="Cars", questions=QUESTIONS, questionnaire_id=qid
        )


def test_script_placeholders(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(cmp.CampaignInvalid) as bad:
        cmp.save_script(sessions, "admin", name="Guide",
                        sections=[{"title": "Hi", "text": "Hello {nickname}"}])  # fmt: skip
    assert "nickname" in bad.value.errors["sections.0.text"]
    for evil in ("{name:>999999999}", "{name!r}", "{name.__class__}", "{0}", "{name"):
        with pytest.raises(cmp.CampaignInvalid):
            cmp.save_script(sessions, "admin", name="G", sections=[{"title": "t", "text": evil}])
    sid = cmp.save_script(
        sessions, "admin", name="Guide",
        sections=[{"title": "Opening", "text": "Good morning {name}, account {account}."}],
    )  # fmt: skip
    list_id = ob.create_list(sessions, "admin", name="L", classification="callback")
    rid = ob.add_record(sessions, "admin", list_id, {"phone": "13800000001", "name": "Li Lei",
                        "account": "A1", "region": "Beijing", "type": "vip"})  # fmt: skip
    with sessions() as session:
        shown = cmp.render_script(session, sid, rid)
    assert shown == [{"title": "Opening", "text": "Good morning Li Lei, account A1."}]


def test_statistics_from_seeded_attempts(sessions: sessionmaker[Session]) -> None:
    cid = _campaign(sessions)
    other = _campaign(sessions, name="Other")
    minute = dt.timedelta(minutes=1)
    seeded = [
        # outcome, agent, right party, conversion, talk minutes
        ("busy", None, False, False, 0),
        ("no_answer", None, False, False, 0),
        ("no_answer", None, False, False, 0),
        ("machine", None, False, False, 0),
        ("failed", None, False, False, 0),
        ("abandoned", None, False, False, 0),
        ("answered", "1001", True, True, 4),
        ("answered", "1001", True, False, 2),
        ("answered", "1002", False, False, 1),
        ("answered", "1002", True, True, 5),
    ]
    for n, (outcome, agent, rpc, conv, talk) in enumerate(seeded):
        start = T0 + n * 10 * minute
        live = outcome == "answered"
        cmp.record_attempt(
            sessions, campaign_id=cid, phone=f"+86138000000{n:02}", outcome=outcome,
            agent_id=agent, started_at=start, answered_at=start + minute if live else None,
            ended_at=start + (1 + talk) * minute, right_party=rpc, conversion=conv,
        )  # fmt: skip
    cmp.record_attempt(sessions, campaign_id=other, phone="+1", outcome="abandoned",
                       started_at=T0)  # fmt: skip
    with sessions() as session:
        stats = cmp.campaign_stats(session, cid)
        later = cmp.campaign_stats(session, cid, since=T0 + 60 * minute)
        rows = cmp.attempts(session, cid)
    assert stats.attempts == 10
    assert stats.by_outcome == {"busy": 1, "no_answer": 2, "machine": 1, "failed": 1,
                                "abandoned": 1, "answered": 4}  # fmt: skip
    assert (stats.contacts, stats.right_party, stats.conversions) == (4, 3, 2)
    assert stats.abandon_rate == pytest.approx(1 / 5)
    assert stats.talk_seconds == {"1001": 360.0, "1002": 360.0}
    assert (later.attempts, later.contacts, later.abandon_rate) == (4, 4, 0.0)
    assert [r.outcome for r in rows][:2] == ["answered", "answered"]
    with pytest.raises(cmp.CampaignInvalid) as bad:
        cmp.record_attempt(sessions, campaign_id=cid, phone="+1", outcome="busy",
                           started_at=T0, conversion=True)  # fmt: skip
    assert "right_party" in bad.value.errors
