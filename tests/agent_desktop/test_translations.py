"""The Simplified Chinese translation of the desktop (issue 7): every source text has a
translation, the committed .qm is what the source and the glossary compile to, and real
widgets show Chinese once the language is installed (and English again afterwards)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QFont, QFontDatabase, QRawFont
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent_desktop.model.state import DesktopModel
from agent_desktop.resources import translation
from agent_desktop.ui import i18n
from agent_desktop.ui.call_bar import CallBar
from agent_desktop.ui.state_bar import StateBar

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "translations.py"
I18N = ROOT / "agent_desktop" / "i18n"
TS = I18N / "opencc_desktop_zh_CN.ts"
QM = I18N / "opencc_desktop_zh_CN.qm"
BIN = Path(sys.executable).parent


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("translations_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def chinese(qapp: QApplication) -> Iterator[QApplication]:
    assert i18n.install(qapp, "zh_CN")
    try:
        yield qapp
    finally:
        assert i18n.install(qapp, "en")


# --- the files ---------------------------------------------------------------------------


def test_every_source_text_has_a_chinese_translation() -> None:
    done = run_script("check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no zh_CN translation" not in done.stdout


def test_committed_qm_is_what_source_and_glossary_compile_to() -> None:
    done = run_script("verify")
    assert done.returncode == 0, done.stdout + done.stderr


def test_committed_qm_is_compiled_from_the_committed_ts(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.qm"
    subprocess.run(
        [str(BIN / "pyside6-lrelease"), str(TS), "-qm", str(fresh)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert fresh.read_bytes() == QM.read_bytes(), "run scripts/translations.py update"
    assert translation("zh_CN") == QM


def test_a_stale_qm_is_reported(
    script: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stale = tmp_path / "stale.qm"
    stale.write_bytes(QM.read_bytes()[:-8])
    monkeypatch.setattr(script, "QM", stale)
    assert script.main(["verify"]) == 1
    assert "stale" in capsys.readouterr().out


def test_glossary_lines_must_keep_placeholders_and_accelerators(script: ModuleType) -> None:
    assert script.problems({"Queue: %1": "队列：%1", "&Tile": "平铺(&T)"}) == []
    assert script.problems({"{a} / {b}": "{a} / {b}", "100%": "100%"}) == []
    found = script.problems(
        {
            "Queue: %1": "队列",
            "Notes are too long (%1 of at most %2 characters).": "过长（%2 / %2）",
            "{achieved} / {target}": "{达成} / {target}",
            "&Tile": "平铺",
            "Retry": "重试(&R)",
            "Save": " ",
        }
    )
    assert len(found) == 6, found
    assert any("Queue: %1" in line and "placeholders" in line for line in found)
    assert any("&Tile" in line and "accelerator" in line for line in found)
    assert any("empty translation" in line and "Save" in line for line in found)


def test_a_broken_glossary_is_a_clear_error(script: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(script.GlossaryError, match="no glossary file"):
        script.glossary(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('"Ready" = "置闲"\n"Ready" = "就绪"\n', encoding="utf-8")
    with pytest.raises(script.GlossaryError, match=r"bad\.toml"):
        script.glossary(bad)
    bad.write_text('"Ready" = 1\n', encoding="utf-8")
    with pytest.raises(script.GlossaryError, match="'Ready'"):
        script.glossary(bad)


def test_the_glossary_uses_the_web_panels_terms(script: ModuleType) -> None:
    """The desktop and the server's web panels name the same things alike."""
    from cti_server.web.i18n import MESSAGES

    table = script.glossary()
    web = {key: zh for key, (_en, zh) in MESSAGES.items()}
    assert table["Agent ID"] == web["agent_id"] == "工号"
    assert table["Password"] == web["password"]
    assert table["Contact history"] == web["nav_contacts"]
    assert table["Call trajectory"] == web["trajectory_title"]
    assert table["Notices"] == web["nav_notices"]
    assert table["Business categories"] == web["nav_categories"]
    assert table["Agent"] == web["role_agent"]
    assert table["Region"] == web["region"]


# --- real widgets -------------------------------------------------------------------------


def test_widgets_show_chinese_and_english_again_afterwards(
    chinese: QApplication, qtbot: QtBot
) -> None:
    state_bar = StateBar(DesktopModel("1001"), [("lunch", "午餐")])
    qtbot.addWidget(state_bar)
    assert state_bar.ready_button.text() == "置闲"
    assert state_bar.not_ready_button.text() == "示忙"
    assert state_bar.end_acw_button.text() == "结束话后处理"
    assert state_bar.state_label.text() == "已签出"

    call_bar = CallBar(DesktopModel("1001"))
    qtbot.addWidget(call_bar)
    assert call_bar.answer_button.text() == "接听"
    assert call_bar.release_button.text() == "挂机"
    assert call_bar.hold_button.text() == "保持"
    assert call_bar.transfer_button.text() == "转接…"
    assert call_bar.mute_button.text() == "静音"
    assert call_bar.keypad_button.text() == "拨号盘"

    # texts of a module-level table and of the web side's window menu
    assert QCoreApplication.translate("AgentsGrid", "After-call work") == "话后处理"
    assert QCoreApplication.translate("BsArea", "&Tile") == "平铺(&T)"
    assert QCoreApplication.translate("BannerBar", "Switch %1 is back to normal") == (
        "交换机 %1 已恢复正常"
    )

    assert i18n.install(chinese, "en")
    english = StateBar(DesktopModel("1001"), [("lunch", "午餐")])
    qtbot.addWidget(english)
    assert english.ready_button.text() == "Ready"
    assert english.state_label.text() == "Logged off"


def test_a_subclass_of_a_widget_finds_the_base_class_translations(
    chinese: QApplication, qtbot: QtBot
) -> None:
    """PySide6 looks ``self.tr`` up under the runtime class, then its bases, so lupdate's
    context (the defining class) still matches in a subclass."""

    class BrandedStateBar(StateBar):
        pass

    bar = BrandedStateBar(DesktopModel("1001"))
    qtbot.addWidget(bar)
    assert bar.ready_button.text() == "置闲"
    assert bar.state_label.text() == "已签出"


def test_the_ui_font_can_render_simplified_chinese(qapp: QApplication) -> None:
    """One family of the application font is installed and covers Simplified Chinese
    (Debian's fonts-noto-cjk here, Microsoft YaHei on Windows), so no "tofu" boxes."""
    original = QFont(qapp.font())
    try:
        i18n.apply_font(qapp)
        chinese = set(QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese))
        covering = [f for f in qapp.font().families() if f in chinese]
        assert covering, f"no installed CJK family among {qapp.font().families()}"
        raw = QRawFont.fromFont(QFont(covering[0]), QFontDatabase.WritingSystem.SimplifiedChinese)
        assert all(raw.supportsCharacter(ord(c)) for c in "置闲示忙话后处理三方会议")
    finally:
        qapp.setFont(original)
