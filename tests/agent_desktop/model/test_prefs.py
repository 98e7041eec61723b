"""Remembered desktop settings: round trip, defaults, corrupt files, atomic saves."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from agent_desktop.model.prefs import Prefs
from shared.config import DesktopSettings


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    prefs = Prefs(
        server_url="wss://cti.example:8765",
        web_url="https://cti.example",
        sip_registrar="10.0.0.5:5061",
        agent_id="1001",
        language="en",
        auto_answer=True,
        mic="USB 麦克风",
        speaker="Headset",
        ringer=None,
        geometry="AdnQywADAAAAAAB4",
    )
    path = tmp_path / "sub" / "desktop.json"
    prefs.save(path)
    assert Prefs.load(path) == prefs
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


def test_defaults_come_from_the_desktop_settings(tmp_path: Path) -> None:
    d = DesktopSettings()
    prefs = Prefs.load(tmp_path / "missing.json")
    assert (prefs.server_url, prefs.web_url, prefs.sip_registrar) == (
        d.server_url,
        d.web_url,
        d.sip_registrar,
    )
    assert prefs.language == "zh_CN" and prefs.auto_answer is d.auto_answer
    assert prefs.agent_id == "" and prefs.mic is None
    configured = Prefs.from_settings(DesktopSettings(server_url="ws://h:1", language="en"))
    assert Prefs.load(tmp_path / "missing.json", defaults=configured) == configured


def test_default_path_is_in_the_user_config_folder() -> None:
    path = Prefs.default_path()
    assert path.name == "desktop.json" and "opencc" in path.parts


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe\x00garbage", b"[1, 2]", b"", b'"text"', b"{" * 100_000],
)
def test_a_corrupt_file_gives_defaults_and_a_warning(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "desktop.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="agent_desktop.model.prefs"):
        assert Prefs.load(path) == Prefs()
    assert "desktop preferences" in caplog.text
    assert path.read_bytes() == content  # left alone until the next save


def test_bad_fields_fall_back_one_by_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "desktop.json"
    path.write_text(
        json.dumps(
            {
                "agent_id": "1007",
                "language": "fr",
                "auto_answer": "yes",
                "mic": 3,
                "server_url": None,
                "future_field": {"x": 1},
            }
        ),
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="agent_desktop.model.prefs"):
        prefs = Prefs.load(path)
    assert prefs == Prefs(agent_id="1007")
    for name in ("language", "auto_answer", "mic", "server_url"):
        assert f"bad {name}" in caplog.text


def test_save_is_atomic_and_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "desktop.json"
    Prefs(agent_id="1001").save(path)
    before = path.read_bytes()

    # the disk fails while the new file is written: the old file stays whole and the
    # temporary file is removed
    def failing_fsync(fd: int) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", failing_fsync)
        with pytest.raises(OSError, match="disk full"):
            Prefs(agent_id="1002").save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["desktop.json"]

    Prefs(agent_id="1002").save(path)
    assert Prefs.load(path).agent_id == "1002"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["desktop.json"]


def test_save_into_an_unwritable_place_raises_and_changes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(OSError):
        Prefs().save(blocker / "desktop.json")  # a file where the folder should be
    assert blocker.read_text(encoding="utf-8") == "x"
