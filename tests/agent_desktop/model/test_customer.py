"""The customer pane JSON from the real server code parses into typed, exact values;
malformed JSON is refused with the field named (nothing half-parsed)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent_desktop.model.customer import CustomerPane, PaneFormatError


@pytest.fixture(scope="module")
def panes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """``pane_json`` of the well-known demo customers, through a JSON round trip."""
    from argon2 import PasswordHasher

    from cti_server.store import make_engine, seed_demo, session_factory, upgrade
    from cti_server.store.models import Role
    from cti_server.store.seed import seed_back_office
    from cti_server.web import services_data as sd
    from cti_server.web.data import WebUser

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    folder: Path = tmp_path_factory.mktemp("pane")
    engine = make_engine(f"sqlite:///{folder}/opencc.sqlite3")
    try:
        upgrade(engine)
        seed_demo(engine, customers=4, hasher=hasher)
        seed_back_office(engine, hasher=hasher)
        sessions = session_factory(engine)
        user = WebUser(agent_id="1001", name="Agent", role=Role.AGENT, region=None, department=None)
        return {
            cid: json.loads(json.dumps(sd.pane_json(sd.customer_pane(sessions, user, cid))))
            for cid in ("C000001", "C000003", "C000004")
        }
    finally:
        engine.dispose()


def test_the_servers_pane_parses_with_exact_money_and_aware_times(panes) -> None:
    raw = panes["C000003"]
    pane = CustomerPane.from_json(raw)
    assert pane.customer.customer_id == "C000003"
    assert pane.customer.name == raw["customer"]["name"]
    assert pane.customer.tier == "normal"
    assert pane.customer.monthly_spend == Decimal(raw["customer"]["monthly_spend"])
    assert [s.service_code for s in pane.subscribed] == [
        s["service_code"] for s in raw["subscribed"]
    ]
    assert sum(s.monthly_fee for s in pane.subscribed) == pane.customer.monthly_spend
    assert all(isinstance(s.monthly_fee, Decimal) for s in pane.not_subscribed)
    assert all(s.since.tzinfo is not None for s in pane.subscribed)
    assert [r.rule_id for r in pane.recommendations] == [
        r["rule_id"] for r in raw["recommendations"]
    ]
    rec = pane.recommendations[0]
    assert rec.name("zh_CN") == raw["recommendations"][0]["name_zh"]
    assert rec.reason("en") == raw["recommendations"][0]["reason_en"]
    assert any(c.overdue for c in pane.care_plans)  # C000003's retention call is overdue
    # Without a verified service password in the session the balance is locked.
    assert (pane.balance, pane.balance_locked) == (None, True)
    old_server = {k: v for k, v in raw.items() if k not in ("balance", "balance_locked", "csrf")}
    older = CustomerPane.from_json(old_server)  # a server without the balance fields
    assert (older.balance, older.balance_locked, older.csrf) == (None, False, None)
    assert older.customer == pane.customer


def test_blacklisted_and_vip_customers(panes) -> None:
    assert CustomerPane.from_json(panes["C000004"]).customer.account_status == "blacklisted"
    vip = CustomerPane.from_json(panes["C000001"])
    assert vip.customer.tier == "vip"
    assert vip.recommendations  # the VIP package at least


def test_balance_locked_and_unlocked(panes) -> None:
    locked = CustomerPane.from_json(
        {**panes["C000001"], "balance": None, "balance_locked": True, "csrf": "tok-1"}
    )
    assert (locked.balance, locked.balance_locked, locked.csrf) == (None, True, "tok-1")
    unlocked = CustomerPane.from_json(
        {**panes["C000001"], "balance": "1234.50", "balance_locked": False, "csrf": "tok-2"}
    )
    assert unlocked.balance == Decimal("1234.50")
    assert not unlocked.balance_locked


def test_naive_times_are_taken_as_utc(panes) -> None:
    raw = copy.deepcopy(panes["C000003"])
    raw["subscribed"][0]["since"] = "2025-01-02T03:04:05"
    pane = CustomerPane.from_json(raw)
    assert pane.subscribed[0].since == dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("customer"), "customer"),
        (lambda d: d["customer"].pop("tier"), "customer.tier"),
        (lambda d: d["customer"].update(customer_id=""), "customer.customer_id"),
        (lambda d: d["customer"].update(tenure_days="12"), "customer.tenure_days"),
        (lambda d: d["customer"].update(monthly_spend=12.5), "customer.monthly_spend"),
        (lambda d: d["subscribed"][0].update(monthly_fee="twelve"), "subscribed[0].monthly_fee"),
        (lambda d: d["subscribed"][0].update(monthly_fee="NaN"), "subscribed[0].monthly_fee"),
        (lambda d: d["subscribed"][0].update(since="yesterday"), "subscribed[0].since"),
        (lambda d: d.update(subscribed={"a": 1}), "subscribed"),
        (lambda d: d["not_subscribed"].insert(0, "bb_100"), "not_subscribed[0]"),
        (lambda d: d["not_subscribed"][1].update(vip_only="no"), "not_subscribed[1].vip_only"),
        (lambda d: d["recommendations"][0].update(priority=True), "recommendations[0].priority"),
        (lambda d: d["care_plans"][0].update(overdue=None), "care_plans[0].overdue"),
        (lambda d: d.update(balance="1e400"), "balance"),
        (lambda d: d.update(balance_locked="yes"), "balance_locked"),
        (lambda d: d.update(csrf=5), "csrf"),
    ],
)
def test_malformed_panes_name_the_field(panes, mutate, field) -> None:
    raw = copy.deepcopy(panes["C000003"])
    mutate(raw)
    with pytest.raises(PaneFormatError) as caught:
        CustomerPane.from_json(raw)
    assert caught.value.field == field
    assert field in str(caught.value)


@pytest.mark.parametrize("bad", [None, [], "pane", 3])
def test_a_pane_that_is_not_an_object(bad) -> None:
    with pytest.raises(PaneFormatError) as caught:
        CustomerPane.from_json(bad)
    assert caught.value.field == "pane"
