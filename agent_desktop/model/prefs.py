"""The desktop's remembered settings (login, language, audio devices, window geometry).

One JSON file, by default ``platformdirs.user_config_dir("opencc")/desktop.json``.
:meth:`Prefs.load` never fails: a missing file gives the defaults (from
:class:`shared.config.DesktopSettings`), an unreadable or corrupt file or a bad field
gives the defaults for what is wrong plus a logged warning (the file is left as it is
until the next save). :meth:`Prefs.save` is atomic: a temporary file in the same folder
is written, flushed to disk and then renamed over the old one, so a crash leaves either
the old or the new file, never half of one. Qt-free.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Final, Literal

import platformdirs

from shared.config import DesktopSettings

log = logging.getLogger("agent_desktop.model.prefs")

type Language = Literal["en", "zh_CN"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "zh_CN")
FORMAT_VERSION: Final = 1
_MAX_BYTES: Final = 1_000_000
_DEFAULTS: Final = DesktopSettings()


def _language(value: str) -> Language:
    return "en" if value == "en" else "zh_CN"


_DEFAULT_LANGUAGE: Final[Language] = _language(_DEFAULTS.language)


@dataclass(frozen=True, slots=True)
class Prefs:
    """What the login dialog and settings remember. ``mic``/``speaker``/``ringer`` are
    the softphone's device names (``None``: the system default); ``geometry`` is opaque
    (the main window's saved geometry and state, as the UI encodes it)."""

    server_url: str = _DEFAULTS.server_url
    web_url: str = _DEFAULTS.web_url
    sip_registrar: str = _DEFAULTS.sip_registrar
    agent_id: str = ""
    language: Language = _DEFAULT_LANGUAGE
    auto_answer: bool = _DEFAULTS.auto_answer
    mic: str | None = None
    speaker: str | None = None
    ringer: str | None = None
    geometry: str = ""
    panels: str = ""
    """The web windows' arrangement (``BsArea.layout_state()`` as JSON), opaque here."""

    @classmethod
    def from_settings(cls, settings: DesktopSettings) -> Prefs:
        """Defaults taken from the configuration (file / environment / command line)."""
        return cls(
            server_url=settings.server_url,
            web_url=settings.web_url,
            sip_registrar=settings.sip_registrar,
            language=_language(settings.language),
            auto_answer=settings.auto_answer,
        )

    @staticmethod
    def default_path() -> Path:
        return Path(platformdirs.user_config_dir("opencc")) / "desktop.json"

    @classmethod
    def load(cls, path: Path | str, *, defaults: Prefs | None = None) -> Prefs:
        """The saved prefs; ``defaults`` (or the built-in ones) for a missing file and for
        every field that is missing or wrong. Never raises for the file's content."""
        base = defaults if defaults is not None else cls()
        path = Path(path)
        try:
            with path.open("rb") as f:
                raw = f.read(_MAX_BYTES + 1)
        except FileNotFoundError:
            return base
        except OSError as exc:
            log.warning("desktop preferences %s unreadable (%s): using the defaults", path, exc)
            return base
        if len(raw) > _MAX_BYTES:
            log.warning("desktop preferences %s too large: using the defaults", path)
            return base
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            log.warning("desktop preferences %s corrupt (%s): using the defaults", path, exc)
            return base
        if not isinstance(data, dict):
            log.warning("desktop preferences %s: not a JSON object, using the defaults", path)
            return base
        return base._merged(data, str(path))

    def _merged(self, data: dict[str, Any], source: str) -> Prefs:
        changes: dict[str, Any] = {}
        for f in fields(self):
            if f.name not in data:
                continue
            value = data[f.name]
            if _valid(f.name, value):
                changes[f.name] = value
            else:
                log.warning("desktop preferences %s: bad %s %r ignored", source, f.name, value)
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, **asdict(self)}

    def save(self, path: Path | str) -> None:
        """Write atomically (temporary file + rename); creates the folder. ``OSError``
        when the folder cannot be written (the old file is then untouched)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


_STRINGS: Final = frozenset(
    {"server_url", "web_url", "sip_registrar", "agent_id", "geometry", "panels"}
)
_DEVICES: Final = frozenset({"mic", "speaker", "ringer"})


def _valid(name: str, value: object) -> bool:
    if name in _STRINGS:
        return isinstance(value, str) and len(value) <= 100_000
    if name in _DEVICES:
        return value is None or (isinstance(value, str) and len(value) <= 1000)
    if name == "language":
        return value in LANGUAGES
    if name == "auto_answer":
        return isinstance(value, bool)
    return False
