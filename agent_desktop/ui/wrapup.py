"""After-call notes: shown in after-call work for the call being wrapped up.

Notes and a category; "Save" emits :attr:`WrapUpWidget.wrap_up_requested` (the lead's
controller sends ``call.wrap_up``) and :meth:`WrapUpWidget.show_result` reports back.
The widget follows the :class:`DesktopModel`: it appears when the agent enters
after-call work for a call and hides again when the agent leaves it, unless unsaved
notes would be lost (then it stays until they are saved or discarded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.model.state import Change, DesktopModel
from shared.protocol.agent import AgentState
from shared.protocol.call import MAX_WRAP_UP_NOTES

MAX_NOTES = MAX_WRAP_UP_NOTES
"""Longest notes accepted (``call.wrap_up``'s limit)."""


class WrapUpWidget(QWidget):
    """Emits ``wrap_up_requested(call_id, notes, category)`` (category ``""`` = none)."""

    wrap_up_requested = Signal(str, str, str)

    def __init__(
        self,
        model: DesktopModel | None = None,
        categories: Sequence[tuple[str, str]] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("wrap_up")
        self._call_id: str | None = None
        self._saved = False
        self._model: DesktopModel | None = None
        self._unsubscribe: Callable[[], None] = lambda: None

        self.title = QLabel(self)
        self.title.setObjectName("wrap_up_title")
        self.notes = QPlainTextEdit(self)
        self.notes.setObjectName("wrap_up_notes")
        self.notes.setPlaceholderText(self.tr("After-call notes"))
        self.notes.textChanged.connect(self._on_user_edit)
        self.category = QComboBox(self)
        self.category.setObjectName("wrap_up_category")
        self.category.currentIndexChanged.connect(lambda _i: self._on_user_edit())
        self.save_button = QPushButton(self.tr("Save"), self)
        self.save_button.setObjectName("wrap_up_save")
        self.save_button.clicked.connect(lambda _checked=False: self.save())
        self.discard_button = QPushButton(self.tr("Discard"), self)
        self.discard_button.setObjectName("wrap_up_discard")
        self.discard_button.clicked.connect(lambda _checked=False: self.discard())
        self.status = QLabel(self)
        self.status.setObjectName("wrap_up_status")

        row = QHBoxLayout()
        row.addWidget(QLabel(self.tr("Category"), self))
        row.addWidget(self.category, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.discard_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.notes, 1)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.set_categories(categories)
        self.setVisible(False)
        if model is not None:
            self.set_model(model)

    # --- inputs ----------------------------------------------------------------------------

    def set_model(self, model: DesktopModel) -> None:
        self._unsubscribe()
        self._model = model
        unsubscribe = model.subscribe(self._on_change)
        self._unsubscribe = unsubscribe
        self.destroyed.connect(lambda _obj=None, u=unsubscribe: u())
        self._on_change(Change("agent"))

    def set_categories(self, categories: Sequence[tuple[str, str]]) -> None:
        """``(code, label)`` pairs; the first entry is always "no category"."""
        current = self.category.currentData()
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItem(self.tr("(no category)"), "")
        for code, label in categories:
            self.category.addItem(label, code)
        index = self.category.findData(current) if current else 0
        self.category.setCurrentIndex(max(0, index))
        self.category.blockSignals(False)

    @property
    def call_id(self) -> str | None:
        return self._call_id

    def start(self, call_id: str) -> None:
        """Show the form for ``call_id`` (a new call clears what was typed)."""
        if call_id != self._call_id:
            self._call_id = call_id
            self._saved = False
            self.notes.blockSignals(True)
            self.notes.setPlainText("")
            self.notes.blockSignals(False)
            self.category.setCurrentIndex(0)
            self.status.setText("")
        self.title.setText(self.tr("Wrap-up of call %1").replace("%1", call_id))
        self.setVisible(True)
        self._on_edit()

    def discard(self) -> None:
        self._call_id = None
        self.notes.setPlainText("")
        self.setVisible(False)

    def show_result(self, ok: bool, error: str | None = None) -> None:
        """The result of the ``call.wrap_up`` request for the shown call."""
        if ok:
            self._saved = True
            self.status.setText(self.tr("Saved."))
            self.status.setStyleSheet("color: #2e7d32;")
            if self._model is not None and not self._in_acw():
                self.setVisible(False)
        else:
            self.status.setText(self.tr("Not saved: %1").replace("%1", error or "?"))
            self.status.setStyleSheet("color: #b71c1c;")
        self._on_edit()

    # --- behaviour ---------------------------------------------------------------------------

    def _in_acw(self) -> bool:
        return self._model is not None and self._model.agent.state is AgentState.WORK_NOT_READY

    def _has_input(self) -> bool:
        return bool(self.notes.toPlainText().strip()) or bool(self.category.currentData())

    def _on_user_edit(self) -> None:
        self._saved = False  # changed after saving: unsaved again
        self._on_edit()

    def _on_edit(self) -> None:
        text = self.notes.toPlainText()
        too_long = len(text) > MAX_NOTES
        if too_long:
            self.status.setText(
                self.tr("Notes are too long (%1 of at most %2 characters).")
                .replace("%1", str(len(text)))
                .replace("%2", str(MAX_NOTES))
            )
            self.status.setStyleSheet("color: #b71c1c;")
        self.save_button.setEnabled(
            self._call_id is not None and self._has_input() and not too_long
        )

    def _on_change(self, _change: Change) -> None:
        model = self._model
        if model is None:
            return
        agent = model.agent
        if agent.state is AgentState.WORK_NOT_READY and agent.call_id is not None:
            self.start(agent.call_id)
        elif self.isVisible() and (self._saved or not self._has_input()):
            self.setVisible(False)

    def save(self) -> bool:
        """Emit the notes (the Save button); False when there is nothing valid to save."""
        self._on_edit()
        if not self.save_button.isEnabled() or self._call_id is None:
            return False
        self.status.setText(self.tr("Saving…"))
        self.status.setStyleSheet("")
        self.wrap_up_requested.emit(
            self._call_id, self.notes.toPlainText().strip(), str(self.category.currentData() or "")
        )
        return True
