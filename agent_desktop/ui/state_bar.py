"""The agent's state: Ready / Not ready (with a reason), time in state, the after-call
work countdown and "end wrap-up"; buttons enabled from :meth:`DesktopModel.can`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QPushButton, QToolButton, QWidget

from agent_desktop.model.state import Action, Change, DesktopModel
from agent_desktop.ui.widgets_common import Clock, format_duration, wall_clock
from shared.protocol.agent import AgentState

STATE_COLOURS = {
    AgentState.LOGGED_OFF: "#9e9e9e",
    AgentState.NOT_READY: "#e53935",
    AgentState.READY: "#43a047",
    AgentState.RESERVED: "#fb8c00",
    AgentState.BUSY: "#1e88e5",
    AgentState.WORK_NOT_READY: "#8e24aa",
}


class StateBar(QWidget):
    """Emits ``ready_requested()``, ``not_ready_requested(reason_code)`` and
    ``end_acw_requested()``; shows the state with its time and the ACW countdown."""

    ready_requested = Signal()
    not_ready_requested = Signal(str)
    end_acw_requested = Signal()

    def __init__(
        self,
        model: DesktopModel,
        reason_codes: Sequence[tuple[str, str]] = (),
        *,
        clock: Clock = wall_clock,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("state_bar")
        self._clock = clock
        self._model = model
        self._unsubscribe: Callable[[], None] = model.subscribe(self._on_change)

        self.state_label = QLabel(self)
        self.state_label.setObjectName("state_label")
        self.state_label.setMinimumWidth(180)
        self.acw_label = QLabel(self)
        self.acw_label.setObjectName("acw_countdown")
        self.ready_button = QPushButton(self.tr("Ready"), self)
        self.ready_button.setObjectName("ready")
        self.ready_button.clicked.connect(lambda _c=False: self._ready())
        self.reason_menu = QMenu(self)
        self.reason_menu.setObjectName("reason_menu")
        self.not_ready_button = QToolButton(self)
        self.not_ready_button.setObjectName("not_ready")
        self.not_ready_button.setText(self.tr("Not ready"))
        self.not_ready_button.setMenu(self.reason_menu)
        self.not_ready_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.end_acw_button = QPushButton(self.tr("End wrap-up"), self)
        self.end_acw_button.setObjectName("end_acw")
        self.end_acw_button.clicked.connect(lambda _c=False: self._end_acw())

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.state_label)
        layout.addWidget(self.acw_label)
        layout.addStretch(1)
        layout.addWidget(self.ready_button)
        layout.addWidget(self.not_ready_button)
        layout.addWidget(self.end_acw_button)

        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self.tick)
        self._ticker.start()
        self.destroyed.connect(lambda _obj=None, u=self._unsubscribe: u())
        self.set_reason_codes(reason_codes)

    # --- inputs --------------------------------------------------------------------------

    def set_model(self, model: DesktopModel) -> None:
        self._unsubscribe()
        self._model = model
        unsubscribe = model.subscribe(self._on_change)
        self._unsubscribe = unsubscribe
        self.destroyed.connect(lambda _obj=None, u=unsubscribe: u())
        self.refresh()

    def set_reason_codes(self, reason_codes: Sequence[tuple[str, str]]) -> None:
        """The not-ready reasons the agent may pick: ``(code, label)``."""
        self.reason_menu.clear()
        for code, label in reason_codes:
            action = QAction(label, self.reason_menu)
            action.setData(code)
            action.triggered.connect(lambda _c=False, rc=code: self._not_ready(rc))
            self.reason_menu.addAction(action)
        self.refresh()

    def reason_actions(self) -> list[QAction]:
        return list(self.reason_menu.actions())

    # --- display ---------------------------------------------------------------------------

    def _on_change(self, _change: Change) -> None:
        self.refresh()

    def refresh(self) -> None:
        model = self._model
        self.ready_button.setEnabled(model.can(Action.READY))
        has_reasons = bool(self.reason_menu.actions())
        self.not_ready_button.setEnabled(model.can(Action.NOT_READY) and has_reasons)
        self.not_ready_button.setToolTip(
            "" if has_reasons else self.tr("No not-ready reasons are configured.")
        )
        for action in self.reason_menu.actions():
            action.setEnabled(model.can(Action.NOT_READY))
        acw = model.agent.state is AgentState.WORK_NOT_READY
        self.end_acw_button.setEnabled(model.can(Action.END_AFTER_CALL_WORK))
        self.end_acw_button.setVisible(acw)
        self.acw_label.setVisible(acw)
        colour = STATE_COLOURS.get(model.agent.state, "#9e9e9e")
        self.state_label.setStyleSheet(f"color: {colour}; font-weight: bold;")
        self.tick()

    def state_text(self) -> str:
        agent = self._model.agent
        text = {
            AgentState.LOGGED_OFF: self.tr("Logged off"),
            AgentState.NOT_READY: self.tr("Not ready"),
            AgentState.READY: self.tr("Ready"),
            AgentState.RESERVED: self.tr("Call coming"),
            AgentState.BUSY: self.tr("On a call"),
            AgentState.WORK_NOT_READY: self.tr("Wrap-up"),
        }[agent.state]
        if agent.state is AgentState.NOT_READY and (agent.reason_label or agent.reason_code):
            text = f"{text} ({agent.reason_label or agent.reason_code})"
        if agent.forced_by:
            text += " " + self.tr("[set by %1]").replace("%1", agent.forced_by)
        return text

    def tick(self) -> None:
        """Update the time in state and the ACW countdown (every second)."""
        now = self._clock()
        agent = self._model.agent
        if agent.state is AgentState.LOGGED_OFF:
            self.state_label.setText(self.state_text())
        else:
            self.state_label.setText(f"{self.state_text()} · {format_duration(now - agent.since)}")
        if agent.state is AgentState.WORK_NOT_READY:
            if agent.acw_deadline is not None:
                left = format_duration(max(0.0, agent.acw_deadline - now))
                self.acw_label.setText(self.tr("Ready again in %1").replace("%1", left))
            else:
                self.acw_label.setText(self.tr("Wrap-up without time limit"))
        else:
            self.acw_label.setText("")

    # --- intents -----------------------------------------------------------------------------

    def _ready(self) -> None:
        if self._model.can(Action.READY):
            self.ready_requested.emit()

    def _not_ready(self, code: str) -> None:
        if self._model.can(Action.NOT_READY):
            self.not_ready_requested.emit(code)

    def _end_acw(self) -> None:
        if self._model.can(Action.END_AFTER_CALL_WORK):
            self.end_acw_requested.emit()
