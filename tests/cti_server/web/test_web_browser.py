"""A real browser on the web panels (R-BIZ-5, R-IN-5): Debian's headless Chromium, driven
by Selenium through ``/usr/bin/chromedriver``, against the whole CTI server (real
``CtiApp`` with its HTTP side on a free port). An agent signs in, opens a work order
from the demo call's context, dispatches it to the 上海 department and signs out; that
department's staff signs in, finds it in the department list and accepts it.

Skipped (with the reason) only where ``chromium`` / ``chromium-driver`` are not
installed (``scripts/debian-packages.txt`` lists them; ``scripts/bootstrap.sh``
installs them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.app import CtiApp, default_http_side
from cti_server.domain import DomainConfig
from cti_server.store import make_engine, seed_demo, upgrade
from cti_server.store.models import WorkOrder, WorkOrderEvent
from cti_server.store.seed import seed_back_office
from cti_server.ws import TransportConfig
from shared.config import PathSettings, ServerSettings, Settings
from tests.cti_server.web.browser_support import chromium_driver, needs_chromium
from tests.cti_server.web.conftest import FAST_HASHER

SH_DEPT = "上海分公司网络维护部"

webdriver: Any = pytest.importorskip("selenium.webdriver", reason="selenium not installed")

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.slow,
    needs_chromium,
]


@pytest_asyncio.fixture
async def app(tmp_path: Path) -> AsyncIterator[CtiApp]:
    engine = make_engine(f"sqlite:///{tmp_path}/opencc.sqlite3")
    upgrade(engine)
    seed_demo(engine, customers=20, hasher=FAST_HASHER)
    seed_back_office(engine, hasher=FAST_HASHER)
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


def _driver(profile: Path) -> Any:
    return chromium_driver(profile)


def _browse(base: str, profile: Path, shot: Path) -> str:
    """The user's path through the pages; returns the work order id."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _driver(profile)
    wait = WebDriverWait(driver, 15)

    def login(agent_id: str) -> None:
        driver.get(f"{base}/ui/login?lang=zh")  # headless Chromium asks for English
        driver.find_element(By.NAME, "agent_id").send_keys(agent_id)
        driver.find_element(By.NAME, "password").send_keys("demo")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "header .who .user")))
        assert agent_id in driver.find_element(By.CSS_SELECTOR, "header .who .user").text

    def status() -> str:
        return str(
            driver.find_element(By.CSS_SELECTOR, "h1 .wo-status").get_attribute("data-status")
        )

    try:
        # the agent opens a work order from the call's context
        login("1001")
        driver.get(f"{base}/ui/workorders/new?call_id=DEMO-CALL-0001")
        context = driver.find_element(By.CSS_SELECTOR, "dl.wo-context").text
        assert "13800138000" in context and "C000001" in context and "欢迎致电" in context
        form = driver.find_element(By.ID, "wo-new")
        Select(form.find_element(By.NAME, "category_id")).select_by_value(
            "complaint.fault.broadband"
        )
        Select(form.find_element(By.NAME, "priority")).select_by_value("high")
        form.find_element(By.NAME, "title").send_keys("宽带频繁掉线（浏览器测试）")
        Select(form.find_element(By.NAME, "department")).select_by_value("")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "h1 .wo-id")))
        order_id = str(driver.find_element(By.CSS_SELECTOR, "h1 .wo-id").text)
        assert order_id.startswith("WO-") and status() == "new"
        # ... dispatches it to the department
        dispatch = driver.find_element(By.ID, "wo-dispatch")
        Select(dispatch.find_element(By.NAME, "department")).select_by_visible_text(SH_DEPT)
        dispatch.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: status() == "dispatched")
        assert driver.find_element(By.CSS_SELECTOR, "dd.wo-department").text == SH_DEPT
        # ... and signs out
        driver.find_element(By.CSS_SELECTOR, "header form button.link").click()
        wait.until(ec.presence_of_element_located((By.NAME, "agent_id")))

        # the department's staff sees it in the department list and accepts it
        login("8001")
        driver.find_element(
            By.CSS_SELECTOR, 'header nav a[href="/ui/workorders?dept=mine"]'
        ).click()
        wait.until(ec.url_contains("/ui/workorders?dept=mine"))
        row = driver.find_element(By.CSS_SELECTOR, f'tr[data-order="{order_id}"]')
        assert "宽带频繁掉线（浏览器测试）" in row.text
        row.find_element(By.LINK_TEXT, order_id).click()
        wait.until(ec.presence_of_element_located((By.ID, "wo-accept")))
        driver.find_element(By.CSS_SELECTOR, "#wo-accept button[type=submit]").click()
        wait.until(lambda d: status() == "accepted")
        history = driver.find_element(By.CSS_SELECTOR, "ol.wo-history").text
        assert "派单" in history and "接单" in history
        driver.save_screenshot(str(shot))
        return order_id
    finally:
        driver.quit()


async def test_agent_dispatches_a_work_order_and_the_department_accepts_it(
    app: CtiApp, tmp_path: Path
) -> None:
    port = getattr(app.http, "port", 0)
    assert port
    shot = tmp_path / "workorder.png"
    order_id = await asyncio.wait_for(
        asyncio.to_thread(_browse, f"http://127.0.0.1:{port}", tmp_path / "profile", shot),
        timeout=120,
    )
    assert shot.stat().st_size > 0
    with app.db.connect() as conn:
        row = conn.execute(sa.select(WorkOrder).where(WorkOrder.id == order_id)).one()
        kinds = list(
            conn.execute(
                sa.select(WorkOrderEvent.kind)
                .where(WorkOrderEvent.order_id == order_id)
                .order_by(WorkOrderEvent.id)
            ).scalars()
        )
    assert row.call_id == "DEMO-CALL-0001" and row.customer_id == "C000001"
    assert row.status == "accepted" and row.department == SH_DEPT and row.assignee == "8001"
    assert row.priority == "high" and row.created_by == "1001"
    assert kinds == ["created", "dispatched", "accepted"]
