"""Audited configuration CRUD and the routing configuration (R-TIER-3, R-SKILL-1..3)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.store import (
    ConfigStore,
    Conflict,
    ImmutableVersion,
    InvalidData,
    NotFound,
    Role,
    TierDirectory,
    import_tiers,
    session_factory,
)
from cti_server.store.audit import audited, record
from cti_server.store.models import IvrFlow, Skill


def _audit_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one())


def _store(engine: sa.Engine, hasher: PasswordHasher) -> ConfigStore:
    store = ConfigStore(engine, hasher=hasher)
    store.create(
        "9901",
        "tier",
        "vip",
        {"name": "VIP", "sl_seconds": 10, "sl_target": 0.9, "priority_weight": 3, "skip_ivr": True},
    )
    store.create("9901", "tier", "normal", {"name": "普通", "sl_seconds": 20, "sl_target": 0.8})
    store.create("9901", "skill", "billing", {"name": "账务"})
    store.create("9901", "skill", "tv", {"name": "电视"})
    return store


def test_changes_are_audited_with_before_and_after(
    engine: sa.Engine, fast_hasher: PasswordHasher
) -> None:
    """Every configuration change leaves who/when/what/before/after."""
    store = _store(engine, fast_hasher)
    updated = store.update("9901", "tier", "vip", {"sl_target": 0.95})
    assert updated["sl_target"] == 0.95
    store.delete("9001", "skill", "tv")
    log = store.audit_log(entity="tier", entity_id="vip")
    assert [e.action for e in log] == ["update", "create"]
    assert log[0].actor == "9901" and log[0].at.tzinfo is not None
    assert log[0].before is not None and log[0].before["sl_target"] == 0.9
    assert log[0].after is not None and log[0].after["sl_target"] == 0.95
    deleted = store.audit_log(actor="9001")
    assert deleted[0].action == "delete" and deleted[0].before == {"id": "tv", "name": "电视"}
    assert _audit_count(engine) == 6


def test_failed_changes_write_neither_change_nor_audit(
    engine: sa.Engine, fast_hasher: PasswordHasher
) -> None:
    store = _store(engine, fast_hasher)
    before = _audit_count(engine)
    with pytest.raises(InvalidData, match="sl_target"):
        store.update("9901", "tier", "vip", {"sl_target": 1.5})
    with pytest.raises(InvalidData, match="writable"):
        store.update("9901", "tier", "vip", {"bogus": 1})
    with pytest.raises(InvalidData, match="wrong type"):
        store.update("9901", "tier", "vip", {"sl_seconds": "ten"})
    with pytest.raises(Conflict, match="exists already"):
        store.create("9901", "skill", "billing", {"name": "again"})
    with pytest.raises(NotFound):
        store.update("9901", "tier", "gold", {"name": "金卡"})
    with pytest.raises(Conflict):  # unknown skill: the foreign key refuses it
        store.create("9901", "queue", "q1", {"name": "Q", "skill_id": "nope"})
    import_tiers(engine, [{"customer_id": "C1", "numbers": "13800138000", "tier": "normal"}])
    with pytest.raises(Conflict, match="in use"):
        store.delete("9901", "tier", "normal")
    assert _audit_count(engine) == before
    assert store.get("tier", "vip")["sl_target"] == 0.9


def test_audited_helper_commits_or_rolls_back_with_the_change(engine: sa.Engine) -> None:
    sessions = session_factory(engine)
    with audited(sessions, actor="9901", action="create", entity="skill", entity_id="sales") as (
        session,
        after,
    ):
        session.add(Skill(id="sales", name="销售"))
        after.update({"name": "销售"})

    def failing_request() -> None:
        with sessions.begin() as session:
            session.add(Skill(id="tv", name="电视"))
            record(session, actor="9901", action="create", entity="skill", entity_id="tv")
            raise RuntimeError("the request failed after the change")

    with pytest.raises(RuntimeError):
        failing_request()
    with sessions() as session:
        assert session.get(Skill, "sales") is not None and session.get(Skill, "tv") is None
    assert _audit_count(engine) == 1


def test_routing_config_loads_everything_as_plain_data(
    engine: sa.Engine, fast_hasher: PasswordHasher
) -> None:
    store = _store(engine, fast_hasher)
    store.create(
        "9901",
        "calendar",
        "hours",
        {
            "name": "营业时间",
            "tz": "Asia/Shanghai",
            "weekly": {"mon": [["08:00", "20:00"]], "sat": [["09:00", "12:00"]]},
            "holidays": ["2026-10-01"],
        },
    )
    store.create(
        "9901",
        "queue",
        "q_billing",
        {
            "name": "账务",
            "skill_id": "billing",
            "max_level": 1,
            "calendar_id": "hours",
            "overflow": [{"after": 60, "add_groups": ["all"]}, {"after": 20, "widen_to_level": 2}],
            "max_wait": 300,
            "max_wait_action": "overflow:q_tv",
            "acw_seconds": 10,
        },
    )
    store.create("9901", "agent", "1001", {"name": "张伟", "password": "pw"})
    store.create("9901", "agent", "9001", {"name": "班长", "password": "pw", "role": "team_lead"})
    store.create("9901", "agent_group", "vip_team", {"name": "VIP组"})
    store.set_agent_skills("9901", "1001", {"billing": 1, "tv": 2})
    store.set_group_members("9901", "vip_team", ["1001", "9001"])
    store.set_group_tiers("9901", "vip_team", ["vip"])
    store.create("9901", "reason_code", "break", {"label": "小休"})

    config = store.routing_config()
    assert config.tiers["vip"].skip_ivr and config.tiers["vip"].priority_weight == 3.0
    assert config.agents["1001"].skills == {"billing": 1, "tv": 2}
    assert config.agents["1001"].groups == frozenset({"vip_team"})
    assert config.agents["9001"].role is Role.TEAM_LEAD
    assert config.groups["vip_team"].tiers == frozenset({"vip"})
    assert config.groups["vip_team"].members == frozenset({"1001", "9001"})
    queue = config.queues["q_billing"]
    assert [r.after for r in queue.overflow] == [20.0, 60.0]
    assert queue.overflow[1].add_groups == frozenset({"all"})
    assert queue.max_wait_action == "overflow:q_tv" and queue.calendar_id == "hours"
    assert config.calendars["hours"].holidays == frozenset({dt.date(2026, 10, 1)})
    assert config.calendars["hours"].weekly["mon"] == (("08:00", "20:00"),)
    assert config.reason_codes["break"].paid
    assert "password_hash" not in store.get("agent", "1001")
    skills_audit = store.audit_log(entity="agent", entity_id="1001")[0]
    assert skills_audit.before == {"skills": {}}
    assert skills_audit.after == {"skills": {"billing": 1, "tv": 2}}


@pytest.mark.parametrize(
    ("entity", "data", "field"),
    [
        ("queue", {"name": "Q", "skill_id": "billing", "agent_order": "random"}, "agent_order"),
        (
            "queue",
            {"name": "Q", "skill_id": "billing", "max_wait_action": "hangup"},
            "max_wait_action",
        ),
        (
            "queue",
            {"name": "Q", "skill_id": "billing", "overflow": [{"widen_to_level": 2}]},
            "overflow[0]",
        ),
        ("calendar", {"name": "C", "tz": "Mars/Olympus"}, "tz"),
        ("calendar", {"name": "C", "weekly": {"mon": [["18:00", "08:00"]]}}, "weekly"),
        ("calendar", {"name": "C", "holidays": ["tomorrow"]}, "holidays"),
        ("agent", {"name": "A", "password": "pw", "role": "superuser"}, "role"),
        ("agent", {"name": "A"}, "password"),
        ("tier", {"name": "T", "sl_seconds": 0, "sl_target": 0.8}, "sl_seconds"),
        ("tier", {"name": "T", "sl_seconds": 20}, "sl_target"),
        ("customer", {"name": "王伟"}, "tier_id"),
        ("skill", {}, "name"),
    ],
)
def test_invalid_config_is_a_typed_error(
    engine: sa.Engine,
    fast_hasher: PasswordHasher,
    entity: str,
    data: dict[str, object],
    field: str,
) -> None:
    store = _store(engine, fast_hasher)
    with pytest.raises(InvalidData) as info:
        store.create("9901", entity, "x1", data)
    assert info.value.field == field


def test_customer_numbers_edit_invalidates_tier_cache(
    tiers: sa.Engine, fast_hasher: PasswordHasher
) -> None:
    import_tiers(
        tiers,
        [
            {"customer_id": "C1", "numbers": "13800138000", "tier": "vip"},
            {"customer_id": "C2", "numbers": "13900139000", "tier": "normal"},
        ],
    )
    directory = TierDirectory(tiers)
    store = ConfigStore(tiers, tier_directory=directory, hasher=fast_hasher)
    assert directory.lookup("13700137000") is None
    assert directory.lookup("13800138000").tier_id == "vip"  # type: ignore[union-attr]
    store.set_customer_numbers("9901", "C1", ["+86 137 0013 7000", "13800138000"])
    store.update("9901", "customer", "C1", {"tier_id": "normal", "blacklisted": True})
    found = directory.lookup("13700137000")
    assert found is not None and found.tier_id == "normal" and found.blacklisted
    assert store.get("customer", "C1")["numbers"] == ["13700137000", "13800138000"]
    with pytest.raises(Conflict, match="13900139000"):
        store.set_customer_numbers("9901", "C1", ["13900139000"])
    with pytest.raises(InvalidData, match="numbers"):
        store.set_customer_numbers("9901", "C1", ["call me"])
    store.delete("9901", "customer", "C2")
    assert directory.lookup("13900139000") is None


def test_ivr_flow_versions_are_immutable_and_one_is_published(
    engine: sa.Engine, fast_hasher: PasswordHasher
) -> None:
    """R-IVR-5: flows are data; a stored version never changes, publishing picks one."""
    store = ConfigStore(engine, hasher=fast_hasher)
    v1 = store.add_flow_version("9901", "main", "主流程", {"start": "welcome", "nodes": {}})
    v2 = store.add_flow_version("9901", "main", "主流程", {"start": "menu", "nodes": {}})
    assert (v1, v2) == (1, 2)
    assert store.get_flow("main")["version"] == 2  # nothing published: the latest
    store.publish_flow("9901", "main", 1)
    assert store.get_flow("main")["document"]["start"] == "welcome"
    store.publish_flow("9901", "main", 2)
    assert [f["published"] for f in store.list_flows()] == [False, True]
    with pytest.raises(NotFound):
        store.publish_flow("9901", "main", 7)

    def tamper() -> None:
        with store.sessions.begin() as session:
            flow = session.get(IvrFlow, ("main", 1))
            assert flow is not None
            flow.document = {"start": "hacked"}

    with pytest.raises(ImmutableVersion):
        tamper()
    assert store.get_flow("main", 1)["document"]["start"] == "welcome"
    assert [e.action for e in store.audit_log(entity="ivr_flow")] == [
        "publish",
        "publish",
        "create",
        "create",
    ]


def test_customers_can_be_browsed_by_number_name_and_tier(
    tiers: sa.Engine, fast_hasher: PasswordHasher
) -> None:
    """R-TIER-3: browse and edit tier data."""
    import_tiers(
        tiers,
        [
            {
                "customer_id": "C1",
                "name": "王伟",
                "numbers": "13800138000;010-12345678",
                "tier": "vip",
                "blacklisted": "0",
            },
            {
                "customer_id": "C2",
                "name": "王芳",
                "numbers": "13900139000",
                "tier": "normal",
                "blacklisted": "1",
            },
            {
                "customer_id": "C3",
                "name": "李娜_%",
                "numbers": "13700137000",
                "tier": "normal",
                "blacklisted": "0",
            },
        ],
    )
    store = ConfigStore(tiers, hasher=fast_hasher)
    by_number = store.search_customers(text="+86 10 1234 5678")
    assert [c["id"] for c in by_number] == ["C1"]
    assert by_number[0]["numbers"] == ["01012345678", "13800138000"]
    assert [c["id"] for c in store.search_customers(text="王")] == ["C1", "C2"]
    assert [c["id"] for c in store.search_customers(text="_%")] == ["C3"]
    assert [c["id"] for c in store.search_customers(tier_id="normal", blacklisted=False)] == ["C3"]
    assert [c["id"] for c in store.search_customers(limit=1, offset=1)] == ["C2"]
    assert store.customers_per_tier() == {"vip": 1, "normal": 2}
