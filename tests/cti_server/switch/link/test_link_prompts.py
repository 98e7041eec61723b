"""Uploaded IVR prompts synced from a real CTI server into the switch's cache (R-IVR-5).

An administrator uploads a prompt over the real REST API; the switch's PromptSync
fetches the index (``switch.prompt_index``, 1.2) and the file in ≤ 32 KiB chunks
(``switch.prompt_get``), checks its SHA-256 and writes it into its cache; a delete on
the server removes it from the cache; with the link down the cached prompt stays.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.http import create_app
from cti_server.store import ConfigStore, TierDirectory
from cti_server.store.prompts import PromptStore
from cti_server.switch.core.ivr_runner import PromptLibrary
from cti_server.switch.link import CtiLink
from cti_server.switch.ports import DecisionUnavailable
from cti_server.switch.prompt_sync import PromptSync
from shared.protocol.base import VERSION_1_1
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import PROMPT_CHUNK_BYTES, PromptChunk, PromptIndex
from tests.cti_server.http.http_support import ADMIN, ServerThread
from tests.cti_server.prompt_support import wav_bytes
from tests.cti_server.switch.link.link_support import FAST_HASHER, FakeControl, Server, make_link
from tests.cti_server.switch.link.link_support import until as _until

pytestmark = pytest.mark.asyncio

SHIPPED = Path(__file__).resolve().parents[4] / "resources" / "prompts"
WAV = {"Content-Type": "audio/wav"}


class PromptServer(Server):
    """The CTI server of the link tests with prompt storage under ``prompt_dir``."""

    def __init__(self, db: sa.Engine, prompt_dir: Path | None) -> None:
        super().__init__(db)
        self.prompt_dir = prompt_dir

    def options(self) -> dict[str, Any]:
        if self.prompt_dir is None:
            return {"serve_prompts": False}
        return {"prompt_dir": self.prompt_dir}


@pytest.fixture
def prompt_dir(tmp_path: Path) -> Path:
    return tmp_path / "server-data" / "prompts"


@pytest_asyncio.fixture
async def server(db: sa.Engine, prompt_dir: Path) -> AsyncIterator[PromptServer]:
    srv = PromptServer(db, prompt_dir)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
def rest(db: sa.Engine, prompt_dir: Path) -> Iterator[str]:
    """The real REST API on the same database and prompt folder; yields its base URL."""
    directory = TierDirectory(db)
    app = create_app(
        config_store=ConfigStore(db, tier_directory=directory, hasher=FAST_HASHER),
        tier_directory=directory,
        db_engine=db,
        prompt_dir=prompt_dir,
    )
    thread = ServerThread(app)
    thread.start()
    yield thread.base_url
    thread.stop()


class CountingLink:
    """The real link, counting the chunk requests PromptSync makes."""

    def __init__(self, link: CtiLink) -> None:
        self.link = link
        self.chunks: list[tuple[str, str, int]] = []

    async def fetch_prompt_index(self) -> PromptIndex:
        return await self.link.fetch_prompt_index()

    async def fetch_prompt_chunk(self, language: str, prompt_id: str, offset: int) -> PromptChunk:
        self.chunks.append((language, prompt_id, offset))
        return await self.link.fetch_prompt_chunk(language, prompt_id, offset)

    def on_state_change(self, callback: Callable[[bool], None]) -> None:
        self.link.on_state_change(callback)


async def _http(method: str, url: str, **kwargs: object) -> int:
    def call() -> int:
        with httpx.Client(auth=ADMIN, timeout=30) as client:
            return client.request(method, url, **kwargs).status_code  # type: ignore[arg-type]

    return await asyncio.to_thread(call)


def _file_is(path: Path, data: bytes) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return path.read_bytes() == data
        except FileNotFoundError:
            return False

    return check


@pytest.mark.slow
async def test_upload_sync_replace_delete_and_keep_the_cache_with_the_link_down(
    server: PromptServer, rest: str, tmp_path: Path
) -> None:
    link = make_link(server.url, FakeControl(), None)
    counting = CountingLink(link)
    cache = tmp_path / "switch" / "prompts"
    sync = PromptSync(cache, interval=0.3)
    sync.attach(counting)
    await link.start()
    sync.start()
    try:
        await link.wait_up(3.0)
        await _until(lambda: sync.rounds >= 1, timeout=5.0)
        assert sync.cached() == {}

        # the admin uploads a 3 s greeting (48 KB: two chunks) over REST
        greeting = wav_bytes(1250, 3.0)
        assert len(greeting) > PROMPT_CHUNK_BYTES
        status = await _http(
            "PUT", f"{rest}/api/v1/prompts/zh/welcome", content=greeting, headers=WAV
        )
        assert status == 200
        cached = cache / "zh" / "welcome.wav"
        await _until(_file_is(cached, greeting), timeout=10.0)
        assert (
            hashlib.sha256(cached.read_bytes()).hexdigest() == hashlib.sha256(greeting).hexdigest()
        )
        assert counting.chunks == [("zh", "welcome", 0), ("zh", "welcome", PROMPT_CHUNK_BYTES)]
        library = PromptLibrary(SHIPPED, overlay=cache)
        assert library.path("welcome", "zh") == cached
        assert library.path("welcome", "en") == SHIPPED / "en" / "welcome.wav"

        # unchanged: no more downloads on later rounds
        rounds = sync.rounds
        await _until(lambda: sync.rounds >= rounds + 2, timeout=5.0)
        assert len(counting.chunks) == 2

        # replaced on the server: the switch fetches the new one
        replacement = wav_bytes(800, 0.5, fmt="ulaw")
        status = await _http(
            "PUT", f"{rest}/api/v1/prompts/zh/welcome", content=replacement, headers=WAV
        )
        assert status == 200
        await _until(_file_is(cached, replacement), timeout=10.0)

        # deleted on the server: removed from the cache, the shipped one plays again
        assert await _http("DELETE", f"{rest}/api/v1/prompts/zh/welcome") == 204
        await _until(lambda: not cached.exists(), timeout=10.0)
        assert library.path("welcome", "zh") == SHIPPED / "zh" / "welcome.wav"
        assert sync.removals == 1

        # a new upload, then the server goes away: the cached prompt stays and plays
        holiday = wav_bytes(600, 0.4, fmt="alaw")
        status = await _http(
            "PUT", f"{rest}/api/v1/prompts/en/holiday", content=holiday, headers=WAV
        )
        assert status == 200
        await _until(_file_is(cache / "en" / "holiday.wav", holiday), timeout=10.0)
        await server.stop()
        await _until(lambda: not link.up, timeout=5.0)
        report = await sync.sync_now()
        assert not report.ok
        await asyncio.sleep(0.7)  # a few more rounds with the link down
        assert (cache / "en" / "holiday.wav").read_bytes() == holiday
        assert library.path("holiday", "en") == cache / "en" / "holiday.wav"
        with pytest.raises(DecisionUnavailable):
            await link.fetch_prompt_index()
    finally:
        await sync.close()
        await link.close()
    # a switch restarted without any server still has it
    restarted = PromptSync(cache)
    assert restarted.cached() == {("en", "holiday"): hashlib.sha256(holiday).hexdigest()}


async def test_a_link_up_syncs_at_once(
    server: PromptServer, prompt_dir: Path, tmp_path: Path
) -> None:
    promo = wav_bytes(700, 0.3)
    PromptStore(prompt_dir).save("9901", "en", "promo", promo)
    link = make_link(server.url, FakeControl(), None)
    sync = PromptSync(tmp_path / "cache", interval=600)  # no timed round in this test
    sync.attach(link)
    sync.start()
    try:
        await _until(lambda: sync.last_report is not None, timeout=5.0)
        assert sync.last_report is not None and not sync.last_report.ok  # not up yet
        await link.start()
        await _until(_file_is(tmp_path / "cache" / "en" / "promo.wav", promo), timeout=5.0)
        assert sync.rounds == 1
    finally:
        await sync.close()
        await link.close()


async def test_prompt_get_refusals_chunks_and_older_servers(
    server: PromptServer, prompt_dir: Path
) -> None:
    store = PromptStore(prompt_dir)
    big = wav_bytes(440, 5.0)  # 80 KB: three chunks
    store.save("9901", "en", "big", big)
    link = make_link(server.url, FakeControl(), None)
    await link.start()
    try:
        await link.wait_up(3.0)
        index = await link.fetch_prompt_index()
        assert [(e.language, e.prompt_id, e.size) for e in index.prompts] == [
            ("en", "big", len(big))
        ]
        assert index.prompts[0].sha256 == hashlib.sha256(big).hexdigest()
        parts, offset = [], 0
        while offset < len(big):
            chunk = await link.fetch_prompt_chunk("en", "big", offset)
            data = base64.b64decode(chunk.data)
            assert len(data) <= PROMPT_CHUNK_BYTES and chunk.offset == offset
            parts.append(data)
            offset += len(data)
        assert b"".join(parts) == big and len(parts) == 3
        with pytest.raises(ProtocolError) as unknown:
            await link.fetch_prompt_chunk("en", "nope", 0)
        assert unknown.value.code is ErrorCode.INVALID_FIELD
        assert unknown.value.detail["field"] == "prompt_id"
        with pytest.raises(ProtocolError) as shipped_only:
            await link.fetch_prompt_chunk("en", "welcome", 0)  # shipped: every switch has it
        assert shipped_only.value.detail["field"] == "prompt_id"
        with pytest.raises(ProtocolError) as past:
            await link.fetch_prompt_chunk("en", "big", len(big) + 1)
        assert past.value.code is ErrorCode.INVALID_FIELD
        assert past.value.detail["field"] == "offset"
        with pytest.raises(ProtocolError) as bad_lang:
            await link.fetch_prompt_chunk("fr", "big", 0)
        assert bad_lang.value.detail["field"] == "language"
    finally:
        await link.close()

    old = make_link(server.url, FakeControl(), None)
    old.client.versions = (VERSION_1_1,)
    await old.start()
    try:
        await old.wait_up(3.0)
        with pytest.raises(DecisionUnavailable):
            await old.fetch_prompt_index()
        sync = PromptSync(prompt_dir.parent / "old-switch")
        sync.attach(old)
        assert not (await sync.sync_now()).ok
    finally:
        await old.close()


async def test_a_server_without_prompt_storage_leaves_the_cache_alone(
    db: sa.Engine, tmp_path: Path
) -> None:
    srv = PromptServer(db, None)
    await srv.start()
    cache = tmp_path / "cache"
    (cache / "en").mkdir(parents=True)
    kept = wav_bytes(300, 0.2)
    (cache / "en" / "kept.wav").write_bytes(kept)
    link = make_link(srv.url, FakeControl(), None)
    await link.start()
    try:
        await link.wait_up(3.0)
        with pytest.raises(ProtocolError) as refused:
            await link.fetch_prompt_index()
        assert refused.value.code is ErrorCode.UNEXPECTED_TYPE
        sync = PromptSync(cache)
        sync.attach(link)
        assert not (await sync.sync_now()).ok
        assert (cache / "en" / "kept.wav").read_bytes() == kept
    finally:
        await link.close()
        await srv.stop()
