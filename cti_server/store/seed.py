"""A small demo contact centre: ``seed_demo(engine)``.

Three tiers (VIP / gold / normal), four skills, agent groups per tier, ten
agents ``1001``..``1010``, team lead ``9001`` and administrator ``9901`` (all
with password ``demo``), queues, not-ready reasons, a business-hours calendar
and 1,000 customers with Chinese names. Well-known demo callers:
``13800138000`` (VIP), ``13900139000`` (gold), ``13700137000`` (normal) and
``13600136000`` (blacklisted).

The web panels' demo data (docs/web.md) comes with it: agent regions (``1001``..``1005``
上海, ``1006``..``1010`` 深圳), the business category tree of R-BIZ-1, notices, query
definitions, a call with a full trajectory and contact records;
:func:`seed_back_office` adds the back-office accounts ``8001`` (上海 department) and
``8002`` (provincial centre).

Idempotent: rows that exist already are left as they are (an administrator's
edits survive a second run), missing ones are added.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher

from . import audit
from .auth import DEFAULT_HASHER
from .calls import CallEventKind, CallStore
from .db import dialect_insert, session_factory
from .models import (
    Agent,
    AgentGroup,
    AgentGroupMember,
    AgentGroupTier,
    AgentSkill,
    Base,
    BusinessCategory,
    Calendar,
    Call,
    CallEvent,
    ContactRecord,
    Customer,
    CustomerNumber,
    Notice,
    QueryDefinition,
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
                        region=_AGENT_REGIONS.get(agent_id),
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
        _seed_web(session, created)
    return SeedReport(created=created)


# --- web panels (docs/web.md) ----------------------------------------------------------------

_AGENT_REGIONS = {
    **{f"{n}": "上海" for n in range(1001, 1006)},
    **{f"{n}": "深圳" for n in range(1006, 1011)},
}

_BACK_OFFICE: list[tuple[str, str, str | None, str]] = [
    ("8001", "孙工", "上海", "上海分公司网络维护部"),
    ("8002", "钱主任", None, "省客服中心"),
]

# (id, parent, Chinese, English): the seven business types of R-BIZ-1 and sub-types
_CATEGORIES: list[tuple[str, str | None, str, str]] = [
    ("acceptance", None, "受理", "Acceptance"),
    ("acceptance.apply", "acceptance", "新装业务", "Apply for a service"),
    ("acceptance.change", "acceptance", "业务变更", "Change a service"),
    ("acceptance.cancel", "acceptance", "业务注销", "Cancel a service"),
    ("acceptance.reserve", "acceptance", "业务预约", "Reserve a service"),
    ("acceptance.prepaid", "acceptance", "开通预付费账户", "Open a prepaid account"),
    ("acceptance.plan", "acceptance", "资费及缴费方式变更", "Tariff and payment plan"),
    ("inquiry", None, "咨询", "Inquiry"),
    ("inquiry.tariff", "inquiry", "资费咨询", "Tariffs"),
    ("inquiry.tariff.broadband", "inquiry.tariff", "宽带资费", "Broadband tariffs"),
    ("inquiry.tariff.tv", "inquiry.tariff", "数字电视资费", "Digital TV tariffs"),
    ("inquiry.outlet", "inquiry", "营业网点", "Service outlets"),
    ("inquiry.procedure", "inquiry", "办理流程", "Procedures"),
    ("inquiry.faq", "inquiry", "常见问题", "FAQs"),
    ("query", None, "查询", "Information query"),
    ("query.service", "query", "业务查询", "Services"),
    ("query.billing", "query", "账单查询", "Billing"),
    ("query.customer", "query", "客户资料查询", "Customer data"),
    ("complaint", None, "报障投诉", "Fault report / complaint"),
    ("complaint.fault", "complaint", "故障报修", "Fault report"),
    ("complaint.fault.broadband", "complaint.fault", "宽带故障", "Broadband fault"),
    ("complaint.fault.tv", "complaint.fault", "电视信号故障", "TV signal fault"),
    ("complaint.service", "complaint", "服务投诉", "Service complaint"),
    ("complaint.billing", "complaint", "账务争议", "Billing dispute"),
    ("payment", None, "缴费", "Payment"),
    ("payment.card", "payment", "充值卡充值", "Recharge card top-up"),
    ("payment.balance", "payment", "余额查询", "Balance"),
    ("payment.receipt", "payment", "缴费凭证", "Receipts"),
    ("marketing", None, "营销", "Marketing"),
    ("marketing.recommend", "marketing", "业务推荐", "Recommendations"),
    ("marketing.campaign", "marketing", "促销活动", "Campaigns"),
    ("care", None, "关怀", "Care"),
    ("care.retention", "care", "客户挽留", "Retention"),
    ("care.followup", "care", "回访", "Follow-up visits"),
    ("care.message", "care", "关怀短信", "Care messages"),
]

_QUERIES: list[dict[str, Any]] = [
    {
        "id": "customers",
        "name_zh": "客户查询",
        "name_en": "Customers",
        "source": "customers",
        "inputs": ["name", "number", "customer_id"],
        "columns": ["customer_id", "name", "region", "tier", "blacklisted"],
        "shape": "table",
    },
    {
        "id": "contacts",
        "name_zh": "接触记录查询",
        "name_en": "Contact records",
        "source": "contacts",
        "inputs": ["number", "agent_id", "disposition", "date_from", "date_to"],
        "columns": ["started_at", "number", "name", "agent_id", "disposition", "business"],
        "shape": "table",
    },
    {
        "id": "contacts_by_agent",
        "name_zh": "座席处理结果统计",
        "name_en": "Dispositions per agent",
        "source": "contacts",
        "inputs": ["date_from", "date_to"],
        "columns": ["agent_id", "disposition"],
        "shape": "pivot",
    },
    {
        "id": "business_records",
        "name_zh": "咨询受理记录",
        "name_en": "Inquiry and acceptance records",
        "source": "business_records",
        "inputs": ["serial_no", "kind", "agent_id"],
        "columns": ["serial_no", "kind", "customer_number", "agent_id", "accessed_at", "result"],
        "shape": "table",
    },
]

_NOTICES: list[tuple[str, str, str, str | None]] = [
    (
        "上海浦东光缆中断",
        "浦东新区部分小区宽带及电视信号中断，抢修中，预计 2 小时内恢复。请安抚来电客户并登记。",
        "major_outage",
        "上海",
    ),
    ("春节期间营业时间调整", "除夕至初三营业厅 10:00-16:00 营业，热线 24 小时服务。", "info", None),
    ("深圳宽带提速活动", "深圳地区宽带用户可免费提速至 500M，活动至月底。", "info", "深圳"),
]

_DISPOSITIONS = ("resolved", "resolved", "resolved", "callback", "transferred", "work_order")
_SUMMARIES = (
    "咨询宽带资费，已解答",
    "报修电视无信号，已派单",
    "查询本月账单",
    "办理套餐变更",
    "投诉装机延误，已登记",
    "充值卡充值成功",
)
DEMO_CALL_ID = "DEMO-CALL-0001"


def _demo_call_events(start: dt.datetime) -> list[tuple[float, str, dict[str, Any]]]:
    return [
        (0, "arrived", {"caller_number": "13800138000", "called_number": "10000"}),
        (0.5, "tier_identified", {"tier_id": "vip", "customer_id": "C000001"}),
        (1, "ivr_node", {"flow_id": "main", "node": "welcome", "label": "欢迎致电"}),
        (6, "ivr_node", {"flow_id": "main", "node": "menu", "label": "业务选择", "digits": "2"}),
        (9, "queued", {"queue_id": "q_broadband", "business_selection": "broadband"}),
        (21, "offered", {"agent_id": "1003"}),
        (24, "answered", {"agent_id": "1003"}),
        (95, "transferred", {"from_agent": "1003", "to_agent": "1001", "mode": "consult"}),
        (240, "released", {"by": "caller"}),
        (255, "closed", {"disposition": "resolved"}),
    ]


def _seed_web(session: Any, created: dict[str, int]) -> None:
    """Categories, query definitions, notices, a demo call and contact records."""

    def count(table: str) -> None:
        created[table] = created.get(table, 0) + 1

    for position, (cid, parent, zh, en) in enumerate(_CATEGORIES):
        if session.get(BusinessCategory, cid) is None:
            session.add(
                BusinessCategory(
                    id=cid,
                    parent_id=parent,
                    kind=cid.split(".")[0],
                    name_zh=zh,
                    name_en=en,
                    position=position * 10,
                    active=True,
                )
            )
            session.flush()
            count("business_categories")
    for position, query in enumerate(_QUERIES):
        if session.get(QueryDefinition, query["id"]) is None:
            session.add(QueryDefinition(**query, page_size=20, position=position, active=True))
            count("query_definitions")
    now = utcnow()
    if session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0:
        for index, (title, body, severity, region) in enumerate(_NOTICES):
            session.add(
                Notice(
                    title=title,
                    body=body,
                    severity=severity,
                    region=region,
                    created_by="9901",
                    created_at=now - dt.timedelta(hours=index + 1),
                    expires_at=None,
                    pushed_to=0,
                )
            )
            count("notices")
    session.flush()
    start = (now - dt.timedelta(days=1)).replace(microsecond=0)
    if session.get(Call, DEMO_CALL_ID) is None and session.get(Customer, "C000001") is not None:
        trajectory_of = Call(
            id=DEMO_CALL_ID,
            arrived_at=start,
            switch_id="",
            caller_number="",
            called_number="",
            business_selection="",
            hold_count=0,
            hold_seconds=0.0,
            transfer_count=0,
            released_by="",
            trajectory=[],
            updated_at=now,
        )
        session.add(trajectory_of)
        for seq, (offset, kind, data) in enumerate(_demo_call_events(start), start=1):
            at = start + dt.timedelta(seconds=offset)
            # folds each event into the summary exactly like the live server
            CallStore._apply(trajectory_of, CallEventKind(kind), at, data)
            session.add(CallEvent(call_id=DEMO_CALL_ID, seq=seq, kind=kind, at=at, data=data))
        session.flush()
        count("calls")
    rng = random.Random(77)
    people: list[tuple[str | None, str]] = [
        (cid if session.get(Customer, cid) is not None else None, number)
        for cid, number in (
            ("C000001", "13800138000"),
            ("C000002", "13900139000"),
            ("C000003", "13700137000"),
        )
    ]
    existing = set(
        session.scalars(sa.select(ContactRecord.id).where(ContactRecord.id.like("DEMO-CR-%")))
    )
    for index in range(1, 61):
        contact_id = f"DEMO-CR-{index:04d}"
        if contact_id in existing:
            continue
        customer_id, number = people[(index - 1) % len(people)]
        started = start - dt.timedelta(hours=index * 7, minutes=rng.randrange(60))
        agent = f"{rng.randrange(1001, 1011)}"
        session.add(
            ContactRecord(
                id=contact_id,
                call_id=DEMO_CALL_ID if index == 1 and session.get(Call, DEMO_CALL_ID) else None,
                customer_id=customer_id,
                number=number,
                agent_id="1001" if index == 1 else agent,
                channel="voice",
                direction="inbound" if index % 5 else "outbound",
                started_at=started,
                ended_at=started + dt.timedelta(seconds=rng.randrange(60, 600)),
                disposition=rng.choice(_DISPOSITIONS),
                business_selection=rng.choice(("billing", "broadband", "tv", "sales")),
                summary=rng.choice(_SUMMARIES),
            )
        )
        count("contact_records")
    session.flush()


def seed_back_office(engine: sa.Engine, *, hasher: PasswordHasher = DEFAULT_HASHER) -> SeedReport:
    """The demo back-office accounts (role ``dept_staff``, password ``demo``); existing
    accounts are left as they are."""
    created: dict[str, int] = {}
    with session_factory(engine).begin() as session:
        for agent_id, name, region, department in _BACK_OFFICE:
            if session.get(Agent, agent_id) is None:
                session.add(
                    Agent(
                        id=agent_id,
                        name=name,
                        password_hash=hasher.hash(DEMO_PASSWORD),
                        role=Role.DEPT_STAFF,
                        active=True,
                        order_key=int(agent_id),
                        region=region,
                        department=department,
                    )
                )
                created["agents"] = created.get("agents", 0) + 1
        if created:
            audit.record(
                session,
                actor="system",
                action="seed",
                entity="demo",
                entity_id="back_office",
                after={"created": created},
            )
    return SeedReport(created=created)
