"""The main window: banners on top, the state and call bars, the fixed customer pane
(CS area, R-IN-6) on the left with the after-call notes under it, the web windows (BS
area) in the middle, and for team leads a second tab with the wallboard and the agents
grid (R-SUP-1..2). The window only lays widgets out and offers menus; the controller
(:mod:`agent_desktop.ui.app`) connects them to the CTI link and the softphone."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.model.banners import BannerModel
from agent_desktop.model.state import DesktopModel
from agent_desktop.model.wallboard import WallboardModel
from agent_desktop.ui.banner_bar import BannerBar
from agent_desktop.ui.call_bar import CallBar
from agent_desktop.ui.customer_pane import CustomerPaneWidget
from agent_desktop.ui.state_bar import StateBar
from agent_desktop.ui.team_lead import TeamLeadView
from agent_desktop.ui.toast import IncomingToast
from agent_desktop.ui.widgets_common import Clock, wall_clock
from agent_desktop.ui.wrapup import WrapUpWidget
from agent_desktop.web.bridge import DesktopBridge
from agent_desktop.web.bs_area import BsArea
from agent_desktop.web.profile import PanelLoader

PANE_WIDTH = 400
"""The customer pane is fixed: it does not scroll away or resize with the web area."""

STANDARD_PANELS: tuple[tuple[str, str], ...] = (
    ("notices", "/ui/notices"),
    ("kb", "/ui/kb"),
    ("workorders", "/ui/workorders"),
    ("categories", "/ui/categories"),
    ("query", "/ui/query"),
    ("services", "/ui/services"),
)
"""Panels the agent can open from the Panels menu at any time (key, path)."""


class MainWindow(QMainWindow):
    """The agent's (and team lead's) window."""

    standard_panel_requested = Signal(str, str)
    """(key, path) from the Panels menu."""
    test_devices_requested = Signal()
    auto_answer_toggled = Signal(bool)
    logout_requested = Signal()
    closing = Signal()

    def __init__(
        self,
        *,
        model: DesktopModel,
        banners: BannerModel,
        wallboard: WallboardModel,
        loader: PanelLoader,
        bridge: DesktopBridge,
        language: str = "en",
        auto_answer: bool = False,
        clock: Clock = wall_clock,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("main_window")
        self.setWindowTitle(
            self.tr("OpenCC agent desktop — %1").replace("%1", model.agent.agent_id)
        )
        self.banner_bar = BannerBar(banners, clock=clock)
        self.state_bar = StateBar(model, clock=clock)
        self.call_bar = CallBar(model, clock=clock)
        self.pane = CustomerPaneWidget(language)
        self.wrap_up = WrapUpWidget(model)
        self.bs_area = BsArea(loader, bridge)
        self.bs_area.setObjectName("bs_area")
        self.team_lead = TeamLeadView(wallboard, clock=clock)
        self.toast = IncomingToast(model, parent=self)

        bars = QHBoxLayout()
        bars.setContentsMargins(6, 2, 6, 2)
        bars.addWidget(self.state_bar)
        bars.addStretch(1)
        bars.addWidget(self.call_bar)

        left = QWidget()
        left.setObjectName("cs_area")
        left.setFixedWidth(PANE_WIDTH)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.pane)
        left_layout.addWidget(scroll, 1)
        left_layout.addWidget(self.wrap_up)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("centre_tabs")
        self.tabs.addTab(self.bs_area, self.tr("Workspace"))
        self._team_tab = -1

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)

        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.banner_bar)
        layout.addLayout(bars)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(centre)

        self.link_label = QLabel()
        self.link_label.setObjectName("link_status")
        self.sip_label = QLabel()
        self.sip_label.setObjectName("sip_status")
        self.statusBar().addPermanentWidget(self.sip_label)
        self.statusBar().addPermanentWidget(self.link_label)
        self.set_link_state("connecting")
        self.set_sip_state(False, "")
        self._build_menus(auto_answer)
        self.resize(1400, 860)

    # --- menus ---------------------------------------------------------------------------

    def _build_menus(self, auto_answer: bool) -> None:
        bar = self.menuBar()
        agent = bar.addMenu(self.tr("&Agent"))
        self.logout_action = QAction(self.tr("Log out"), self)
        self.logout_action.triggered.connect(self.logout_requested)
        agent.addAction(self.logout_action)

        panels = bar.addMenu(self.tr("Pa&nels"))
        titles = {
            "notices": self.tr("Notices"),
            "kb": self.tr("Knowledge base"),
            "workorders": self.tr("Work orders"),
            "categories": self.tr("Business categories"),
            "query": self.tr("Queries"),
            "services": self.tr("Services"),
        }
        for key, path in STANDARD_PANELS:
            action = QAction(titles[key], self)
            action.setObjectName(f"panel_{key}")
            action.triggered.connect(
                lambda _=False, k=key, p=path: self.standard_panel_requested.emit(k, p)
            )
            panels.addAction(action)

        windows = bar.addMenu(self.tr("&Windows"))
        windows.aboutToShow.connect(lambda: self._fill_window_menu(windows))

        phone = bar.addMenu(self.tr("&Phone"))
        self.auto_answer_action = QAction(self.tr("Answer calls automatically"), self)
        self.auto_answer_action.setCheckable(True)
        self.auto_answer_action.setChecked(auto_answer)
        self.auto_answer_action.toggled.connect(self.auto_answer_toggled)
        phone.addAction(self.auto_answer_action)
        test = QAction(self.tr("Test audio devices"), self)
        test.triggered.connect(self.test_devices_requested)
        phone.addAction(test)

    def _fill_window_menu(self, menu: object) -> None:
        from PySide6.QtWidgets import QMenu

        assert isinstance(menu, QMenu)
        menu.clear()
        source = self.bs_area.window_menu(menu)
        for action in source.actions():
            menu.addAction(action)

    # --- state shown ----------------------------------------------------------------------

    def set_team_lead(self, on: bool) -> None:
        """Show (or hide) the team-lead tab: the role comes from the server."""
        if on and self._team_tab < 0:
            self._team_tab = self.tabs.addTab(self.team_lead, self.tr("Team"))
        elif not on and self._team_tab >= 0:
            self.tabs.removeTab(self._team_tab)
            self._team_tab = -1

    @property
    def team_lead_shown(self) -> bool:
        return self._team_tab >= 0

    def set_link_state(self, state: str) -> None:
        text = {
            "connecting": self.tr("CTI: connecting…"),
            "online": self.tr("CTI: online"),
            "offline": self.tr("CTI: offline"),
        }.get(state, state)
        self.link_label.setText(text)
        self.link_label.setProperty("state", state)

    def set_sip_state(self, registered: bool, detail: str) -> None:
        if registered:
            self.sip_label.setText(self.tr("Phone: registered"))
        elif detail:
            self.sip_label.setText(self.tr("Phone: not registered (%1)").replace("%1", detail))
        else:
            self.sip_label.setText(self.tr("Phone: not registered"))
        self.sip_label.setProperty("registered", registered)

    def show_message(self, text: str, seconds: float = 8.0) -> None:
        self.statusBar().showMessage(text, int(seconds * 1000))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing.emit()
        super().closeEvent(event)
