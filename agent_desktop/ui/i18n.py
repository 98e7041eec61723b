"""Language of the desktop: English (the source text) or Simplified Chinese, chosen at
login and remembered in the preferences.

The desktop's own strings come from ``agent_desktop/i18n/opencc_desktop_<lang>.qm``;
Qt's own dialogs (file pickers, buttons of message boxes) from Qt's translations. The
application font lists a CJK family after the UI family so Chinese renders on Windows
(Microsoft YaHei) and Linux (Noto Sans CJK, Debian's fonts-noto-cjk) alike.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from agent_desktop.resources import translation

log = logging.getLogger("desktop.i18n")

LANGUAGES: dict[str, str] = {"en": "English", "zh_CN": "简体中文"}
"""Language code → its name in itself (what the language picker shows)."""

UI_FAMILIES = ["Segoe UI", "Microsoft YaHei UI", "Noto Sans", "Noto Sans CJK SC", "sans-serif"]

_installed: list[QTranslator] = []


class UnknownLanguage(ValueError):
    def __init__(self, language: str) -> None:
        super().__init__(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
        self.language = language


def install(app: QCoreApplication, language: str) -> bool:
    """Switch the application to ``language`` (replacing any earlier choice). Returns
    False when its translation file is missing (the UI then stays in English)."""
    if language not in LANGUAGES:
        raise UnknownLanguage(language)
    for old in _installed:
        app.removeTranslator(old)
    _installed.clear()
    QLocale.setDefault(QLocale(language))
    if language == "en":
        return True
    ours = QTranslator(app)
    if not ours.load(str(translation(language))):
        log.warning("translation %s not found: the desktop stays in English", language)
        return False
    app.installTranslator(ours)
    _installed.append(ours)
    qt = QTranslator(app)
    if qt.load(f"qtbase_{language}", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt)
        _installed.append(qt)
    return True


def apply_font(app: QApplication) -> None:
    """The UI family with CJK fallbacks, at the platform's default size."""
    font = QFont(app.font())
    font.setFamilies(UI_FAMILIES)
    app.setFont(font)
