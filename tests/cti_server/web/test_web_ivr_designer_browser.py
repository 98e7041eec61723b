"""The IVR flow designer in a real browser (R-IVR-5): Debian's headless Chromium driven
by Selenium against the whole CTI server (``CtiApp`` with its HTTP side). An
administrator creates the flow of the gold tier, adds a menu and a queue on the SVG
canvas, wires the greeting to the menu by dragging from its exit dot, wires the menu's
keys in the side form (1 → queue, 2 → hang-up), sees the errors on the nodes until
everything is wired, validates, saves, publishes and simulates a gold caller pressing 1.

Skipped (with the reason) only where ``chromium`` / ``chromium-driver`` are not
installed."""

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
from cti_server.store.models import AuditEntry, IvrFlow
from cti_server.ws import TransportConfig
from shared.config import PathSettings, ServerSettings, Settings
from shared.ivr import parse_flow, validate
from tests.cti_server.web.browser_support import chromium_driver, needs_chromium
from tests.cti_server.web.conftest import FAST_HASHER

FLOW = "tier:gold"

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
    return chromium_driver(profile, lang="en-US", size=(1600, 1000))


def _design(base: str, profile: Path, shot: Path) -> list[str]:
    """The administrator's path through the designer; returns the simulated path."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _driver(profile)
    wait = WebDriverWait(driver, 15, ignored_exceptions=(StaleElementReferenceException,))

    def settle() -> None:
        """Wait for the editor's background validation after a change (it redraws)."""
        wait.until(lambda d: not d.find_element(By.ID, "ivr-canvas").get_attribute("data-busy"))

    def node(node_id: str) -> Any:
        return driver.find_element(
            By.CSS_SELECTOR, f'#ivr-canvas g.ivr-node[data-node="{node_id}"]'
        )

    def pick(css: str, value: str) -> None:
        """Choose ``value`` in the side form's select ``css`` (the form is rebuilt after
        every change, so it is looked up afresh)."""
        settle()
        Select(driver.find_element(By.CSS_SELECTOR, f"#ivr-form {css}")).select_by_value(value)
        settle()

    def classes(node_id: str) -> str:
        script = (
            "var g = document.querySelector("
            "'#ivr-canvas g.ivr-node[data-node=\"' + arguments[0] + '\"]');"
            "return g.getAttribute('class');"
        )
        return str(driver.execute_script(script, node_id))

    try:
        driver.get(f"{base}/ui/login?lang=en")
        driver.find_element(By.NAME, "agent_id").send_keys("9901")
        driver.find_element(By.NAME, "password").send_keys("demo")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "header .who .user")))
        driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/ui/ivr"]').click()
        wait.until(ec.presence_of_element_located((By.ID, "ivr-new")))
        new = driver.find_element(By.ID, "ivr-new")
        new.find_element(By.NAME, "flow_id").send_keys(FLOW)
        new.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: d.find_element(By.ID, "ivr-canvas").get_attribute("data-ready"))
        assert {
            e.get_attribute("data-node")
            for e in driver.find_elements(By.CSS_SELECTOR, "#ivr-canvas g.ivr-node")
        } == {"greeting", "bye"}

        settle()
        # a menu and a queue from the palette
        Select(driver.find_element(By.ID, "ivr-kind")).select_by_value("menu")
        driver.find_element(By.ID, "ivr-add").click()
        wait.until(lambda d: node("menu_1"))
        Select(driver.find_element(By.ID, "ivr-kind")).select_by_value("queue")
        driver.find_element(By.ID, "ivr-add").click()
        wait.until(lambda d: node("queue_1"))
        settle()
        queue_field = driver.find_element(By.CSS_SELECTOR, '#ivr-form input[name="queue"]')
        queue_field.send_keys(Keys.CONTROL, "a")
        queue_field.send_keys("q_sales", Keys.TAB)
        wait.until(
            lambda d: (
                '"queue": "q_sales"' in d.find_element(By.ID, "ivr-json").get_attribute("value")
            )
        )
        settle()
        # the unwired menu option shows as an error on the menu node
        driver.find_element(By.ID, "ivr-validate").click()
        wait.until(lambda d: "has-error" in classes("menu_1"))

        settle()
        # wire greeting → menu by dragging from the greeting's exit dot onto the menu
        port = driver.find_element(
            By.CSS_SELECTOR, '#ivr-canvas g.ivr-node[data-node="greeting"] circle.ivr-port'
        )
        target = driver.find_element(
            By.CSS_SELECTOR, '#ivr-canvas g.ivr-node[data-node="menu_1"] rect'
        )
        ActionChains(driver).click_and_hold(port).move_to_element(target).release().perform()
        wait.until(
            lambda d: d.find_elements(
                By.CSS_SELECTOR, 'path.ivr-edge[data-from="greeting"][data-to="menu_1"]'
            )
        )
        # the menu's keys in the side form: 1 → queue, 2 → hang-up, failure → hang-up
        settle()
        node("menu_1").find_element(By.CSS_SELECTOR, "rect").click()
        wait.until(
            lambda d: d.find_element(By.ID, "ivr-form").get_attribute("data-node") == "menu_1"
        )
        pick('.ivr-options .ivr-row[data-index="0"] select', "queue_1")
        settle()
        driver.find_element(By.CSS_SELECTOR, "#ivr-form .ivr-add-option").click()
        pick('.ivr-options .ivr-row[data-index="1"] select', "bye")
        pick('select[name="on_fail"]', "bye")
        wait.until(
            lambda d: d.find_elements(
                By.CSS_SELECTOR, 'path.ivr-edge[data-from="menu_1"][data-to="bye"]'
            )
        )
        driver.find_element(By.ID, "ivr-validate").click()
        wait.until(
            lambda d: d.find_element(By.ID, "ivr-canvas").get_attribute("data-validated") == "valid"
        )
        assert "has-error" not in classes("menu_1")
        assert driver.find_element(By.ID, "ivr-status").text.startswith("No errors.")

        settle()
        driver.find_element(By.ID, "ivr-save").click()
        wait.until(lambda d: d.find_element(By.ID, "ivr-canvas").get_attribute("data-saved") == "2")
        driver.find_element(By.ID, "ivr-publish").click()
        wait.until(
            lambda d: d.find_element(By.ID, "ivr-canvas").get_attribute("data-published") == "2"
        )
        assert driver.find_element(By.ID, "ivr-published").text == "2"

        # a gold caller (demo customer C000002) pressing 1
        driver.find_element(By.ID, "ivr-sim-caller").send_keys("13900139000")
        driver.find_element(By.ID, "ivr-sim-digits").send_keys("1")
        driver.find_element(By.ID, "ivr-sim-run").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#ivr-sim-path li")))
        path = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#ivr-sim-path li")]
        result = driver.find_element(By.ID, "ivr-sim-result").text
        assert "gold" in result and "C000002" in result and "queue q_sales" in result
        assert "sim" in classes("queue_1") and "sim" not in classes("bye")
        driver.find_element(By.ID, "ivr-arrange").click()  # layered from the entry
        assert node("menu_1").get_attribute("transform") == "translate(20,146)"
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(shot))

        # the version list: who, what changed; roll back to version 1
        driver.find_element(By.LINK_TEXT, "Versions").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.ivr-versions")))
        newest = driver.find_element(By.CSS_SELECTOR, 'tr[data-version="2"]')
        assert "9901" in newest.text and "published" in newest.text
        assert "added menu_1, queue_1" in newest.text and "changed greeting" in newest.text
        oldest = driver.find_element(By.CSS_SELECTOR, 'tr[data-version="1"]')
        assert "first version" in oldest.text
        oldest.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.ID, "ivr-notice")))
        assert driver.find_element(By.ID, "ivr-published").text == "1"
        driver.save_screenshot(str(shot.with_name("ivr_history.png")))
        return path
    finally:
        driver.quit()


async def test_an_admin_builds_validates_publishes_and_simulates_a_flow(
    app: CtiApp, tmp_path: Path
) -> None:
    port = getattr(app.http, "port", 0)
    assert port
    shot = tmp_path / "ivr_designer.png"
    path = await asyncio.wait_for(
        asyncio.to_thread(_design, f"http://127.0.0.1:{port}", tmp_path / "profile", shot),
        timeout=120,
    )
    assert path == ["greeting", "menu_1", "queue_1"]
    assert shot.stat().st_size > 0
    with app.db.connect() as conn:
        rows = conn.execute(
            sa.select(IvrFlow.version, IvrFlow.published, IvrFlow.document, IvrFlow.created_by)
            .where(IvrFlow.id == FLOW)
            .order_by(IvrFlow.version)
        ).all()
        actions = conn.execute(
            sa.select(AuditEntry.action, AuditEntry.entity_id)
            .where(AuditEntry.entity == "ivr_flow", AuditEntry.entity_id.like(f"{FLOW}@%"))
            .order_by(AuditEntry.id)
        ).all()
    assert [(v, p, by) for v, p, _doc, by in rows] == [(1, True, "9901"), (2, False, "9901")]
    flow = parse_flow(rows[1].document)
    assert validate(flow) == []
    assert flow.entry == "greeting"
    menu = flow.nodes["menu_1"]
    assert [(o.digit, o.next) for o in menu.options] == [("1", "queue_1"), ("2", "bye")]  # type: ignore[union-attr]
    assert flow.nodes["queue_1"].queue == "q_sales"  # type: ignore[union-attr]
    assert [tuple(a) for a in actions] == [
        ("create", f"{FLOW}@1"),
        ("create", f"{FLOW}@2"),
        ("publish", f"{FLOW}@2"),
        ("rollback", f"{FLOW}@1"),
    ]
