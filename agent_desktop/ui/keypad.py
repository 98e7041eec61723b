"""A DTMF keypad: twelve buttons (and the same keys on the keyboard), nothing else.

There is no text field, so an invalid digit cannot be entered; the keypad shows the
digits sent so far and emits each one as it is pressed.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

DTMF_KEYS = "123456789*0#"
MAX_SHOWN = 32


class KeypadWidget(QWidget):
    """Emits ``digit_pressed(str)`` for 0-9, ``*`` and ``#``."""

    digit_pressed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keypad")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.display = QLabel("", self)
        self.display.setObjectName("keypad_display")
        self.display.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.display.setMinimumHeight(24)
        self.display.setToolTip(self.tr("Digits sent"))
        grid = QGridLayout()
        grid.setSpacing(4)
        self.buttons: dict[str, QPushButton] = {}
        for index, key in enumerate(DTMF_KEYS):
            button = QPushButton(key, self)
            button.setObjectName(f"key_{key}")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setMinimumSize(40, 32)
            button.clicked.connect(lambda _checked=False, k=key: self.press(k))
            self.buttons[key] = button
            grid.addWidget(button, index // 3, index % 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.display)
        layout.addLayout(grid)

    def press(self, key: str) -> bool:
        """Press ``key`` as if clicked; anything but one DTMF key is ignored (False)."""
        if len(key) != 1 or key not in DTMF_KEYS or not self.isEnabled():
            return False
        self.display.setText((self.display.text() + key)[-MAX_SHOWN:])
        self.digit_pressed.emit(key)
        return True

    def clear(self) -> None:
        """Forget the digits shown (a new call)."""
        self.display.setText("")

    def digits(self) -> str:
        return self.display.text()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.press(event.text()):
            super().keyPressEvent(event)
