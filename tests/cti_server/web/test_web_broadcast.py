"""A major-outage notice published on the web panel reaches the logged-in desktops
(R-BIZ-5 通知通告): the whole CTI server with its HTTP side, a real WebSocket desktop
and supervisor, and a browser-like httpx client that signs in and posts the form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.app import CtiApp, default_http_side
from cti_server.domain import DomainConfig
from cti_server.store import make_engine, seed_demo, upgrade
from cti_server.store.models import Notice
from cti_server.ws import TransportConfig
from shared.config import PathSettings, ServerSettings, Settings
from shared.protocol.handshake import ClientKind
from shared.protocol.system import NoticeSeverity, SystemNotice
from tests.cti_server.domain.domain_support import Clients, expect
from tests.cti_server.web.conftest import FAST_HASHER

pytestmark = pytest.mark.asyncio

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest_asyncio.fixture
async def app(tmp_path: Path) -> AsyncIterator[CtiApp]:
    engine = make_engine(f"sqlite:///{tmp_path}/opencc.sqlite3")
    upgrade(engine)
    seed_demo(engine, customers=20, hasher=FAST_HASHER)
    settings = Settings(
        paths=PathSettings(data_dir=str(tmp_path)),
        server=ServerSettings(host="127.0.0.1", ws_port=0, http_port=0),
    )
    server = CtiApp(
        settings,
        db=engine,
        domain=DomainConfig(command_timeout=0.5, supervisor_interval=0.1),
        transport=TransportConfig(heartbeat_interval=5.0, disconnect_grace=1.0),
        hasher=FAST_HASHER,
        http_app_factory=default_http_side,
    )
    await server.start(host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        await server.stop()
        engine.dispose()


async def test_major_outage_notice_reaches_the_connected_desktops(app: CtiApp) -> None:
    clients = Clients(app)
    try:
        desk = await clients.desktop("1005")
        lead_desk = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
        port = getattr(app.http, "port", 0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            form = await web.get("/ui/login")
            token = _CSRF.search(form.text)
            assert token is not None
            signed_in = await web.post(
                "/ui/login",
                data={"csrf": token.group(1), "agent_id": "9001", "password": "demo"},
            )
            assert signed_in.status_code == 303
            new = await web.get("/ui/notices/new")
            token = _CSRF.search(new.text)
            assert token is not None
            title = "全省计费系统故障"
            published = await web.post(
                "/ui/notices",
                data={
                    "csrf": token.group(1),
                    "title": title,
                    "body": "暂停缴费业务，请告知客户稍后再试。",
                    "severity": "major_outage",
                },
            )
            assert published.status_code == 303
            detail = await web.get(published.headers["location"])
            assert "已推送到 2 个座席" in detail.text
        for client in (desk, lead_desk):
            event = await expect(client, SystemNotice, timeout=5.0)
            assert event.title == title and event.severity is NoticeSeverity.MAJOR_OUTAGE
            assert event.body is not None and "暂停缴费业务" in event.body
            assert event.created_by == "9001" and event.region is None
        # a notice is no switch mode
        assert not app.centre.modes.switch_ids
        with app.db.connect() as conn:
            pushed = conn.execute(sa.select(Notice.pushed_to).where(Notice.title == title))
            assert pushed.scalar_one() == 2
    finally:
        await clients.close()


async def test_a_regional_notice_reaches_only_that_regions_desktops(app: CtiApp) -> None:
    """R-BIZ-5: an administrator's notice for 深圳 reaches agent 1006 (深圳) and the team
    lead without a region, not agent 1005 (上海)."""
    clients = Clients(app)
    try:
        shanghai = await clients.desktop("1005")
        shenzhen = await clients.desktop("1006")
        lead_desk = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
        port = getattr(app.http, "port", 0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            form = await web.get("/ui/login")
            token = _CSRF.search(form.text)
            assert token is not None
            signed_in = await web.post(
                "/ui/login",
                data={"csrf": token.group(1), "agent_id": "9901", "password": "demo"},
            )
            assert signed_in.status_code == 303
            new = await web.get("/ui/notices/new")
            token = _CSRF.search(new.text)
            assert token is not None
            published = await web.post(
                "/ui/notices",
                data={
                    "csrf": token.group(1),
                    "title": "深圳南山区宽带中断",
                    "body": "",
                    "severity": "info",
                    "region": "深圳",
                },
            )
            assert published.status_code == 303
        for client in (shenzhen, lead_desk):
            event = await expect(client, SystemNotice, timeout=5.0)
            assert event.region == "深圳" and event.severity is NoticeSeverity.INFO
            assert event.body is None
        with pytest.raises(TimeoutError):
            await expect(shanghai, SystemNotice, timeout=0.5)
        with app.db.connect() as conn:
            pushed = conn.execute(
                sa.select(Notice.pushed_to).where(Notice.title == "深圳南山区宽带中断")
            )
            assert pushed.scalar_one() == 2
    finally:
        await clients.close()
