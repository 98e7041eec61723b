"""The customer pane of the native CS area, parsed from the server's pane JSON.

``GET /ui/api/customers/{id}/pane`` returns the customer, the services they hold and
do not hold, the marketing recommendations and the open care plans (money as decimal
strings, times as ISO 8601), plus ``balance`` (a decimal string, or ``null`` until
the service password was verified in that web session), ``balance_locked`` and the
session's ``csrf`` token. :meth:`CustomerPane.from_json` turns that into frozen
dataclasses with :class:`~decimal.Decimal` money and aware datetimes, or raises
:class:`PaneFormatError` naming the first bad field; nothing half-parsed escapes.

Qt-free: the widgets only display what this module parsed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_MONEY = Decimal("1e12")


class PaneFormatError(ValueError):
    """The pane JSON is malformed; ``field`` names where (``subscribed[1].monthly_fee``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"pane field {field!r}: {problem}")
        self.field = field
        self.problem = problem


def _localised(lang: str, zh: str, en: str) -> str:
    return (zh or en) if lang.lower().startswith("zh") else (en or zh)


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    customer_id: str
    name: str
    tier: str
    region: str
    account_status: str
    """``active``, ``no_service`` or ``blacklisted``."""
    tenure_days: int
    monthly_spend: Decimal


@dataclass(frozen=True, slots=True)
class SubscribedService:
    service_code: str
    name_zh: str
    name_en: str
    plan_code: str | None
    status: str
    since: dt.datetime
    monthly_fee: Decimal

    def name(self, lang: str) -> str:
        return _localised(lang, self.name_zh, self.name_en)


@dataclass(frozen=True, slots=True)
class AvailableService:
    """A service the customer does not hold."""

    service_code: str
    name_zh: str
    name_en: str
    category: str
    monthly_fee: Decimal
    vip_only: bool

    def name(self, lang: str) -> str:
        return _localised(lang, self.name_zh, self.name_en)


@dataclass(frozen=True, slots=True)
class Recommendation:
    rule_id: str
    service_code: str
    name_zh: str
    name_en: str
    plan_code: str | None
    reason_zh: str
    reason_en: str
    priority: int

    def name(self, lang: str) -> str:
        return _localised(lang, self.name_zh, self.name_en)

    def reason(self, lang: str) -> str:
        return _localised(lang, self.reason_zh, self.reason_en)


@dataclass(frozen=True, slots=True)
class CarePlanItem:
    plan_id: str
    kind: str
    title: str
    note: str | None
    due_at: dt.datetime
    state: str
    overdue: bool
    rule_id: str | None


@dataclass(frozen=True, slots=True)
class CustomerPane:
    customer: CustomerInfo
    subscribed: tuple[SubscribedService, ...] = ()
    not_subscribed: tuple[AvailableService, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    care_plans: tuple[CarePlanItem, ...] = ()
    balance: Decimal | None = None
    """The account balance; ``None`` while locked (or from a server that sends none)."""
    balance_locked: bool = False
    """True until the service password is verified in this web session."""
    csrf: str | None = None

    @classmethod
    def from_json(cls, d: object) -> CustomerPane:
        """Parse the pane JSON (already decoded); :class:`PaneFormatError` if malformed."""
        top = _mapping(d, "pane")
        customer = _parse_customer(_mapping(top.get("customer"), "customer"))
        balance = _opt_money(top, "balance", "balance")
        locked_raw = top.get("balance_locked", False)
        if locked_raw is None:
            locked_raw = False
        if not isinstance(locked_raw, bool):
            raise PaneFormatError("balance_locked", "not a boolean")
        csrf = _opt_str(top, "csrf", "csrf")
        return cls(
            customer=customer,
            subscribed=_items(top, "subscribed", _parse_subscribed),
            not_subscribed=_items(top, "not_subscribed", _parse_available),
            recommendations=_items(top, "recommendations", _parse_recommendation),
            care_plans=_items(top, "care_plans", _parse_care),
            balance=balance,
            balance_locked=locked_raw,
            csrf=csrf,
        )


# --- field readers -----------------------------------------------------------------


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise PaneFormatError(where, "not an object")
    return value


def _str(m: Mapping[str, object], key: str, where: str) -> str:
    value = m.get(key)
    if not isinstance(value, str):
        raise PaneFormatError(f"{where}.{key}", "missing or not a string")
    return value


def _opt_str(m: Mapping[str, object], key: str, where: str) -> str | None:
    value = m.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PaneFormatError(where if where == key else f"{where}.{key}", "not a string")
    return value


def _int(m: Mapping[str, object], key: str, where: str) -> int:
    value = m.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PaneFormatError(f"{where}.{key}", "missing or not an integer")
    return value


def _bool(m: Mapping[str, object], key: str, where: str) -> bool:
    value = m.get(key)
    if not isinstance(value, bool):
        raise PaneFormatError(f"{where}.{key}", "missing or not a boolean")
    return value


def _to_money(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PaneFormatError(field, "not a decimal string")
    try:
        money = Decimal(str(value).strip())
    except InvalidOperation:
        raise PaneFormatError(field, f"not a decimal: {str(value)[:40]!r}") from None
    if not money.is_finite() or abs(money) >= MAX_MONEY:
        raise PaneFormatError(field, "not a finite amount")
    return money


def _money(m: Mapping[str, object], key: str, where: str) -> Decimal:
    return _to_money(m.get(key), f"{where}.{key}")


def _opt_money(m: Mapping[str, object], key: str, field: str) -> Decimal | None:
    value = m.get(key)
    return None if value is None else _to_money(value, field)


def _time(m: Mapping[str, object], key: str, where: str) -> dt.datetime:
    field = f"{where}.{key}"
    value = m.get(key)
    if not isinstance(value, str):
        raise PaneFormatError(field, "missing or not an ISO 8601 time")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise PaneFormatError(field, f"not an ISO 8601 time: {value[:40]!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _items[T](
    top: Mapping[str, object], key: str, parse: Callable[[Mapping[str, object], str], T]
) -> tuple[T, ...]:
    value = top.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PaneFormatError(key, "not a list")
    return tuple(
        parse(_mapping(item, f"{key}[{i}]"), f"{key}[{i}]") for i, item in enumerate(value)
    )


def _parse_customer(m: Mapping[str, object]) -> CustomerInfo:
    w = "customer"
    customer_id = _str(m, "customer_id", w)
    if not customer_id:
        raise PaneFormatError("customer.customer_id", "empty")
    return CustomerInfo(
        customer_id=customer_id,
        name=_str(m, "name", w),
        tier=_str(m, "tier", w),
        region=_str(m, "region", w),
        account_status=_str(m, "account_status", w),
        tenure_days=_int(m, "tenure_days", w),
        monthly_spend=_money(m, "monthly_spend", w),
    )


def _parse_subscribed(m: Mapping[str, object], w: str) -> SubscribedService:
    return SubscribedService(
        service_code=_str(m, "service_code", w),
        name_zh=_str(m, "name_zh", w),
        name_en=_str(m, "name_en", w),
        plan_code=_opt_str(m, "plan_code", w),
        status=_str(m, "status", w),
        since=_time(m, "since", w),
        monthly_fee=_money(m, "monthly_fee", w),
    )


def _parse_available(m: Mapping[str, object], w: str) -> AvailableService:
    return AvailableService(
        service_code=_str(m, "service_code", w),
        name_zh=_str(m, "name_zh", w),
        name_en=_str(m, "name_en", w),
        category=_str(m, "category", w),
        monthly_fee=_money(m, "monthly_fee", w),
        vip_only=_bool(m, "vip_only", w),
    )


def _parse_recommendation(m: Mapping[str, object], w: str) -> Recommendation:
    return Recommendation(
        rule_id=_str(m, "rule_id", w),
        service_code=_str(m, "service_code", w),
        name_zh=_str(m, "name_zh", w),
        name_en=_str(m, "name_en", w),
        plan_code=_opt_str(m, "plan_code", w),
        reason_zh=_str(m, "reason_zh", w),
        reason_en=_str(m, "reason_en", w),
        priority=_int(m, "priority", w),
    )


def _parse_care(m: Mapping[str, object], w: str) -> CarePlanItem:
    return CarePlanItem(
        plan_id=_str(m, "plan_id", w),
        kind=_str(m, "kind", w),
        title=_str(m, "title", w),
        note=_opt_str(m, "note", w),
        due_at=_time(m, "due_at", w),
        state=_str(m, "state", w),
        overdue=_bool(m, "overdue", w),
        rule_id=_opt_str(m, "rule_id", w),
    )
