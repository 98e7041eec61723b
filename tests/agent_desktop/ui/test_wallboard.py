"""The wallboard widget shows the queue table, the tiles and the SL charts (R-SUP-1);
a service level below its target is red on screen."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from agent_desktop.model.wallboard import WallboardModel
from agent_desktop.ui.wallboard import (
    BELOW_TARGET,
    ON_TARGET,
    Q_ACW,
    Q_BUSY,
    Q_LONGEST,
    Q_NOT_READY,
    Q_READY,
    Q_SL,
    Q_TARGET,
    Q_WAITING,
    WallboardWidget,
)
from shared.protocol.supervisor import (
    AgentCounts,
    ServiceLevel,
    SupervisorQueueStats,
    SupervisorTierStats,
)


def level(achieved: float | None, target: float = 80.0, offered: int = 20) -> ServiceLevel:
    return ServiceLevel(
        threshold_seconds=20.0,
        target_percent=target,
        achieved_percent=achieved,
        window_seconds=900.0,
        offered=0 if achieved is None else offered,
        answered=0 if achieved is None else offered,
        answered_in_threshold=0 if achieved is None else round(achieved * offered / 100),
    )


def queue_stats(
    qid: str, ts: float, achieved: float | None, **kw: int | float
) -> SupervisorQueueStats:
    return SupervisorQueueStats(
        ts=ts,
        queue_id=qid,
        waiting=int(kw.get("waiting", 0)),
        longest_wait_seconds=float(kw.get("longest", 0.0)),
        agents=AgentCounts(
            ready=int(kw.get("ready", 0)),
            busy=int(kw.get("busy", 0)),
            work_not_ready=int(kw.get("acw", 0)),
            not_ready=int(kw.get("not_ready", 0)),
        ),
        service_level=level(achieved, float(kw.get("target", 80.0))),
    )


def tier_stats(name: str, ts: float, achieved: float | None, target: float) -> SupervisorTierStats:
    return SupervisorTierStats(ts=ts, tier=name, waiting=0, service_level=level(achieved, target))


def red_pixels(image: QImage) -> int:
    """Pixels of the below-target red (solid bar interiors; anti-aliased edges excluded)."""
    red = BELOW_TARGET
    count = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = QColor(image.pixel(x, y))
            if (
                abs(c.red() - red.red()) < 12
                and abs(c.green() - red.green()) < 12
                and abs(c.blue() - red.blue()) < 12
            ):
                count += 1
    return count


@pytest.fixture
def board(qtbot: QtBot) -> tuple[WallboardModel, WallboardWidget]:
    model = WallboardModel(history=50)
    widget = WallboardWidget(model)
    qtbot.addWidget(widget)
    widget.resize(1100, 800)
    widget.show()
    qtbot.waitExposed(widget)
    return model, widget


def test_queue_table_and_tiles_follow_the_stats(
    board: tuple[WallboardModel, WallboardWidget],
) -> None:
    model, widget = board
    assert widget.queue_ids() == [] and widget.waiting_tile.value() == "0"

    model.apply(queue_stats("q_billing", 10.0, 90.0, waiting=2, longest=75.0, ready=3, busy=4))
    model.apply(queue_stats("q_broadband", 10.0, None, waiting=1, longest=5.0, acw=2, not_ready=1))
    assert widget.queue_ids() == ["q_billing", "q_broadband"]
    shown = (Q_WAITING, Q_LONGEST, Q_READY, Q_BUSY, Q_SL, Q_TARGET)
    cells = [widget.queue_cell("q_billing", c).text() for c in shown]
    assert cells == ["2", "1:15", "3", "4", "90.0%", "80.0%"]
    assert widget.queue_cell("q_broadband", Q_ACW).text() == "2"
    assert widget.queue_cell("q_broadband", Q_NOT_READY).text() == "1"
    assert widget.queue_cell("q_broadband", Q_SL).text() == "—"  # nothing offered yet
    assert widget.queue_cell("q_billing", Q_SL).background().color() == ON_TARGET

    assert widget.waiting_tile.value() == "3"
    assert widget.longest_wait_tile.value() == "1:15"
    assert widget.sl_tile.value().startswith("90.0%") and not widget.sl_tile.alert

    # the billing queue drops below its target: its SL cell and the SL tile turn red
    model.apply(queue_stats("q_billing", 11.0, 40.0, waiting=0, longest=0.0))
    assert widget.queue_cell("q_billing", Q_SL).text() == "40.0%"
    assert widget.queue_cell("q_billing", Q_SL).background().color() == BELOW_TARGET
    assert widget.sl_tile.alert and widget.sl_tile.colour() == BELOW_TARGET
    assert widget.waiting_tile.value() == "1"

    model.reset()
    assert widget.queue_ids() == [] and widget.queue_table.rowCount() == 0


def test_tier_chart_bars_targets_and_red_below_target(
    qtbot: QtBot, board: tuple[WallboardModel, WallboardWidget]
) -> None:
    model, widget = board
    model.apply(tier_stats("vip", 20.0, 95.0, target=90.0))
    model.apply(tier_stats("gold", 20.0, 85.0, target=80.0))
    model.apply(tier_stats("normal", 20.0, None, target=70.0))
    assert widget.tier_categories() == ["gold", "normal", "vip"]
    assert widget.tier_bar("vip") == (95.0, ON_TARGET)
    assert widget.tier_label("vip") == "vip 95% / 90%"
    assert widget.tier_label("normal") == "normal — / 70%"  # nothing offered yet
    assert widget.tier_target("vip") == 90.0 and widget.tier_target("normal") == 70.0
    qtbot.wait(50)
    assert red_pixels(widget.tier_chart_view.grab().toImage()) == 0  # all on target

    model.apply(tier_stats("vip", 21.0, 60.0, target=90.0))
    assert widget.tier_bar("vip") == (60.0, BELOW_TARGET)
    assert widget.tier_label("vip") == "vip 60% / 90%"
    assert widget.tier_bar("gold") == (85.0, ON_TARGET)
    qtbot.wait(50)
    assert red_pixels(widget.tier_chart_view.grab().toImage()) > 50  # the vip bar is red

    model.apply(tier_stats("vip", 22.0, 92.0, target=90.0))  # back on target
    qtbot.wait(50)
    assert red_pixels(widget.tier_chart_view.grab().toImage()) == 0


def test_trend_chart_has_a_line_per_tier_with_the_history(
    board: tuple[WallboardModel, WallboardWidget],
) -> None:
    model, widget = board
    for i, pct in enumerate([70.0, 75.0, 80.0, 85.0]):
        model.apply(tier_stats("gold", 100.0 + i, pct, target=80.0))
    model.apply(tier_stats("vip", 103.0, 99.0, target=90.0))  # a tier appearing later
    gold = widget.trend_series("gold")
    vip = widget.trend_series("vip")
    assert gold is not None and vip is not None
    assert [(p.x() / 1000.0, p.y()) for p in gold.points()] == [
        (100.0, 70.0),
        (101.0, 75.0),
        (102.0, 80.0),
        (103.0, 85.0),
    ]
    assert vip.count() == 1
    assert widget.trend_time_axis.max().toMSecsSinceEpoch() == 103_000
    assert widget.trend_chart.series() and len(widget.trend_chart.series()) == 2

    # a widget built on an existing model shows what is there already
    again = WallboardWidget(model)
    try:
        assert again.tier_categories() == ["gold", "vip"]
        assert (again.trend_series("gold") or gold).count() == 4
    finally:
        again.deleteLater()
