"""The demo contact centre (one command starts a working demo)."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.store import ConfigStore, TierDirectory, authenticate, seed_demo


def _counts(engine: sa.Engine) -> dict[str, int]:
    tables = (
        "tiers",
        "skills",
        "agents",
        "agent_skills",
        "agent_groups",
        "agent_group_members",
        "agent_group_tiers",
        "queues",
        "reason_codes",
        "calendars",
        "customers",
        "customer_numbers",
    )
    with engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }


def test_seed_creates_a_usable_demo_and_is_idempotent(
    engine: sa.Engine, fast_hasher: PasswordHasher
) -> None:
    first = seed_demo(engine, hasher=fast_hasher)
    counts = _counts(engine)
    assert counts["customers"] == 1000 and counts["agents"] == 12 and counts["tiers"] == 3
    assert counts["customer_numbers"] >= 1000
    assert first.created["customers"] == 1000

    store = ConfigStore(engine, hasher=fast_hasher)
    store.update("9901", "tier", "vip", {"sl_seconds": 8})  # an administrator's edit
    second = seed_demo(engine, hasher=fast_hasher)
    assert second.total == 0
    assert _counts(engine) == counts
    assert store.get("tier", "vip")["sl_seconds"] == 8  # survives a re-seed

    directory = TierDirectory(engine)
    assert directory.lookup("+86 138 0013 8000").tier_id == "vip"  # type: ignore[union-attr]
    assert directory.lookup("13900139000").tier_id == "gold"  # type: ignore[union-attr]
    assert directory.lookup("13600136000").blacklisted  # type: ignore[union-attr]
    config = store.routing_config()
    assert set(config.skills) == {"billing", "broadband", "tv", "sales"}
    assert all(q.calendar_id == "business_hours" for q in config.queues.values())
    assert {a.role.value for a in config.agents.values()} == {"agent", "team_lead", "admin"}
    with store.sessions.begin() as session:
        for agent_id in ("1001", "1010", "9001", "9901"):
            assert authenticate(session, agent_id, "demo", hasher=fast_hasher) is not None
    with engine.connect() as conn:
        tiers: dict[str, int] = dict(
            conn.execute(sa.text("SELECT tier_id, count(*) FROM customers GROUP BY tier_id")).all()
        )
    assert set(tiers) == {"vip", "gold", "normal"} and tiers["normal"] > tiers["vip"]
