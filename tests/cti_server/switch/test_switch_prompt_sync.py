"""PromptSync refuses what does not match the index and keeps its cache (R-IVR-5).

The two link requests are stand-ins here (the real link and server:
tests/cti_server/switch/link/test_link_prompts.py); the store is the real one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

import cti_server.switch.__main__ as switch_main
from cti_server.store import make_engine, session_factory
from cti_server.store.prompts import PromptRejected, PromptStore, parse_wav
from cti_server.switch.core.ivr_runner import PromptLibrary
from cti_server.switch.ports import DecisionUnavailable
from cti_server.switch.prompt_sync import PromptSync
from shared.config import load_settings
from shared.protocol.switch import PromptChunk, PromptIndex, PromptIndexEntry
from tests.cti_server.prompt_support import wav_bytes

SHIPPED = Path(__file__).resolve().parents[3] / "resources" / "prompts"


class FakeServer:
    """Answers index and chunk requests from ``files``; ``tamper`` corrupts chunks."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        self.down = False
        self.tamper: str | None = None
        self.requests = 0

    async def index(self) -> PromptIndex:
        if self.down:
            raise DecisionUnavailable("the CTI link is down")
        return PromptIndex(
            prompts=tuple(
                PromptIndexEntry(
                    language=lang, prompt_id=pid, sha256=hashlib.sha256(d).hexdigest(), size=len(d)
                )
                for (lang, pid), d in sorted(self.files.items())
            )
        )

    async def chunk(self, language: str, prompt_id: str, offset: int) -> PromptChunk:
        self.requests += 1
        data = self.files[(language, prompt_id)]
        part = data[offset : offset + 32768]
        sha = hashlib.sha256(data).hexdigest()
        if self.tamper == "bytes":
            part = bytes(b ^ 0xFF for b in part)
        elif self.tamper == "changed" and offset > 0:
            sha = "0" * 64
        elif self.tamper == "base64":
            return PromptChunk(sha256=sha, size=len(data), offset=offset, data="@@not base64@@")
        return PromptChunk(
            sha256=sha, size=len(data), offset=offset, data=base64.b64encode(part).decode()
        )


@pytest.mark.asyncio
@pytest.mark.parametrize("tamper", ["bytes", "changed", "base64"])
async def test_a_bad_download_is_not_cached_and_the_old_copy_stays(
    tmp_path: Path, tamper: str
) -> None:
    server = FakeServer()
    old, new = wav_bytes(500, 0.5), wav_bytes(900, 3.0)
    server.files[("zh", "welcome")] = old
    sync = PromptSync(tmp_path, server.index, server.chunk)
    assert (await sync.sync_now()).downloaded == ["zh/welcome"]
    server.files[("zh", "welcome")] = new
    server.tamper = tamper
    report = await sync.sync_now()
    assert report.failed == ["zh/welcome"] and report.downloaded == []
    assert (tmp_path / "zh" / "welcome.wav").read_bytes() == old
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    server.tamper = None
    assert (await sync.sync_now()).downloaded == ["zh/welcome"]
    assert (tmp_path / "zh" / "welcome.wav").read_bytes() == new


@pytest.mark.asyncio
async def test_link_down_keeps_everything_and_restart_reads_the_cache(tmp_path: Path) -> None:
    server = FakeServer()
    server.files[("en", "promo")] = wav_bytes(700, 0.3)
    sync = PromptSync(tmp_path, server.index, server.chunk)
    await sync.sync_now()
    server.down = True
    server.files.clear()
    report = await sync.sync_now()
    assert not report.ok and report.removed == []
    assert (tmp_path / "en" / "promo.wav").is_file()
    again = PromptSync(tmp_path, server.index, server.chunk)
    assert set(again.cached()) == {("en", "promo")}
    server.down = False
    assert (await again.sync_now()).removed == ["en/promo"]  # deleted on the server
    assert not (tmp_path / "en" / "promo.wav").exists()


def test_prompt_library_searches_the_overlay_per_language(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "welcome.wav").write_bytes(wav_bytes())
    library = PromptLibrary(SHIPPED, overlay=tmp_path)
    assert library.path("welcome", "en") == tmp_path / "en" / "welcome.wav"
    # a Chinese caller still gets the shipped Chinese greeting, not the English upload
    assert library.path("welcome", "zh") == SHIPPED / "zh" / "welcome.wav"
    assert PromptLibrary(SHIPPED).path("welcome", "en") == SHIPPED / "en" / "welcome.wav"
    assert library.path("no_such_prompt", "en") is None


def test_wav_parsing_reads_pcm_and_g711_and_refuses_the_rest() -> None:
    assert parse_wav(wav_bytes(seconds=2.0)).seconds == 2.0
    assert parse_wav(wav_bytes(fmt="ulaw", seconds=0.1)).format == "ulaw"
    assert parse_wav(wav_bytes(fmt="alaw", seconds=0.2)).format == "alaw"
    assert parse_wav(wav_bytes(0, seconds=300)).seconds == 300  # the longest, 4.8 MB
    truncated = wav_bytes()[:30]
    with pytest.raises(PromptRejected) as exc:
        parse_wav(truncated)
    assert exc.value.field == "body"


def test_an_upload_whose_audit_row_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    """No audit table (the database is not migrated): the change is refused whole."""
    engine: sa.Engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        store = PromptStore(tmp_path / "prompts", sessions=session_factory(engine))
        with pytest.raises(sa.exc.OperationalError):
            store.save("9901", "en", "welcome", wav_bytes())
        assert [p for p in (tmp_path / "prompts").rglob("*") if p.is_file()] == []
    finally:
        engine.dispose()


def test_the_switch_process_caches_prompts_under_its_data_dir(tmp_path: Path) -> None:
    """``python -m cti_server.switch``: ``<data_dir>/switch/prompts`` is the IVR's overlay;
    the sync interval is 60 s unless ``--prompt-sync-interval`` says otherwise."""
    settings = load_settings(overrides=[f"paths.data_dir={tmp_path}"]).settings
    config = switch_main.app_config(settings)
    assert config.prompt_cache_dir == tmp_path / "switch" / "prompts"
    assert switch_main.prompt_sync_interval(argparse.Namespace(), settings) == 60.0
    given = argparse.Namespace(prompt_sync_interval=15.0)
    assert switch_main.prompt_sync_interval(given, settings) == 15.0
    with pytest.raises(ValueError, match="at least 1 second"):
        switch_main.prompt_sync_interval(argparse.Namespace(prompt_sync_interval=0.0), settings)
