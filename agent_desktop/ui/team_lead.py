"""The team lead's view (R-SUP-1, R-SUP-2): the wallboard and the agents grid over one
:class:`~agent_desktop.model.wallboard.WallboardModel`.

The view never talks to the CTI link. The controller that owns the link subscribes
(``supervisor.subscribe``), feeds every event to :meth:`TeamLeadView.apply` (or emits
:attr:`TeamLeadView.event_arrived` from any thread: the connection is queued onto the
GUI thread), and sends the requests the forwarded ``*_requested`` signals ask for;
``supervisor.monitor`` results go back through :meth:`TeamLeadView.monitor_started`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from agent_desktop.model.wallboard import MonitorSession, WallboardModel
from agent_desktop.ui.agents_grid import AgentsGrid
from agent_desktop.ui.wallboard import WallboardWidget
from agent_desktop.ui.widgets_common import Clock, wall_clock
from shared.protocol.base import Event
from shared.protocol.supervisor import MonitorEndReason, MonitorMode


class TeamLeadView(QWidget):
    """Tabs "Wallboard" and "Agents"; forwards the grid's requests."""

    monitor_requested = Signal(str, str)
    """``(agent_id, mode)``: send ``supervisor.monitor``."""
    monitor_stop_requested = Signal(str)
    """``(monitor_id)``: send ``supervisor.monitor_stop``."""
    force_state_requested = Signal(str, str, object)
    """``(agent_id, "ready" | "not_ready", reason_code or None)``: ``supervisor.force_state``."""
    force_logout_requested = Signal(str)
    """``(agent_id)``: send ``supervisor.force_logout``."""
    event_arrived = Signal(object)
    """Thread-safe way in: emit an event from the link thread; :meth:`apply` runs on the
    GUI thread (queued connection)."""

    def __init__(
        self,
        model: WallboardModel | None = None,
        parent: QWidget | None = None,
        *,
        clock: Clock = wall_clock,
    ) -> None:
        super().__init__(parent)
        self.model = model if model is not None else WallboardModel()
        self.wallboard = WallboardWidget(self.model, self)
        self.agents_grid = AgentsGrid(self.model, self, clock=clock)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.wallboard, self.tr("Wallboard"))
        self.tabs.addTab(self.agents_grid, self.tr("Agents"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

        self.agents_grid.monitor_requested.connect(self.monitor_requested)
        self.agents_grid.monitor_stop_requested.connect(self.monitor_stop_requested)
        self.agents_grid.force_state_requested.connect(self.force_state_requested)
        self.agents_grid.force_logout_requested.connect(self.force_logout_requested)
        self.event_arrived.connect(self.apply, Qt.ConnectionType.QueuedConnection)

    def apply(self, event: object) -> bool:
        """Fold one CTI event (anything but ``supervisor.*`` is ignored: returns False)."""
        if not isinstance(event, Event):
            return False
        return self.model.apply(event)

    def monitor_started(
        self, agent_id: str, monitor_id: str, mode: MonitorMode | str, call_id: str | None = None
    ) -> MonitorSession:
        """The ``supervisor.monitor`` result arrived (``MonitorResult.monitor_id``/``call_id``)."""
        return self.model.monitor_started(agent_id, monitor_id, mode, call_id)

    def monitor_ended(
        self, monitor_id: str, reason: MonitorEndReason | None = None
    ) -> MonitorSession | None:
        """The monitor stopped (the ``supervisor.monitor_stop`` result, or an event)."""
        return self.model.monitor_ended(monitor_id, reason)

    def set_agent_names(self, names: Mapping[str, str]) -> None:
        self.model.set_agent_names(names)

    def set_reason_codes(self, reasons: Sequence[tuple[str, str]]) -> None:
        """``(code, label)`` of the not-ready reasons (``desktop.directory``)."""
        self.agents_grid.set_reason_codes(reasons)

    def set_clock_offset(self, seconds: float) -> None:
        """Server time minus local time, so times in state match the server's clock."""
        self.agents_grid.set_clock_offset(seconds)

    def reset(self) -> None:
        """Forget every figure (before subscribing again on a new session)."""
        self.model.reset()
