"""IVR self-service payment look-ups (``switch.lookup``, R-BIZ-6, R-BIZ-4).

Registered by :class:`~cti_server.domain.lookups.LookupServices`; the money side is
:mod:`cti_server.store.payments`, the same service the web pages use.

* ``account_balance`` - args ``pin`` (the customer's service password, required) and
  ``account`` (account number; default: the prepaid account of the customer whose
  number is ``number`` or the caller's) → ``account``, ``balance`` (main ledger),
  ``bonus``, ``deposit`` (when the account has them), ``total`` (every ledger) and
  ``currency``. Wrong passwords are counted (five in 15 minutes block further tries);
  every answered query is audited (``customer_query``).
* ``recharge`` - args ``card`` and ``pin`` (the card's PIN), ``account`` (default as
  above) and ``key`` (idempotency key; default ``ivr:<call>:<card>``, so a flow that
  repeats the request within the call gets the same receipt) → ``receipt_no``,
  ``amount``, ``balance`` (main ledger after the credit), ``account``, ``currency`` and
  ``replayed`` (``true`` when the receipt is an earlier one).

Refusals are error results ``<code>: <text>`` (``wrong_pin``, ``card_used``,
``card_locked``, ``wrong_service_password`` …): the flow plays its error branch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from cti_server.store import audit, try_normalise
from cti_server.store import payments as pay
from shared.protocol.switch import LookupResult

from .model import CallRecord

if TYPE_CHECKING:
    from .centre import ContactCentre

IVR_ACTOR = "ivr"

type Service = Callable[[CallRecord | None, Mapping[str, str]], Awaitable[LookupResult]]


def _error(text: str) -> LookupResult:
    return LookupResult(error=text[:1024])


def _refused(error: pay.PaymentError) -> LookupResult:
    return _error(f"{error.code}: {error}")


async def _customer_of(
    centre: ContactCentre, call: CallRecord | None, args: Mapping[str, str]
) -> str | None:
    number = args.get("number") or (call.caller if call is not None else None)
    if not number or try_normalise(number) is None:
        return None
    customer = await centre.store.lookup(number)
    return customer.customer_id if customer is not None else None


def services(centre: ContactCentre) -> dict[str, Service]:
    """The payment services by name, bound to ``centre``."""

    async def account_balance(call: CallRecord | None, args: Mapping[str, str]) -> LookupResult:
        password = args.get("pin", "")
        if not password:
            return _error("argument `pin` (the service password) is required")
        account_no = args.get("account") or None
        customer_id = None if account_no else await _customer_of(centre, call, args)
        if account_no is None and customer_id is None:
            return _error("argument `account` is required (the caller is not a known customer)")
        sessions = centre.store.sessions
        call_id = call.call_id if call is not None else None

        def work() -> pay.AccountView:
            with sessions() as session:
                account = pay.find_account(session, account_id=account_no, customer_id=customer_id)
                account_id, owner = account.id, account.customer_id
            pay.check_service_password(sessions, owner, password, actor=IVR_ACTOR, channel="ivr")
            with sessions.begin() as session:
                view = pay.balances(session, account_id)
                audit.record(
                    session,
                    actor=IVR_ACTOR,
                    action="customer_query",
                    entity="customer",
                    entity_id=owner,
                    after={"view": "balance", "account": account_id, "call_id": call_id},
                )
                return view

        try:
            view = await asyncio.to_thread(work)
        except pay.PaymentError as refused:
            return _refused(refused)
        values = {
            "account": view.account_id,
            "balance": str(view.balance("main")),
            "total": str(view.total),
            "currency": view.currency,
        }
        values.update({ledger.kind: str(ledger.balance) for ledger in view.ledgers})
        return LookupResult(values=values)

    async def recharge(call: CallRecord | None, args: Mapping[str, str]) -> LookupResult:
        try:
            card = pay.normalise_card_no(args.get("card", ""))
        except pay.PaymentError as refused:
            return _error(f"argument `card`: {refused}")
        pin = args.get("pin", "")
        if not pin:
            return _error("argument `pin` (the card's PIN) is required")
        account_no = args.get("account") or None
        customer_id = None if account_no else await _customer_of(centre, call, args)
        if account_no is None and customer_id is None:
            return _error("argument `account` is required (the caller is not a known customer)")
        call_id = call.call_id if call is not None else None
        key = args.get("key") or f"ivr:{call_id or '-'}:{card}"
        sessions = centre.store.sessions

        def work() -> tuple[pay.ReceiptView, pay.AccountView]:
            receipt = pay.recharge(
                sessions,
                card_no=card,
                pin=pin,
                channel="ivr",
                idempotency_key=key,
                actor=IVR_ACTOR,
                account_id=account_no,
                customer_id=customer_id,
                call_id=call_id,
            )
            with sessions() as session:
                return receipt, pay.balances(session, receipt.account_id)

        try:
            receipt, view = await asyncio.to_thread(work)
        except pay.PaymentError as refused:
            return _refused(refused)
        balance = receipt.balance_after if receipt.balance_after is not None else view.balance()
        return LookupResult(
            values={
                "receipt_no": receipt.receipt_no,
                "amount": str(receipt.amount),
                "balance": str(balance),
                "account": receipt.account_id,
                "currency": view.currency,
                "replayed": "true" if receipt.replayed else "false",
            }
        )

    return {"account_balance": account_balance, "recharge": recharge}
