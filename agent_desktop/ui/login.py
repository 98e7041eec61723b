"""The login dialog: server address (remembered), agent id, password, language,
auto-answer and the audio devices, with a "Test devices" button.

Fields are prefilled from the remembered preferences (any object with the attributes
of :class:`PrefsLike`, e.g. ``agent_desktop.model.prefs.Prefs``). "Log in" validates
the input (inline messages next to the fields) and closes the dialog only when it is
valid; :meth:`LoginDialog.credentials` then returns what the agent entered. The dialog
never connects anything itself: the device test is a signal, its result comes back
through :meth:`LoginDialog.show_device_test_result`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

LANGUAGES: dict[str, str] = {"en": "English", "zh_CN": "简体中文"}
"""Language code → its name in itself."""
ERROR_STYLE = "color: #b71c1c;"


class PrefsLike(Protocol):
    """What the dialog reads from the remembered preferences."""

    @property
    def server_url(self) -> str: ...
    @property
    def web_url(self) -> str: ...
    @property
    def sip_registrar(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def auto_answer(self) -> bool: ...
    @property
    def mic(self) -> str | None: ...
    @property
    def speaker(self) -> str | None: ...
    @property
    def ringer(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class LoginCredentials:
    """What the agent entered (the password is masked in ``repr``)."""

    server_url: str
    agent_id: str
    password: str = field(repr=False)
    language: str
    auto_answer: bool
    mic: str | None
    speaker: str | None
    ringer: str | None
    web_url: str = ""
    """Empty: derive it from the server."""
    sip_registrar: str = ""
    """Empty: use the one the server announces."""


def server_url_problem(url: str) -> str | None:
    """Why ``url`` is not a CTI server address (``ws://host:port/...``), else None.
    Returns an English key for the UI: ``empty``, ``scheme``, ``host`` or ``port``."""
    url = url.strip()
    if not url:
        return "empty"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "port"
    if parts.scheme.lower() not in ("ws", "wss"):
        return "scheme"
    if not parts.hostname or any(c.isspace() for c in url):
        return "host"
    if port is not None and port == 0:
        return "port"
    return None


def web_url_problem(url: str) -> str | None:
    url = url.strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return "port"
    if parts.scheme.lower() not in ("http", "https"):
        return "scheme"
    if not parts.hostname or any(c.isspace() for c in url):
        return "host"
    return None


class LoginDialog(QDialog):
    """Signals: ``test_devices_requested(mic, speaker, ringer)`` (``""`` = default
    device). Methods: :meth:`set_devices`, :meth:`show_device_test_result`,
    :meth:`show_error`, :meth:`validate`, :meth:`credentials`."""

    test_devices_requested = Signal(str, str, str)

    def __init__(
        self,
        prefs: PrefsLike | None = None,
        *,
        microphones: Sequence[str] = (),
        speakers: Sequence[str] = (),
        ringers: Sequence[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("login_dialog")
        self.setWindowTitle(self.tr("OpenCC agent desktop — log in"))

        self.server = QLineEdit(self)
        self.server.setObjectName("login_server")
        self.server.setPlaceholderText("ws://cti.example.net:8765/cti")
        self.server_error = self._error_label("login_server_error")
        self.agent = QLineEdit(self)
        self.agent.setObjectName("login_agent")
        self.agent.setMaxLength(64)
        self.agent_error = self._error_label("login_agent_error")
        self.password = QLineEdit(self)
        self.password.setObjectName("login_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setMaxLength(512)
        self.password_error = self._error_label("login_password_error")
        self.language = QComboBox(self)
        self.language.setObjectName("login_language")
        for code, name in LANGUAGES.items():
            self.language.addItem(name, code)
        self.auto_answer = QCheckBox(self.tr("Answer calls automatically"), self)
        self.auto_answer.setObjectName("login_auto_answer")

        self.mic = QComboBox(self)
        self.mic.setObjectName("login_mic")
        self.speaker = QComboBox(self)
        self.speaker.setObjectName("login_speaker")
        self.ringer = QComboBox(self)
        self.ringer.setObjectName("login_ringer")
        self.test_button = QPushButton(self.tr("Test devices"), self)
        self.test_button.setObjectName("login_test_devices")
        self.test_button.clicked.connect(lambda _c=False: self._test_devices())
        self.test_result = QLabel(self)
        self.test_result.setObjectName("login_test_result")
        self.test_result.setWordWrap(True)

        self.advanced_toggle = QToolButton(self)
        self.advanced_toggle.setText(self.tr("Advanced"))
        self.advanced_toggle.setCheckable(True)
        self.advanced = QWidget(self)
        self.web = QLineEdit(self.advanced)
        self.web.setObjectName("login_web")
        self.web.setPlaceholderText(self.tr("derived from the server address"))
        self.web_error = self._error_label("login_web_error")
        self.registrar = QLineEdit(self.advanced)
        self.registrar.setObjectName("login_registrar")
        self.registrar.setPlaceholderText(self.tr("announced by the server"))
        advanced_form = QFormLayout(self.advanced)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        advanced_form.addRow(self.tr("Web panels"), self.web)
        advanced_form.addRow("", self.web_error)
        advanced_form.addRow(self.tr("SIP registrar"), self.registrar)
        self.advanced.setVisible(False)
        self.advanced_toggle.toggled.connect(self.advanced.setVisible)

        self.form_error = self._error_label("login_form_error")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.login_button.setText(self.tr("Log in"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow(self.tr("Server"), self.server)
        form.addRow("", self.server_error)
        form.addRow(self.tr("Agent ID"), self.agent)
        form.addRow("", self.agent_error)
        form.addRow(self.tr("Password"), self.password)
        form.addRow("", self.password_error)
        form.addRow(self.tr("Language"), self.language)
        form.addRow("", self.auto_answer)
        form.addRow(self.tr("Microphone"), self.mic)
        form.addRow(self.tr("Speaker"), self.speaker)
        form.addRow(self.tr("Ringer"), self.ringer)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        form.addRow("", test_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced_toggle)
        layout.addWidget(self.advanced)
        layout.addWidget(self.form_error)
        layout.addWidget(self.buttons)

        self.set_devices(microphones, speakers, speakers if ringers is None else ringers)
        if prefs is not None:
            self._prefill(prefs)
        for edit in (self.server, self.agent, self.password, self.web):
            edit.textEdited.connect(lambda _t: self._clear_errors())
        (self.password if self.agent.text() else self.agent).setFocus()

    def _error_label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setStyleSheet(ERROR_STYLE)
        label.setVisible(False)
        return label

    @property
    def login_button(self) -> QPushButton:
        button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert button is not None
        return button

    # --- inputs ----------------------------------------------------------------------------

    def _prefill(self, prefs: PrefsLike) -> None:
        self.server.setText(prefs.server_url or "")
        self.agent.setText(prefs.agent_id or "")
        index = self.language.findData(prefs.language)
        self.language.setCurrentIndex(max(0, index))
        self.auto_answer.setChecked(bool(prefs.auto_answer))
        self.web.setText(prefs.web_url or "")
        self.registrar.setText(prefs.sip_registrar or "")
        if prefs.web_url or prefs.sip_registrar:
            self.advanced_toggle.setChecked(True)
        self._select(self.mic, prefs.mic)
        self._select(self.speaker, prefs.speaker)
        self._select(self.ringer, prefs.ringer)

    def set_devices(
        self, microphones: Sequence[str], speakers: Sequence[str], ringers: Sequence[str]
    ) -> None:
        """The audio devices to choose from; the first entry is always "System default"."""
        for combo, names in (
            (self.mic, microphones),
            (self.speaker, speakers),
            (self.ringer, ringers),
        ):
            current = combo.currentData()
            combo.clear()
            combo.addItem(self.tr("System default"), "")
            for name in names:
                combo.addItem(name, name)
            self._select(combo, current if isinstance(current, str) else None)

    @staticmethod
    def _select(combo: QComboBox, device: str | None) -> None:
        if not device:
            combo.setCurrentIndex(0)
            return
        index = combo.findData(device)
        if index < 0:  # a remembered device that is gone: keep it visible, marked
            combo.addItem(device + " (?)", device)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    def show_device_test_result(self, ok: bool, detail: str = "") -> None:
        """What the softphone's device test found."""
        self.test_button.setEnabled(True)
        text = self.tr("Devices work.") if ok else self.tr("Device test failed.")
        self.test_result.setText(f"{text} {detail}".strip())
        self.test_result.setStyleSheet("color: #2e7d32;" if ok else ERROR_STYLE)

    def show_error(self, text: str) -> None:
        """A login failure reported by the controller (wrong password, server down …)."""
        self.form_error.setText(text)
        self.form_error.setVisible(bool(text))

    # --- validation --------------------------------------------------------------------------

    def _clear_errors(self) -> None:
        for label in (
            self.server_error,
            self.agent_error,
            self.password_error,
            self.web_error,
            self.form_error,
        ):
            label.setVisible(False)
            label.setText("")

    @staticmethod
    def _show(label: QLabel, text: str | None) -> None:
        label.setText(text or "")
        label.setVisible(bool(text))

    def validate(self) -> bool:
        """Check every field, show inline messages; True when the input is valid."""
        self._clear_errors()
        server_texts = {
            "empty": self.tr("Enter the server address."),
            "scheme": self.tr("The address must start with ws:// or wss://."),
            "host": self.tr("The address has no valid host name."),
            "port": self.tr("The port of the address is not valid."),
        }
        problem = server_url_problem(self.server.text())
        self._show(self.server_error, server_texts[problem] if problem else None)
        agent = self.agent.text().strip()
        agent_problem = None
        if not agent:
            agent_problem = self.tr("Enter your agent ID.")
        elif any(c.isspace() for c in agent):
            agent_problem = self.tr("The agent ID cannot contain spaces.")
        self._show(self.agent_error, agent_problem)
        password_problem = None if self.password.text() else self.tr("Enter your password.")
        self._show(self.password_error, password_problem)
        web_problem = web_url_problem(self.web.text())
        web_text = self.tr("The web address must be http:// or https:// with a host name.")
        self._show(self.web_error, web_text if web_problem else None)
        if web_problem:
            self.advanced_toggle.setChecked(True)
        return not (problem or agent_problem or password_problem or web_problem)

    def accept(self) -> None:
        if self.validate():
            super().accept()

    def credentials(self) -> LoginCredentials:
        """What the agent entered (call after the dialog was accepted)."""

        def device(combo: QComboBox) -> str | None:
            value = combo.currentData()
            return value if isinstance(value, str) and value else None

        return LoginCredentials(
            server_url=self.server.text().strip(),
            agent_id=self.agent.text().strip(),
            password=self.password.text(),
            language=str(self.language.currentData() or "en"),
            auto_answer=self.auto_answer.isChecked(),
            mic=device(self.mic),
            speaker=device(self.speaker),
            ringer=device(self.ringer),
            web_url=self.web.text().strip(),
            sip_registrar=self.registrar.text().strip(),
        )

    def _test_devices(self) -> None:
        creds = self.credentials()
        self.test_button.setEnabled(False)
        self.test_result.setText(self.tr("Testing…"))
        self.test_result.setStyleSheet("")
        self.test_devices_requested.emit(creds.mic or "", creds.speaker or "", creds.ringer or "")
