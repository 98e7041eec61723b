"""Care pages (R-BIZ-8): care plans (retention, follow-up visit, care message) with due
dates, produced by care rules or by hand, shown when the customer calls (the customer
pane, ``services.py``) and acted on (done / postponed / declined, with notes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from cti_server.store.models import Role, utcnow

from . import services_data as sd
from .data import Invalid, WebUser
from .i18n import MESSAGES

if TYPE_CHECKING:
    from .pages import Handler, WebRequest

DESK = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN})
LEADS = frozenset({Role.TEAM_LEAD, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})

MESSAGES.update(
    {
        "nav_care": ("Care", "客户关怀"),
        "care_title": ("Care plans", "关怀计划"),
        "care_active": ("Active care plans", "待办关怀计划"),
        "care_none": ("No active care plan.", "暂无待办关怀计划。"),
        "care_kind": ("Kind", "类型"),
        "care_kind_retention": ("Retention", "挽留"),
        "care_kind_follow_up": ("Follow-up visit", "回访"),
        "care_kind_care_message": ("Care message", "关怀短信"),
        "care_due": ("Due", "到期"),
        "care_overdue": ("overdue", "已逾期"),
        "care_state": ("State", "状态"),
        "care_state_open": ("open", "待处理"),
        "care_state_postponed": ("postponed", "已推迟"),
        "care_state_done": ("done", "已完成"),
        "care_state_declined": ("declined", "客户拒绝"),
        "care_plan_title": ("Title", "标题"),
        "care_note": ("Note", "备注"),
        "care_rule": ("Rule", "规则"),
        "care_manual": ("added by hand", "人工添加"),
        "care_act_done": ("Done", "完成"),
        "care_act_postponed": ("Postpone", "推迟"),
        "care_act_declined": ("Declined", "拒绝"),
        "care_new_due": ("New due date", "新到期日"),
        "care_add": ("Add a care plan", "新增关怀计划"),
        "care_history": ("Actions", "处理记录"),
        "care_rules": ("Care rules", "关怀规则"),
        "care_trigger": ("Trigger", "触发条件"),
        "care_trigger_recent_complaint": ("complaint within the window", "窗口期内有投诉"),
        "care_trigger_tenure_anniversary": ("tenure anniversary", "入网周年"),
        "care_trigger_recent_cancellation": ("service cancelled", "近期注销业务"),
        "care_window": ("Window (days)", "窗口（天）"),
        "care_due_days": ("Due after (days)", "期限（天）"),
        "care_title_zh": ("Plan title (Chinese)", "计划标题（中文）"),
        "care_title_en": ("Plan title (English)", "计划标题（英文）"),
        "care_customer": ("Customer", "客户"),
        "care_err_closed": ("This care plan is closed already.", "该关怀计划已关闭。"),
        "care_err_due_past": ("The new due date must be in the future.", "新到期日必须晚于今天。"),
    }
)

CARE_RULE_FIELDS = (
    "rule_id",
    "name_zh",
    "name_en",
    "trigger",
    "tiers",
    "window_days",
    "plan_kind",
    "title_zh",
    "title_en",
    "due_days",
    "active",
)


def _user(r: WebRequest) -> WebUser:
    assert r.user is not None
    return r.user


def _day(text: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid("error_date") from None


async def care_list(r: WebRequest) -> Response:
    state = r.arg("state", "open")
    if state not in ("open", *sd.CARE_ACTIONS):
        state = "open"
    rows = await r.db(sd.care_overview, _user(r), state=state)
    return r.render("care_list.html", rows=rows, state=state, now=utcnow())


async def plan_page(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    plan = await r.db(sd.care_plan, _user(r), r.request.path_params["plan_id"])
    return r.render("care_plan.html", status=status, plan=plan, error=error, now=utcnow())


async def plan_action(r: WebRequest) -> Response:
    try:
        customer_id = await r.db(
            sd.act_on_care_plan,
            _user(r),
            r.request.path_params["plan_id"],
            action=r.field("action"),
            note=r.field("note"),
            due=_day(r.field("due")),
            call_id=r.field("call_id") or None,
        )
    except Invalid as bad:
        return await plan_page(r, error=r._(bad.key), status=400)
    back = r.field("back")
    if back == "customer":
        return r.redirect(f"{r.base}/customers/{customer_id}")
    return r.redirect(f"{r.base}/care/plans/{r.request.path_params['plan_id']}")


async def plan_add(r: WebRequest) -> Response:
    customer_id = r.request.path_params["customer_id"]
    try:
        await r.db(
            sd.add_care_plan,
            _user(r),
            customer_id,
            kind=r.field("kind"),
            title=r.field("title"),
            due=_day(r.field("due")),
            note=r.field("note"),
        )
    except Invalid as bad:
        from .services import customer_page

        return await customer_page(r, error=r._(bad.key), status=400)
    return r.redirect(f"{r.base}/customers/{customer_id}")


async def rules_page(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    rules = await r.db(sd.care_rules)
    return r.render(
        "care_rules.html",
        status=status,
        rules=rules,
        error=error,
        triggers=sd.CARE_TRIGGERS,
        kinds=sd.CARE_KINDS,
        values={k: r.field(k) for k in CARE_RULE_FIELDS},
    )


async def rule_save(r: WebRequest) -> Response:
    try:
        await r.db(sd.save_care_rule, _user(r), {k: r.field(k) for k in CARE_RULE_FIELDS})
    except Invalid as bad:
        return await rules_page(r, error=r._(bad.key), status=400)
    return r.redirect(f"{r.base}/care/rules")


def routes(
    get: Callable[[str, frozenset[Role] | None, Handler], Route],
    post: Callable[[str, frozenset[Role] | None, Handler], Route],
) -> list[Route]:
    return [
        get("/care", DESK, care_list),
        get("/care/rules", LEADS, rules_page),
        post("/care/rules", ADMINS, rule_save),
        get("/care/plans/{plan_id}", DESK, plan_page),
        post("/care/plans/{plan_id}", DESK, plan_action),
        post("/customers/{customer_id}/care", DESK, plan_add),
    ]
