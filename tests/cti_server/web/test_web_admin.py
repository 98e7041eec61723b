"""Administration console pages (docs/web.md "Administration console") on SQLite and
PostgreSQL: the agents × skills grid (save, bulk edit, field errors, stale forms),
tiers, queues, calendars, reason codes, skills and agent groups — validated with the REST
API's rules, audited with before/after, nothing written on an error — and who may see
and change them (team leads read only, agents refused)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from cti_server.store.models import (
    AgentGroupMember,
    AgentGroupTier,
    AgentSkill,
    AuditEntry,
    Calendar,
    Queue,
    ReasonCode,
    Tier,
)
from tests.cti_server.web.web_support import ADMIN, AGENT_SH, TEAM_LEAD, Browser, WebStack

_STAMP = re.compile(r'name="stamp" value="([^"]+)"')


def _levels(web: WebStack, agent_id: str) -> dict[str, int]:
    with web.engine.connect() as conn:
        rows = conn.execute(
            sa.select(AgentSkill.skill_id, AgentSkill.level).where(AgentSkill.agent_id == agent_id)
        ).all()
    return {skill: level for skill, level in rows}


def _audit(web: WebStack, entity: str, entity_id: str) -> list[AuditEntry]:
    with web.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(AuditEntry.__table__)
                .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
                .order_by(AuditEntry.id)
            ).all()
        )


def _grid_form(browser: Browser, page: int = 1) -> dict[str, Any]:
    """The grid as the browser would submit it unchanged: every cell of the page."""
    html = browser.get(f"/ui/admin/skill-grid?page={page}").text
    stamp = _STAMP.search(html)
    assert stamp
    form: dict[str, Any] = {"stamp": stamp.group(1), "page": str(page)}
    form["agent"] = re.findall(r'name="agent" value="([^"]+)"', html)
    for name, value in re.findall(r'name="(lvl\|[^"]+)" value="([^"]*)"', html):
        form[name] = value
    return form


def test_every_admin_page_opens_for_admins_and_team_leads(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    lead = web.login(TEAM_LEAD, lang="en")
    paths = [
        "/ui/admin",
        "/ui/admin/skill-grid",
        "/ui/admin/groups",
        "/ui/admin/skills",
        "/ui/admin/tiers",
        "/ui/admin/queues",
        "/ui/admin/reasons",
        "/ui/admin/calendars",
        "/ui/admin/prompts",
        "/ui/admin/switches",
    ]
    for path in paths:
        page = admin.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert "Read only" not in page.text
        seen = lead.get(path)
        assert seen.status_code == 200, path
        assert "Read only: only administrators change the configuration." in seen.text
        assert ">Save<" not in seen.text and ">Add<" not in seen.text, path
    grid = admin.get("/ui/admin/skill-grid").text
    assert 'name="lvl|1001|billing" value="1"' in grid  # the seeded level
    assert 'name="lvl|1001|broadband" value=""' in grid
    lead_grid = lead.get("/ui/admin/skill-grid").text
    assert 'name="lvl|1001|billing" value="1" size="2" inputmode="numeric"' in lead_grid
    assert re.search(r'name="lvl\|1001\|billing"[^>]* disabled', lead_grid)
    tiers = admin.get("/ui/admin/tiers").text
    assert 'name="sl_target" value="80"' in tiers  # normal: 0.8 shown as 80 %
    assert "Administration" in admin.get("/ui/").text  # the nav link


def test_agents_and_department_staff_are_refused(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    assert agent.get("/ui/admin/skill-grid").status_code == 403
    assert agent.post("/ui/admin/skill-grid", {"agent": "1001"}).status_code == 403
    assert web.refusals(entity_id="/ui/admin/skill-grid")
    lead = web.login(TEAM_LEAD)
    before = _levels(web, "1001")
    answer = lead.post("/ui/admin/skill-grid", {**_grid_form(lead), "lvl|1001|billing": "3"})
    assert answer.status_code == 403
    assert _levels(web, "1001") == before
    refused = web.refusals(entity_id="/ui/admin/skill-grid")
    assert any(row.actor == TEAM_LEAD for row in refused)
    anonymous = web.anonymous()
    assert anonymous.get("/ui/admin/tiers").status_code == 403


def test_the_grid_saves_changed_levels_with_an_audit_row(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    form = _grid_form(admin)
    form["lvl|1001|billing"] = "2"  # was 1
    form["lvl|1001|tv"] = "3"  # new skill
    form["lvl|1002|broadband"] = ""  # removed (was 2)
    answer = admin.post("/ui/admin/skill-grid", form)
    assert answer.status_code == 303, answer.text[:500]
    assert answer.headers["location"].startswith("/ui/admin/skill-grid?saved=2")
    assert _levels(web, "1001") == {"billing": 2, "sales": 2, "tv": 3}
    assert _levels(web, "1002") == {"billing": 1}
    assert _levels(web, "1003") == {"broadband": 1, "tv": 2}
    (row,) = _audit(web, "agent", "1001")
    assert row.actor == ADMIN and row.action == "update"
    assert row.before == {"skills": {"billing": 1, "sales": 2}}
    assert row.after == {"skills": {"billing": 2, "sales": 2, "tv": 3}}
    assert _audit(web, "agent", "1003") == []  # unchanged rows are not written
    page = admin.get(answer.headers["location"]).text
    assert "Saved: 2 agent(s) changed." in page
    assert 'name="lvl|1001|billing" value="2"' in page
    # the change shows on the console's list of recent changes
    assert "&#34;tv&#34;: 3" in admin.get("/ui/admin").text


@pytest.mark.parametrize("bad", ["0", "abc", "100", "1.5", "-1"])
def test_a_bad_level_is_a_field_error_and_nothing_is_written(web: WebStack, bad: str) -> None:
    admin = web.login(ADMIN, lang="en")
    form = _grid_form(admin)
    form["lvl|1001|billing"] = "3"  # a good change in the same submit
    form["lvl|1002|tv"] = bad
    before = {a: _levels(web, a) for a in ("1001", "1002")}
    answer = admin.post("/ui/admin/skill-grid", form)
    assert answer.status_code == 400
    assert "Not saved: correct the marked fields. Nothing was changed." in answer.text
    assert "A level is a whole number from 1 to 99, or empty." in answer.text
    assert re.search(
        r'name="lvl\|1002\|tv" value="' + re.escape(bad) + '"[^>]*aria-invalid', answer.text
    )
    assert 'name="lvl|1001|billing" value="3"' in answer.text  # the user's input is kept
    assert {a: _levels(web, a) for a in ("1001", "1002")} == before
    assert _audit(web, "agent", "1001") == []


def test_a_stale_grid_is_refused_instead_of_overwriting(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    form = _grid_form(admin)
    other = web.login(ADMIN, lang="en")
    fresh = _grid_form(other)
    fresh["lvl|1004|tv"] = "2"
    assert other.post("/ui/admin/skill-grid", fresh).status_code == 303
    form["lvl|1005|sales"] = "1"
    answer = admin.post("/ui/admin/skill-grid", form)
    assert answer.status_code == 409
    assert "Someone changed these agents" in answer.text
    assert "sales" not in _levels(web, "1005")
    assert _levels(web, "1004")["tv"] == 2


def test_bulk_edit_sets_one_level_for_the_ticked_agents(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    answer = admin.post(
        "/ui/admin/skill-grid/bulk",
        {"bulk_agents": ["1002", "1003"], "bulk_skill": "sales", "bulk_level": "3"},
    )
    assert answer.status_code == 303
    assert _levels(web, "1002")["sales"] == 3 and _levels(web, "1003")["sales"] == 3
    assert len(_audit(web, "agent", "1002")) == 1
    removed = admin.post(
        "/ui/admin/skill-grid/bulk",
        {"bulk_agents": ["1002"], "bulk_skill": "sales", "bulk_level": ""},
    )
    assert removed.status_code == 303 and "sales" not in _levels(web, "1002")
    bad = admin.post(
        "/ui/admin/skill-grid/bulk",
        {"bulk_agents": ["1004"], "bulk_skill": "sales", "bulk_level": "x"},
    )
    assert bad.status_code == 400 and "A level is a whole number" in bad.text
    assert "sales" not in _levels(web, "1004")
    none = admin.post("/ui/admin/skill-grid/bulk", {"bulk_skill": "sales", "bulk_level": "1"})
    assert none.status_code == 400 and "Tick at least one agent." in none.text


def _tier(web: WebStack, tier_id: str) -> Any:
    with web.engine.connect() as conn:
        return conn.execute(sa.select(Tier.__table__).where(Tier.id == tier_id)).one()


def _tier_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "金卡",
        "sl_seconds": "15",
        "sl_target": "85",
        "priority_weight": "2",
        "skip_ivr": "",
        "blacklist_action": "bar",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v != ""}


def test_tier_sl_targets_are_edited_in_percent_and_audited(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    answer = admin.post("/ui/admin/tiers/gold", _tier_form(sl_target="90", sl_seconds="12.5"))
    assert answer.status_code == 303
    tier = _tier(web, "gold")
    assert tier.sl_target == pytest.approx(0.9) and tier.sl_seconds == pytest.approx(12.5)
    (row,) = _audit(web, "tier", "gold")
    assert row.before["sl_target"] == pytest.approx(0.85)
    assert row.after["sl_target"] == pytest.approx(0.9)
    assert row.after["sl_seconds"] == pytest.approx(12.5) and row.actor == ADMIN
    # saving the same values again changes nothing and writes no audit row
    assert (
        admin.post(
            "/ui/admin/tiers/gold", _tier_form(sl_target="90", sl_seconds="12.5")
        ).status_code
        == 303
    )
    assert len(_audit(web, "tier", "gold")) == 1


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"sl_target": "150"}, "sl_target", "Enter a percentage 0–100."),
        ({"sl_seconds": "abc"}, "sl_seconds", "Enter a number."),
        ({"sl_seconds": "0"}, "sl_seconds", "Expected `float` &gt; 0.0"),
        ({"priority_weight": "-1"}, "priority_weight", "Expected `float` &gt; 0.0"),
        ({"name": " "}, "name", "Expected `str` of length &gt;= 1"),
    ],
)
def test_bad_tier_values_are_field_errors(
    web: WebStack, changes: dict[str, str], field: str, text: str
) -> None:
    admin = web.login(ADMIN, lang="en")
    form = _tier_form(**{"sl_target": "95", **changes})
    answer = admin.post("/ui/admin/tiers/gold", form)
    assert answer.status_code == 400
    assert f'data-field="{field}">{text}' in answer.text, answer.text[-3000:]
    assert _tier(web, "gold").sl_target == pytest.approx(0.85)  # not even the good field
    assert _audit(web, "tier", "gold") == []


def _queue_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "billing queue",
        "skill_id": "billing",
        "agent_order": "longest_idle",
        "max_level": "1",
        "overflow": '[{"after": 20, "widen_to_level": 2}]',
        "max_wait": "300",
        "max_wait_action": "callback",
        "acw_seconds": "15",
        "calendar_id": "business_hours",
    }
    form.update(changes)
    return form


def test_queues_are_validated_like_the_rest_api(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    good = admin.post("/ui/admin/queues/q_billing", _queue_form(max_wait="120", acw_seconds="5"))
    assert good.status_code == 303
    with web.engine.connect() as conn:
        queue = conn.execute(sa.select(Queue.__table__).where(Queue.id == "q_billing")).one()
    assert queue.max_wait == 120 and queue.acw_seconds == 5
    assert queue.overflow == [{"after": 20, "widen_to_level": 2}]
    for changes, field in (
        ({"overflow": "[{after: 1}"}, "overflow"),
        ({"overflow": '[{"after": -5}]'}, "overflow"),
        ({"max_wait_action": "hang_up"}, "max_wait_action"),
        ({"skill_id": "nope"}, "skill_id"),
        ({"max_level": "0"}, "max_level"),
    ):
        answer = admin.post("/ui/admin/queues/q_billing", _queue_form(**changes))
        assert answer.status_code == 400, changes
        assert "Not saved" in answer.text
        if field != "skill_id":
            assert f'data-field="{field}"' in answer.text, (changes, answer.text[-2000:])
    assert len(_audit(web, "queue", "q_billing")) == 1


def test_calendars_holidays_and_reason_codes(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    form = {
        "name": "营业时间",
        "tz": "Asia/Shanghai",
        "weekly": "mon 08:00-12:00 13:00-20:00\nsat 09:00-18:00",
        "holidays": "2026-01-01\n2026-05-01",
        "open_days": "",
    }
    assert admin.post("/ui/admin/calendars/business_hours", form).status_code == 303
    with web.engine.connect() as conn:
        cal = conn.execute(
            sa.select(Calendar.__table__).where(Calendar.id == "business_hours")
        ).one()
    assert cal.weekly == {
        "mon": [["08:00", "12:00"], ["13:00", "20:00"]],
        "sat": [["09:00", "18:00"]],
    }
    assert cal.holidays == ["2026-01-01", "2026-05-01"]
    for changes, field in (
        ({"holidays": "2026-02-30"}, "holidays"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"weekly": "mon 20:00-08:00"}, "weekly"),
        ({"weekly": "someday 08:00-09:00"}, "weekly"),
    ):
        answer = admin.post("/ui/admin/calendars/business_hours", {**form, **changes})
        assert answer.status_code == 400, changes
        assert f'data-field="{field}"' in answer.text, (changes, answer.text[-2000:])
    assert len(_audit(web, "calendar", "business_hours")) == 1

    created = admin.post(
        "/ui/admin/reasons", {"id": "coaching", "label": "辅导", "paid": "1", "active": "1"}
    )
    assert created.status_code == 303
    duplicate = admin.post("/ui/admin/reasons", {"id": "coaching", "label": "again"})
    assert duplicate.status_code == 400 and "exists already" in duplicate.text
    bad_id = admin.post("/ui/admin/reasons", {"id": "with space", "label": "x"})
    assert bad_id.status_code == 400 and 'data-field="id"' in bad_id.text
    assert admin.post("/ui/admin/reasons/coaching", {"action": "delete"}).status_code == 303
    with web.engine.connect() as conn:
        assert (
            conn.execute(sa.select(ReasonCode.id).where(ReasonCode.id == "coaching")).first()
            is None
        )
    assert [r.action for r in _audit(web, "reason_code", "coaching")] == ["create", "delete"]
    in_use = admin.post("/ui/admin/skills/billing", {"action": "delete"})
    assert in_use.status_code == 400 and "still in use" in in_use.text


def test_agent_groups_change_tiers_and_members_in_one_audited_step(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    answer = admin.post(
        "/ui/admin/groups/vip_team",
        {"name": "VIP 服务组", "tiers": ["vip", "gold"], "members": ["1001", "1007"]},
    )
    assert answer.status_code == 303
    with web.engine.connect() as conn:
        tiers = set(
            conn.execute(
                sa.select(AgentGroupTier.tier_id).where(AgentGroupTier.group_id == "vip_team")
            ).scalars()
        )
        members = set(
            conn.execute(
                sa.select(AgentGroupMember.agent_id).where(AgentGroupMember.group_id == "vip_team")
            ).scalars()
        )
    assert tiers == {"vip", "gold"} and members == {"1001", "1007"}
    (row,) = _audit(web, "agent_group", "vip_team")
    assert row.before["tiers"] == ["vip"] and row.after["tiers"] == ["gold", "vip"]
    assert row.after["members"] == ["1001", "1007"]
    bad = admin.post(
        "/ui/admin/groups/vip_team", {"name": "VIP", "tiers": ["platinum"], "members": ["1001"]}
    )
    assert bad.status_code == 400 and "Unknown entry." in bad.text
    assert len(_audit(web, "agent_group", "vip_team")) == 1
    created = admin.post("/ui/admin/groups", {"id": "night", "name": "夜班", "tiers": ["normal"]})
    assert created.status_code == 303
    assert [r.action for r in _audit(web, "agent_group", "night")] == ["create"]


def test_a_foreign_csrf_token_is_refused_and_nothing_written(web: WebStack) -> None:
    admin = web.login(ADMIN)
    before = _levels(web, "1001")
    answer = admin.post(
        "/ui/admin/skill-grid", {**_grid_form(admin), "lvl|1001|billing": "4"}, csrf="forged"
    )
    assert answer.status_code == 403
    assert _levels(web, "1001") == before
    assert web.refusals(entity_id="/ui/admin/skill-grid")


def test_chinese_pages(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="zh")
    page = admin.get("/ui/admin/skill-grid").text
    assert "座席技能" in page and "批量修改" in page
    form = _grid_form(admin)
    form["lvl|1001|billing"] = "零"
    answer = admin.post("/ui/admin/skill-grid", form)
    assert answer.status_code == 400 and "等级须为 1 到 99 的整数，或留空。" in answer.text
