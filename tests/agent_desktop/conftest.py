"""Fixtures of the desktop tests: Qt offscreen (QtWebEngine without its sandbox as root)
and a live CTI server (WebSocket + HTTP side with the web panels, demo data on SQLite)
running on its own asyncio loop in a thread, so Qt's event loop owns the test thread.

Qt-free model tests need none of this; Qt is imported only when a Qt test asks for
``qapp``/``qtbot`` (pytest-qt) or for ``live_centre``."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium refuses to run its sandbox as root
    flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if "--no-sandbox" not in flags:
        os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    # QtWebEngine must be imported before the QApplication exists (it shares GL contexts).
    import PySide6.QtWebEngineWidgets  # noqa: F401

    return ["opencc-desktop-tests"]


@dataclass(frozen=True)
class LiveCentre:
    """A running CTI server: ``ws_url`` for the CTI link, ``web_url`` for the panels."""

    ws_url: str
    web_url: str
    data_dir: Path
    db_url: str
    loop: asyncio.AbstractEventLoop

    def call(self, coro: object, timeout: float = 10.0) -> object:
        """Run a coroutine on the server's loop (to inspect or drive the server)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def live_centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCentre]:
    """One CTI server per test module: demo agents (password ``demo``), 50 customers and
    the back office, fast password hashing, 0.1 s supervisor statistics."""
    from argon2 import PasswordHasher

    from cti_server.app import CtiApp, default_http_side
    from cti_server.domain import DomainConfig
    from cti_server.store import make_engine, seed_demo, upgrade
    from cti_server.store.seed import seed_back_office
    from cti_server.ws import TransportConfig
    from shared.config import PathSettings, ServerSettings, Settings

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    folder = tmp_path_factory.mktemp("live_centre")
    db_url = f"sqlite:///{folder}/opencc.sqlite3"
    engine = make_engine(db_url)
    upgrade(engine)
    seed_demo(engine, customers=50, hasher=hasher)
    seed_back_office(engine, hasher=hasher)
    settings = Settings(
        paths=PathSettings(data_dir=str(folder)),
        server=ServerSettings(host="127.0.0.1", ws_port=0, http_port=0),
    )
    app = CtiApp(
        settings,
        db=engine,
        domain=DomainConfig(command_timeout=2.0, supervisor_interval=0.1),
        transport=TransportConfig(heartbeat_interval=5.0, disconnect_grace=2.0),
        hasher=hasher,
        http_app_factory=default_http_side,
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="live-centre", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(app.start(host="127.0.0.1", port=0), loop).result(60)
    http_port = getattr(app.http, "port", None)
    assert http_port, "the HTTP side did not start"
    try:
        yield LiveCentre(
            ws_url=app.url,
            web_url=f"http://127.0.0.1:{http_port}",
            data_dir=folder,
            db_url=db_url,
            loop=loop,
        )
    finally:
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        engine.dispose()
