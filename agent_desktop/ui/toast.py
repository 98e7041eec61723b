"""The incoming-call popup: caller, name, tier, queue, business selection and Answer /
Reject, shown while a call is offered (the softphone rings; this only shows and emits).

With a :class:`DesktopModel` it follows the model by itself: it appears when a call
is delivered and disappears when that call is answered, diverted or cleared. In
offline mode the controller calls :meth:`IncomingToast.show_offer` with the
softphone's key and :meth:`IncomingToast.dismiss`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from agent_desktop.model.state import CallPhase, CallView, Change, DesktopModel
from agent_desktop.ui.widgets_common import badge_style, tier_colour


class IncomingToast(QFrame):
    """Emits ``answer_requested(call_id)`` and ``reject_requested(call_id)``."""

    answer_requested = Signal(str)
    reject_requested = Signal(str)

    def __init__(self, model: DesktopModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("incoming_toast")
        self.setWindowFlags(
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
        )
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#incoming_toast { background: #263238; border: 2px solid #43a047;"
            " border-radius: 8px; } QLabel { color: white; }"
        )
        self._call_id: str | None = None
        self._model: DesktopModel | None = None
        self._unsubscribe: Callable[[], None] = lambda: None

        self.heading = QLabel(self.tr("Incoming call"), self)
        self.heading.setStyleSheet("font-weight: bold;")
        self.number = QLabel(self)
        self.number.setObjectName("toast_number")
        self.number.setStyleSheet("font-size: 16pt; font-weight: bold;")
        self.name = QLabel(self)
        self.name.setObjectName("toast_name")
        self.tier = QLabel(self)
        self.tier.setObjectName("toast_tier")
        self.queue = QLabel(self)
        self.queue.setObjectName("toast_queue")
        self.business = QLabel(self)
        self.business.setObjectName("toast_business")
        self.answer_button = QPushButton(self.tr("Answer"), self)
        self.answer_button.setObjectName("toast_answer")
        self.answer_button.setStyleSheet("background: #43a047; color: white; padding: 6px;")
        self.answer_button.clicked.connect(lambda _c=False: self._answer())
        self.reject_button = QPushButton(self.tr("Reject"), self)
        self.reject_button.setObjectName("toast_reject")
        self.reject_button.setStyleSheet("background: #e53935; color: white; padding: 6px;")
        self.reject_button.clicked.connect(lambda _c=False: self._reject())

        top = QHBoxLayout()
        top.addWidget(self.name, 1)
        top.addWidget(self.tier)
        buttons = QHBoxLayout()
        buttons.addWidget(self.answer_button)
        buttons.addWidget(self.reject_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addWidget(self.heading)
        layout.addWidget(self.number)
        layout.addLayout(top)
        layout.addWidget(self.queue)
        layout.addWidget(self.business)
        layout.addLayout(buttons)
        self.setMinimumWidth(280)
        if model is not None:
            self.set_model(model)

    # --- inputs ----------------------------------------------------------------------------

    def set_model(self, model: DesktopModel) -> None:
        self._unsubscribe()
        self._model = model
        unsubscribe = model.subscribe(self._on_change)
        self._unsubscribe = unsubscribe
        self.destroyed.connect(lambda _obj=None, u=unsubscribe: u())
        self._on_change(Change("snapshot"))

    @property
    def call_id(self) -> str | None:
        """The offered call shown (``None`` when hidden)."""
        return self._call_id

    def show_call(self, call: CallView) -> None:
        self.show_offer(
            call.call_id,
            caller=call.caller,
            name=call.customer_name,
            tier=call.tier,
            queue=call.queue_id,
            business_selection=call.business_selection,
        )

    def show_offer(
        self,
        call_id: str,
        *,
        caller: str | None = None,
        name: str | None = None,
        tier: str | None = None,
        queue: str | None = None,
        business_selection: str | None = None,
    ) -> None:
        """Show an offered call (a CTI call id, or the softphone key when offline)."""
        self._call_id = call_id
        self.number.setText(caller or self.tr("Unknown number"))
        self.name.setText(name or self.tr("Not a known customer"))
        self.tier.setVisible(bool(tier))
        self.tier.setText(tier or "")
        self.tier.setStyleSheet(badge_style(tier_colour(tier)))
        self.queue.setVisible(bool(queue))
        self.queue.setText(self.tr("Queue: %1").replace("%1", queue or ""))
        self.business.setVisible(bool(business_selection))
        self.business.setText(self.tr("Selected: %1").replace("%1", business_selection or ""))
        self.answer_button.setEnabled(True)
        self.reject_button.setEnabled(True)
        self.adjustSize()
        self.show()
        self.raise_()

    def dismiss(self) -> None:
        self._call_id = None
        self.hide()

    # --- behaviour ---------------------------------------------------------------------------

    def _on_change(self, _change: Change) -> None:
        model = self._model
        if model is None:
            return
        current = model.calls.get(self._call_id) if self._call_id is not None else None
        if current is not None and current.phase is CallPhase.OFFERED:
            self.show_call(current)  # refresh (a snapshot may fill in details)
            return
        offered = [c for c in model.calls.values() if c.phase is CallPhase.OFFERED]
        if offered:
            self.show_call(max(offered, key=lambda c: c.since))
        elif self._call_id is not None:
            self.dismiss()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.parentWidget() is None or self.isWindow():
            screen = self.screen() or QGuiApplication.primaryScreen()
            if screen is not None:
                area = screen.availableGeometry()
                self.move(area.right() - self.width() - 16, area.bottom() - self.height() - 16)

    def _answer(self) -> None:
        if self._call_id is not None:
            self.answer_button.setEnabled(False)  # one click is one request
            self.answer_requested.emit(self._call_id)

    def _reject(self) -> None:
        if self._call_id is not None:
            self.reject_button.setEnabled(False)
            self.reject_requested.emit(self._call_id)
