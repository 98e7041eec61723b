"""Rule evaluation and order validation on hand-built customers (R-BIZ-2 validation,
R-BIZ-7 recommendations): pure functions, no database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cti_server.web.services_data import (
    CustomerProfile,
    LineInput,
    PlanView,
    RuleView,
    ServiceView,
    SubscriptionView,
    check_lines,
    recommendations,
    rule_matches,
)

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def _svc(
    code: str,
    *,
    vip: bool = False,
    requires: tuple[str, ...] = (),
    conflicts: tuple[str, ...] = (),
    plans: tuple[str, ...] = (),
    fee: str = "10.00",
) -> ServiceView:
    return ServiceView(
        code,
        f"{code} 中文",
        code,
        "tv",
        Decimal(fee),
        vip,
        False,
        requires,
        conflicts,
        True,
        tuple(PlanView(p, p, p, Decimal(fee), "monthly") for p in plans),
    )


SERVICES = {
    s.code: s
    for s in (
        _svc("bb_100", conflicts=("bb_1000",), plans=("m", "y")),
        _svc("bb_1000"),
        _svc("iptv"),
        _svc("tv_sports", requires=("iptv",)),
        _svc("vip_gold", vip=True),
        _svc("cloud"),
    )
}


def _customer(
    tier: str = "normal",
    region: str = "上海",
    held: dict[str, str | None] | None = None,
    *,
    tenure: int = 100,
    spend: str = "50.00",
    cancelled: tuple[str, ...] = (),
) -> CustomerProfile:
    subs = {
        code: SubscriptionView(code, plan, "active", NOW, None, None)
        for code, plan in (held or {}).items()
    }
    subs.update(
        {code: SubscriptionView(code, None, "cancelled", NOW, NOW, None) for code in cancelled}
    )
    return CustomerProfile("C1", tier, region, subs, tenure, Decimal(spend))


def _rule(rule_id: str, service: str, priority: int = 0, **conditions: object) -> RuleView:
    return RuleView(
        rule_id,
        rule_id,
        rule_id,
        service_code=service,
        priority=priority,
        reason_zh="理由",
        reason_en="why",
        **conditions,  # type: ignore[arg-type]
    )


def test_each_condition_of_a_rule_is_checked() -> None:
    """R-BIZ-7: tier, region, has / lacks services, tenure and spend."""
    broadband = _customer(held={"bb_100": "m"}, tenure=400, spend="120.00")
    assert rule_matches(_rule("r", "iptv", has_services=("bb_100",)), broadband)
    assert not rule_matches(_rule("r", "iptv", has_services=("bb_1000",)), broadband)
    assert not rule_matches(_rule("r", "iptv", lacks_services=("bb_100",)), broadband)
    assert rule_matches(_rule("r", "iptv", tiers=("normal", "gold")), broadband)
    assert not rule_matches(_rule("r", "iptv", tiers=("vip",)), broadband)
    assert rule_matches(_rule("r", "iptv", regions=("上海",)), broadband)
    assert not rule_matches(_rule("r", "iptv", regions=("深圳",)), broadband)
    assert rule_matches(_rule("r", "iptv", min_tenure_days=400), broadband)
    assert not rule_matches(_rule("r", "iptv", min_tenure_days=401), broadband)
    assert rule_matches(_rule("r", "iptv", min_spend=Decimal("120.00")), broadband)
    assert not rule_matches(_rule("r", "iptv", min_spend=Decimal("120.01")), broadband)
    assert not rule_matches(_rule("r", "iptv", max_spend=Decimal("119.99")), broadband)
    # never recommend what the customer has; a cancelled service may come back
    assert not rule_matches(_rule("r", "bb_100"), broadband)
    assert rule_matches(_rule("r", "cloud"), _customer(cancelled=("cloud",)))
    assert not rule_matches(
        RuleView("off", "x", "x", service_code="cloud", active=False), broadband
    )


def test_recommendations_order_dedupe_and_filters() -> None:
    rules = [
        _rule("low", "iptv", 10),
        _rule("high", "iptv", 90),  # same service: the higher priority wins
        _rule("cloud", "cloud", 50),
        _rule("vip", "vip_gold", 99),  # VIP-only service: not for a normal customer
        _rule("clash", "bb_1000", 80),  # conflicts with bb_100 the customer has
        _rule("needs", "tv_sports", 70),  # needs iptv first
        _rule("declined", "bb_1000", 5, tiers=("gold",)),
    ]
    normal = _customer(held={"bb_100": "m"})
    got = recommendations(normal, rules, SERVICES)
    assert [(r.rule_id, r.service_code) for r in got] == [("high", "iptv"), ("cloud", "cloud")]
    assert got[0].reason("zh") == "理由" and got[0].reason("en") == "why"
    # declined lately: left out, the next rule for the service takes its place
    assert [r.rule_id for r in recommendations(normal, rules, SERVICES, declined={"high"})] == [
        "cloud",
        "low",
    ]
    vip = _customer("vip", held={"iptv": None})
    assert [r.rule_id for r in recommendations(vip, rules, SERVICES)] == [
        "vip",
        "clash",
        "needs",
        "cloud",
    ]
    # without the catalogue only the rule conditions count
    assert "vip" in [r.rule_id for r in recommendations(normal, rules)]


def test_order_lines_are_checked_against_the_state_earlier_lines_leave() -> None:
    """R-BIZ-2 validation: duplicates, VIP-only, prerequisites, conflicts, plans."""
    empty = _customer()
    assert check_lines(empty, SERVICES, []) and check_lines(empty, SERVICES, [])[0].key == (
        "svc_err_no_lines"
    )
    # iptv then the sports pack that needs it: fine in one order
    assert (
        check_lines(empty, SERVICES, [LineInput("apply", "iptv"), LineInput("apply", "tv_sports")])
        == []
    )
    # the other way round: the sports pack comes first and lacks iptv
    [problem] = check_lines(
        empty, SERVICES, [LineInput("apply", "tv_sports"), LineInput("apply", "iptv")]
    )
    assert (problem.position, problem.key, problem.other) == (1, "svc_err_requires", "iptv")

    def keys(profile: CustomerProfile, *lines: LineInput) -> list[tuple[int, str]]:
        return [(p.position, p.key) for p in check_lines(profile, SERVICES, list(lines))]

    assert keys(empty, LineInput("apply", "iptv"), LineInput("cancel", "iptv")) == [
        (2, "svc_err_duplicate")
    ]
    assert keys(empty, LineInput("apply", "vip_gold")) == [(1, "svc_err_vip_only")]
    assert keys(_customer("vip"), LineInput("reserve", "vip_gold")) == []
    assert keys(empty, LineInput("apply", "bb_100"), LineInput("apply", "bb_1000")) == [
        (2, "svc_err_conflict")
    ]
    assert keys(empty, LineInput("apply", "nope")) == [(1, "svc_err_unknown")]
    assert keys(empty, LineInput("launch", "iptv")) == [(1, "svc_err_action")]
    assert keys(empty, LineInput("apply", "bb_100", "gold")) == [(1, "svc_err_plan")]
    has_bb = _customer(held={"bb_100": "m", "iptv": None, "tv_sports": None})
    assert keys(has_bb, LineInput("apply", "bb_100")) == [(1, "svc_err_already")]
    assert keys(has_bb, LineInput("change", "bb_100", "m")) == [(1, "svc_err_same_plan")]
    assert keys(has_bb, LineInput("change", "bb_100")) == [(1, "svc_err_plan_needed")]
    assert keys(has_bb, LineInput("change", "bb_100", "y")) == []
    assert keys(has_bb, LineInput("change", "cloud")) == [(1, "svc_err_not_subscribed")]
    assert keys(has_bb, LineInput("cancel", "cloud")) == [(1, "svc_err_not_subscribed")]
    assert keys(has_bb, LineInput("cancel", "iptv")) == [(1, "svc_err_required_by")]
    assert keys(has_bb, LineInput("cancel", "tv_sports"), LineInput("cancel", "iptv")) == []
    # switching broadband speed in one order: cancel first, then apply
    assert keys(has_bb, LineInput("cancel", "bb_100"), LineInput("apply", "bb_1000")) == []
