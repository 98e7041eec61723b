"""The wallboard (R-SUP-1): big-number tiles, the live queue table, service level per
tier against its target, and the service-level trend per tier.

Everything shown comes from a :class:`~agent_desktop.model.wallboard.WallboardModel`;
the widget observes it and updates only what a change touched. A service level below
its target is red wherever it appears (tile, table cell, bar of the tier chart).
"""

from __future__ import annotations

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QDateTimeAxis,
    QLineSeries,
    QScatterSeries,
    QValueAxis,
)
from PySide6.QtCore import QDateTime, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.model.wallboard import (
    QueueRow,
    WallboardChange,
    WallboardChangeKind,
    WallboardModel,
)
from agent_desktop.ui.widgets_common import format_duration, tier_colour

BELOW_TARGET = QColor("#c62828")
"""Red: a service level below its target."""
ON_TARGET = QColor("#2e7d32")
"""Green: a service level at or above its target."""
TARGET_PEN = QColor("#212121")
NEUTRAL_TILE = QColor("#37474f")
TARGET_MARKER = 64
"""Width in pixels of the target mark across a tier's bar."""

# queue table columns
Q_QUEUE, Q_WAITING, Q_LONGEST, Q_READY, Q_RESERVED, Q_BUSY, Q_ACW, Q_NOT_READY, Q_SL, Q_TARGET = (
    range(10)
)


def format_percent(value: float | None) -> str:
    """``87.5%``; an em dash while nothing was offered."""
    return "—" if value is None else f"{value:.1f}%"


class StatTile(QFrame):
    """A big number with a caption; red while ``alert``."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.title_label = QLabel(title, self)
        self.value_label = QLabel("—", self)
        font = self.value_label.font()
        font.setPointSizeF(max(font.pointSizeF(), 9.0) * 2.6)
        font.setBold(True)
        self.value_label.setFont(font)
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addWidget(self.value_label)
        self.alert = False
        self._paint()

    def set_value(self, text: str, *, alert: bool = False) -> None:
        self.value_label.setText(text)
        if alert != self.alert:
            self.alert = alert
            self._paint()

    def value(self) -> str:
        return self.value_label.text()

    def colour(self) -> QColor:
        """The tile's background: red while alerting."""
        return BELOW_TARGET if self.alert else NEUTRAL_TILE

    def _paint(self) -> None:
        self.setStyleSheet(
            f"StatTile {{ background-color: {self.colour().name()}; border-radius: 6px; }}"
            " QLabel { color: white; background: transparent; }"
        )


class WallboardWidget(QWidget):
    """Tiles, queue table, tier SL chart and SL trend chart over one model."""

    def __init__(self, model: WallboardModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model

        self.waiting_tile = StatTile(self.tr("Calls waiting"), self)
        self.longest_wait_tile = StatTile(self.tr("Longest wait"), self)
        self.sl_tile = StatTile(self.tr("Service level"), self)
        tiles = QHBoxLayout()
        for tile in (self.waiting_tile, self.longest_wait_tile, self.sl_tile):
            tiles.addWidget(tile)

        self.queue_table = QTableWidget(0, 10, self)
        self.queue_table.setHorizontalHeaderLabels(
            [
                self.tr("Queue"),
                self.tr("Waiting"),
                self.tr("Longest wait"),
                self.tr("Ready"),
                self.tr("Reserved"),
                self.tr("Busy"),
                self.tr("After-call work"),
                self.tr("Not ready"),
                self.tr("SL"),
                self.tr("Target"),
            ]
        )
        self.queue_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.queue_table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.queue_table.verticalHeader().setVisible(False)
        self.queue_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self._queue_rows: dict[str, int] = {}

        # service level per tier: one bar per tier (red below target), the target as a line
        self.sl_bars = QBarSet(self.tr("Service level"))
        self.sl_bars.setColor(ON_TARGET)
        self.sl_bars.setSelectedColor(BELOW_TARGET)
        self.sl_bars.setBorderColor(ON_TARGET)
        self.bar_series = QBarSeries()
        self.bar_series.append(self.sl_bars)
        self.target_series = QScatterSeries()
        self.target_series.setName(self.tr("Target"))
        self.target_series.setMarkerSize(TARGET_MARKER)
        self.target_series.setLightMarker(_target_marker())
        self.target_series.setColor(TARGET_PEN)
        self.tier_chart = QChart()
        self.tier_chart.setTitle(self.tr("Service level by tier"))
        self.tier_chart.addSeries(self.bar_series)
        self.tier_chart.addSeries(self.target_series)
        self.tier_axis = QBarCategoryAxis()
        self.tier_chart.addAxis(self.tier_axis, Qt.AlignmentFlag.AlignBottom)
        self.tier_percent_axis = _percent_axis()
        self.tier_chart.addAxis(self.tier_percent_axis, Qt.AlignmentFlag.AlignLeft)
        for series in (self.bar_series, self.target_series):
            series.attachAxis(self.tier_axis)
            series.attachAxis(self.tier_percent_axis)
        self.tier_chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        self.tier_chart_view = QChartView(self.tier_chart, self)
        self.tier_chart_view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.tier_chart_view.setMinimumHeight(220)
        self._tier_order: list[str] = []

        # service level trend: one line per tier
        self.trend_chart = QChart()
        self.trend_chart.setTitle(self.tr("Service level trend"))
        self.trend_time_axis = QDateTimeAxis()
        self.trend_time_axis.setFormat("HH:mm:ss")
        self.trend_time_axis.setTickCount(5)
        self.trend_chart.addAxis(self.trend_time_axis, Qt.AlignmentFlag.AlignBottom)
        self.trend_percent_axis = _percent_axis()
        self.trend_chart.addAxis(self.trend_percent_axis, Qt.AlignmentFlag.AlignLeft)
        self.trend_chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        self.trend_chart_view = QChartView(self.trend_chart, self)
        self.trend_chart_view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.trend_chart_view.setMinimumHeight(220)
        self._trend: dict[str, QLineSeries] = {}

        charts = QHBoxLayout()
        charts.addWidget(self.tier_chart_view, 1)
        charts.addWidget(self.trend_chart_view, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(tiles)
        layout.addWidget(self.queue_table, 1)
        layout.addLayout(charts, 2)

        self._unsubscribe = model.subscribe(self._changed)
        self.destroyed.connect(self._unsubscribe)
        self.refresh()

    # --- what the lead sees (also what the tests read) ------------------------------

    def queue_ids(self) -> list[str]:
        """Queues in table order."""
        return sorted(self._queue_rows, key=self._queue_rows.__getitem__)

    def queue_cell(self, queue_id: str, column: int) -> QTableWidgetItem:
        item = self.queue_table.item(self._queue_rows[queue_id], column)
        assert item is not None
        return item

    def tier_categories(self) -> list[str]:
        """Tiers in chart order."""
        return list(self._tier_order)

    def tier_label(self, tier: str) -> str:
        """The label under ``tier``'s bar: the tier with its SL and target."""
        return str(self.tier_axis.at(self._tier_order.index(tier)))

    def tier_bar(self, tier: str) -> tuple[float, QColor]:
        """Height and colour of ``tier``'s bar."""
        i = self._tier_order.index(tier)
        colour = (
            self.sl_bars.selectedColor() if self.sl_bars.isBarSelected(i) else self.sl_bars.color()
        )
        return self.sl_bars.at(i), colour

    def tier_target(self, tier: str) -> float:
        return self.target_series.at(self._tier_order.index(tier)).y()

    def trend_series(self, tier: str) -> QLineSeries | None:
        return self._trend.get(tier)

    # --- updates --------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw everything from the model."""
        self._rebuild_queues()
        self._rebuild_tiers()
        for series in self._trend.values():
            self.trend_chart.removeSeries(series)
        self._trend.clear()
        for tier in sorted(self.model.sl_history):
            self._update_trend(tier)
        self._update_tiles()

    def _changed(self, change: WallboardChange) -> None:
        match change.kind:
            case WallboardChangeKind.QUEUE:
                key = change.key or ""
                if key in self._queue_rows:
                    self._fill_queue_row(self._queue_rows[key], self.model.queues[key])
                else:
                    self._rebuild_queues()
                self._update_tiles()
            case WallboardChangeKind.TIER:
                key = change.key or ""
                if key in self._tier_order:
                    self._fill_tier(self._tier_order.index(key), key)
                else:
                    self._rebuild_tiers()
                self._update_trend(key)
            case WallboardChangeKind.RESET:
                self.refresh()
            case _:
                pass

    def _update_tiles(self) -> None:
        totals = self.model.totals()
        self.waiting_tile.set_value(str(totals.waiting))
        self.longest_wait_tile.set_value(format_duration(totals.longest_wait_seconds))
        text = format_percent(totals.achieved_percent)
        if totals.target_percent is not None:
            text = self.tr("{achieved} / {target}").format(
                achieved=text, target=format_percent(totals.target_percent)
            )
        self.sl_tile.set_value(text, alert=totals.below_target())

    def _rebuild_queues(self) -> None:
        order = sorted(self.model.queues)
        self.queue_table.setRowCount(len(order))
        self._queue_rows = {q: i for i, q in enumerate(order)}
        for i, q in enumerate(order):
            self._fill_queue_row(i, self.model.queues[q])

    def _fill_queue_row(self, i: int, row: QueueRow) -> None:
        counts = row.agents
        values = {
            Q_QUEUE: row.queue_id,
            Q_WAITING: str(row.waiting),
            Q_LONGEST: format_duration(row.longest_wait_seconds),
            Q_READY: str(counts.ready),
            Q_RESERVED: str(counts.reserved),
            Q_BUSY: str(counts.busy),
            Q_ACW: str(counts.work_not_ready),
            Q_NOT_READY: str(counts.not_ready),
            Q_SL: format_percent(row.achieved_percent),
            Q_TARGET: format_percent(row.target_percent),
        }
        for column, text in values.items():
            item = self.queue_table.item(i, column)
            if item is None:
                item = QTableWidgetItem()
                if column != Q_QUEUE:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.queue_table.setItem(i, column, item)
            item.setText(text)
        sl_item = self.queue_table.item(i, Q_SL)
        assert sl_item is not None
        if row.below_target():
            sl_item.setBackground(QBrush(BELOW_TARGET))
            sl_item.setForeground(QBrush(QColor("white")))
        elif row.achieved_percent is not None:
            sl_item.setBackground(QBrush(ON_TARGET))
            sl_item.setForeground(QBrush(QColor("white")))
        else:
            sl_item.setBackground(QBrush())
            sl_item.setForeground(QBrush())

    def _rebuild_tiers(self) -> None:
        self._tier_order = sorted(self.model.tiers)
        self.tier_axis.clear()
        self.tier_axis.append([self._tier_text(t) for t in self._tier_order])
        if self.sl_bars.count():
            self.sl_bars.remove(0, self.sl_bars.count())
        self.sl_bars.append([0.0] * len(self._tier_order))
        self.target_series.replace([QPointF(i, 0.0) for i in range(len(self._tier_order))])
        for i, tier in enumerate(self._tier_order):
            self._fill_tier(i, tier)

    def _tier_text(self, tier: str) -> str:
        row = self.model.tiers[tier]
        achieved, target = row.achieved_percent, row.target_percent
        return self.tr("{tier} {achieved} / {target}").format(
            tier=tier,
            achieved="—" if achieved is None else f"{achieved:.0f}%",
            target="—" if target is None else f"{target:.0f}%",
        )

    def _fill_tier(self, i: int, tier: str) -> None:
        row = self.model.tiers[tier]
        old, new = self.tier_axis.at(i), self._tier_text(tier)
        if old != new:
            self.tier_axis.replace(old, new)
        self.sl_bars.replace(i, row.achieved_percent or 0.0)
        self.sl_bars.setBarSelected(i, row.below_target())
        target = row.target_percent
        self.target_series.replace(i, QPointF(i, 0.0 if target is None else target))

    def _update_trend(self, tier: str) -> None:
        history = self.model.sl_history.get(tier)
        if history is None:
            return
        series = self._trend.get(tier)
        if series is None:
            series = self._trend[tier] = QLineSeries()
            series.setName(tier)
            pen = QPen(tier_colour(tier))
            pen.setWidth(2)
            series.setPen(pen)
            self.trend_chart.addSeries(series)
            series.attachAxis(self.trend_time_axis)
            series.attachAxis(self.trend_percent_axis)
        series.replace([QPointF(ts * 1000.0, pct) for ts, pct in history])
        stamps = [ts for h in self.model.sl_history.values() if h for ts, _ in (h[0], h[-1])]
        if stamps:
            last = max(stamps)
            first = min(*stamps, last - 60.0)
            self.trend_time_axis.setRange(
                QDateTime.fromMSecsSinceEpoch(int(first * 1000)),
                QDateTime.fromMSecsSinceEpoch(int(last * 1000)),
            )


def _target_marker() -> QImage:
    """A short thick horizontal line: the target drawn across a bar."""
    image = QImage(TARGET_MARKER, TARGET_MARKER, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.fillRect(0, TARGET_MARKER // 2 - 2, TARGET_MARKER, 4, TARGET_PEN)
    painter.end()
    return image


def _percent_axis() -> QValueAxis:
    axis = QValueAxis()
    axis.setRange(0.0, 100.0)
    axis.setLabelFormat("%d%%")
    axis.setTickCount(6)
    return axis
