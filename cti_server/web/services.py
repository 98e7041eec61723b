"""Pages of the service catalogue, acceptance orders, marketing recommendations, the
customer pane (HTML and JSON for the desktop) and survey results (R-BIZ-2, R-BIZ-7,
R-IN-5; docs/web.md "Services, marketing and care")."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cti_server.store.models import Role, utcnow

from . import data
from . import services_data as sd
from .data import Invalid, Refused, WebUser
from .i18n import MESSAGES, pick_language, translator
from .session import LANG_COOKIE, SESSION_COOKIE, same_token

if TYPE_CHECKING:
    from .pages import Handler, WebContext, WebRequest

log = logging.getLogger("cti_server.web")

DESK = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN})
LEADS = frozenset({Role.TEAM_LEAD, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
ALL = frozenset(Role)

MESSAGES.update(
    {
        "nav_services": ("Services", "业务目录"),
        "nav_marketing": ("Marketing rules", "营销规则"),
        "nav_surveys": ("Satisfaction", "满意度"),
        "svc_catalogue": ("Service catalogue", "业务目录"),
        "svc_code": ("Code", "编码"),
        "svc_name": ("Service", "业务"),
        "svc_category": ("Category", "类别"),
        "svc_fee": ("Monthly fee (¥)", "月费（元）"),
        "svc_plans": ("Tariff / payment plans", "资费及缴费方式"),
        "svc_plan": ("Plan", "套餐"),
        "svc_vip_only": ("VIP only", "仅限VIP"),
        "svc_prepaid": ("Prepaid account", "预付费账户"),
        "svc_requires": ("Requires", "依赖"),
        "svc_conflicts": ("Conflicts with", "互斥"),
        "svc_cat_broadband": ("Broadband", "宽带"),
        "svc_cat_mobile": ("Mobile", "移动"),
        "svc_cat_tv": ("TV", "电视"),
        "svc_cat_vip": ("VIP package", "VIP套餐"),
        "svc_cat_value_added": ("Value-added", "增值业务"),
        "svc_pay_monthly": ("monthly", "按月"),
        "svc_pay_annual": ("annual", "包年"),
        "svc_pay_prepaid": ("prepaid", "预付费"),
        "svc_customer": ("Customer desk", "客户业务面板"),
        "svc_account_status": ("Account status", "账户状态"),
        "svc_status_active": ("active", "正常"),
        "svc_status_reserved": ("reserved", "已预约"),
        "svc_status_cancelled": ("cancelled", "已注销"),
        "svc_status_blacklisted": ("blacklisted", "黑名单"),
        "svc_status_no_service": ("no service", "无在用业务"),
        "svc_tenure": ("Tenure (days)", "在网天数"),
        "svc_spend": ("Monthly spend (¥)", "月消费（元）"),
        "svc_subscribed": ("Services the customer has", "已订购业务"),
        "svc_not_subscribed": ("Services not subscribed", "未订购业务"),
        "svc_since": ("Since", "开通时间"),
        "svc_recommendations": ("Recommendations", "营销推荐"),
        "svc_no_recommendations": ("No recommendation for this customer.", "暂无推荐。"),
        "svc_accept": ("Accept", "接受"),
        "svc_decline": ("Decline", "拒绝"),
        "svc_decline_reason": ("Reason for declining", "拒绝原因"),
        "svc_reason": ("Why", "推荐理由"),
        "svc_priority": ("Priority", "优先级"),
        "svc_new_order": ("New acceptance order", "新建受理单"),
        "svc_order": ("Acceptance order", "受理单"),
        "svc_orders": ("Acceptance orders", "受理单"),
        "svc_order_id": ("Order", "受理单号"),
        "svc_action": ("Action", "操作"),
        "svc_act_apply": ("apply", "新装"),
        "svc_act_change": ("change plan", "变更套餐"),
        "svc_act_cancel": ("cancel", "注销"),
        "svc_act_reserve": ("reserve", "预约"),
        "svc_lines": ("Lines", "明细"),
        "svc_line": ("Line", "行"),
        "svc_check": ("Check", "校验"),
        "svc_order_status": ("Status", "状态"),
        "svc_ost_draft": ("draft: not applied yet", "草稿：尚未生效"),
        "svc_ost_confirmed": ("confirmed: applied", "已确认：已生效"),
        "svc_ost_rolled_back": ("rolled back", "已回退"),
        "svc_lst_pending": ("pending", "待处理"),
        "svc_lst_applied": ("applied", "已生效"),
        "svc_lst_rolled_back": ("rolled back", "已回退"),
        "svc_confirm": ("Confirm all lines", "确认受理"),
        "svc_rollback": ("Roll back", "回退"),
        "svc_confirmed": ("All lines applied.", "全部明细已生效。"),
        "svc_rolled_back": ("Every line was reversed.", "全部明细已回退。"),
        "svc_problems": ("Problems to fix before confirming", "确认前需要处理的问题"),
        "svc_no_problems": ("All lines are valid.", "校验通过。"),
        "svc_oplog": ("Operation log", "操作日志"),
        "svc_operation": ("Operation", "操作"),
        "svc_actor": ("By", "操作人"),
        "svc_before": ("Before", "操作前"),
        "svc_after": ("After", "操作后"),
        "svc_source": ("Source", "来源"),
        "svc_record": ("Acceptance record (R-IN-7)", "受理记录"),
        "svc_remarks": ("Remarks", "备注"),
        "svc_create": ("Create and check", "生成并校验"),
        "svc_rules": ("Marketing rules", "营销规则"),
        "svc_rule_id": ("Rule ID", "规则编号"),
        "svc_tiers": ("Tiers", "客户层次"),
        "svc_regions": ("Regions", "区域"),
        "svc_has": ("Has services", "已有业务"),
        "svc_lacks": ("Lacks services", "未有业务"),
        "svc_min_tenure": ("Min. tenure (days)", "最短在网天数"),
        "svc_min_spend": ("Min. spend (¥)", "最低月消费"),
        "svc_max_spend": ("Max. spend (¥)", "最高月消费"),
        "svc_recommend": ("Recommend", "推荐业务"),
        "svc_reason_zh": ("Reason (Chinese)", "推荐理由（中文）"),
        "svc_reason_en": ("Reason (English)", "推荐理由（英文）"),
        "svc_active": ("Active", "启用"),
        "svc_accepted": ("Accepted", "接受"),
        "svc_declined": ("Declined", "拒绝"),
        "svc_rate": ("Acceptance rate", "接受率"),
        "svc_save": ("Save", "保存"),
        "svc_comma_hint": ("comma-separated codes", "多个用逗号分隔"),
        "svc_declined_saved": ("The decline was recorded.", "已记录客户拒绝。"),
        "svc_surveys": ("Satisfaction survey", "满意度调查"),
        "svc_survey_of_call": ("Survey of call", "呼叫满意度"),
        "svc_score": ("Score (1-5)", "评分（1-5）"),
        "svc_answers": ("Answers", "回答"),
        "svc_average": ("Average", "平均分"),
        "svc_survey_count": ("Surveys", "调查数"),
        "svc_low": ("Scores 1-2", "低分（1-2）"),
        "svc_last_days": ("last 30 days", "近30天"),
        "svc_recent": ("Recent results", "最近结果"),
        "svc_err_no_lines": ("Add at least one line.", "请至少填写一行明细。"),
        "svc_err_too_many": ("Too many lines.", "明细行过多。"),
        "svc_err_action": ("Unknown action.", "未知的操作。"),
        "svc_err_unknown": (
            "Service {service} is not in the catalogue.",
            "业务 {service} 不在目录中。",
        ),
        "svc_err_duplicate": (
            "Service {service} appears on more than one line.",
            "业务 {service} 在多行中重复出现。",
        ),
        "svc_err_plan": (
            "Service {service} has no plan {other}.",
            "业务 {service} 没有套餐 {other}。",
        ),
        "svc_err_already": ("The customer already has {service}.", "客户已订购 {service}。"),
        "svc_err_vip_only": ("{service} is for VIP customers only.", "{service} 仅限VIP客户办理。"),
        "svc_err_requires": ("{service} needs {other} first.", "办理 {service} 需先有 {other}。"),
        "svc_err_conflict": (
            "{service} conflicts with {other} the customer has.",
            "{service} 与客户已有的 {other} 互斥。",
        ),
        "svc_err_not_subscribed": (
            "The customer does not have {service}.",
            "客户未订购 {service}。",
        ),
        "svc_err_plan_needed": (
            "Choose the new plan for {service}.",
            "请选择 {service} 的新套餐。",
        ),
        "svc_err_same_plan": (
            "{service} is already on plan {other}.",
            "{service} 已是套餐 {other}。",
        ),
        "svc_err_required_by": (
            "{service} cannot be cancelled: {other} depends on it.",
            "{service} 不能注销：{other} 依赖它。",
        ),
        "svc_err_order_invalid": (
            "The order no longer validates; nothing was applied.",
            "受理单校验未通过，未做任何变更。",
        ),
        "svc_err_not_draft": ("This order is not a draft.", "该受理单不是草稿。"),
        "svc_err_not_confirmed": (
            "Only a confirmed order can be rolled back.",
            "只有已确认的受理单才能回退。",
        ),
        "svc_err_rollback_depends": (
            "Roll-back refused: the later order {order} changed the same services.",
            "拒绝回退：之后的受理单 {order} 变更了相同业务。",
        ),
        "svc_err_money": ("Amounts are numbers like 99.00.", "金额格式应为 99.00。"),
        "svc_err_number": ("Enter a whole number.", "请输入整数。"),
        "svc_err_rule_id": (
            "Rule IDs use a-z, 0-9, '-', '_' and '.'.",
            "规则编号只能包含 a-z、0-9、-、_ 和 .。",
        ),
        "svc_err_unknown_service": ("Unknown service code.", "未知的业务编码。"),
        "svc_err_unknown_plan": ("Unknown plan for this service.", "该业务没有此套餐。"),
        "svc_err_unknown_tier": ("Unknown tier.", "未知的客户层次。"),
        "svc_err_decline_reason": (
            "Give the customer's reason for declining.",
            "请填写客户拒绝的原因。",
        ),
        # call.wrap_up events on the trajectory page (protocol 1.3)
        "ev_wrapped_up": ("After-call notes", "话后小结"),
        "d_notes": ("notes", "小结"),
        "d_category": ("category", "业务类别"),
        # JSON answers of the desktop
        "svc_err_answer": (
            "The answer must be accepted or declined.",
            "答复必须是 accepted 或 declined。",
        ),
        "svc_err_json": ("The request body is not a JSON object.", "请求内容不是 JSON 对象。"),
    }
)


def _user(r: WebRequest) -> WebUser:
    assert r.user is not None
    return r.user


def _problem_text(r: WebRequest, p: sd.Problem) -> str:
    text = r._(p.key, service=p.service_code, other=p.other)
    return f"{r._('svc_line')} {p.position}: {text}" if p.position else text


def _error(r: WebRequest, bad: Invalid) -> str:
    return r._(bad.key, **{k: str(v) for k, v in bad.params.items()})


# --- catalogue and customer pane -------------------------------------------------------------


async def catalogue_page(r: WebRequest) -> Response:
    services = await r.db(sd.catalogue)
    return r.render("svc_catalogue.html", services=services)


async def customer_page(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    customer_id = r.request.path_params["customer_id"]
    pane = await r.db(sd.customer_pane, _user(r), customer_id)
    orders = await r.db(sd.list_orders, _user(r), customer_id)
    return r.render(
        "svc_customer.html",
        status=status,
        pane=pane,
        orders=orders,
        call_id=r.arg("call_id") or r.field("call_id"),
        error=error,
        now=utcnow(),
        notice=r.arg("notice"),
    )


async def pane_api(r: WebRequest) -> Response:
    customer_id = r.request.path_params["customer_id"]
    pane = await r.db(sd.customer_pane, _user(r), customer_id)
    balance = await r.db(sd.pane_balance, _user(r), customer_id, csrf=r.csrf)
    return JSONResponse(
        sd.pane_json(pane, balance=balance, csrf=r.csrf), headers={"Cache-Control": "no-store"}
    )


async def recommendation_answer(r: WebRequest) -> Response:
    customer_id = r.request.path_params["customer_id"]
    accept = r.field("answer") == "accept"
    call_id = r.field("call_id") or None
    try:
        order_id = await r.db(
            sd.respond_to_recommendation,
            _user(r),
            customer_id,
            r.request.path_params["rule_id"],
            accept=accept,
            reason=r.field("reason"),
            call_id=call_id,
        )
    except Invalid as bad:
        return await customer_page(r, error=_error(r, bad), status=400)
    if order_id is not None:
        return r.redirect(f"{r.base}/orders/{order_id}")
    suffix = f"&call_id={call_id}" if call_id else ""
    return r.redirect(f"{r.base}/customers/{customer_id}?notice=declined{suffix}")


# --- JSON for the desktop ---------------------------------------------------------------------

MAX_JSON_BYTES = 16 * 1024
_JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_REFUSAL_KEYS = {
    "login": "forbidden_login",
    "role": "forbidden_role",
    "region": "forbidden_region",
    "csrf": "forbidden_csrf",
}


@dataclass(frozen=True, slots=True)
class JsonCall:
    """One JSON POST of the desktop: who sent it and its body (an object)."""

    request: Request
    ctx: WebContext
    user: WebUser
    lang: str
    body: dict[str, Any]

    def _(self, key: str, **params: Any) -> str:
        return translator(self.lang)(key, **params)

    async def db[T](self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, self.ctx.sessions, *args, **kwargs)


JsonHandler = Callable[[JsonCall], Awaitable[Response]]


def json_error(status: int, error: str, message: str) -> JSONResponse:
    """``{"ok": false, "error": <key>, "message": <text in the user's language>}``."""
    return JSONResponse(
        {"ok": False, "error": error, "message": message},
        status_code=status,
        headers=_JSON_HEADERS,
    )


async def _json_body(request: Request) -> dict[str, Any] | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            return None
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def json_post(
    roles: frozenset[Role], handler: JsonHandler
) -> Callable[[Request], Awaitable[Response]]:
    """A JSON POST endpoint for ``roles``: the session cookie as for the pages, the CSRF
    token in the ``X-CSRF-Token`` header. Refusals answer 403 JSON and are audited like
    the pages' (``refused``, reason ``login`` / ``role`` / ``region`` / ``csrf``)."""

    async def endpoint(request: Request) -> Response:
        ctx: WebContext = request.app.state.web
        lang = pick_language(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
        _ = translator(lang)
        session = ctx.signer.read(request.cookies.get(SESSION_COOKIE))
        user = None
        if session is not None:
            user = await asyncio.to_thread(data.load_user, ctx.sessions, session.agent_id)

        async def refuse(reason: str, **detail: Any) -> Response:
            actor = user.agent_id if user is not None else "anonymous"
            await asyncio.to_thread(
                data.audit_refusal,
                ctx.sessions,
                actor,
                request.url.path,
                reason,
                {"method": "POST", **detail},
            )
            log.info("refused POST %s to %s: %s", request.url.path, actor, reason)
            return json_error(403, reason, _(_REFUSAL_KEYS.get(reason, "forbidden_other")))

        if session is None or user is None:
            return await refuse("login")
        if user.role not in roles:
            return await refuse("role", role=user.role.value)
        if not same_token(session.csrf, request.headers.get("x-csrf-token")):
            return await refuse("csrf")
        body = await _json_body(request)
        if body is None:
            return json_error(400, "bad_json", _("svc_err_json"))
        try:
            return await handler(JsonCall(request, ctx, user, lang, body))
        except Refused as refused:
            return await refuse(refused.reason, **refused.detail)
        except Invalid as bad:
            return json_error(
                400, bad.key, _(bad.key, **{k: str(v) for k, v in bad.params.items()})
            )
        except LookupError:
            return json_error(404, "not_found", _("not_found_title"))

    return endpoint


async def recommendation_api(call: JsonCall) -> Response:
    """``{"answer": "accepted"|"declined", "note"?, "call_id"?}``: what the customer page's
    accept / decline form does (:func:`services_data.respond_to_recommendation`)."""
    answer, note, call_id = (call.body.get(k) for k in ("answer", "note", "call_id"))
    if answer not in ("accepted", "declined"):
        return json_error(400, "svc_err_answer", call._("svc_err_answer"))
    if not isinstance(note, str | None) or not isinstance(call_id, str | None):
        return json_error(400, "svc_err_json", call._("svc_err_json"))
    params = call.request.path_params
    order_id = await call.db(
        sd.respond_to_recommendation,
        call.user,
        params["customer_id"],
        params["rule_id"],
        accept=answer == "accepted",
        reason=note or "",
        call_id=call_id or None,
    )
    base = call.ctx.settings.base_path
    return JSONResponse(
        {
            "ok": True,
            "answer": answer,
            "rule_id": params["rule_id"],
            "order_id": order_id,
            "order_path": f"{base}/orders/{order_id}" if order_id else None,
        },
        headers=_JSON_HEADERS,
    )


# --- orders ----------------------------------------------------------------------------------


async def order_form(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    services = await r.db(sd.catalogue)
    customer = r.arg("customer") or r.field("customer")
    return r.render(
        "svc_order_new.html",
        status=status,
        services=services,
        customer=customer,
        call_id=r.arg("call_id") or r.field("call_id"),
        actions=sd.ACTIONS,
        rows=range(5),
        values={k: r.field(k) for k in r.form},
        error=error,
    )


async def order_create(r: WebRequest) -> Response:
    lines = []
    for i in range(sd.MAX_LINES):
        code = r.field(f"service_{i}").strip()
        if code:
            plan = r.field(f"plan_{i}").strip()
            if ":" in plan:  # the form offers "service:plan" pairs
                plan = plan.split(":", 1)[1]
            lines.append(sd.LineInput(r.field(f"action_{i}", "apply"), code, plan or None))
    customer = r.field("customer").strip()
    if not customer:
        return await order_form(r, error=r._("error_required"), status=400)
    try:
        order_id = await r.db(
            sd.create_order,
            _user(r),
            customer,
            lines,
            call_id=r.field("call_id") or None,
            remarks=r.field("remarks"),
        )
    except Invalid as bad:
        return await order_form(r, error=_error(r, bad), status=400)
    return r.redirect(f"{r.base}/orders/{order_id}")


async def order_page(
    r: WebRequest, *, error: str = "", problems: tuple[sd.Problem, ...] = (), status: int = 200
) -> Response:
    order = await r.db(sd.get_order, _user(r), r.request.path_params["order_id"])
    services = {s.code: s for s in await r.db(sd.catalogue)}
    shown = problems or order.problems
    return r.render(
        "svc_order.html",
        status=status,
        order=order,
        services=services,
        problems=[_problem_text(r, p) for p in shown],
        error=error,
        notice=r.arg("notice"),
    )


async def order_confirm(r: WebRequest) -> Response:
    order_id = r.request.path_params["order_id"]
    try:
        await r.db(sd.confirm_order, _user(r), order_id)
    except sd.OrderProblems as bad:
        return await order_page(r, error=r._(bad.key), problems=bad.problems, status=409)
    except Invalid as bad:
        return await order_page(r, error=_error(r, bad), status=409)
    return r.redirect(f"{r.base}/orders/{order_id}?notice=confirmed")


async def order_rollback(r: WebRequest) -> Response:
    order_id = r.request.path_params["order_id"]
    try:
        await r.db(sd.rollback_order, _user(r), order_id)
    except Invalid as bad:
        return await order_page(r, error=_error(r, bad), status=409)
    return r.redirect(f"{r.base}/orders/{order_id}?notice=rolled_back")


# --- marketing rules -------------------------------------------------------------------------

RULE_FIELDS = (
    "rule_id",
    "name_zh",
    "name_en",
    "tiers",
    "regions",
    "has_services",
    "lacks_services",
    "min_tenure_days",
    "min_spend",
    "max_spend",
    "service_code",
    "plan_code",
    "reason_zh",
    "reason_en",
    "priority",
    "active",
)


async def rules_page(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    stats = await r.db(sd.rule_stats, _user(r))
    services = await r.db(sd.catalogue)
    return r.render(
        "svc_rules.html",
        status=status,
        stats=stats,
        services=services,
        error=error,
        values={k: r.field(k) for k in RULE_FIELDS},
    )


async def rule_save(r: WebRequest) -> Response:
    try:
        await r.db(sd.save_marketing_rule, _user(r), {k: r.field(k) for k in RULE_FIELDS})
    except Invalid as bad:
        return await rules_page(r, error=_error(r, bad), status=400)
    return r.redirect(f"{r.base}/marketing/rules")


# --- satisfaction surveys --------------------------------------------------------------------


async def surveys_page(r: WebRequest) -> Response:
    averages = await r.db(sd.survey_averages, _user(r))
    recent = await r.db(sd.recent_surveys, _user(r))
    return r.render("svc_surveys.html", averages=averages, recent=recent)


async def survey_of_call(r: WebRequest) -> Response:
    survey = await r.db(sd.call_survey, _user(r), r.request.path_params["call_id"])
    return r.render("svc_survey.html", survey=survey)


def routes(
    get: Callable[[str, frozenset[Role] | None, Handler], Route],
    post: Callable[[str, frozenset[Role] | None, Handler], Route],
) -> list[Route]:
    return [
        get("/services", ALL, catalogue_page),
        get("/customers/{customer_id}", DESK, customer_page),
        get("/api/customers/{customer_id}/pane", DESK, pane_api),
        Route(
            "/api/customers/{customer_id}/recommendations/{rule_id}",
            json_post(DESK, recommendation_api),
            methods=["POST"],
        ),
        post("/customers/{customer_id}/recommendations/{rule_id}", DESK, recommendation_answer),
        get("/orders/new", DESK, order_form),
        post("/orders", DESK, order_create),
        get("/orders/{order_id}", DESK, order_page),
        post("/orders/{order_id}/confirm", DESK, order_confirm),
        post("/orders/{order_id}/rollback", DESK, order_rollback),
        get("/marketing/rules", LEADS, rules_page),
        post("/marketing/rules", ADMINS, rule_save),
        get("/surveys", LEADS, surveys_page),
        get("/surveys/{call_id}", DESK, survey_of_call),
    ]


def money(value: Any) -> str:
    return "" if value is None else f"{value:,.2f}"


def day(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d")
