"""The native customer pane: caller, name, tier, balance (or locked), services,
recommendations with Accept / Decline, care plans (overdue highlighted), the IVR path;
Chinese renders. Pane JSON comes from the real server code."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel

from agent_desktop.model.customer import CustomerPane
from agent_desktop.model.state import DesktopModel
from agent_desktop.ui.customer_pane import CustomerPaneWidget
from agent_desktop.ui.widgets_common import tier_colour
from shared.protocol import call as pc
from shared.protocol.codec import decode_server, encode
from shared.protocol.session import EventSequencer

AGENT = "1001"
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(scope="module")
def panes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    from argon2 import PasswordHasher

    from cti_server.store import make_engine, seed_demo, session_factory, upgrade
    from cti_server.store.models import Role
    from cti_server.store.seed import seed_back_office
    from cti_server.web import services_data as sd
    from cti_server.web.data import WebUser

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    folder: Path = tmp_path_factory.mktemp("pane_ui")
    engine = make_engine(f"sqlite:///{folder}/opencc.sqlite3")
    try:
        upgrade(engine)
        seed_demo(engine, customers=4, hasher=hasher)
        seed_back_office(engine, hasher=hasher)
        sessions = session_factory(engine)
        user = WebUser(agent_id=AGENT, name="Agent", role=Role.AGENT, region=None, department=None)
        return {
            cid: json.loads(json.dumps(sd.pane_json(sd.customer_pane(sessions, user, cid))))
            for cid in ("C000001", "C000003")
        }
    finally:
        engine.dispose()


def call_view(**kw):
    """A call as the desktop model folds it from a real ``call.delivered``."""
    model = DesktopModel(AGENT)
    event = pc.CallDelivered(call_id=kw.pop("call_id", "C1"), agent_id=AGENT, **kw)
    model.apply(decode_server(encode(EventSequencer(capacity=10).stamp(event, 1_767_225_600.0))))
    (view,) = model.calls.values()
    return view


def make_pane(qtbot, language: str = "en") -> CustomerPaneWidget:
    widget = CustomerPaneWidget(language)
    qtbot.addWidget(widget)
    widget.resize(420, 900)
    widget.show()
    return widget


def test_unknown_caller_shows_the_number_and_not_a_customer(qtbot) -> None:
    widget = make_pane(qtbot)
    assert widget.name.text() == "No call"
    widget.show_call(call_view(caller="02112345678", wait_seconds=12.4))
    assert widget.number.text() == "02112345678"
    assert widget.name.text() == "Not a customer"
    assert widget.wait.text() == "0:12"
    assert widget.balance.text() == "—"
    assert not widget.subscribed_box.isVisible()
    widget.clear()
    assert (widget.number.text(), widget.name.text()) == ("", "No call")


def test_known_customer_with_trajectory_tier_and_locked_balance(qtbot, panes) -> None:
    widget = make_pane(qtbot)
    call = call_view(
        caller="13800138000",
        tier="vip",
        customer_ref="C000001",
        customer_name="郭华玉",
        business_selection="bill.query",
        trajectory=(
            pc.TrajectoryStep(at=1.0, kind=pc.TrajectoryKind.IVR_NODE, node="welcome"),
            pc.TrajectoryStep(at=2.0, kind=pc.TrajectoryKind.MENU_CHOICE, node="m1", detail="2"),
            pc.TrajectoryStep(at=3.0, kind=pc.TrajectoryKind.QUEUE_ENTER, node="billing"),
        ),
    )
    widget.show_call(call)
    assert widget.name.text() == "郭华玉"  # from the call event, before the pane arrives
    assert widget.trajectory.text() == "IVR welcome → chose 2 → queue billing"
    assert widget.business.text() == "bill.query"
    assert widget.tier.text() == "VIP"
    assert tier_colour("vip").name() in widget.tier.styleSheet()
    assert tier_colour("vip") != tier_colour("normal")

    raw = {**panes["C000001"], "balance": None, "balance_locked": True, "csrf": "x"}
    widget.show_customer(CustomerPane.from_json(raw))
    assert widget.region.text() == raw["customer"]["region"]
    assert widget.account_status.text() == "Active"
    assert widget.balance.text() == "Locked — verify the service password"
    assert widget.verify_button.isVisible()
    with qtbot.waitSignal(widget.verify_password_requested) as verify:
        qtbot.mouseClick(widget.verify_button, LEFT)
    assert verify.args == ["C000001"]
    held = [w.text() for w in widget.subscribed_box.findChildren(QLabel)]
    assert any("Landline" in t and "¥15.00" in t for t in held)

    widget.show_customer(
        CustomerPane.from_json({**raw, "balance": "1234.5", "balance_locked": False})
    )
    assert widget.balance.text() == "¥1,234.50"
    assert not widget.verify_button.isVisible()
    widget.set_language("zh_CN")
    held = [w.text() for w in widget.subscribed_box.findChildren(QLabel)]
    assert any("固定电话" in t for t in held)


def test_recommendations_are_answered_once(qtbot, panes) -> None:
    widget = make_pane(qtbot)
    widget.show_call(call_view(caller="13700137000", customer_ref="C000003"))
    pane = CustomerPane.from_json(panes["C000003"])
    widget.show_customer(pane)
    first, second = (r.rule_id for r in pane.recommendations[:2])
    accept, decline = widget.recommendation_buttons[first]
    qtbot.waitUntil(decline.isVisible)  # new rows are shown by the event loop
    with qtbot.waitSignal(widget.recommendation_answered) as answered:
        qtbot.mouseClick(accept, LEFT)
    assert answered.args == ["C000003", first, "accepted", ""]
    assert not accept.isEnabled() and not decline.isEnabled()
    # Declining asks for the customer's reason first.
    form, reason, confirm = widget.decline_forms[second]
    with qtbot.assertNotEmitted(widget.recommendation_answered):
        qtbot.mouseClick(widget.recommendation_buttons[second][1], LEFT)
    assert form.isVisible() and not confirm.isEnabled()
    qtbot.keyClicks(reason, "   ")
    assert not confirm.isEnabled()  # blanks are no reason
    reason.setText("已有同类套餐")
    with qtbot.waitSignal(widget.recommendation_answered) as answered:
        qtbot.mouseClick(confirm, LEFT)
    assert answered.args == ["C000003", second, "declined", "已有同类套餐"]
    assert not form.isVisible()
    # The same call refreshes (a model change): answered stays answered.
    widget.show_call(call_view(caller="13700137000", customer_ref="C000003"))
    assert not widget.recommendation_buttons[first][0].isEnabled()
    widget.recommendation_result(first, True)
    assert widget.recommendation_status[first].text() == "Recorded."
    widget.recommendation_result(second, False, "session expired")
    assert widget.recommendation_buttons[second][1].isEnabled()  # may answer again
    assert "session expired" in widget.recommendation_status[second].text()


def test_overdue_care_plans_stand_out(qtbot, panes) -> None:
    widget = make_pane(qtbot)
    raw = copy.deepcopy(panes["C000003"])
    plan = raw["care_plans"][0]
    raw["care_plans"].append({**plan, "plan_id": plan["plan_id"] + "b", "overdue": False})
    widget.show_customer(CustomerPane.from_json(raw))
    overdue = widget.care_box.findChild(QLabel, f"care_{plan['plan_id']}")
    on_time = widget.care_box.findChild(QLabel, f"care_{plan['plan_id']}b")
    assert overdue is not None and on_time is not None
    assert "OVERDUE" in overdue.text() and "#b71c1c" in overdue.styleSheet()
    assert "OVERDUE" not in on_time.text() and on_time.styleSheet() == ""


def _ink(image: QImage) -> int:
    """Pixels that differ from the top-left (background) pixel."""
    background = image.pixel(0, 0)
    return sum(
        1
        for y in range(image.height())
        for x in range(image.width())
        if image.pixel(x, y) != background
    )


def test_chinese_names_render_as_distinct_glyphs(qtbot, panes) -> None:
    widget = make_pane(qtbot, "zh_CN")
    widget.show_customer(CustomerPane.from_json(panes["C000001"]))
    widget.name.setText("王小明")
    image = widget.name.grab().toImage()
    assert not image.isNull() and _ink(image) > 50
    glyphs = []
    for char in "王明":  # missing glyphs would render as identical boxes
        label = QLabel(char)
        qtbot.addWidget(label)
        label.setFont(widget.name.font())
        label.resize(40, 40)
        glyphs.append(label.grab().toImage())
    assert _ink(glyphs[0]) > 10 and glyphs[0] != glyphs[1]
