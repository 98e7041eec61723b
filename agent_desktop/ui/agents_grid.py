"""The team lead's agents grid (R-SUP-1, R-SUP-2): every agent with its state (coloured),
reason code, time in state (ticking each second), current call and the lead's monitor;
sortable by any column, filterable by state; buttons and a context menu to listen,
whisper, barge, stop monitoring, force ready / not ready and force a logout.

The grid sends nothing itself: it emits ``*_requested`` signals and the controller that
owns the CTI link sends the requests. The agents' states then come back as
``supervisor.agent_status`` events through the model; monitors through
:meth:`~agent_desktop.model.wallboard.WallboardModel.monitor_started`.
A button is enabled only when the request makes sense for the selected agent (listen
needs a call, force ready a logged-on agent who is not ready yet …).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import (
    QCoreApplication,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.model.wallboard import (
    AgentRow,
    WallboardChange,
    WallboardChangeKind,
    WallboardModel,
)
from agent_desktop.ui.widgets_common import Clock, format_duration, wall_clock
from shared.protocol.agent import AgentState
from shared.protocol.supervisor import MonitorMode

# columns
C_AGENT, C_NAME, C_STATE, C_REASON, C_TIME, C_CALL, C_MONITOR = range(7)
COLUMNS = 7

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
STATE_ROLE = Qt.ItemDataRole.UserRole + 2

STATE_COLOURS: dict[AgentState, tuple[str, str]] = {
    # state: (background, text)
    AgentState.READY: ("#2e7d32", "#ffffff"),
    AgentState.NOT_READY: ("#c62828", "#ffffff"),
    AgentState.RESERVED: ("#f9a825", "#000000"),
    AgentState.BUSY: ("#1565c0", "#ffffff"),
    AgentState.WORK_NOT_READY: ("#6a1b9a", "#ffffff"),
    AgentState.LOGGED_OFF: ("#9e9e9e", "#000000"),
}

_STATE_ORDER = {s: i for i, s in enumerate(STATE_COLOURS)}

FORCE_READY_FROM = frozenset({AgentState.NOT_READY, AgentState.WORK_NOT_READY})
"""Force ready makes sense for a logged-on agent who is not ready or in after-call work
(busy / reserved agents are on a call; the server refuses it there)."""


def state_text(state: AgentState) -> str:
    """The state as the grid shows it (translated)."""
    texts = {
        AgentState.READY: QCoreApplication.translate("AgentsGrid", "Ready"),
        AgentState.NOT_READY: QCoreApplication.translate("AgentsGrid", "Not ready"),
        AgentState.RESERVED: QCoreApplication.translate("AgentsGrid", "Ringing"),
        AgentState.BUSY: QCoreApplication.translate("AgentsGrid", "On a call"),
        AgentState.WORK_NOT_READY: QCoreApplication.translate("AgentsGrid", "After-call work"),
        AgentState.LOGGED_OFF: QCoreApplication.translate("AgentsGrid", "Logged off"),
    }
    return texts[state]


def mode_text(mode: MonitorMode) -> str:
    texts = {
        MonitorMode.LISTEN: QCoreApplication.translate("AgentsGrid", "Listening"),
        MonitorMode.WHISPER: QCoreApplication.translate("AgentsGrid", "Whispering"),
        MonitorMode.BARGE: QCoreApplication.translate("AgentsGrid", "Barged in"),
    }
    return texts[mode]


class StateFilterProxy(QSortFilterProxyModel):
    """Shows only agents whose state is in ``states`` (``None``: everyone)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.states: frozenset[AgentState] | None = None

    def set_states(self, states: Iterable[AgentState] | None) -> None:
        self.beginFilterChange()
        self.states = None if states is None else frozenset(states)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        if self.states is None:
            return True
        index = self.sourceModel().index(source_row, C_STATE, source_parent)
        return AgentState(index.data(STATE_ROLE)) in self.states


class AgentsGrid(QWidget):
    """Agents table with supervisor actions; emits requests, never sends them."""

    monitor_requested = Signal(str, str)
    """``(agent_id, mode)``: listen / whisper / barge (a ``MonitorMode`` value)."""
    monitor_stop_requested = Signal(str)
    """``(monitor_id)``."""
    force_state_requested = Signal(str, str, object)
    """``(agent_id, "ready" | "not_ready", reason_code or None)``."""
    force_logout_requested = Signal(str)
    """``(agent_id)``."""

    def __init__(
        self,
        model: WallboardModel,
        parent: QWidget | None = None,
        *,
        clock: Clock = wall_clock,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.clock = clock
        self.clock_offset = 0.0
        """Server time minus local time (``CtiClient.clock_offset``), for time in state."""

        self.items = QStandardItemModel(0, COLUMNS, self)
        self.items.setHorizontalHeaderLabels(
            [
                self.tr("Agent"),
                self.tr("Name"),
                self.tr("State"),
                self.tr("Reason"),
                self.tr("Time in state"),
                self.tr("Call"),
                self.tr("Monitoring"),
            ]
        )
        self.proxy = StateFilterProxy(self)
        self.proxy.setSourceModel(self.items)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setDynamicSortFilter(True)
        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(C_AGENT, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu_at)
        self._rows: dict[str, int] = {}

        self.state_filter = QComboBox(self)
        self.state_filter.addItem(self.tr("All agents"), None)
        self.state_filter.addItem(self.tr("Logged on"), "logged_on")
        for state in STATE_COLOURS:
            self.state_filter.addItem(state_text(state), state.value)
        self.state_filter.currentIndexChanged.connect(self._filter_chosen)

        self.listen_button = QPushButton(self.tr("Listen"), self)
        self.whisper_button = QPushButton(self.tr("Whisper"), self)
        self.barge_button = QPushButton(self.tr("Barge in"), self)
        self.stop_monitor_button = QPushButton(self.tr("Stop monitoring"), self)
        self.force_ready_button = QPushButton(self.tr("Force ready"), self)
        self.force_not_ready_button = QPushButton(self.tr("Force not ready"), self)
        self.reason_combo = QComboBox(self)
        self.reason_combo.setToolTip(self.tr("Reason for the forced not-ready state"))
        self.force_logout_button = QPushButton(self.tr("Force logout"), self)
        self.set_reason_codes([])
        self.listen_button.clicked.connect(lambda: self._monitor(MonitorMode.LISTEN))
        self.whisper_button.clicked.connect(lambda: self._monitor(MonitorMode.WHISPER))
        self.barge_button.clicked.connect(lambda: self._monitor(MonitorMode.BARGE))
        self.stop_monitor_button.clicked.connect(self._stop_monitor)
        self.force_ready_button.clicked.connect(self._force_ready)
        self.force_not_ready_button.clicked.connect(
            lambda: self._force_not_ready(self.reason_combo.currentData())
        )
        self.force_logout_button.clicked.connect(self._force_logout)

        top = QHBoxLayout()
        top.addWidget(QLabel(self.tr("Show:"), self))
        top.addWidget(self.state_filter)
        top.addStretch(1)
        buttons = QHBoxLayout()
        for w in (
            self.listen_button,
            self.whisper_button,
            self.barge_button,
            self.stop_monitor_button,
        ):
            buttons.addWidget(w)
        buttons.addSpacing(16)
        for widget in (
            self.force_ready_button,
            self.force_not_ready_button,
            self.reason_combo,
            self.force_logout_button,
        ):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)

        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

        self._unsubscribe = model.subscribe(self._changed)
        self.destroyed.connect(self._unsubscribe)
        self.refresh()

    # --- configuration ------------------------------------------------------------

    def set_reason_codes(self, reasons: Sequence[tuple[str, str]]) -> None:
        """Not-ready reasons the lead may force: ``(code, label)``; the first entry is
        always the server's default reason (``reason_code`` None)."""
        self.reason_combo.clear()
        self.reason_combo.addItem(self.tr("Default reason"), None)
        for code, label in reasons:
            self.reason_combo.addItem(label, code)

    def reason_codes(self) -> list[str]:
        return [str(self.reason_combo.itemData(i)) for i in range(1, self.reason_combo.count())]

    def set_clock_offset(self, seconds: float) -> None:
        self.clock_offset = seconds
        self.tick()

    def set_state_filter(self, states: Iterable[AgentState] | None) -> None:
        """Show only agents in ``states`` (``None``: all)."""
        self.proxy.set_states(states)
        self._update_buttons()

    # --- what the lead sees (also what the tests read) ----------------------------

    def visible_agents(self) -> list[str]:
        """Agent ids in display order (after sorting and filtering)."""
        return [str(self.proxy.index(r, C_AGENT).data()) for r in range(self.proxy.rowCount())]

    def cell_text(self, agent_id: str, column: int) -> str:
        item = self.items.item(self._rows[agent_id], column)
        return item.text()

    def cell_background(self, agent_id: str, column: int) -> QColor:
        item = self.items.item(self._rows[agent_id], column)
        return item.background().color()

    def selected_agent(self) -> str | None:
        rows = self.view.selectionModel().selectedRows(C_AGENT)
        if not rows:
            return None
        return str(rows[0].data())

    def select_agent(self, agent_id: str) -> bool:
        """Select ``agent_id``'s row; False when it is unknown or filtered out."""
        row = self._rows.get(agent_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.items.index(row, C_AGENT))
        if not index.isValid():
            return False
        self.view.selectRow(index.row())
        return True

    def now(self) -> float:
        """Server time as this desktop estimates it."""
        return self.clock() + self.clock_offset

    # --- model → table --------------------------------------------------------------

    def refresh(self) -> None:
        self.items.setRowCount(0)
        self._rows.clear()
        for row in self.model.agents.values():
            self._upsert(row)
        self._update_buttons()

    def tick(self) -> None:
        """Advance every time in state (the timer calls this each second)."""
        now = self.now()
        for agent_id, r in self._rows.items():
            agent = self.model.agents.get(agent_id)
            if agent is not None:
                self.items.item(r, C_TIME).setText(format_duration(agent.time_in_state(now)))

    def _changed(self, change: WallboardChange) -> None:
        if change.kind is WallboardChangeKind.RESET:
            self.refresh()
            return
        if change.kind not in (WallboardChangeKind.AGENT, WallboardChangeKind.MONITOR):
            return
        row = self.model.agents.get(change.key or "")
        if row is not None:
            self._upsert(row)  # the proxy re-sorts and re-filters the changed row itself
        self._update_buttons()

    def _upsert(self, agent: AgentRow) -> None:
        r = self._rows.get(agent.agent_id)
        if r is None:
            r = self._rows[agent.agent_id] = self.items.rowCount()
            self.items.appendRow([QStandardItem() for _ in range(COLUMNS)])
        background, foreground = STATE_COLOURS[agent.state]
        monitor = agent.monitor
        cells: dict[int, tuple[str, object]] = {
            C_AGENT: (agent.agent_id, agent.agent_id),
            C_NAME: (agent.name or "", agent.name or ""),
            C_STATE: (state_text(agent.state), _STATE_ORDER[agent.state]),
            C_REASON: (agent.reason_code or "", agent.reason_code or ""),
            C_TIME: (format_duration(agent.time_in_state(self.now())), -agent.since),
            C_CALL: (agent.call_id or "", agent.call_id or ""),
            C_MONITOR: (
                "" if monitor is None else mode_text(monitor.mode),
                "" if monitor is None else monitor.mode.value,
            ),
        }
        for column, (text, key) in cells.items():
            item = self.items.item(r, column)
            item.setData(key, SORT_ROLE)
            item.setText(text)
        state_item = self.items.item(r, C_STATE)
        state_item.setData(agent.state.value, STATE_ROLE)
        state_item.setBackground(QBrush(QColor(background)))
        state_item.setForeground(QBrush(QColor(foreground)))

    # --- actions --------------------------------------------------------------------

    def _selected_row(self) -> AgentRow | None:
        agent_id = self.selected_agent()
        return None if agent_id is None else self.model.agents.get(agent_id)

    def allowed(self, agent: AgentRow | None) -> dict[str, bool]:
        """Which actions make sense for ``agent`` (keys: ``listen``, ``whisper``, ``barge``,
        ``stop``, ``force_ready``, ``force_not_ready``, ``force_logout``)."""
        if agent is None:
            return dict.fromkeys(
                (
                    "listen",
                    "whisper",
                    "barge",
                    "stop",
                    "force_ready",
                    "force_not_ready",
                    "force_logout",
                ),
                False,
            )
        mode = None if agent.monitor is None else agent.monitor.mode
        return {
            "listen": agent.on_call and mode is not MonitorMode.LISTEN,
            "whisper": agent.on_call and mode is not MonitorMode.WHISPER,
            "barge": agent.on_call and mode is not MonitorMode.BARGE,
            "stop": agent.monitor is not None,
            "force_ready": agent.state in FORCE_READY_FROM,
            "force_not_ready": agent.logged_on,
            "force_logout": agent.logged_on,
        }

    def _update_buttons(self) -> None:
        allowed = self.allowed(self._selected_row())
        self.listen_button.setEnabled(allowed["listen"])
        self.whisper_button.setEnabled(allowed["whisper"])
        self.barge_button.setEnabled(allowed["barge"])
        self.stop_monitor_button.setEnabled(allowed["stop"])
        self.force_ready_button.setEnabled(allowed["force_ready"])
        self.force_not_ready_button.setEnabled(allowed["force_not_ready"])
        self.reason_combo.setEnabled(allowed["force_not_ready"])
        self.force_logout_button.setEnabled(allowed["force_logout"])

    def _selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        self._update_buttons()

    def _monitor(self, mode: MonitorMode, agent_id: str | None = None) -> None:
        agent = self.model.agents.get(agent_id or self.selected_agent() or "")
        if agent is not None and self.allowed(agent)[mode.value]:
            self.monitor_requested.emit(agent.agent_id, mode.value)

    def _stop_monitor(self, agent_id: str | None = None) -> None:
        agent = self.model.agents.get(agent_id or self.selected_agent() or "")
        if agent is not None and agent.monitor is not None:
            self.monitor_stop_requested.emit(agent.monitor.monitor_id)

    def _force_ready(self, agent_id: str | None = None) -> None:
        agent = self.model.agents.get(agent_id or self.selected_agent() or "")
        if agent is not None and self.allowed(agent)["force_ready"]:
            self.force_state_requested.emit(agent.agent_id, "ready", None)

    def _force_not_ready(self, reason_code: object, agent_id: str | None = None) -> None:
        agent = self.model.agents.get(agent_id or self.selected_agent() or "")
        if agent is not None and self.allowed(agent)["force_not_ready"]:
            reason = None if reason_code is None else str(reason_code)
            self.force_state_requested.emit(agent.agent_id, "not_ready", reason)

    def _force_logout(self, agent_id: str | None = None) -> None:
        agent = self.model.agents.get(agent_id or self.selected_agent() or "")
        if agent is not None and self.allowed(agent)["force_logout"]:
            self.force_logout_requested.emit(agent.agent_id)

    # --- context menu ---------------------------------------------------------------

    def context_menu(self, agent_id: str) -> QMenu:
        """The actions for ``agent_id`` (disabled where they make no sense)."""
        agent = self.model.agents.get(agent_id)
        allowed = self.allowed(agent)
        menu = QMenu(self)
        for mode, text in (
            (MonitorMode.LISTEN, self.tr("Listen")),
            (MonitorMode.WHISPER, self.tr("Whisper")),
            (MonitorMode.BARGE, self.tr("Barge in")),
        ):
            action = menu.addAction(text)
            action.setObjectName(mode.value)
            action.setEnabled(allowed[mode.value])
            action.triggered.connect(lambda _=False, m=mode: self._monitor(m, agent_id))
        stop = menu.addAction(self.tr("Stop monitoring"))
        stop.setObjectName("stop")
        stop.setEnabled(allowed["stop"])
        stop.triggered.connect(lambda: self._stop_monitor(agent_id))
        menu.addSeparator()
        ready = menu.addAction(self.tr("Force ready"))
        ready.setObjectName("force_ready")
        ready.setEnabled(allowed["force_ready"])
        ready.triggered.connect(lambda: self._force_ready(agent_id))
        not_ready = menu.addMenu(self.tr("Force not ready"))
        not_ready.setObjectName("force_not_ready")
        not_ready.setEnabled(allowed["force_not_ready"])
        for i in range(self.reason_combo.count()):
            code = self.reason_combo.itemData(i)
            reason = not_ready.addAction(self.reason_combo.itemText(i))
            reason.setObjectName(f"force_not_ready:{code or ''}")
            reason.triggered.connect(lambda _=False, c=code: self._force_not_ready(c, agent_id))
        logout = menu.addAction(self.tr("Force logout"))
        logout.setObjectName("force_logout")
        logout.setEnabled(allowed["force_logout"])
        logout.triggered.connect(lambda: self._force_logout(agent_id))
        return menu

    def _context_menu_at(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        self.view.selectRow(index.row())
        agent_id = str(self.proxy.index(index.row(), C_AGENT).data())
        menu = self.context_menu(agent_id)
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def _filter_chosen(self, index: int) -> None:
        data = self.state_filter.itemData(index)
        if data is None:
            self.set_state_filter(None)
        elif data == "logged_on":
            self.set_state_filter(s for s in AgentState if s is not AgentState.LOGGED_OFF)
        else:
            self.set_state_filter([AgentState(str(data))])
