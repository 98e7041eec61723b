"""The incoming-call popup follows the offered call; the banner bar shows the banner
model's strips and lets the agent acknowledge a major outage."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from agent_desktop.model.banners import BannerModel
from agent_desktop.model.state import DesktopModel
from agent_desktop.ui.banner_bar import SEVERITY_COLOURS, BannerBar
from agent_desktop.ui.toast import IncomingToast
from shared.protocol import agent as pa
from shared.protocol import call as pc
from shared.protocol.codec import decode_server, encode
from shared.protocol.session import EventSequencer
from shared.protocol.system import NoticeSeverity, SwitchMode, SystemMode, SystemNotice

AGENT = "1001"
LEFT = Qt.MouseButton.LeftButton
T0 = 1_767_225_600.0


class Server:
    def __init__(self) -> None:
        self.seq = EventSequencer(capacity=100)
        self.t = T0

    def stamp(self, event):
        self.t += 1
        return decode_server(encode(self.seq.stamp(event, self.t)))


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_toast_shows_while_the_call_is_offered(qtbot) -> None:
    model, srv = DesktopModel(AGENT), Server()
    toast = IncomingToast(model)
    qtbot.addWidget(toast)
    model.apply(srv.stamp(pa.AgentLoggedOn(agent_id=AGENT)))
    assert not toast.isVisible()
    model.apply(
        srv.stamp(
            pc.CallDelivered(
                call_id="C1",
                agent_id=AGENT,
                caller="13800138000",
                customer_name="王小明",
                tier="vip",
                queue_id="billing",
                business_selection="bill.query",
            )
        )
    )
    assert toast.isVisible() and toast.call_id == "C1"
    assert toast.windowFlags() & Qt.WindowType.FramelessWindowHint
    assert (toast.number.text(), toast.name.text(), toast.tier.text()) == (
        "13800138000",
        "王小明",
        "vip",
    )
    assert toast.queue.text() == "Queue: billing"
    assert toast.business.text() == "Selected: bill.query"
    with qtbot.waitSignal(toast.answer_requested) as answered:
        qtbot.mouseClick(toast.answer_button, LEFT)
    assert answered.args == ["C1"]
    assert not toast.answer_button.isEnabled()  # one click, one request
    model.apply(srv.stamp(pc.CallEstablished(call_id="C1", agent_id=AGENT)))
    assert not toast.isVisible() and toast.call_id is None

    # A second offer, rejected; it goes away when the switch diverts it.
    model.apply(srv.stamp(pc.CallDelivered(call_id="C2", agent_id=AGENT)))
    assert toast.isVisible() and toast.number.text() == "Unknown number"
    assert toast.name.text() == "Not a known customer" and not toast.tier.isVisibleTo(toast)
    with qtbot.waitSignal(toast.reject_requested) as rejected:
        qtbot.mouseClick(toast.reject_button, LEFT)
    assert rejected.args == ["C2"]
    model.apply(
        srv.stamp(pc.CallDiverted(call_id="C2", agent_id=AGENT, reason=pc.DivertReason.REJECTED))
    )
    assert not toast.isVisible()


def test_toast_offline_offer_by_softphone_key(qtbot) -> None:
    toast = IncomingToast()
    qtbot.addWidget(toast)
    toast.show_offer("sip-3", caller="13900139000")
    assert toast.isVisible()
    with qtbot.waitSignal(toast.answer_requested) as answered:
        qtbot.mouseClick(toast.answer_button, LEFT)
    assert answered.args == ["sip-3"]
    toast.dismiss()
    assert not toast.isVisible()


def test_banner_bar_strips_expire_and_outages_need_acknowledging(qtbot) -> None:
    srv, banners = Server(), BannerModel()
    clock = Clock(T0)
    window = QWidget()
    qtbot.addWidget(window)
    bar = BannerBar(banners, clock=clock, parent=window)
    QVBoxLayout(window).addWidget(bar)
    window.show()
    assert not bar.isVisible()  # nothing to show
    banners.link_down(T0)
    banners.apply(
        srv.stamp(
            SystemNotice(
                notice_id="N1",
                title="上海宽带大面积故障",
                severity=NoticeSeverity.MAJOR_OUTAGE,
                created_at=T0,
            )
        ),
        now=T0,
    )
    banners.apply(
        srv.stamp(SystemMode(switch_id="sw1", mode=SwitchMode.FALLBACK, since=T0)), now=T0
    )
    bar.refresh()
    assert bar.isVisible()
    assert bar.texts() == [
        "MAJOR OUTAGE: 上海宽带大面积故障",
        "CTI offline: basic ACD mode, calls still arrive",
        "Switch sw1 in fallback mode: calls are distributed without CTI",
    ]
    outage = bar.strips["notice:N1"]
    assert SEVERITY_COLOURS[banners.visible(T0)[0].severity][0] in outage.styleSheet()
    assert bar.strips["cti"].findChild(QPushButton) is None  # no dismissing "offline"
    banners.link_up(T0 + 60)
    clock.t = T0 + 60
    bar.refresh()
    assert bar.texts()[-1] == "CTI link is back"  # good news comes last
    clock.t = T0 + 71
    qtbot.waitUntil(lambda: "CTI link is back" not in bar.texts(), timeout=3000)  # the 1 s timer
    ack = bar.strips["notice:N1"].findChild(QPushButton, "banner_ack")
    assert ack is not None
    with qtbot.waitSignal(bar.acknowledged) as acknowledged:
        qtbot.mouseClick(ack, LEFT)
    assert acknowledged.args == ["notice:N1"]
    assert bar.texts() == ["Switch sw1 in fallback mode: calls are distributed without CTI"]
    banners.apply(
        srv.stamp(SystemMode(switch_id="sw1", mode=SwitchMode.NORMAL, since=T0 + 80)),
        now=T0 + 80,
    )
    clock.t = T0 + 80
    bar.refresh()
    assert bar.texts() == ["Switch sw1 is back to normal"]
    clock.t = T0 + 95
    bar.refresh()
    assert not bar.isVisible()
