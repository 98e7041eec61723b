"""The login dialog: remembered fields, inline validation, device test round trip and
the credentials it returns."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt

from agent_desktop.ui.login import LoginDialog, server_url_problem

LEFT = Qt.MouseButton.LeftButton


@dataclass
class RememberedPrefs:
    """The attributes of ``agent_desktop.model.prefs.Prefs`` the dialog reads."""

    server_url: str = "ws://10.0.0.5:8765/cti"
    web_url: str = ""
    sip_registrar: str = ""
    agent_id: str = "1001"
    language: str = "zh_CN"
    auto_answer: bool = True
    mic: str | None = "USB Headset"
    speaker: str | None = "USB Headset"
    ringer: str | None = "Unplugged speaker"


def make_dialog(qtbot, prefs=None) -> LoginDialog:
    dialog = LoginDialog(
        prefs,
        microphones=["Built-in mic", "USB Headset"],
        speakers=["Built-in speaker", "USB Headset"],
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_fields_come_from_the_remembered_prefs(qtbot) -> None:
    dialog = make_dialog(qtbot, RememberedPrefs())
    assert dialog.server.text() == "ws://10.0.0.5:8765/cti"
    assert dialog.agent.text() == "1001"
    assert dialog.language.currentData() == "zh_CN"
    assert dialog.language.currentText() == "简体中文"
    assert dialog.auto_answer.isChecked()
    assert dialog.mic.currentData() == "USB Headset"
    # A remembered device that is no longer there stays selected, marked.
    assert dialog.ringer.currentText() == "Unplugged speaker (?)"
    assert dialog.password.echoMode() is dialog.password.EchoMode.Password
    qtbot.keyClicks(dialog.password, "demo")
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.login_button, LEFT)
    creds = dialog.credentials()
    assert (creds.server_url, creds.agent_id, creds.password, creds.language) == (
        "ws://10.0.0.5:8765/cti",
        "1001",
        "demo",
        "zh_CN",
    )
    assert (creds.mic, creds.speaker, creds.ringer, creds.auto_answer) == (
        "USB Headset",
        "USB Headset",
        "Unplugged speaker",
        True,
    )
    assert "demo" not in repr(creds)


def test_empty_and_malformed_input_is_explained_inline(qtbot) -> None:
    dialog = make_dialog(qtbot)
    qtbot.mouseClick(dialog.login_button, LEFT)
    assert dialog.isVisible()  # not accepted
    assert dialog.server_error.text() == "Enter the server address."
    assert dialog.agent_error.text() == "Enter your agent ID."
    assert dialog.password_error.text() == "Enter your password."
    qtbot.keyClicks(dialog.server, "http://cti:8765")
    qtbot.keyClicks(dialog.agent, "10 01")
    qtbot.keyClicks(dialog.password, "demo")
    assert not dialog.server_error.isVisible()  # typing clears the old messages
    qtbot.mouseClick(dialog.login_button, LEFT)
    assert dialog.isVisible()
    assert dialog.server_error.text() == "The address must start with ws:// or wss://."
    assert dialog.agent_error.text() == "The agent ID cannot contain spaces."
    assert not dialog.password_error.isVisible()
    dialog.server.setText("wss://cti.example.net:99999/cti")
    dialog.agent.setText("1001")
    dialog.web.setText("ftp://panels")
    assert not dialog.validate()
    assert dialog.server_error.text() == "The port of the address is not valid."
    assert dialog.web_error.isVisible() and dialog.advanced.isVisible()
    dialog.server.setText("wss://cti.example.net/cti")
    dialog.web.setText("https://cti.example.net/ui")
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.login_button, LEFT)
    assert dialog.credentials().web_url == "https://cti.example.net/ui"
    assert dialog.credentials().mic is None  # the system default


def test_server_address_rules() -> None:
    assert server_url_problem("ws://127.0.0.1:8765") is None
    assert server_url_problem("WSS://cti.example.net/cti") is None
    assert server_url_problem("  ") == "empty"
    assert server_url_problem("cti.example.net:8765") == "scheme"
    assert server_url_problem("ws://:8765/") == "host"
    assert server_url_problem("ws://cti:port/") == "port"
    assert server_url_problem("ws://cti:0/") == "port"


def test_device_test_round_trip(qtbot) -> None:
    dialog = make_dialog(qtbot)
    dialog.speaker.setCurrentIndex(dialog.speaker.findData("USB Headset"))
    with qtbot.waitSignal(dialog.test_devices_requested) as asked:
        qtbot.mouseClick(dialog.test_button, LEFT)
    assert asked.args == ["", "USB Headset", ""]
    assert not dialog.test_button.isEnabled()  # one test at a time
    dialog.show_device_test_result(False, "no microphone signal")
    assert dialog.test_button.isEnabled()
    assert dialog.test_result.text() == "Device test failed. no microphone signal"
    dialog.show_device_test_result(True)
    assert dialog.test_result.text() == "Devices work."
    dialog.set_devices(["New mic"], ["Built-in speaker"], ["Built-in speaker"])
    assert [dialog.mic.itemText(i) for i in range(dialog.mic.count())] == [
        "System default",
        "New mic",
    ]
    dialog.show_error("Wrong agent ID or password.")
    assert dialog.form_error.isVisible()
