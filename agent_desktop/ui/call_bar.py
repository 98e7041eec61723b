"""Call control buttons for the agent's calls, driven by :class:`DesktopModel`.

Every button is enabled only when :meth:`DesktopModel.can` allows its action for the
call the bar shows, so a user cannot click "answer" on a call that is not ringing.
The bar never sends anything: it emits the user's intent with the call id and the
lead's controller turns it into a CTI request (or a softphone call in offline mode).

Which call the bar shows: the one the agent picked in the call selector (shown when
there is more than one call), else the most pressing one (ringing, then talking, then
held; the newest first). A consultation pairs the held original with its consultation
call: "complete transfer", "conference" and "reconnect" act on that pair.

Offline mode (CTI link down, basic ACD): only the softphone's own call is known;
answer / release / mute / keypad act on it by softphone key (:meth:`set_local_call`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal, SignalInstance
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.model.state import Action, CallPhase, CallView, Change, DesktopModel
from agent_desktop.ui.keypad import KeypadWidget
from agent_desktop.ui.transfer_dialog import TransferDialog, TransferDirectory
from agent_desktop.ui.widgets_common import Clock, format_duration, wall_clock
from shared.protocol.call import Destination

_PRIORITY = {
    CallPhase.OFFERED: 0,
    CallPhase.ESTABLISHED: 1,
    CallPhase.CONFERENCED: 1,
    CallPhase.HELD: 2,
}
LOCAL_STATES = ("ringing", "confirmed", "held", "disconnected")
"""Softphone call states (``Softphone.call_changed``) for :meth:`CallBar.set_local_call`."""


class CallBar(QWidget):
    """Answer, release, hold/retrieve, transfer, complete transfer, conference,
    reconnect, mute, keypad and a call timer for the call the bar shows."""

    answer_requested = Signal(str)
    release_requested = Signal(str)
    hold_requested = Signal(str)
    retrieve_requested = Signal(str)
    transfer_requested = Signal(str, object, bool)
    """``(call_id, destination, consult)``: blind transfer or start a consultation."""
    complete_transfer_requested = Signal(str, str)
    """``(held call_id, consult_call_id)``."""
    conference_requested = Signal(str, str)
    reconnect_requested = Signal(str, str)
    mute_toggled = Signal(bool)
    dtmf_requested = Signal(str, str)
    """``(call_id, digits)``."""

    def __init__(
        self,
        model: DesktopModel,
        *,
        directory: TransferDirectory | None = None,
        clock: Clock = wall_clock,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("call_bar")
        self._clock = clock
        self._directory = directory or TransferDirectory()
        self._model = model
        self._unsubscribe: Callable[[], None] = model.subscribe(self._on_change)
        self._pinned: str | None = None
        self._known_ids: frozenset[str] = frozenset()
        self._shown: str | None = None
        self._offline = False
        self._local_key: str | None = None
        self._local_state: str | None = None
        self._local_remote: str | None = None
        self._local_since = 0.0
        self.transfer_dialog: TransferDialog | None = None

        self.selector = QComboBox(self)
        self.selector.setObjectName("call_selector")
        self.selector.activated.connect(self._on_selected)
        self.call_label = QLabel(self)
        self.call_label.setObjectName("call_label")
        self.timer_label = QLabel(self)
        self.timer_label.setObjectName("call_timer")

        def button(name: str, text: str, slot: Callable[[], None]) -> QPushButton:
            b = QPushButton(text, self)
            b.setObjectName(name)
            b.clicked.connect(lambda _checked=False: slot())
            return b

        self.answer_button = button("answer", self.tr("Answer"), self._answer)
        self.release_button = button("release", self.tr("Release"), self._release)
        self.hold_button = button("hold", self.tr("Hold"), self._hold)
        self.transfer_button = button("transfer", self.tr("Transfer…"), self._open_transfer)
        self.complete_button = button(
            "complete_transfer", self.tr("Complete transfer"), self._complete
        )
        self.conference_button = button("conference", self.tr("Conference"), self._conference)
        self.reconnect_button = button("reconnect", self.tr("Reconnect"), self._reconnect)
        self.mute_button = QPushButton(self.tr("Mute"), self)
        self.mute_button.setObjectName("mute")
        self.mute_button.setCheckable(True)
        self.mute_button.toggled.connect(self._on_mute)
        self.keypad_button = QPushButton(self.tr("Keypad"), self)
        self.keypad_button.setObjectName("keypad_toggle")
        self.keypad_button.setCheckable(True)
        self.keypad = KeypadWidget(self)
        self.keypad.setVisible(False)
        self.keypad.digit_pressed.connect(self._on_digit)
        self.keypad_button.toggled.connect(self.keypad.setVisible)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for w in (
            self.selector,
            self.call_label,
            self.timer_label,
            self.answer_button,
            self.release_button,
            self.hold_button,
            self.transfer_button,
            self.complete_button,
            self.conference_button,
            self.reconnect_button,
            self.mute_button,
            self.keypad_button,
        ):
            row.addWidget(w)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.keypad)

        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self.tick)
        self._ticker.start()
        self.destroyed.connect(lambda _obj=None, u=self._unsubscribe: u())
        self.refresh()

    # --- inputs --------------------------------------------------------------------------

    @property
    def model(self) -> DesktopModel:
        return self._model

    def set_model(self, model: DesktopModel) -> None:
        """Follow another model (a new login)."""
        self._unsubscribe()
        self._model = model
        unsubscribe = model.subscribe(self._on_change)
        self._unsubscribe = unsubscribe
        self.destroyed.connect(lambda _obj=None, u=unsubscribe: u())
        self._pinned = None
        self.refresh()

    def set_directory(self, directory: TransferDirectory) -> None:
        self._directory = directory

    def set_offline(self, offline: bool) -> None:
        """CTI link down: only the softphone's own call (see :meth:`set_local_call`)."""
        self._offline = offline
        if not offline:
            self._local_key = self._local_state = self._local_remote = None
        self.refresh()

    @property
    def offline(self) -> bool:
        return self._offline

    def set_local_call(
        self, key: str | None, state: str | None = None, remote: str | None = None
    ) -> None:
        """The softphone's call in offline mode: ``state`` is ``ringing``,
        ``confirmed``, ``held`` or ``disconnected`` (``None``/disconnected = no call)."""
        if state is not None and state not in LOCAL_STATES:
            raise ValueError(f"unknown softphone call state {state!r}")
        if key is None or state in (None, "disconnected"):
            self._local_key = self._local_state = self._local_remote = None
        else:
            if key != self._local_key or state != self._local_state:
                self._local_since = self._clock()
            self._local_key, self._local_state = key, state
            self._local_remote = remote or self._local_remote
        self.refresh()

    def set_muted(self, muted: bool) -> None:
        """Show the softphone's mute state without emitting :attr:`mute_toggled`."""
        self.mute_button.blockSignals(True)
        self.mute_button.setChecked(muted)
        self.mute_button.blockSignals(False)

    def select_call(self, call_id: str) -> None:
        """Show ``call_id`` (as if the agent picked it in the selector)."""
        if call_id in {c.call_id for c in self._model.active_calls()}:
            self._pinned = call_id
            self.refresh()

    # --- what is shown -------------------------------------------------------------------

    @property
    def current_call_id(self) -> str | None:
        """The call the buttons act on (the softphone key in offline mode)."""
        if self._offline:
            return self._local_key
        return self._shown

    def _pick(self) -> CallView | None:
        active = self._model.active_calls()
        ids = frozenset(c.call_id for c in active)
        if ids != self._known_ids:
            self._known_ids = ids
            self._pinned = None  # a call came or went: show the most pressing one again
        if self._pinned in ids:
            return self._model.calls[self._pinned]
        if not active:
            return None
        return min(active, key=lambda c: (_PRIORITY.get(c.phase, 9), -c.since))

    def _consult_pair(self, call: CallView | None) -> tuple[str, str] | None:
        """``(held original, consultation)`` around ``call`` if it is part of one."""
        if call is None:
            return None
        calls = self._model.calls
        if call.consult_of is not None and call.consult_of in calls:
            return call.consult_of, call.call_id
        for other in self._model.active_calls():
            if other.consult_of == call.call_id:
                return call.call_id, other.call_id
        return None

    def _on_change(self, _change: Change) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-read the model (called on every model change)."""
        if self._offline:
            self._refresh_offline()
        else:
            self._refresh_online()
        self._close_keypad_if_unavailable()
        self.tick()

    def _refresh_online(self) -> None:
        model = self._model
        call = self._pick()
        call_id = call.call_id if call is not None else None
        if call_id != self._shown:
            self.keypad.clear()
        self._shown = call_id
        self._fill_selector(call_id)
        if call is None:
            self.call_label.setText(self.tr("No call"))
        else:
            who = call.customer_name or call.caller or self.tr("Unknown caller")
            self.call_label.setText(f"{who} · {self._phase_text(call.phase)}")

        def can(action: Action, cid: str | None = call_id) -> bool:
            return cid is not None and model.can(action, cid)

        self.answer_button.setEnabled(can(Action.ANSWER))
        self.release_button.setEnabled(can(Action.RELEASE))
        if can(Action.RETRIEVE):
            self.hold_button.setText(self.tr("Retrieve"))
            self.hold_button.setEnabled(True)
        else:
            self.hold_button.setText(self.tr("Hold"))
            self.hold_button.setEnabled(can(Action.HOLD))
        self.transfer_button.setEnabled(can(Action.TRANSFER) or can(Action.CONSULT))
        pair = self._consult_pair(call)
        original = pair[0] if pair is not None else None
        self.complete_button.setEnabled(can(Action.COMPLETE_TRANSFER, original))
        self.conference_button.setEnabled(can(Action.CONFERENCE, original))
        self.reconnect_button.setEnabled(can(Action.RECONNECT, original))
        talking = call is not None and call.phase in (
            CallPhase.ESTABLISHED,
            CallPhase.HELD,
            CallPhase.CONFERENCED,
        )
        self._set_mute_available(talking)
        dtmf = can(Action.DTMF)
        self.keypad_button.setEnabled(dtmf)
        self.keypad.setEnabled(dtmf)

    def _refresh_offline(self) -> None:
        self.selector.setVisible(False)
        state = self._local_state
        key = self._local_key
        if key is None:
            self.call_label.setText(self.tr("No call (CTI offline)"))
        else:
            who = self._local_remote or self.tr("Unknown caller")
            self.call_label.setText(f"{who} · {self._local_text(state)}")
        self.answer_button.setEnabled(state == "ringing")
        self.release_button.setEnabled(state in ("ringing", "confirmed", "held"))
        self.hold_button.setText(self.tr("Hold"))
        for b in (
            self.hold_button,
            self.transfer_button,
            self.complete_button,
            self.conference_button,
            self.reconnect_button,
        ):
            b.setEnabled(False)
        confirmed = state == "confirmed"
        self._set_mute_available(confirmed)
        self.keypad_button.setEnabled(confirmed)
        self.keypad.setEnabled(confirmed)
        if key != self._shown:
            self.keypad.clear()
            self._shown = key

    def _set_mute_available(self, available: bool) -> None:
        self.mute_button.setEnabled(available)
        if not available and self.mute_button.isChecked():
            self.mute_button.setChecked(False)  # the call ended: un-mute (emits mute_toggled)

    def _close_keypad_if_unavailable(self) -> None:
        if not self.keypad_button.isEnabled() and self.keypad_button.isChecked():
            self.keypad_button.setChecked(False)

    def _fill_selector(self, current: str | None) -> None:
        active = sorted(self._model.active_calls(), key=lambda c: c.since)
        self.selector.blockSignals(True)
        self.selector.clear()
        for c in active:
            label = c.customer_name or c.caller or c.call_id
            self.selector.addItem(f"{label} · {self._phase_text(c.phase)}", c.call_id)
        if current is not None:
            self.selector.setCurrentIndex(self.selector.findData(current))
        self.selector.blockSignals(False)
        self.selector.setVisible(len(active) > 1)

    def _on_selected(self, index: int) -> None:
        call_id = self.selector.itemData(index)
        if isinstance(call_id, str):
            self.select_call(call_id)

    def _phase_text(self, phase: CallPhase) -> str:
        return {
            CallPhase.OFFERED: self.tr("Ringing"),
            CallPhase.ESTABLISHED: self.tr("Talking"),
            CallPhase.HELD: self.tr("On hold"),
            CallPhase.CONFERENCED: self.tr("Conference"),
            CallPhase.CLEARED: self.tr("Ended"),
        }[phase]

    def _local_text(self, state: str | None) -> str:
        return {
            "ringing": self.tr("Ringing"),
            "confirmed": self.tr("Talking"),
            "held": self.tr("On hold"),
        }.get(state or "", "")

    def tick(self) -> None:
        """Update the call timer (every second)."""
        now = self._clock()
        if self._offline:
            since = self._local_since if self._local_key is not None else None
        else:
            call = self._model.calls.get(self._shown) if self._shown is not None else None
            since = call.since if call is not None else None
        self.timer_label.setText("" if since is None else format_duration(now - since))

    # --- user intents ----------------------------------------------------------------------

    def _answer(self) -> None:
        if self.answer_button.isEnabled() and (cid := self.current_call_id) is not None:
            self.answer_requested.emit(cid)

    def _release(self) -> None:
        if self.release_button.isEnabled() and (cid := self.current_call_id) is not None:
            self.release_requested.emit(cid)

    def _hold(self) -> None:
        cid = self.current_call_id
        if self._offline or cid is None:
            return
        if self._model.can(Action.RETRIEVE, cid):
            self.retrieve_requested.emit(cid)
        elif self._model.can(Action.HOLD, cid):
            self.hold_requested.emit(cid)

    def _pair_action(self, action: Action, signal: SignalInstance) -> None:
        if self._offline or self._shown is None:
            return
        pair = self._consult_pair(self._model.calls.get(self._shown))
        if pair is not None and self._model.can(action, pair[0]):
            signal.emit(pair[0], pair[1])

    def _complete(self) -> None:
        self._pair_action(Action.COMPLETE_TRANSFER, self.complete_transfer_requested)

    def _conference(self) -> None:
        self._pair_action(Action.CONFERENCE, self.conference_requested)

    def _reconnect(self) -> None:
        self._pair_action(Action.RECONNECT, self.reconnect_requested)

    def _on_mute(self, checked: bool) -> None:
        self.mute_toggled.emit(checked)

    def _on_digit(self, digit: str) -> None:
        cid = self.current_call_id
        if cid is None or not self.keypad_button.isEnabled():
            return
        self.dtmf_requested.emit(cid, digit)

    def _open_transfer(self) -> None:
        self.open_transfer()

    def open_transfer(self) -> TransferDialog | None:
        """Open the transfer dialog for the shown call (non-blocking); returns it."""
        cid = self.current_call_id
        if self._offline or cid is None or not self.transfer_button.isEnabled():
            return None
        if self.transfer_dialog is not None:
            self.transfer_dialog.close()
            self.transfer_dialog.deleteLater()
        dialog = TransferDialog(
            self._directory,
            allow_blind=self._model.can(Action.TRANSFER, cid),
            allow_consult=self._model.can(Action.CONSULT, cid),
            parent=self,
        )
        dialog.transfer_chosen.connect(
            lambda destination, consult, c=cid: self._transfer_chosen(c, destination, consult)
        )
        self.transfer_dialog = dialog
        dialog.open()
        return dialog

    def _transfer_chosen(self, call_id: str, destination: Destination, consult: bool) -> None:
        action = Action.CONSULT if consult else Action.TRANSFER
        if self._offline or not self._model.can(action, call_id):
            return  # the call moved on while the dialog was open
        self.transfer_requested.emit(call_id, destination, consult)
