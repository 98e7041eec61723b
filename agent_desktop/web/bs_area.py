"""The BS area: the web panels of the CTI server in movable windows (R-IN-5, R-IN-6).

:class:`BsArea` is a ``QMdiArea`` with one :class:`WebWindow` per panel key: opening a
key that is already open raises that window and loads the new path in it instead of
adding a second one. Windows can be maximised, minimised, moved, closed, tiled,
cascaded and re-ordered (:meth:`BsArea.window_menu` offers all of it with a list of
the windows); :meth:`BsArea.layout_state` / :meth:`BsArea.restore_layout` keep the
arrangement (JSON-able) across sessions, and a remembered key opens where it was last.

Every window's page is a page of the shared profile (:mod:`agent_desktop.web.profile`)
with the page bridge attached (:mod:`agent_desktop.web.bridge`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QMoveEvent, QResizeEvent
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import (
    QLabel,
    QMdiArea,
    QMdiSubWindow,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.web.bridge import DesktopBridge
from agent_desktop.web.profile import PanelLoader, PanelNavigator, PanelPage


class PanelSpecLike(Protocol):
    """What :meth:`BsArea.open_panel` needs (``agent_desktop.model.screenpop.PanelSpec``)."""

    @property
    def key(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def title_key(self) -> str: ...
    @property
    def call_id(self) -> str | None: ...


@dataclass(frozen=True)
class Panel:
    """A plain panel spec (for panels not popped by a call, and restored layouts)."""

    key: str
    path: str
    title_key: str
    call_id: str | None = None


class WindowState(enum.StrEnum):
    NORMAL = "normal"
    MAXIMIZED = "maximized"
    MINIMIZED = "minimized"


class WindowLayout(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where one panel window is: its normal geometry and its state."""

    key: str
    path: str
    title_key: str
    call_id: str | None = None
    x: int
    y: int
    width: int
    height: int
    state: WindowState = WindowState.NORMAL


class LayoutState(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The BS area's arrangement: open windows back to front, remembered places."""

    version: int = 1
    windows: list[WindowLayout] = []
    active: str | None = None
    remembered: list[WindowLayout] = []


class LayoutError(ValueError):
    """A layout state that cannot be restored (nothing was changed)."""


_MIN_SIZE = 120
_MAX_COORD = 100_000


class WebWindow(QMdiSubWindow):
    """One panel: a web view of the shared profile, with an error page and Retry."""

    closed = Signal(str)
    """The window was closed (its key)."""

    def __init__(
        self,
        spec: PanelSpecLike,
        loader: PanelLoader,
        bridge: DesktopBridge | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._key = spec.key
        self._path = spec.path
        self._title_key = spec.title_key
        self._call_id = spec.call_id
        self._normal_geometry: QRect | None = None

        body = QWidget(self)
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        self._view = QWebEngineView(body)
        page, navigator = loader.new_page(self._view)
        self._page = page
        self._navigator = navigator
        self._view.setPage(page)
        if bridge is not None:
            bridge.attach(page)
        column.addWidget(self._view, 1)

        self._error = QWidget(body)
        self._error.setObjectName("panelError")
        error_column = QVBoxLayout(self._error)
        self._error_title = QLabel(self._error)
        self._error_title.setObjectName("panelErrorTitle")
        self._error_detail = QLabel(self._error)
        self._error_detail.setWordWrap(True)
        self._retry = QPushButton(self.tr("Retry"), self._error)
        self._retry.setObjectName("panelRetry")
        self._retry.clicked.connect(self.retry)
        error_column.addStretch(1)
        error_column.addWidget(self._error_title, 0, Qt.AlignmentFlag.AlignHCenter)
        error_column.addWidget(self._error_detail, 0, Qt.AlignmentFlag.AlignHCenter)
        error_column.addWidget(self._retry, 0, Qt.AlignmentFlag.AlignHCenter)
        error_column.addStretch(1)
        self._error.hide()
        column.addWidget(self._error, 1)
        self.setWidget(body)

        navigator.failed.connect(self._show_error)
        navigator.loaded.connect(self._hide_error)
        page.titleChanged.connect(self._update_title)
        self._update_title()

    # --- what the window shows ---------------------------------------------------------

    @property
    def key(self) -> str:
        return self._key

    @property
    def path(self) -> str:
        """The panel path asked for last (the page may have moved on by links)."""
        return self._path

    @property
    def title_key(self) -> str:
        return self._title_key

    @property
    def call_id(self) -> str | None:
        return self._call_id

    @property
    def view(self) -> QWebEngineView:
        return self._view

    @property
    def page(self) -> PanelPage:
        return self._page

    @property
    def navigator(self) -> PanelNavigator:
        return self._navigator

    @property
    def error_shown(self) -> bool:
        """Whether the error page (with Retry) is showing instead of the web page."""
        return not self._error.isHidden()

    @property
    def error_text(self) -> str:
        return self._error_detail.text() if self.error_shown else ""

    @property
    def retry_button(self) -> QPushButton:
        return self._retry

    def open(self, spec: PanelSpecLike) -> None:
        """Load ``spec.path`` (also when it is the path already shown: a reload)."""
        self._navigator.open(spec.path)  # ValueError for a bad path, before any change
        self._path = spec.path
        self._title_key = spec.title_key
        self._call_id = spec.call_id
        self._update_title()

    def retry(self) -> None:
        self._navigator.retry()

    def normal_geometry(self) -> QRect:
        """The geometry the window has when neither maximised nor minimised."""
        if self._normal_geometry is not None and (self.isMaximized() or self.isMinimized()):
            return QRect(self._normal_geometry)
        return self.geometry()

    def window_state(self) -> WindowState:
        if self.isMinimized():
            return WindowState.MINIMIZED
        if self.isMaximized():
            return WindowState.MAXIMIZED
        return WindowState.NORMAL

    # --- internals ---------------------------------------------------------------------

    def _titles(self) -> dict[str, str]:
        """Window titles of the panel kinds the desktop pops (``title_key`` → text)."""
        return {
            # agent_desktop.model.screenpop.PANEL_TITLES
            "trajectory": self.tr("Call trajectory"),
            "contacts": self.tr("Contact history"),
            "workorder_new": self.tr("New work order"),
            "workorders_recent": self.tr("Recent work orders"),
            "knowledge": self.tr("Knowledge base"),
            "categories": self.tr("Business categories"),
            "inquiry": self.tr("Inquiry"),
            "acceptance": self.tr("Acceptance"),
            "query": self.tr("Queries"),
            "account": self.tr("Accounts and bills"),
            "payment": self.tr("Payment"),
            "customer": self.tr("Customer services and care"),
            "services": self.tr("Service catalogue"),
            "care": self.tr("Care plans"),
            # panels the agent opens from menus or pages
            "kb": self.tr("Knowledge base"),
            "notices": self.tr("Notices"),
            "workorders": self.tr("Work orders"),
            "records": self.tr("Business record"),
            "home": self.tr("Web panels"),
        }

    def _update_title(self, *_: object) -> None:
        text = self._titles().get(self._title_key)
        if text is None:
            text = self._page.title() or self._title_key or self._key
        self.setWindowTitle(text)

    def _show_error(self, kind: str, message: str) -> None:
        titles = {
            "network": self.tr("The page could not be loaded."),
            "sso": self.tr("Could not sign in to the web panels."),
            "expired": self.tr("The web session has expired."),
        }
        self._error_title.setText(titles.get(kind, titles["network"]))
        self._error_detail.setText(message)
        self._view.hide()
        self._error.show()

    def _hide_error(self, _url: str) -> None:
        self._error.hide()
        self._view.show()

    def moveEvent(self, event: QMoveEvent) -> None:
        super().moveEvent(event)
        self._remember_geometry()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._remember_geometry()

    def _remember_geometry(self) -> None:
        if not (self.isMaximized() or self.isMinimized()):
            self._normal_geometry = QRect(self.geometry())

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit(self._key)


class BsArea(QMdiArea):
    """The multi-window area of web panels; one window per panel key."""

    panel_opened = Signal(str)
    """A new window was opened for this key."""
    panel_closed = Signal(str)
    """The window of this key was closed."""

    def __init__(
        self,
        loader: PanelLoader,
        bridge: DesktopBridge | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._bridge = bridge
        self._windows: dict[str, WebWindow] = {}
        self._remembered: dict[str, WindowLayout] = {}
        self.setOption(QMdiArea.AreaOption.DontMaximizeSubWindowOnActivation, True)
        self.setActivationOrder(QMdiArea.WindowOrder.StackingOrder)

    # --- opening and closing -----------------------------------------------------------

    def open_panel(self, spec: PanelSpecLike) -> WebWindow:
        """Open ``spec`` in its window: a new one, or the key's window raised and reloaded.

        Raises ``ValueError`` for a path that is not a ``/ui/`` page (nothing opened).
        """
        window = self._windows.get(spec.key)
        if window is not None:
            window.open(spec)
            if window.isMinimized():
                window.showNormal()
            self.setActiveSubWindow(window)
            window.raise_()
            return window
        window = WebWindow(spec, self._loader, self._bridge)
        try:
            window.navigator.open(spec.path)
        except ValueError:
            window.deleteLater()
            raise
        self._windows[spec.key] = window
        # through a lambda: PySide 6.12 does not deliver a signal emitted inside
        # closeEvent to a bound method of the MDI area itself
        window.closed.connect(lambda key: self._forget(key))  # noqa: PLW0108
        self.addSubWindow(window)
        place = self._remembered.pop(spec.key, None)
        if place is not None:
            self._apply_place(window, place)
        else:
            window.resize(self._default_size())
            window.show()
        self.setActiveSubWindow(window)
        self.panel_opened.emit(spec.key)
        return window

    def open_path(self, key: str, path: str, call_id: str | None = None) -> WebWindow:
        """Open ``path`` in the window of ``key`` (titled by ``key``): what a page's
        ``open_panel`` command asks for (``DesktopBridge.open_panel_requested``)."""
        return self.open_panel(Panel(key, path, key, call_id))

    def panel(self, key: str) -> WebWindow | None:
        """The window of ``key`` (``None`` when it is not open)."""
        return self._windows.get(key)

    def windows(self) -> list[WebWindow]:
        """The open windows in z-order, back to front (the last one is in front)."""
        order = self.subWindowList(QMdiArea.WindowOrder.StackingOrder)
        return [w for w in order if isinstance(w, WebWindow) and self._windows.get(w.key) is w]

    def keys(self) -> list[str]:
        """Keys of the open windows, back to front."""
        return [w.key for w in self.windows()]

    def close_panel(self, key: str) -> bool:
        """Close the window of ``key``; ``False`` if it was not open."""
        window = self._windows.get(key)
        if window is None:
            return False
        window.close()
        return key not in self._windows

    def close_call_panels(self, call_id: str) -> int:
        """Close every window popped for ``call_id``; how many were closed."""
        keys = [w.key for w in self._windows.values() if w.call_id == call_id]
        return sum(1 for key in keys if self.close_panel(key))

    def close_all(self) -> None:
        for key in list(self._windows):
            self.close_panel(key)

    # --- arranging ---------------------------------------------------------------------

    def maximize(self, key: str) -> None:
        self._get(key).showMaximized()

    def minimize(self, key: str) -> None:
        self._get(key).showMinimized()

    def restore(self, key: str) -> None:
        """Back to the normal size and place (from maximised or minimised)."""
        self._get(key).showNormal()

    def activate(self, key: str) -> None:
        """Give ``key`` the focus and bring it to the front."""
        window = self._get(key)
        if window.isMinimized():
            window.showNormal()
        self.setActiveSubWindow(window)
        window.raise_()

    def tile(self) -> None:
        self.tileSubWindows()

    def cascade(self) -> None:
        self.cascadeSubWindows()

    def bring_to_front(self, key: str) -> None:
        self._get(key).raise_()

    def send_to_back(self, key: str) -> None:
        self._get(key).lower()

    def bring_forward(self, key: str) -> None:
        """One place nearer the front."""
        window = self._get(key)
        order = self.windows()
        index = order.index(window)
        if index < len(order) - 1:
            order[index + 1].stackUnder(window)

    def send_backward(self, key: str) -> None:
        """One place further back."""
        window = self._get(key)
        order = self.windows()
        index = order.index(window)
        if index > 0:
            window.stackUnder(order[index - 1])

    def window_menu(self, parent: QWidget | None = None) -> QMenu:
        """A "Windows" menu: arrange actions and the list of windows (front one checked)."""
        menu = QMenu(self.tr("&Windows"), parent or self)
        menu.aboutToShow.connect(lambda: self._fill_menu(menu))
        self._fill_menu(menu)
        return menu

    def _fill_menu(self, menu: QMenu) -> None:
        menu.clear()
        active = self.activeSubWindow()
        current = active if isinstance(active, WebWindow) else None
        has = bool(self._windows)

        def add(text: str, slot: Any, enabled: bool = True) -> QAction:
            action = menu.addAction(text)
            action.triggered.connect(slot)
            action.setEnabled(enabled)
            return action

        add(self.tr("&Tile"), self.tile, has)
        add(self.tr("&Cascade"), self.cascade, has)
        menu.addSeparator()
        for text, method in (
            (self.tr("Ma&ximise"), self.maximize),
            (self.tr("Mi&nimise"), self.minimize),
            (self.tr("&Restore"), self.restore),
            (self.tr("Bring to &front"), self.bring_to_front),
            (self.tr("Bring for&ward"), self.bring_forward),
            (self.tr("Send &backward"), self.send_backward),
            (self.tr("Send to bac&k"), self.send_to_back),
            (self.tr("C&lose"), self.close_panel),
        ):
            if current is not None:
                key = current.key
                add(text, lambda _=False, m=method, k=key: m(k))
            else:
                add(text, lambda _=False: None, False)
        add(self.tr("Close &all"), self.close_all, has)
        if has:
            menu.addSeparator()
        for number, window in enumerate(reversed(self.windows()), start=1):
            label = f"&{number} {window.windowTitle()}" if number < 10 else window.windowTitle()
            action = add(label, lambda _=False, k=window.key: self.activate(k))
            action.setCheckable(True)
            action.setChecked(window is current)

    # --- layout ------------------------------------------------------------------------

    def layout_state(self) -> dict[str, Any]:
        """The arrangement as plain JSON-able data (see :class:`LayoutState`)."""
        active = self.activeSubWindow()
        state = LayoutState(
            windows=[self._place_of(w) for w in self.windows()],
            active=active.key if isinstance(active, WebWindow) else None,
            remembered=list(self._remembered.values()),
        )
        result: dict[str, Any] = msgspec.to_builtins(state)
        return result

    def restore_layout(self, state: object, *, reopen: bool = False) -> None:
        """Put open windows back where ``state`` had them, in its z-order, and remember
        the places of the others for when their key opens. ``reopen=True`` also opens
        the windows of ``state`` not bound to a call (``call_id`` empty).

        Raises :class:`LayoutError` for malformed state, before changing anything.
        """
        try:
            layout = msgspec.convert(state, LayoutState)
        except msgspec.ValidationError as exc:
            raise LayoutError(f"layout state is not valid: {exc}") from None
        if layout.version != 1:
            raise LayoutError(f"layout state version {layout.version} is not supported")
        for place in [*layout.windows, *layout.remembered]:
            size_ok = min(place.width, place.height) >= _MIN_SIZE
            if not (size_ok and max(place.width, place.height) <= _MAX_COORD):
                raise LayoutError(f"window {place.key!r} has an impossible size")
            if max(abs(place.x), abs(place.y)) > _MAX_COORD:
                raise LayoutError(f"window {place.key!r} is out of reach")
        for place in layout.remembered:
            if place.key not in self._windows:
                self._remembered[place.key] = place
        placed: list[WebWindow] = []
        for place in layout.windows:
            window = self._windows.get(place.key)
            if window is None and reopen and not place.call_id:
                self._remembered[place.key] = place
                try:
                    window = self.open_panel(
                        Panel(place.key, place.path, place.title_key, place.call_id)
                    )
                except ValueError:
                    self._remembered.pop(place.key, None)
                    continue
            elif window is None:
                self._remembered[place.key] = place
                continue
            else:
                self._apply_place(window, place)
            placed.append(window)
        if layout.active in self._windows:
            self.setActiveSubWindow(self._windows[layout.active])
        for window in placed:
            window.raise_()

    # --- internals ---------------------------------------------------------------------

    def _get(self, key: str) -> WebWindow:
        window = self._windows.get(key)
        if window is None:
            raise KeyError(f"no panel window {key!r} is open")
        return window

    def _forget(self, key: str) -> None:
        window = self._windows.pop(key, None)
        if window is not None:
            self._remembered[key] = self._place_of(window)
            self.panel_closed.emit(key)

    def _default_size(self) -> Any:
        size = self.viewport().size()
        size.setWidth(max(_MIN_SIZE * 3, size.width() * 2 // 3))
        size.setHeight(max(_MIN_SIZE * 2, size.height() * 2 // 3))
        return size

    @staticmethod
    def _place_of(window: WebWindow) -> WindowLayout:
        rect = window.normal_geometry()
        return WindowLayout(
            key=window.key,
            path=window.path,
            title_key=window.title_key,
            call_id=window.call_id,
            x=rect.x(),
            y=rect.y(),
            width=max(_MIN_SIZE, rect.width()),
            height=max(_MIN_SIZE, rect.height()),
            state=window.window_state(),
        )

    @staticmethod
    def _apply_place(window: WebWindow, place: WindowLayout) -> None:
        if not window.isVisible() or window.window_state() is not WindowState.NORMAL:
            window.showNormal()
        window.setGeometry(QRect(place.x, place.y, place.width, place.height))
        if place.state is WindowState.MAXIMIZED:
            window.showMaximized()
        elif place.state is WindowState.MINIMIZED:
            window.showMinimized()
