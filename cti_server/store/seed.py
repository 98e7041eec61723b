"""A small demo contact centre: ``seed_demo(engine)``.

Three tiers (VIP / gold / normal), four skills, agent groups per tier, ten
agents ``1001``..``1010``, team lead ``9001`` and administrator ``9901`` (all
with password ``demo``), queues, not-ready reasons, a business-hours calendar
and 1,000 customers with Chinese names. Well-known demo callers:
``13800138000`` (VIP), ``13900139000`` (gold), ``13700137000`` (normal) and
``13600136000`` (blacklisted).

Idempotent: rows that exist already are left as they are (an administrator's
edits survive a second run), missing ones are added.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher

from . import audit
from .auth import DEFAULT_HASHER
from .db import dialect_insert, session_factory
from .models import (
    Agent,
    AgentGroup,
    AgentGroupMember,
    AgentGroupTier,
    AgentSkill,
    Base,
    Calendar,
    Customer,
    CustomerNumber,
    Queue,
    ReasonCode,
    Role,
    Skill,
    Tier,
    utcnow,
)

DEMO_PASSWORD = "demo"
WELL_KNOWN = {
    "C000001": ("vip", "13800138000", False),
    "C000002": ("gold", "13900139000", False),
    "C000003": ("normal", "13700137000", False),
    "C000004": ("normal", "13600136000", True),
}
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志"
    "强文博子涵欣怡浩然雨轩梓萱"
)
_REGIONS = ("北京", "上海", "广州", "深圳", "成都", "杭州", "武汉", "西安")
_SERVICES = ("broadband", "iptv", "mobile", "landline")


@dataclass(frozen=True, slots=True)
class SeedReport:
    created: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.created.values())


def _config_rows() -> list[Base]:
    rows: list[Base] = [
        Tier(
            id="vip",
            name="VIP",
            sl_seconds=10,
            sl_target=0.9,
            priority_weight=3.0,
            skip_ivr=True,
            blacklist_action="allow",
        ),
        Tier(
            id="gold",
            name="金卡",
            sl_seconds=15,
            sl_target=0.85,
            priority_weight=2.0,
            skip_ivr=False,
            blacklist_action="bar",
        ),
        Tier(
            id="normal",
            name="普通",
            sl_seconds=20,
            sl_target=0.8,
            priority_weight=1.0,
            skip_ivr=False,
            blacklist_action="bar",
        ),
        Skill(id="billing", name="账务查询"),
        Skill(id="broadband", name="宽带故障"),
        Skill(id="tv", name="数字电视"),
        Skill(id="sales", name="业务办理"),
        Calendar(
            id="business_hours",
            name="营业时间",
            tz="Asia/Shanghai",
            weekly={
                **{d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                "sat": [["09:00", "18:00"]],
                "sun": [["09:00", "18:00"]],
            },
            holidays=["2026-01-01", "2026-10-01", "2026-10-02", "2026-10-03"],
            open_days=[],
        ),
        ReasonCode(id="break", label="小休", paid=True, active=True),
        ReasonCode(id="lunch", label="用餐", paid=False, active=True),
        ReasonCode(id="training", label="培训", paid=True, active=True),
        ReasonCode(id="meeting", label="会议", paid=True, active=True),
        ReasonCode(id="backoffice", label="事务处理", paid=True, active=True),
        AgentGroup(id="vip_team", name="VIP 服务组"),
        AgentGroup(id="gold_team", name="金卡服务组"),
        AgentGroup(id="general", name="综合服务组"),
    ]
    for skill in ("billing", "broadband", "tv", "sales"):
        rows.append(
            Queue(
                id=f"q_{skill}",
                name=f"{skill} queue",
                skill_id=skill,
                agent_order="longest_idle",
                max_level=1,
                overflow=[
                    {"after": 20, "widen_to_level": 2},
                    {"after": 60, "widen_to_level": 3, "add_groups": ["general"]},
                ],
                max_wait=300.0,
                max_wait_action="callback",
                acw_seconds=15.0,
                calendar_id="business_hours",
            )
        )
    for tier_group, tiers in (
        ("vip_team", ("vip",)),
        ("gold_team", ("vip", "gold")),
        ("general", ("gold", "normal")),
    ):
        rows.extend(AgentGroupTier(group_id=tier_group, tier_id=t) for t in tiers)
    return rows


_AGENTS: list[tuple[str, str, Role, dict[str, int], tuple[str, ...]]] = [
    ("1001", "张伟", Role.AGENT, {"billing": 1, "sales": 2}, ("vip_team", "gold_team")),
    ("1002", "王芳", Role.AGENT, {"billing": 1, "broadband": 2}, ("vip_team", "gold_team")),
    ("1003", "李娜", Role.AGENT, {"broadband": 1, "tv": 2}, ("vip_team", "general")),
    ("1004", "刘洋", Role.AGENT, {"broadband": 1, "billing": 2}, ("gold_team", "general")),
    ("1005", "陈静", Role.AGENT, {"tv": 1, "broadband": 2}, ("gold_team", "general")),
    ("1006", "杨磊", Role.AGENT, {"tv": 1, "sales": 2}, ("general",)),
    ("1007", "黄敏", Role.AGENT, {"sales": 1, "billing": 2}, ("general",)),
    ("1008", "赵强", Role.AGENT, {"sales": 1, "tv": 2}, ("gold_team", "general")),
    ("1009", "吴秀英", Role.AGENT, {"billing": 1, "tv": 3}, ("general",)),
    ("1010", "周杰", Role.AGENT, {"broadband": 1, "sales": 3}, ("general",)),
    ("9001", "徐班长", Role.TEAM_LEAD, {"billing": 2, "broadband": 2}, ("vip_team",)),
    ("9901", "系统管理员", Role.ADMIN, {}, ()),
]


def demo_customers(count: int, seed: int = 2026) -> list[tuple[dict[str, Any], list[str]]]:
    """Deterministic demo customers: (customer row, numbers)."""
    rng = random.Random(seed)
    result: list[tuple[dict[str, Any], list[str]]] = []
    used: set[str] = {n for _t, n, _b in WELL_KNOWN.values()}
    now = utcnow()
    for index in range(1, count + 1):
        cid = f"C{index:06d}"
        name = rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2))))
        if cid in WELL_KNOWN:
            tier, number, blacklisted = WELL_KNOWN[cid]
            numbers = [number]
        else:
            roll = rng.random()
            tier = "vip" if roll < 0.05 else "gold" if roll < 0.25 else "normal"
            blacklisted = False
            while True:
                number = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
                if number not in used:
                    break
            numbers = [number]
            if rng.random() < 0.2:
                numbers.append(
                    f"0{rng.choice(('10', '21', '20', '755'))}{rng.randrange(10**7, 10**8)}"
                )
        numbers = [n for n in numbers if n not in used or n == numbers[0]]
        used.update(numbers)
        row = {
            "id": cid,
            "name": name,
            "region": rng.choice(_REGIONS),
            "tier_id": tier,
            "blacklisted": blacklisted,
            "services": sorted(rng.sample(_SERVICES, k=rng.randint(1, 3))),
            "updated_at": now,
        }
        result.append((row, numbers))
    return result


def seed_demo(
    engine: sa.Engine, *, customers: int = 1000, hasher: PasswordHasher = DEFAULT_HASHER
) -> SeedReport:
    """Create the demo configuration and customers; existing rows are kept."""
    created: dict[str, int] = {}
    sessions = session_factory(engine)
    with sessions.begin() as session:
        for row in _config_rows():
            key = sa.inspect(row).mapper.primary_key_from_instance(row)
            if session.get(type(row), tuple(key)) is None:
                session.add(row)
                name = type(row).__tablename__
                created[name] = created.get(name, 0) + 1
        session.flush()
        for agent_id, name, role, skills, groups in _AGENTS:
            if session.get(Agent, agent_id) is None:
                session.add(
                    Agent(
                        id=agent_id,
                        name=name,
                        password_hash=hasher.hash(DEMO_PASSWORD),
                        role=role,
                        active=True,
                        order_key=int(agent_id),
                    )
                )
                session.flush()
                session.add_all(
                    AgentSkill(agent_id=agent_id, skill_id=s, level=lvl)
                    for s, lvl in skills.items()
                )
                session.add_all(AgentGroupMember(group_id=g, agent_id=agent_id) for g in groups)
                created["agents"] = created.get("agents", 0) + 1
        session.flush()

        dialect = engine.dialect.name
        people = demo_customers(customers)
        before = session.scalar(sa.select(sa.func.count()).select_from(Customer)) or 0
        for start in range(0, len(people), 1000):
            batch = people[start : start + 1000]
            session.execute(
                dialect_insert(dialect, Customer.__table__).on_conflict_do_nothing(
                    index_elements=["id"]
                ),
                [row for row, _numbers in batch],
            )
            session.execute(
                dialect_insert(dialect, CustomerNumber.__table__).on_conflict_do_nothing(
                    index_elements=["number"]
                ),
                [
                    {"number": n, "customer_id": row["id"]}
                    for row, numbers in batch
                    for n in numbers
                ],
            )
        after = session.scalar(sa.select(sa.func.count()).select_from(Customer)) or 0
        if after > before:
            created["customers"] = after - before
        if created:
            audit.record(
                session,
                actor="system",
                action="seed",
                entity="demo",
                entity_id="demo",
                after={"created": created},
            )
    return SeedReport(created=created)
