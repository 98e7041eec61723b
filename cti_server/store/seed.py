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
        seed_payments(session, created, hasher=hasher)
        seed_workorders(session, created)
        seed_services_care(session, created)
        seed_knowledge(session, created)
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


# --- work orders (issue 6) ---

_WO_SH = "上海分公司网络维护部"
_WO_CENTRE = "省客服中心"

# (customer, category, priority, title, description, minutes ago, steps); a step is
# (minutes after creation, actor, kind, department, text, data)
_WORK_ORDERS: list[tuple[str, str, str, str, str, int, list[tuple[Any, ...]]]] = [
    (
        "C000001",
        "complaint.fault.broadband",
        "high",
        "宽带频繁掉线 / Broadband keeps dropping",
        "客户反映近三天晚间宽带频繁掉线，光猫 LOS 灯闪红。已远程重启无效，需上门检修。",
        180,
        [(2, "1001", "dispatched", _WO_SH, "", {})],
    ),
    (
        "C000007",
        "complaint.fault.tv",
        "urgent",
        "电视无信号 / No TV signal",
        "机顶盒提示“无信号”，同楼栋邻居也无信号，疑似分线箱故障。",
        45,
        [
            (1, "1002", "dispatched", _WO_SH, "", {}),
            (6, "8001", "accepted", None, "", {}),
            (9, "8001", "note", None, "已联系客户，技术员出发。", {}),
            (38, "8001", "on_site", None, "已到达现场，检查分线箱。", {}),
        ],
    ),
    (
        "C000002",
        "complaint.billing",
        "normal",
        "本月账单重复扣费 / Charged twice this month",
        "客户称 11 月宽带月租被扣两次，要求退还多扣费用。",
        300,
        [
            (3, "1006", "dispatched", _WO_CENTRE, "", {}),
            (8, "8002", "accepted", None, "", {}),
            (
                95,
                "8002",
                "resolved",
                None,
                "核实为系统重复出账，已冲正 128.00 元，下月账单体现。",
                {},
            ),
        ],
    ),
    (
        "C000003",
        "complaint.service",
        "normal",
        "装机人员迟到 / Installer was late",
        "预约上午 9 点装机，人员 11 点才到，客户要求说明并改进。",
        2 * 24 * 60,
        [
            (4, "1003", "dispatched", _WO_CENTRE, "", {}),
            (9, "8002", "accepted", None, "", {}),
            (240, "8002", "resolved", None, "已约谈装维班组，对客户致歉并赠送一个月宽带。", {}),
            (
                300,
                "1003",
                "replied",
                None,
                "已电话告知客户处理结果，客户表示满意。",
                {"channel": "phone"},
            ),
            (310, "1003", "closed", None, "", {}),
        ],
    ),
    (
        "C000012",
        "complaint.fault.broadband",
        "normal",
        "宽带无法上网 / No internet access",
        "客户来电称宽带无法拨号，错误 691。",
        20,
        [],
    ),
    (
        "C000005",
        "acceptance.change",
        "low",
        "套餐变更未生效 / Plan change not applied",
        "客户上月办理套餐变更，本月仍按旧套餐计费。",
        120,
        [
            (5, "1004", "dispatched", _WO_CENTRE, "", {}),
            (30, "8002", "rejected", None, "属营业厅受理范围，请转营业部处理。", {}),
        ],
    ),
]

_WO_STATUS_AFTER = {
    "dispatched": "dispatched",
    "accepted": "accepted",
    "on_site": "in_progress",
    "resolved": "resolved",
    "replied": "replied",
    "closed": "closed",
    "rejected": "rejected",
}

_WO_RULES: list[tuple[str | None, str | None, int, int | None, int | None, str | None]] = [
    ("complaint.fault", None, 10, 60, 24 * 60, _WO_SH),
    ("complaint.fault", "urgent", 5, 30, 4 * 60, _WO_SH),
    ("complaint.billing", None, 30, None, 2 * 24 * 60, _WO_CENTRE),
    ("complaint.service", None, 30, None, 2 * 24 * 60, _WO_CENTRE),
]


def seed_workorders(session: Any, created: dict[str, int]) -> None:
    """Demo work orders in every state (some overdue), SLA rules routing faults to the
    上海 department and billing/service complaints to the provincial centre, and a
    callback task; only when there are no work orders yet."""
    from .models import CallbackTask, WorkOrder, WorkOrderEvent, WorkOrderSlaRule

    def count(table: str) -> None:
        created[table] = created.get(table, 0) + 1

    if session.scalar(sa.select(sa.func.count()).select_from(WorkOrderSlaRule)) <= 1:
        for category, priority, respond, on_site, resolve, department in _WO_RULES:
            if session.get(BusinessCategory, category) is not None:
                session.add(
                    WorkOrderSlaRule(
                        category_id=category,
                        priority=priority,
                        respond_minutes=respond,
                        on_site_minutes=on_site,
                        resolve_minutes=resolve,
                        department=department,
                        updated_by="system",
                        updated_at=utcnow(),
                    )
                )
                count("work_order_sla_rules")
    if session.scalar(sa.select(sa.func.count()).select_from(WorkOrder)):
        return
    now = utcnow().replace(microsecond=0)
    numbers: dict[str, int] = {}
    for customer_id, category, priority, title, text, ago, steps in _WORK_ORDERS:
        customer = session.get(Customer, customer_id)
        if customer is None or session.get(BusinessCategory, category) is None:
            continue
        number = session.scalar(
            sa.select(CustomerNumber.number).where(CustomerNumber.customer_id == customer_id)
        )
        at = now - dt.timedelta(minutes=ago)
        day = f"{at:%Y%m%d}"
        numbers[day] = numbers.get(day, 0) + 1
        on_site = None if category.startswith(("complaint.billing", "complaint.service")) else 60
        respond = 5 if priority == "urgent" else 10
        on_site = 30 if on_site and priority == "urgent" else on_site
        call_id = DEMO_CALL_ID if customer_id == "C000001" else None
        order = WorkOrder(
            id=f"WO-{day}-{numbers[day]:04d}",
            customer_id=customer_id,
            customer_number=number or "",
            call_id=call_id if call_id and session.get(Call, call_id) else None,
            contact_id=(
                "DEMO-CR-0001"
                if call_id and session.get(ContactRecord, "DEMO-CR-0001") is not None
                else None
            ),
            category_id=category,
            priority=priority,
            title=title,
            description=text,
            status="new",
            department=None,
            assignee=None,
            created_by=steps[0][1] if steps else "1001",
            respond_by=at + dt.timedelta(minutes=respond),
            on_site_by=at + dt.timedelta(minutes=on_site) if on_site else None,
            resolve_by=at + dt.timedelta(minutes=24 * 60 if on_site else 2 * 24 * 60),
            created_at=at,
            feedback="",
            updated_at=at,
        )
        session.add(order)
        session.flush()
        session.add(
            WorkOrderEvent(
                order_id=order.id,
                at=at,
                actor=order.created_by,
                kind="created",
                from_status=None,
                to_status="new",
                department=None,
                text=text,
                data={"category_id": category, "priority": priority},
            )
        )
        for minutes, actor, kind, department, note, data in steps:
            step_at = at + dt.timedelta(minutes=minutes)
            before = order.status
            order.status = _WO_STATUS_AFTER.get(kind, order.status)
            if department:
                order.department = department
            stamp = {
                "dispatched": "dispatched_at",
                "accepted": "accepted_at",
                "on_site": "on_site_at",
                "resolved": "resolved_at",
                "replied": "replied_at",
                "closed": "closed_at",
            }.get(kind)
            if stamp:
                setattr(order, stamp, step_at)
            if kind == "accepted":
                order.assignee = actor
            if kind == "resolved":
                order.feedback = note
            order.updated_at = step_at
            session.add(
                WorkOrderEvent(
                    order_id=order.id,
                    at=step_at,
                    actor=actor,
                    kind=kind,
                    from_status=before,
                    to_status=order.status,
                    department=department,
                    text=note,
                    data=data,
                )
            )
        count("work_orders")
        if order.status == "resolved":
            session.add(
                CallbackTask(
                    order_id=order.id,
                    customer_id=customer_id,
                    number=order.customer_number,
                    due_at=now + dt.timedelta(hours=2),
                    reason="回访确认退费到账 / Confirm the refund arrived",
                    state="open",
                    created_by="1006",
                    created_at=now,
                    updated_at=now,
                )
            )
            count("callback_tasks")
    session.flush()


# --- payments (issue 6) ---

DEMO_SERVICE_PASSWORD = "123456"
"""Service password of the demo customers ``C000001``..``C000010`` (docs/web.md)."""
DEMO_CARD_BATCH = "DEMO-2026-12"


def demo_account_no(customer_id: str, kind: str = "prepaid") -> str:
    """Demo account numbers: ``8`` + 8 digits (prepaid), ``6`` + 8 digits (postpaid)."""
    return f"{'8' if kind == 'prepaid' else '6'}{int(customer_id[1:]):08d}"


def demo_cards() -> list[tuple[str, str, str, str]]:
    """The 200 demo recharge cards: ``(card_no, pin, face_value, state)``; deterministic,
    the last five are withdrawn (``void``)."""
    from decimal import Decimal

    rng = random.Random(6)
    faces = (Decimal("20.00"), Decimal("30.00"), Decimal("50.00"), Decimal("100.00"))
    cards = []
    for index in range(200):
        card_no = f"1900{index:04d}{rng.randrange(10**8):08d}"
        pin = f"{rng.randrange(10**12):012d}"
        face = Decimal("0.10") if index % 50 == 7 else faces[index % len(faces)]
        cards.append((card_no, pin, str(face), "void" if index >= 195 else "unused"))
    return cards


def seed_payments(session: Any, created: dict[str, int], *, hasher: PasswordHasher) -> None:
    """Accounts and ledgers for every demo customer (all prepaid, every third also
    postpaid with three monthly bills), service passwords of ``C000001``..``C000010``
    and the 200 demo recharge cards; rows that exist are left alone."""
    from decimal import Decimal

    from .models import Account, Bill, Ledger, LedgerEntry, RechargeCard
    from .payments import issue_cards

    def count(table: str, n: int) -> None:
        if n:
            created[table] = created.get(table, 0) + n

    now = utcnow()
    demo_hash = None  # one hash for the ten (demo data: the password is published)
    for index in range(1, 11):
        row = session.get(Customer, f"C{index:06d}")
        if row is not None and row.service_password_hash is None:
            demo_hash = demo_hash or hasher.hash(DEMO_SERVICE_PASSWORD)
            row.service_password_hash = demo_hash
    have = set(session.scalars(sa.select(Account.customer_id).distinct()))
    customers = list(session.scalars(sa.select(Customer.id).order_by(Customer.id)))
    rng = random.Random(61)
    accounts: list[dict[str, Any]] = []
    openings: dict[tuple[str, str], Decimal] = {}
    for customer_id in customers:
        index = int(customer_id[1:])
        main = Decimal(rng.randrange(0, 30000)) / 100
        bonus = Decimal(rng.choice((0, 0, 5, 10, 20)))
        deposit = Decimal(100 if rng.random() < 0.3 else 0)
        if customer_id in have:
            continue
        kinds = ("prepaid", "postpaid") if index <= 3 or index % 3 == 0 else ("prepaid",)
        for kind in kinds:
            account_id = demo_account_no(customer_id, kind)
            accounts.append(
                {
                    "id": account_id,
                    "customer_id": customer_id,
                    "kind": kind,
                    "status": "active",
                    "currency": "CNY",
                    "created_at": now,
                }
            )
            if kind == "prepaid":
                openings.update(
                    {
                        (account_id, "main"): main,
                        (account_id, "bonus"): bonus,
                        (account_id, "deposit"): deposit,
                    }
                )
            else:
                openings[(account_id, "main")] = Decimal("0.00")
    if accounts:
        session.execute(sa.insert(Account), accounts)
        session.execute(
            sa.insert(Ledger),
            [
                {
                    "account_id": a,
                    "kind": k,
                    "balance": v.quantize(Decimal("0.01")),
                    "updated_at": now,
                }
                for (a, k), v in openings.items()
            ],
        )
        new_ids = {a["id"] for a in accounts}
        ledgers = session.execute(
            sa.select(Ledger.id, Ledger.account_id, Ledger.balance).where(
                Ledger.account_id.in_(new_ids)
            )
        ).all()
        session.execute(
            sa.insert(LedgerEntry),
            [
                {
                    "ledger_id": lid,
                    "account_id": aid,
                    "amount": bal,
                    "balance_after": bal,
                    "kind": "opening",
                    "receipt_no": None,
                    "actor": "system",
                    "memo": "demo",
                    "created_at": now,
                }
                for lid, aid, bal in ledgers
            ],
        )
        bills = []
        month = now.date().replace(day=1)
        for account in accounts:
            if account["kind"] != "postpaid":
                continue
            for back in (1, 2, 3):
                year, mon = divmod(month.year * 12 + month.month - 1 - back, 12)
                due = Decimal(rng.randrange(3000, 30000)) / 100
                paid = due if back > 1 else Decimal("0.00")
                bills.append(
                    {
                        "account_id": account["id"],
                        "period": f"{year:04d}-{mon + 1:02d}",
                        "amount_due": due,
                        "amount_paid": paid,
                        "due_date": dt.date(year, mon + 1, 1) + dt.timedelta(days=45),
                        "status": "paid" if paid == due else "open",
                        "created_at": now,
                    }
                )
        if bills:
            session.execute(sa.insert(Bill), bills)
        count("accounts", len(accounts))
        count("bills", len(bills))
    if session.scalar(sa.select(sa.func.count()).select_from(RechargeCard)) == 0:
        cards = demo_cards()
        issue_cards(session, [(c, p, Decimal(f)) for c, p, f, _s in cards], batch=DEMO_CARD_BATCH)
        void = [c for c, _p, _f, state in cards if state == "void"]
        session.execute(
            sa.update(RechargeCard).where(RechargeCard.card_no.in_(void)).values(state="void")
        )
        count("recharge_cards", len(cards))
    session.flush()


# --- services, acceptance orders, marketing and care (issue 6) ------------------------------

# code, zh, en, category, fee, vip_only, prepaid, requires, conflicts,
# plans [(code, zh, en, fee, payment)]
_SVC_CATALOGUE: tuple[tuple[Any, ...], ...] = (
    (
        "bb_100",
        "百兆宽带",
        "Broadband 100 Mbit/s",
        "broadband",
        "59.00",
        False,
        False,
        (),
        ("bb_1000",),
        (
            ("bb_100_m", "包月 59元", "Monthly ¥59", "59.00", "monthly"),
            ("bb_100_y", "包年 599元", "Annual ¥599", "49.92", "annual"),
        ),
    ),
    (
        "bb_1000",
        "千兆宽带",
        "Gigabit broadband",
        "broadband",
        "129.00",
        False,
        False,
        (),
        ("bb_100",),
        (
            ("bb_1000_m", "包月 129元", "Monthly ¥129", "129.00", "monthly"),
            ("bb_1000_y", "包年 1299元", "Annual ¥1,299", "108.25", "annual"),
        ),
    ),
    (
        "mob_basic",
        "畅聊套餐",
        "Talk & data plan",
        "mobile",
        "58.00",
        False,
        False,
        (),
        ("mob_prepaid",),
        (
            ("mob_58", "畅聊58元（30GB）", "¥58 (30 GB)", "58.00", "monthly"),
            ("mob_88", "畅享88元（60GB）", "¥88 (60 GB)", "88.00", "monthly"),
            ("mob_128", "尊享128元（100GB）", "¥128 (100 GB)", "128.00", "monthly"),
        ),
    ),
    (
        "mob_prepaid",
        "预付费手机卡",
        "Prepaid SIM",
        "mobile",
        "0.00",
        False,
        True,
        (),
        ("mob_basic",),
        (
            ("pre_30", "充值30元", "Top-up ¥30", "0.00", "prepaid"),
            ("pre_100", "充值100元送10元", "Top-up ¥100 (+¥10)", "0.00", "prepaid"),
        ),
    ),
    ("landline", "固定电话", "Landline", "mobile", "15.00", False, False, (), (), ()),
    ("iptv", "高清IPTV", "HD IPTV", "tv", "20.00", False, False, (), (), ()),
    (
        "tv_sports",
        "体育频道包",
        "Sports channel pack",
        "tv",
        "30.00",
        False,
        False,
        ("iptv",),
        (),
        (),
    ),
    ("tv_4k", "4K超清影视包", "4K film pack", "tv", "25.00", False, False, ("iptv",), (), ()),
    (
        "cloud",
        "家庭云存储 1TB",
        "Family cloud storage 1 TB",
        "value_added",
        "10.00",
        False,
        False,
        (),
        (),
        (),
    ),
    ("caller_id", "来电显示", "Caller ID", "value_added", "6.00", False, False, (), (), ()),
    (
        "vip_gold",
        "钻石VIP尊享包",
        "Diamond VIP package",
        "vip",
        "199.00",
        True,
        False,
        (),
        (),
        (
            ("vip_m", "包月 199元", "Monthly ¥199", "199.00", "monthly"),
            ("vip_y", "包年 1999元", "Annual ¥1,999", "166.58", "annual"),
        ),
    ),
    (
        "vip_manager",
        "专属客户经理",
        "Dedicated account manager",
        "vip",
        "0.00",
        True,
        False,
        ("vip_gold",),
        (),
        (),
    ),
)
_SVC_FROM_OLD = {
    "broadband": "bb_100",
    "iptv": "iptv",
    "mobile": "mob_basic",
    "landline": "landline",
}
# id, zh, en, tiers, regions, has, lacks, min tenure, min spend, service, plan, reason zh/en, prio
_SVC_RULES: tuple[tuple[Any, ...], ...] = (
    (
        "vip_package",
        "VIP尊享包推荐",
        "VIP package for VIP customers",
        ["vip"],
        [],
        [],
        ["vip_gold"],
        None,
        None,
        "vip_gold",
        "vip_y",
        "VIP客户专享：包年更优惠，含专属客户经理",
        "VIP only: the annual package saves ¥389 and includes an account manager",
        90,
    ),
    (
        "broadband_new",
        "新装宽带推荐",
        "Broadband for customers without it",
        [],
        [],
        [],
        ["bb_100", "bb_1000"],
        None,
        None,
        "bb_100",
        "bb_100_y",
        "客户尚未办理宽带，包年低至49.9元/月",
        "No broadband yet: the annual plan is ¥49.9 a month",
        60,
    ),
    (
        "iptv_for_broadband",
        "宽带用户加装IPTV",
        "HD IPTV for broadband customers",
        [],
        [],
        ["bb_100"],
        ["iptv"],
        None,
        None,
        "iptv",
        None,
        "宽带用户每月加20元即可收看高清电视",
        "Broadband customers add HD TV for ¥20 a month",
        50,
    ),
    (
        "sports_loyal",
        "老用户体育包",
        "Sports pack for loyal TV customers",
        [],
        [],
        ["iptv"],
        ["tv_sports"],
        365,
        None,
        "tv_sports",
        None,
        "在网满一年的电视用户，体育包首月免费",
        "TV customers of more than a year: first month of sports free",
        40,
    ),
    (
        "mobile_shanghai",
        "上海移动套餐促销",
        "Shanghai mobile plan campaign",
        [],
        ["上海"],
        [],
        ["mob_basic", "mob_prepaid"],
        None,
        None,
        "mob_basic",
        "mob_88",
        "上海地区促销：畅享88元送半年视频会员",
        "Shanghai campaign: the ¥88 plan with six months of video membership",
        30,
    ),
    (
        "cloud_high_spend",
        "高消费客户云存储",
        "Cloud storage for high spenders",
        [],
        [],
        [],
        ["cloud"],
        None,
        "100.00",
        "cloud",
        None,
        "月消费100元以上客户，云存储首年半价",
        "Customers spending over ¥100 a month: half price for the first year",
        20,
    ),
)
_CARE_RULES: tuple[tuple[Any, ...], ...] = (
    (
        "vip_complaint",
        "VIP投诉回访",
        "VIP complaint follow-up",
        "recent_complaint",
        ["vip"],
        30,
        "follow_up",
        "VIP客户投诉回访",
        "Follow-up visit after a VIP complaint",
        2,
    ),
    (
        "anniversary",
        "入网周年关怀",
        "Tenure anniversary",
        "tenure_anniversary",
        [],
        7,
        "care_message",
        "入网周年关怀短信",
        "Tenure anniversary care message",
        1,
    ),
    (
        "cancel_retention",
        "注销挽留",
        "Retention after a cancellation",
        "recent_cancellation",
        [],
        30,
        "retention",
        "业务注销挽留回访",
        "Retention call after a cancellation",
        3,
    ),
)


def seed_services_care(session: Any, created: dict[str, int]) -> None:
    """Service catalogue (broadband, mobile, TV, VIP packages), subscriptions of the demo
    customers, marketing and care rules, a few care plans and survey results."""
    from decimal import Decimal

    from .models import (
        CarePlan,
        CareRule,
        MarketingRule,
        Service,
        ServicePlan,
        ServiceSubscription,
        SurveyResult,
    )

    def count(table: str, n: int = 1) -> None:
        if n:
            created[table] = created.get(table, 0) + n

    now = utcnow()
    for pos, (code, zh, en, cat, fee, vip, prepaid, req, conf, plans) in enumerate(_SVC_CATALOGUE):
        if session.get(Service, code) is not None:
            continue
        session.add(
            Service(
                code=code,
                name_zh=zh,
                name_en=en,
                category=cat,
                monthly_fee=Decimal(fee),
                vip_only=vip,
                prepaid=prepaid,
                requires=list(req),
                conflicts=list(conf),
                position=pos * 10,
                active=True,
            )
        )
        session.flush()
        for ppos, (pcode, pzh, pen, pfee, payment) in enumerate(plans):
            session.add(
                ServicePlan(
                    service_code=code,
                    code=pcode,
                    name_zh=pzh,
                    name_en=pen,
                    monthly_fee=Decimal(pfee),
                    payment=payment,
                    position=ppos,
                )
            )
        count("services")
    session.flush()
    first_plan = {c[0]: (c[9][0][0] if c[9] else None) for c in _SVC_CATALOGUE}
    if session.scalar(sa.select(sa.func.count()).select_from(ServiceSubscription)) == 0:
        rng = random.Random(104)
        rows = []
        for cid, tier, services in session.execute(
            sa.select(Customer.id, Customer.tier_id, Customer.services).order_by(Customer.id)
        ):
            codes = [_SVC_FROM_OLD[s] for s in services or () if s in _SVC_FROM_OLD]
            if tier == "vip" and cid != "C000001":
                codes.append("vip_gold")
            for code in dict.fromkeys(codes):
                since = now - dt.timedelta(days=rng.randrange(20, 3000), hours=rng.randrange(24))
                rows.append(
                    {
                        "customer_id": cid,
                        "service_code": code,
                        "plan_code": first_plan.get(code),
                        "status": "active",
                        "since": since,
                        "until": None,
                        "order_id": None,
                        "updated_at": now,
                    }
                )
        for start in range(0, len(rows), 1000):
            session.execute(sa.insert(ServiceSubscription), rows[start : start + 1000])
        count("service_subscriptions", len(rows))
    for (
        rid,
        zh,
        en,
        tiers,
        regions,
        has,
        lacks,
        tenure,
        spend,
        svc,
        plan,
        rzh,
        ren,
        prio,
    ) in _SVC_RULES:
        if session.get(MarketingRule, rid) is None:
            session.add(
                MarketingRule(
                    id=rid,
                    name_zh=zh,
                    name_en=en,
                    tiers=tiers,
                    regions=regions,
                    has_services=has,
                    lacks_services=lacks,
                    min_tenure_days=tenure,
                    min_spend=Decimal(spend) if spend else None,
                    max_spend=None,
                    service_code=svc,
                    plan_code=plan,
                    reason_zh=rzh,
                    reason_en=ren,
                    priority=prio,
                    active=True,
                    updated_at=now,
                )
            )
            count("marketing_rules")
    for rid, zh, en, trigger, tiers, window, kind, tzh, ten, due in _CARE_RULES:
        if session.get(CareRule, rid) is None:
            session.add(
                CareRule(
                    id=rid,
                    name_zh=zh,
                    name_en=en,
                    trigger=trigger,
                    tiers=tiers,
                    window_days=window,
                    plan_kind=kind,
                    title_zh=tzh,
                    title_en=ten,
                    due_days=due,
                    active=True,
                    updated_at=now,
                )
            )
            count("care_rules")
    session.flush()
    demo_plans = (
        ("DEMO-CARE-0001", "C000001", "follow_up", "VIP客户季度回访：确认千兆宽带使用体验", 2),
        ("DEMO-CARE-0002", "C000002", "care_message", "生日关怀短信 / Birthday care message", 5),
        ("DEMO-CARE-0003", "C000003", "retention", "宽带到期挽留：推荐包年优惠", -1),
    )
    for pid, cid, kind, title, days in demo_plans:
        if session.get(CarePlan, pid) is None and session.get(Customer, cid) is not None:
            session.add(
                CarePlan(
                    id=pid,
                    customer_id=cid,
                    kind=kind,
                    title=title,
                    note="",
                    state="open",
                    due_at=now + dt.timedelta(days=days),
                    rule_id=None,
                    dedupe_key=None,
                    created_by="9001",
                    created_at=now,
                    updated_at=now,
                )
            )
            count("care_plans")
    if session.scalar(sa.select(sa.func.count()).select_from(SurveyResult)) == 0:
        rng = random.Random(5)
        for index in range(1, 41):
            agent = "1001" if index == 1 else f"{rng.randrange(1001, 1011)}"
            sat = rng.choices("123", weights=(7, 2, 1))[0]
            session.add(
                SurveyResult(
                    call_id=DEMO_CALL_ID if index == 1 else f"DEMO-SURVEY-{index:04d}",
                    agent_id=agent,
                    customer_id="C000001" if index == 1 else None,
                    score={"1": 5, "2": 3, "3": 1}[sat] if index > 1 else 5,
                    answers={
                        "satisfaction": sat if index > 1 else "1",
                        "resolved": rng.choice("112"),
                    },
                    at=now - dt.timedelta(hours=index * 5),
                )
            )
        count("survey_results", 40)
    session.flush()


# --- knowledge base (issue 6) ---------------------------------------------------------------


def seed_knowledge(session: Any, created: dict[str, int]) -> None:
    """Demo knowledge-base articles (tariffs, outlets, procedures, FAQs, wiki pages),
    published and indexed; articles whose slug exists are left as they are."""
    from cti_server.web.knowledge_data import load_articles  # the web layer owns the index
    from cti_server.web.knowledge_demo import ARTICLES

    added = load_articles(session, ARTICLES, author="9901")
    if added:
        created["kb_articles"] = created.get("kb_articles", 0) + added
