"""Work-order pages (工单, R-BIZ-5, R-IN-5): create from a call, list with SLA clocks,
detail with history and the step forms, SLA rules, the customer's recent orders.

``routes(get, post)`` gives ``pages._routes()`` the routes; the data side is
:mod:`.workorders_data`. A step the order's status does not allow answers **409** with
an explanation page and changes nothing; a user of the wrong role, region or department
gets the usual 403 page and an audit row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cti_server.store.models import Role

from . import data
from . import workorders_data as wo
from .data import Invalid
from .i18n import MESSAGES

if TYPE_CHECKING:
    from .pages import WebRequest

Handler = Callable[["WebRequest"], Awaitable[Response]]
RouteFactory = Callable[[str, frozenset[Role] | None, Handler], Route]

ALL = frozenset(Role)
DESK = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN})
DEPT = frozenset({Role.DEPT_STAFF})
ADMIN = frozenset({Role.ADMIN})

# URL segment -> (data action, roles allowed to post it)
STEP_ROUTES: dict[str, tuple[str, frozenset[Role]]] = {
    "dispatch": ("dispatch", DESK),
    "accept": ("accept", DEPT),
    "reject": ("reject", DEPT),
    "transfer": ("transfer", DEPT),
    "on-site": ("on_site", DEPT),
    "resolve": ("resolve", DEPT),
    "note": ("note", ALL),
    "reply": ("reply", DESK),
    "callback": ("callback", DESK),
    "close": ("close", DESK),
}

MESSAGES.update(
    {
        "wo_nav": ("Work orders", "工单"),
        "wo_list_title": ("Work orders", "工单列表"),
        "wo_dept_title": ("Work orders of {department}", "{department} 的工单"),
        "wo_new_title": ("New work order", "新建工单"),
        "wo_new": ("New work order", "新建工单"),
        "wo_create": ("Create work order", "创建工单"),
        "wo_id": ("Work order", "工单号"),
        "wo_title": ("Title", "标题"),
        "wo_description": ("Description", "问题描述"),
        "wo_category": ("Business category", "业务类别"),
        "wo_priority": ("Priority", "优先级"),
        "wo_status": ("Status", "状态"),
        "wo_department": ("Department", "处理部门"),
        "wo_department_later": ("(dispatch later)", "（稍后派单）"),
        "wo_assignee": ("Handled by", "受理人"),
        "wo_created_by": ("Created by", "创建人"),
        "wo_created_at": ("Created", "创建时间"),
        "wo_sla": ("SLA", "时限"),
        "wo_overdue_only": ("Overdue only", "仅显示超时"),
        "wo_mine": ("My department", "本部门"),
        "wo_call": ("Call", "来电"),
        "wo_contact": ("Contact record", "接触记录"),
        "wo_trajectory": ("Call path", "呼叫轨迹"),
        "wo_business_selection": ("Business selected in the IVR", "IVR 业务选择"),
        "wo_contact_summary": ("Contact summary", "接触摘要"),
        "wo_customer_number": ("Customer / number", "客户编号或号码"),
        "wo_history": ("History", "处理记录"),
        "wo_callbacks": ("Callback tasks", "回访任务"),
        "wo_feedback": ("Feedback", "处理结果反馈"),
        "wo_times": ("Milestones", "处理节点"),
        "wo_recent_title": ("Recent work orders of {name}", "{name} 的近期工单"),
        "wo_recent_none": ("No work orders for this customer.", "该客户没有工单。"),
        "wo_open_all": ("All work orders of this customer", "该客户的全部工单"),
        "wo_no_department": (
            "Your account has no department; ask an administrator.",
            "您的账号未设置部门，请联系管理员。",
        ),
        "wo_created": ("Work order {id} created.", "工单 {id} 已创建。"),
        "wo_done": ("Saved.", "已保存。"),
        # statuses
        "wo_st_new": ("New", "新建"),
        "wo_st_dispatched": ("Dispatched", "已派单"),
        "wo_st_transferred": ("Transferred", "已转派"),
        "wo_st_accepted": ("Accepted", "已接单"),
        "wo_st_in_progress": ("In progress (on site)", "处理中（已到场）"),
        "wo_st_resolved": ("Resolved", "已处理"),
        "wo_st_replied": ("Replied to customer", "已回复客户"),
        "wo_st_closed": ("Closed", "已关闭"),
        "wo_st_rejected": ("Rejected", "已退单"),
        # priorities
        "wo_pr_low": ("Low", "低"),
        "wo_pr_normal": ("Normal", "普通"),
        "wo_pr_high": ("High", "高"),
        "wo_pr_urgent": ("Urgent", "紧急"),
        # SLA clocks
        "wo_clock_respond": ("Response", "响应"),
        "wo_clock_on_site": ("On site", "到场"),
        "wo_clock_resolve": ("Resolution", "解决"),
        "wo_sla_running": ("{minutes} min left", "剩余 {minutes} 分钟"),
        "wo_sla_overdue": ("{minutes} min overdue", "已超时 {minutes} 分钟"),
        "wo_sla_met": ("met", "已达标"),
        "wo_sla_late": ("{minutes} min late", "超时 {minutes} 分钟完成"),
        "wo_sla_none": ("—", "—"),
        "wo_due": ("due {time}", "时限 {time}"),
        # milestones
        "wo_t_created": ("Created", "创建"),
        "wo_t_dispatched": ("Dispatched", "派单"),
        "wo_t_accepted": ("Accepted", "接单"),
        "wo_t_on_site": ("On site", "到场"),
        "wo_t_resolved": ("Resolved", "处理完成"),
        "wo_t_replied": ("Replied", "回复客户"),
        "wo_t_closed": ("Closed", "关闭"),
        # history events
        "wo_ev_created": ("Created", "创建工单"),
        "wo_ev_dispatched": ("Dispatched", "派单"),
        "wo_ev_accepted": ("Accepted", "接单"),
        "wo_ev_rejected": ("Rejected", "退单"),
        "wo_ev_transferred": ("Transferred", "转派"),
        "wo_ev_note": ("Progress note", "进展备注"),
        "wo_ev_on_site": ("Arrived on site", "到达现场"),
        "wo_ev_resolved": ("Resolved", "处理完成"),
        "wo_ev_replied": ("Replied to customer", "回复客户"),
        "wo_ev_callback": ("Callback task", "回访任务"),
        "wo_ev_closed": ("Closed", "关闭工单"),
        # step forms
        "wo_act_dispatch": ("Dispatch", "派单"),
        "wo_act_accept": ("Accept", "接单"),
        "wo_act_reject": ("Reject", "退单"),
        "wo_act_transfer": ("Transfer", "转派"),
        "wo_act_on_site": ("Arrived on site", "到达现场"),
        "wo_act_resolve": ("Resolve", "处理完成"),
        "wo_act_note": ("Add note", "添加备注"),
        "wo_act_reply": ("Reply to customer", "回复客户"),
        "wo_act_callback": ("Create callback task", "创建回访任务"),
        "wo_act_close": ("Close", "关闭工单"),
        "wo_reason": ("Reason", "原因"),
        "wo_note": ("Note", "备注"),
        "wo_reply_text": ("Reply", "回复内容"),
        "wo_channel": ("Channel", "回复方式"),
        "wo_ch_phone": ("Phone", "电话"),
        "wo_ch_sms": ("SMS", "短信"),
        "wo_ch_email": ("E-mail", "邮件"),
        "wo_ch_wechat": ("WeChat", "微信"),
        "wo_due_at": ("Call back at", "回访时间"),
        "wo_cb_open": ("open", "待回访"),
        "wo_cb_done": ("done", "已完成"),
        "wo_cb_cancelled": ("cancelled", "已取消"),
        "wo_callbacks_title": ("Open callback tasks", "待回访任务"),
        "wo_no_actions": ("Nothing to do for you in this status.", "当前状态下您无可执行的操作。"),
        # conflict
        "wo_conflict_title": ("Not possible now", "当前无法执行"),
        "wo_conflict": (
            "Work order {id} is “{status}”: “{action}” is not possible in this status. "
            "Nothing was changed.",
            "工单 {id} 当前状态为“{status}”，不能执行“{action}”。未做任何更改。",
        ),
        "wo_back_to": ("Back to the work order", "返回工单"),
        # SLA rules
        "wo_sla_title": ("SLA rules", "工单时限规则"),
        "wo_sla_intro": (
            "Due times are set when an order is created: the rule of its category (or the "
            "nearest parent) and priority wins, then the category for any priority, then "
            "the catch-all rule. R-BIZ-5: respond within 10 min, on site within 60 min.",
            "工单创建时按规则计算时限：先匹配业务类别（或最近的上级类别）与优先级，"
            "其次该类别的任意优先级，最后是通用规则。R-BIZ-5：10 分钟内响应，60 分钟内到场。",
        ),
        "wo_respond_min": ("Respond (min)", "响应（分钟）"),
        "wo_on_site_min": ("On site (min)", "到场（分钟）"),
        "wo_resolve_min": ("Resolve (min)", "解决（分钟）"),
        "wo_route_to": ("Suggested department", "建议派往部门"),
        "wo_any": ("any", "任意"),
        "wo_rule_add": ("Add rule", "新增规则"),
        "wo_rule_save": ("Save", "保存"),
        "wo_rule_delete": ("Delete", "删除"),
        "wo_updated": ("Changed", "修改"),
        # errors
        "wo_error_department": ("Pick a department.", "请选择处理部门。"),
        "wo_error_same_department": (
            "The order is already with that department.",
            "工单已在该部门。",
        ),
        "wo_error_minutes": (
            "Minutes must be a whole number from 1 to 525600.",
            "分钟数须为 1 至 525600 的整数。",
        ),
        "wo_error_rule_exists": (
            "A rule for this category and priority exists already.",
            "该类别与优先级的规则已存在。",
        ),
        "wo_error_default_rule": (
            "The catch-all rule cannot be deleted.",
            "通用规则不能删除。",
        ),
        "wo_error_due": ("Give a call-back time from now on.", "请填写当前之后的回访时间。"),
    }
)


def _user(r: WebRequest) -> data.WebUser:
    assert r.user is not None
    return r.user


def _page_no(text: str) -> int:
    try:
        return max(1, int(text))
    except ValueError:
        return 1


def _local_input(r: WebRequest, value: dt.datetime) -> str:
    """A ``datetime-local`` value in the configured web time zone."""
    return value.astimezone(r.ctx.zone).strftime("%Y-%m-%dT%H:%M")


# --- list -----------------------------------------------------------------------------------


async def order_list(r: WebRequest) -> Response:
    user = _user(r)
    values = {k: r.arg(k) for k in ("status", "dept", "priority", "overdue", "customer")}
    department = values["dept"]
    if user.role is Role.DEPT_STAFF:
        if department in ("", "mine"):
            department = user.department or ""
            values["dept"] = "mine"
    elif department == "mine":
        department = user.department or ""
    flt = wo.OrderFilter(
        status=values["status"],
        department=department,
        priority=values["priority"],
        overdue=values["overdue"] in ("1", "on", "true"),
        customer=values["customer"],
    )
    depts = await r.db(wo.departments)
    error, status, result = "", 200, None
    if user.role is Role.DEPT_STAFF and not user.department:
        error = r._("wo_no_department")
    else:
        try:
            result = await r.db(wo.list_orders, user, flt, page=_page_no(r.arg("page")))
        except Invalid as bad:
            error, status = r._(bad.key), 400
    return r.render(
        "wo_list.html",
        status=status,
        values=values,
        department=department,
        departments=depts,
        statuses=wo.STATUSES,
        priorities=wo.PRIORITIES,
        result=result,
        error=error,
    )


# --- create ---------------------------------------------------------------------------------


async def _new_form(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    user = _user(r)
    call_id = r.arg("call_id") or r.field("call_id")
    customer = r.arg("customer") or r.field("customer")
    context = await r.db(wo.new_order_context, user, call_id, customer)
    tree = await r.db(data.category_tree, active_only=True)
    depts = await r.db(wo.departments)
    routes = await r.db(wo.suggested_departments)
    chosen = r.field("category_id") or r.arg("category") or "complaint.fault"
    values = {
        "customer": customer or context.customer_id or context.customer_number,
        "category_id": chosen,
        "priority": r.field("priority", "normal"),
        "title": r.field("title"),
        "description": r.field("description") or context.contact_summary,
        "department": r.field("department", routes.get(chosen, "")),
    }
    return r.render(
        "wo_new.html",
        status=status,
        context=context,
        tree=tree,
        departments=depts,
        priorities=wo.PRIORITIES,
        values=values,
        error=error,
    )


async def order_new(r: WebRequest) -> Response:
    return await _new_form(r)


async def order_create(r: WebRequest) -> Response:
    try:
        order_id = await r.db(
            wo.create_order,
            _user(r),
            call_id=r.field("call_id"),
            customer=r.field("customer"),
            category_id=r.field("category_id"),
            priority=r.field("priority"),
            title=r.field("title"),
            description=r.field("description"),
            department=r.field("department"),
        )
    except Invalid as bad:
        return await _new_form(r, error=r._(bad.key), status=400)
    return r.redirect(f"{r.base}/workorders/{order_id}")


# --- detail and steps -----------------------------------------------------------------------


async def _detail(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    order = await r.db(wo.get_order, _user(r), r.request.path_params["order_id"])
    depts = await r.db(wo.departments)
    return r.render(
        "wo_detail.html",
        status=status,
        order=order,
        departments=depts,
        channels=wo.REPLY_CHANNELS,
        step_paths={action: path for path, (action, _roles) in STEP_ROUTES.items()},
        callback_default=_local_input(r, wo.clock() + dt.timedelta(hours=1)),
        error=error,
    )


async def order_detail(r: WebRequest) -> Response:
    return await _detail(r)


def _step(action: str) -> Handler:
    async def run(r: WebRequest) -> Response:
        order_id = r.request.path_params["order_id"]
        form = {k: r.field(k) for k in ("department", "text", "channel", "due_at", "number")}
        try:
            await r.db(wo.act, _user(r), order_id, action, form, zone=r.ctx.zone)
        except wo.Conflict as conflict:
            return r.render(
                "wo_conflict.html",
                status=409,
                order_id=conflict.order_id,
                message=r._(
                    "wo_conflict",
                    id=conflict.order_id,
                    status=r._("wo_st_" + conflict.status),
                    action=r._("wo_act_" + conflict.action),
                ),
            )
        except Invalid as bad:
            return await _detail(r, error=r._(bad.key), status=400)
        return r.redirect(f"{r.base}/workorders/{order_id}")

    return run


# --- customer's recent orders (screen pop) --------------------------------------------------


async def recent_page(r: WebRequest) -> Response:
    customer_id = r.request.path_params["customer_id"]
    name, rows = await r.db(wo.recent_orders, _user(r), customer_id)
    return r.render("wo_recent.html", customer_id=customer_id, name=name, rows=rows)


def _clock_json(clock: wo.SlaClock | None) -> dict[str, Any] | None:
    if clock is None:
        return None
    return {
        "clock": clock.name,
        "state": clock.state,
        "minutes": clock.minutes,
        "due": clock.due.isoformat() if clock.due else None,
    }


async def recent_json(r: WebRequest) -> Response:
    customer_id = r.request.path_params["customer_id"]
    name, rows = await r.db(wo.recent_orders, _user(r), customer_id)
    return JSONResponse(
        {
            "customer_id": customer_id,
            "customer_name": name,
            "orders": [
                {
                    "id": row.order_id,
                    "title": row.title,
                    "status": row.status,
                    "status_text": r._("wo_st_" + row.status),
                    "priority": row.priority,
                    "category": row.category(r.lang),
                    "department": row.department,
                    "created_at": row.created_at.isoformat(),
                    "overdue": row.overdue,
                    "sla": _clock_json(row.next_clock),
                    "url": f"{r.base}/workorders/{row.order_id}",
                }
                for row in rows
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


# --- SLA rules and callback tasks -----------------------------------------------------------


async def sla_page(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    rules = await r.db(wo.sla_rules)
    tree = await r.db(data.category_tree)
    depts = await r.db(wo.departments)
    names = {node.category_id: node.name(r.lang) for root in tree for _d, node in root.walk()}
    return r.render(
        "wo_sla.html",
        status=status,
        rules=rules,
        tree=tree,
        names=names,
        departments=depts,
        priorities=wo.PRIORITIES,
        error=error,
    )


async def sla_save(r: WebRequest) -> Response:
    user = _user(r)
    action = r.field("action", "save")
    rule_text = r.field("rule_id")
    try:
        rule_id = int(rule_text) if rule_text else None
    except ValueError:
        return await sla_page(r, error=r._("error_choice"), status=400)
    try:
        if action == "delete":
            if rule_id is None:
                raise Invalid("error_choice", field="rule_id")
            await r.db(wo.delete_sla_rule, user, rule_id)
        else:
            await r.db(
                wo.save_sla_rule,
                user,
                rule_id=rule_id,
                category_id=r.field("category_id"),
                priority=r.field("priority"),
                respond=r.field("respond"),
                on_site=r.field("on_site"),
                resolve=r.field("resolve"),
                department=r.field("department"),
            )
    except Invalid as bad:
        return await sla_page(r, error=r._(bad.key), status=400)
    return r.redirect(f"{r.base}/workorders/sla")


async def callbacks_page(r: WebRequest) -> Response:
    tasks = await r.db(wo.open_callbacks)
    return r.render("wo_callbacks.html", tasks=tasks)


async def _sla_get(r: WebRequest) -> Response:
    return await sla_page(r)


def routes(get: RouteFactory, post: RouteFactory) -> list[Route]:
    """The work-order routes for ``pages._routes()`` (fixed paths before ``{order_id}``)."""
    step_routes = [
        post(f"/workorders/{{order_id}}/{path}", roles, _step(action))
        for path, (action, roles) in STEP_ROUTES.items()
    ]
    return [
        get("/workorders", ALL, order_list),
        post("/workorders", DESK, order_create),
        get("/workorders/new", DESK, order_new),
        get("/workorders/sla", DESK, _sla_get),
        post("/workorders/sla", ADMIN, sla_save),
        get("/workorders/callbacks", DESK, callbacks_page),
        get("/workorders/{order_id}", ALL, order_detail),
        *step_routes,
        get("/customers/{customer_id}/workorders/recent", DESK, recent_page),
        get("/api/customers/{customer_id}/workorders/recent", DESK, recent_json),
    ]
