"""Customer query and recharge pages (R-BIZ-4 queries, R-BIZ-6 payment).

* ``/pay`` fuzzy customer search (name, number, id) within the agent's region;
* ``/pay/customers/{id}/unlock``: the agent types the service password the caller
  gives; it opens the customer's data to this session for ten minutes (or until the
  agent locks it, or the call named on the form is released);
* ``/pay/customers/{id}``: customer data, services, balances of every ledger, bills
  and payment history. Without the password: **403**, the password form and an audit
  row (``refused``, reason ``service_password``);
* ``/pay/customers/{id}/recharge``: card number + PIN (read out on the phone or sent
  by SMS) → receipt page. The form carries an idempotency key, so a double submit or a
  reload credits once and shows the same receipt.

``routes(get, post)`` gives ``pages._routes()`` the routes; the data side is
:mod:`.payments_data`, the money side :mod:`cti_server.store.payments` (shared with the
IVR's ``account_balance`` / ``recharge`` look-ups).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from cti_server.store import payments as pay
from cti_server.store.models import Role

from . import data
from . import payments_data as pd
from .i18n import MESSAGES

if TYPE_CHECKING:
    from .pages import WebRequest

Handler = Callable[["WebRequest"], Awaitable[Response]]
RouteFactory = Callable[[str, frozenset[Role] | None, Handler], Route]

DESK = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN})

MESSAGES.update(
    {
        "pay_nav": ("Customer & payment", "客户查询缴费"),
        "pay_search_title": ("Customer search", "客户查询"),
        "pay_search_hint": (
            "Name, phone number or customer ID (parts are enough).",
            "姓名、号码或客户编号（可输入部分）。",
        ),
        "pay_search": ("Search", "查询"),
        "pay_no_hits": ("No customer found in your region.", "您的区域内没有找到客户。"),
        "pay_open": ("Open", "查看"),
        "pay_customer_id": ("Customer ID", "客户编号"),
        "pay_name": ("Name", "姓名"),
        "pay_region": ("Region", "区域"),
        "pay_tier": ("Tier", "客户层次"),
        "pay_numbers": ("Numbers", "号码"),
        "pay_blacklisted": ("Blacklisted", "黑名单"),
        "pay_yes": ("yes", "是"),
        "pay_no": ("no", "否"),
        "pay_unlock_title": ("Service password", "服务密码验证"),
        "pay_unlock_hint": (
            "Ask the caller for the service password before any query of customer data, "
            "services, bills or balances.",
            "查询客户资料、业务、账单或余额前，请先请客户提供服务密码。",
        ),
        "pay_password": ("Service password", "服务密码"),
        "pay_call_id": ("Call ID (optional)", "呼叫编号（可选）"),
        "pay_unlock": ("Verify", "验证"),
        "pay_locked_refused": (
            "The customer's service password is needed first. This refusal has been recorded.",
            "需先验证客户服务密码。本次拒绝已记入审计日志。",
        ),
        "pay_unlocked_until": ("Verified until", "验证有效至"),
        "pay_lock": ("End (lock again)", "结束查询（重新锁定）"),
        "pay_customer_title": ("Customer", "客户"),
        "pay_services": ("Services", "业务"),
        "pay_no_services": ("No services.", "无业务。"),
        "pay_accounts": ("Accounts and balances", "账户与余额"),
        "pay_account": ("Account", "账户"),
        "pay_kind": ("Kind", "类型"),
        "pay_ledger": ("Ledger", "账本"),
        "pay_balance": ("Balance", "余额"),
        "pay_total": ("Total", "合计"),
        "pay_grand_total": ("All accounts", "全部账户合计"),
        "pay_bills": ("Bills", "账单"),
        "pay_period": ("Period", "账期"),
        "pay_amount_due": ("Amount due", "应缴"),
        "pay_amount_paid": ("Paid", "已缴"),
        "pay_outstanding": ("Outstanding", "欠费"),
        "pay_due_date": ("Due date", "缴费期限"),
        "pay_status": ("Status", "状态"),
        "pay_no_bills": ("No bills.", "无账单。"),
        "pay_history": ("Payment history", "缴费记录"),
        "pay_no_receipts": ("No payments yet.", "暂无缴费记录。"),
        "pay_recharge": ("Recharge card top-up", "充值卡充值"),
        "pay_recharge_title": ("Recharge card top-up", "充值卡充值"),
        "pay_recharge_hint": (
            "Type the card number and PIN the caller reads out (or sent by SMS).",
            "请输入客户报出（或短信发送）的充值卡卡号和密码。",
        ),
        "pay_card_no": ("Card number", "卡号"),
        "pay_pin": ("Card PIN", "充值密码"),
        "pay_channel": ("Channel", "渠道"),
        "pay_submit": ("Top up", "充值"),
        "pay_no_account": ("The customer has no prepaid account.", "该客户没有预付费账户。"),
        "pay_receipt_title": ("Receipt", "缴费凭证"),
        "pay_receipt_no": ("Receipt no.", "凭证号"),
        "pay_amount": ("Amount", "金额"),
        "pay_balance_after": ("Main balance after", "充值后主账户余额"),
        "pay_time": ("Time", "时间"),
        "pay_agent": ("Taken by", "受理人"),
        "pay_card": ("Card", "充值卡"),
        "pay_replayed": (
            "This top-up was already made: the card was credited once, here is its receipt.",
            "该充值已完成（只入账一次），以下为原凭证。",
        ),
        "pay_done": ("Credited.", "充值成功。"),
        "pay_back": ("Back to the customer", "返回客户"),
        "pay_ch_phone": ("Phone", "电话"),
        "pay_ch_sms": ("SMS", "短信"),
        "pay_ch_web": ("Web", "网页"),
        "pay_ch_ivr": ("IVR self-service", "自助语音"),
        "pay_k_prepaid": ("Prepaid", "预付费"),
        "pay_k_postpaid": ("Postpaid", "后付费"),
        "pay_l_main": ("Main balance", "主账户"),
        "pay_l_bonus": ("Bonus", "赠送金"),
        "pay_l_deposit": ("Deposit", "押金"),
        "pay_b_open": ("Open", "未缴清"),
        "pay_b_paid": ("Paid", "已缴清"),
        "pay_svc_broadband": ("Broadband", "宽带"),
        "pay_svc_iptv": ("Digital TV", "数字电视"),
        "pay_svc_mobile": ("Mobile", "移动电话"),
        "pay_svc_landline": ("Landline", "固定电话"),
        "pay_err_invalid_input": ("Check the input: {detail}", "输入有误：{detail}"),
        "pay_err_unknown_card": ("No such card.", "卡号不存在。"),
        "pay_err_wrong_pin": (
            "Wrong card PIN. Attempts left: {left}.",
            "充值密码错误，还可尝试 {left} 次。",
        ),
        "pay_err_card_used": ("This card has already been used.", "该充值卡已被使用。"),
        "pay_err_card_void": ("This card has been withdrawn.", "该充值卡已作废。"),
        "pay_err_card_locked": (
            "This card is locked after too many wrong PINs.",
            "密码错误次数过多，该充值卡已锁定。",
        ),
        "pay_err_card_expired": ("This card has expired.", "该充值卡已过期。"),
        "pay_err_unknown_account": ("No such account.", "账户不存在。"),
        "pay_err_account_not_rechargeable": (
            "This account cannot be topped up.",
            "该账户不能充值。",
        ),
        "pay_err_idempotency_conflict": (
            "This form was already used for another payment. Reload the page.",
            "该表单已用于另一笔缴费，请刷新页面。",
        ),
        "pay_err_wrong_service_password": (
            "Wrong service password. Attempts left: {left}.",
            "服务密码错误，还可尝试 {left} 次。",
        ),
        "pay_err_service_password_locked": (
            "Too many wrong service passwords: try again in 15 minutes.",
            "服务密码错误次数过多，请15分钟后再试。",
        ),
        "pay_err_no_service_password": (
            "The customer has no service password; it is set at a service outlet.",
            "该客户未设置服务密码，请到营业厅设置。",
        ),
        "pay_err_unknown_customer": ("No such customer.", "客户不存在。"),
        "pay_err_payment_error": ("The payment failed; try again.", "缴费失败，请重试。"),
    }
)


def _user(r: WebRequest) -> data.WebUser:
    assert r.user is not None
    return r.user


def _cid(r: WebRequest) -> str:
    return str(r.request.path_params["customer_id"])


def error_text(r: WebRequest, error: pay.PaymentError) -> str:
    key = f"pay_err_{error.code}"
    if key not in MESSAGES:
        key = "pay_err_payment_error"
    if isinstance(error, pay.WrongPin):
        return r._(key, left=error.attempts_left)
    if isinstance(error, pay.WrongServicePassword):
        return r._(key, left=max(0, error.attempts_left))
    if isinstance(error, pay.InvalidPaymentInput):
        return r._(key, detail=str(error))
    return r._(key)


# --- search ------------------------------------------------------------------------------------


async def search(r: WebRequest) -> Response:
    q = r.arg("q")
    hits = await r.db(pd.search_customers, _user(r), q) if q else None
    return r.render("pay_search.html", q=q, hits=hits)


# --- the service-password gate -------------------------------------------------------------------


async def _gate(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    head = await r.db(pd.customer_head, _user(r), _cid(r))
    call_id = r.arg("call_id") or r.field("call_id")
    return r.render("pay_unlock.html", status=status, head=head, error=error, call_id=call_id)


async def unlock_form(r: WebRequest) -> Response:
    return await _gate(r)


async def unlock_submit(r: WebRequest) -> Response:
    user, customer_id = _user(r), _cid(r)
    try:
        await r.db(
            pd.unlock,
            user,
            customer_id,
            r.field("password"),
            csrf=r.csrf,
            call_id=r.field("call_id").strip() or None,
        )
    except pay.UnknownCustomer:
        return r.not_found()
    except pay.PaymentError as refused:
        await r.db(
            data.audit_refusal,
            user.agent_id,
            r.path,
            "service_password",
            {"method": "POST", "customer": customer_id, "why": refused.code},
        )
        return await _gate(r, error=error_text(r, refused), status=403)
    return r.redirect(f"{r.base}/pay/customers/{customer_id}")


async def lock(r: WebRequest) -> Response:
    await r.db(pd.customer_head, _user(r), _cid(r))  # region rule
    await r.db(pd.lock, _user(r), _cid(r), csrf=r.csrf)
    return r.redirect(f"{r.base}/pay?locked={_cid(r)}")


# --- the customer ---------------------------------------------------------------------------------


async def customer(r: WebRequest) -> Response:
    user, customer_id = _user(r), _cid(r)
    try:
        overview = await r.db(pd.customer_overview, user, customer_id, csrf=r.csrf)
    except pd.Locked:
        await r.db(
            data.audit_refusal,
            user.agent_id,
            r.path,
            "service_password",
            {"method": "GET", "customer": customer_id},
        )
        return await _gate(r, error=r._("pay_locked_refused"), status=403)
    return r.render("pay_customer.html", c=overview)


# --- recharge ---------------------------------------------------------------------------------


async def _recharge_form(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    context = await r.db(pd.recharge_context, _user(r), _cid(r))
    values = {
        "account_id": r.field("account_id") or (context.accounts[0] if context.accounts else ""),
        "card_no": r.field("card_no"),
        "channel": r.field("channel") or "phone",
        "call_id": r.field("call_id") or r.arg("call_id"),
        # the same key again after a refusal: nothing was credited under it
        "key": r.field("key") or secrets.token_urlsafe(18),
    }
    return r.render("pay_recharge.html", status=status, context=context, values=values, error=error)


async def recharge_form(r: WebRequest) -> Response:
    return await _recharge_form(r)


async def recharge_submit(r: WebRequest) -> Response:
    user, customer_id = _user(r), _cid(r)
    try:
        receipt = await r.db(
            pd.recharge,
            user,
            customer_id,
            account_id=r.field("account_id"),
            card_no=r.field("card_no"),
            pin=r.field("pin"),
            channel=r.field("channel") or "phone",
            idempotency_key=r.field("key"),
            call_id=r.field("call_id").strip() or None,
        )
    except pay.PaymentError as refused:
        status = 409 if isinstance(refused, pay.CardUsed | pay.IdempotencyConflict) else 400
        return await _recharge_form(r, error=error_text(r, refused), status=status)
    suffix = "?again=1" if receipt.replayed else ""
    return r.redirect(f"{r.base}/pay/receipts/{receipt.receipt_no}{suffix}")


async def receipt_page(r: WebRequest) -> Response:
    receipt, name = await r.db(pd.receipt, _user(r), str(r.request.path_params["receipt_no"]))
    return r.render("pay_receipt.html", receipt=receipt, name=name, again=bool(r.arg("again")))


def routes(get: RouteFactory, post: RouteFactory) -> list[Route]:
    return [
        get("/pay", DESK, search),
        get("/pay/customers/{customer_id}", DESK, customer),
        get("/pay/customers/{customer_id}/unlock", DESK, unlock_form),
        post("/pay/customers/{customer_id}/unlock", DESK, unlock_submit),
        post("/pay/customers/{customer_id}/lock", DESK, lock),
        get("/pay/customers/{customer_id}/recharge", DESK, recharge_form),
        post("/pay/customers/{customer_id}/recharge", DESK, recharge_submit),
        get("/pay/receipts/{receipt_no}", DESK, receipt_page),
    ]
