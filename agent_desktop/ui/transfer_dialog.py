"""Choose where a call goes: blind or consultative, to an agent, a queue or an IVR node
(the satisfaction survey, for instance), from the directory the server sent.

The dialog only chooses; it emits :attr:`TransferDialog.transfer_chosen` with a
protocol :data:`~shared.protocol.call.Destination` and never sends anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from shared.protocol.call import AgentDestination, Destination, IvrDestination, QueueDestination
from shared.protocol.desktop import DesktopDirectory

_DEST_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True, slots=True)
class TransferDirectory:
    """Transfer targets: ``agents`` and ``queues`` as ``(id, label)``, ``ivr`` as
    ``(flow_id, node or None, label)``."""

    agents: tuple[tuple[str, str], ...] = ()
    queues: tuple[tuple[str, str], ...] = ()
    ivr: tuple[tuple[str, str | None, str], ...] = ()

    @classmethod
    def from_directory(cls, directory: DesktopDirectory) -> TransferDirectory:
        """The targets of the server's ``desktop.directory`` result."""
        return cls(
            agents=tuple((a.agent_id, a.display_name) for a in directory.agents),
            queues=tuple((q.queue_id, q.name) for q in directory.queues),
            ivr=tuple((t.flow_id, t.node, t.label) for t in directory.ivr_targets),
        )


class TransferDialog(QDialog):
    """Emits ``transfer_chosen(destination, consult: bool)`` when the agent confirms."""

    transfer_chosen = Signal(object, bool)

    def __init__(
        self,
        directory: TransferDirectory,
        *,
        allow_blind: bool = True,
        allow_consult: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("transfer_dialog")
        self.setWindowTitle(self.tr("Transfer call"))
        self.blind = QRadioButton(self.tr("Blind transfer"), self)
        self.blind.setObjectName("transfer_blind")
        self.consultative = QRadioButton(self.tr("Consult first"), self)
        self.consultative.setObjectName("transfer_consult")
        self.blind.setEnabled(allow_blind)
        self.consultative.setEnabled(allow_consult)
        group = QButtonGroup(self)
        group.addButton(self.blind)
        group.addButton(self.consultative)
        (self.blind if allow_blind or not allow_consult else self.consultative).setChecked(True)
        modes = QHBoxLayout()
        modes.addWidget(self.blind)
        modes.addWidget(self.consultative)
        modes.addStretch(1)

        self.filter = QLineEdit(self)
        self.filter.setObjectName("transfer_filter")
        self.filter.setPlaceholderText(self.tr("Search"))
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)

        self.tabs = QTabWidget(self)
        self.agents = self._list(
            [
                (f"{label} ({aid})", AgentDestination(agent_id=aid))
                for aid, label in directory.agents
            ]
        )
        self.queues = self._list(
            [(label, QueueDestination(queue_id=qid)) for qid, label in directory.queues]
        )
        self.ivr = self._list(
            [(label, IvrDestination(flow_id=fid, node=node)) for fid, node, label in directory.ivr]
        )
        self.tabs.addTab(self.agents, self.tr("Agents"))
        self.tabs.addTab(self.queues, self.tr("Queues"))
        self.tabs.addTab(self.ivr, self.tr("IVR"))
        self.tabs.currentChanged.connect(lambda _i: self._update_ok())

        self.hint = QLabel(self)
        self.hint.setObjectName("transfer_hint")
        self.hint.setStyleSheet("color: #b71c1c;")

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        ok = self.ok_button
        ok.setText(self.tr("Transfer"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.blind.toggled.connect(lambda _c: self._update_ok())

        layout = QVBoxLayout(self)
        layout.addLayout(modes)
        layout.addWidget(self.filter)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)
        self.resize(360, 420)
        self._update_ok()

    @property
    def ok_button(self) -> QPushButton:
        button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert button is not None
        return button

    def _list(self, entries: list[tuple[str, Destination]]) -> QListWidget:
        widget = QListWidget(self)
        for label, destination in entries:
            item = QListWidgetItem(label)
            item.setData(_DEST_ROLE, destination)
            widget.addItem(item)
        widget.currentItemChanged.connect(lambda _a, _b: self._update_ok())
        widget.itemDoubleClicked.connect(lambda _item: self.accept())
        return widget

    def _current_list(self) -> QListWidget:
        current = self.tabs.currentWidget()
        assert isinstance(current, QListWidget)
        return current

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().casefold()
        for widget in (self.agents, self.queues, self.ivr):
            for row in range(widget.count()):
                item = widget.item(row)
                item.setHidden(bool(needle) and needle not in item.text().casefold())
        self._update_ok()

    def destination(self) -> Destination | None:
        """The selected target (``None`` when nothing visible is selected)."""
        item = self._current_list().currentItem()
        if item is None or item.isHidden():
            return None
        value = item.data(_DEST_ROLE)
        if isinstance(value, AgentDestination | QueueDestination | IvrDestination):
            return value
        return None

    def consult(self) -> bool:
        return self.consultative.isChecked()

    def _update_ok(self) -> None:
        has_target = self.destination() is not None
        mode_ok = self.consultative.isEnabled() if self.consult() else self.blind.isEnabled()
        self.ok_button.setEnabled(has_target and mode_ok)
        self.hint.setText("" if has_target else self.tr("Choose a target."))

    def accept(self) -> None:
        destination = self.destination()
        if destination is None or not self.ok_button.isEnabled():
            return
        self.transfer_chosen.emit(destination, self.consult())
        super().accept()
