"""Screen pop: panels by intent for every business selection the demo produces, and
every panel path opened on a live CTI server's web side (SSO with a real token)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agent_desktop.model.screenpop import (
    PANEL_TITLES,
    SELECTION_INTENTS,
    Intent,
    PanelSpec,
    intents_for_call,
    panels_for_call,
)
from agent_desktop.model.state import CallPhase, CallView
from agent_desktop.web.session import WebSession
from shared.protocol.call import TrajectoryKind, TrajectoryStep
from tests.agent_desktop.conftest import LiveCentre

ROOT = Path(__file__).resolve().parents[3]
CALL = "DEMO-CALL-0001"  # the seeded call (customer C000001, handled by agent 1001)


def demo_selections() -> set[str]:
    """Every business selection the shipped IVR flows and flow library can set, plus
    the ones of the demo data (cti_server/store/seed.py)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "business_selection" and isinstance(value, str):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for flow in sorted((ROOT / "shared" / "ivr" / "flows").glob("*.json")):
        walk(json.loads(flow.read_text(encoding="utf-8")))
    library = (ROOT / "shared" / "ivr" / "library.py").read_text(encoding="utf-8")
    found |= set(re.findall(r'"business_selection":\s*"(\w+)"', library))
    found |= set(re.findall(r'business_selection: str = "(\w+)"', library))
    seed = (ROOT / "cti_server" / "store" / "seed.py").read_text(encoding="utf-8")
    found |= set(re.findall(r'"business_selection": "(\w+)"', seed))
    found |= {"billing", "broadband", "tv", "sales"}  # the seeded contact records' choice
    assert len(found) >= 7, found
    return found


CATEGORY_SELECTIONS = (
    "complaint.service",
    "inquiry.tariff.broadband",
    "acceptance.new",
    "query.bill",
    "payment.recharge_card",
    "marketing.promotion",
    "care.retention",
    "咨询",
)


def call(selection: str | None, *steps: tuple[TrajectoryKind, str, str | None]) -> CallView:
    return CallView(
        call_id=CALL,
        phase=CallPhase.ESTABLISHED,
        since=0.0,
        caller="13800138000",
        business_selection=selection,
        trajectory=[TrajectoryStep(at=0.0, kind=k, node=n, detail=d) for k, n, d in steps],
    )


def keys(panels: list[PanelSpec]) -> list[str]:
    return [p.key for p in panels]


def test_every_demo_selection_has_a_decided_intent() -> None:
    missing = demo_selections() - set(SELECTION_INTENTS)
    assert not missing, f"decide the screen pop of these IVR business selections: {missing}"


def test_the_base_set_always_comes_first() -> None:
    for selection in [None, "", "no_such_intent", *sorted(demo_selections())]:
        for customer in ("C000001", None):
            panels = panels_for_call(call(selection), customer)
            assert keys(panels)[:2] == ["trajectory", "contacts"]
            assert panels[0].path == f"/ui/calls/{CALL}"
            assert len(set(keys(panels))) == len(panels), "one window per panel kind"
            assert all(p.call_id == CALL and p.title_key in PANEL_TITLES for p in panels)
    assert keys(panels_for_call(call("no_such_intent"), "C000001")) == ["trajectory", "contacts"]
    assert panels_for_call(call(None), "C000001")[1].path == "/ui/contacts?customer=C000001"
    assert panels_for_call(call(None), None)[1].path == "/ui/contacts?number=13800138000"


def test_panels_follow_the_intent() -> None:
    def pop(selection: str | None, customer: str | None = "C000001") -> list[str]:
        return keys(panels_for_call(call(selection), customer))[2:]

    assert pop("technical_support") == ["workorder_new", "workorders_recent"]
    assert pop("technical_support", None) == ["workorder_new"]
    assert pop("billing") == ["query", "account"]
    assert pop("sales") == ["acceptance", "customer"]
    assert pop("sales", None) == ["acceptance", "services"]
    assert pop("vip_service") == ["customer"]
    assert pop("vip_service", None) == ["care"]
    assert pop("agent") == ["knowledge", "categories", "inquiry"]
    assert pop("callback") == pop("voicemail") == []
    assert pop("payment.recharge_card") == ["payment"]
    assert pop("complaint.service") == ["workorder_new", "workorders_recent"]
    assert pop("咨询") == ["knowledge", "categories", "inquiry"]
    kb = panels_for_call(call("broadband"), "C000001")[2]
    assert kb.path == "/ui/kb?q=%E5%AE%BD%E5%B8%A6"  # 宽带


def test_the_ivr_path_adds_what_the_caller_did_there() -> None:
    """A billing call that went through the balance self-service also pops payment."""
    balance = call(
        "billing",
        (TrajectoryKind.MENU_CHOICE, "main_menu", "1 → billing"),
        (TrajectoryKind.MENU_CHOICE, "billing_menu", "1 → balance"),
        (TrajectoryKind.IVR_NODE, "lookup_balance", None),
        (TrajectoryKind.QUEUE_ENTER, "q_billing", "payment"),  # not an IVR step: ignored
    )
    assert intents_for_call(balance) == [Intent.QUERY, Intent.PAYMENT]
    unknown = call(None, (TrajectoryKind.MENU_CHOICE, "main_menu", "2 → technical support"))
    assert intents_for_call(unknown) == [Intent.COMPLAINT]


def test_every_path_is_a_get_route_of_the_web_side() -> None:
    from starlette.routing import Match, Route

    from cti_server.web.pages import _routes

    routes = [r for r in _routes() if isinstance(r, Route) and "GET" in (r.methods or ())]
    for path in sorted(all_paths()):
        assert path.startswith("/ui/"), path
        scope = {"type": "http", "method": "GET", "path": urlsplit(path).path[len("/ui") :]}
        assert any(r.matches(scope)[0] is Match.FULL for r in routes), path


def all_paths() -> set[str]:
    selections: list[str | None] = [None, "no_such_intent", *CATEGORY_SELECTIONS]
    selections += sorted(demo_selections())
    trajectory = (
        (TrajectoryKind.MENU_CHOICE, "main_menu", "1 → billing"),
        (TrajectoryKind.IVR_NODE, "lookup_balance", None),
    )
    return {
        panel.path
        for selection in selections
        for customer in ("C000001", None)
        for view in (call(selection), call(selection, *trajectory))
        for panel in panels_for_call(view, customer)
    }


@pytest.fixture(scope="module")
def web(live_centre: LiveCentre) -> WebSession:
    """Agent 1001 signed in through SSO with a real one-time token."""
    from cti_server.store import issue_web_token, make_engine

    engine = make_engine(live_centre.db_url)
    try:
        session = WebSession(live_centre.web_url)
        session.sso(WebSession.sso_path(issue_web_token(engine, "1001")))
    finally:
        engine.dispose()
    return session


def test_every_panel_opens_on_the_live_web_side(web: WebSession) -> None:
    """A renamed or removed route, or a page agents may not open, breaks this test."""
    for path in sorted(all_paths()):
        html = web.get_text(path)  # raises for any status but 2xx and for the login page
        assert 'action="/ui/login"' not in html, path
