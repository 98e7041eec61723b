"""A real browser on the administration console: Debian's headless Chromium driven by
Selenium against the whole CTI server (real ``CtiApp`` with its HTTP side). The
administrator signs in, opens the agents' skill grid, changes an agent's level, saves,
sees it persisted (and the running server uses it), then types a bad level and sees the
field error with nothing saved.

Skipped only where ``chromium`` / ``chromium-driver`` are not installed (as
``test_web_browser.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store.models import AgentSkill
from tests.cti_server.web.test_web_browser import _driver, app, pytestmark

__all__ = ["app", "pytestmark"]


def _levels(engine: sa.Engine, agent_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AgentSkill.skill_id, AgentSkill.level).where(AgentSkill.agent_id == agent_id)
        ).all()
    return {skill: level for skill, level in rows}


def _browse(base: str, profile: Path, shot: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _driver(profile)
    wait = WebDriverWait(driver, 15)
    seen: dict[str, Any] = {}
    try:
        driver.get(f"{base}/ui/login?lang=en")
        driver.find_element(By.NAME, "agent_id").send_keys("9901")
        driver.find_element(By.NAME, "password").send_keys("demo")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "header .who .user")))
        # the console through the navigation, then the skill grid
        driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/ui/admin"]').click()
        wait.until(ec.url_contains("/ui/admin"))
        driver.find_element(By.CSS_SELECTOR, 'nav.adm-nav a[href="/ui/admin/skill-grid"]').click()
        wait.until(ec.presence_of_element_located((By.ID, "adm-grid")))
        cell = driver.find_element(By.NAME, "lvl|1003|billing")
        seen["before"] = cell.get_attribute("value")
        cell.clear()
        cell.send_keys("2")
        edited = driver.find_element(By.CSS_SELECTOR, 'tr[data-agent="1003"] td.adm-edited')
        seen["marked"] = edited is not None  # admin.js marks the edited cell
        driver.find_element(By.ID, "adm-grid-save").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.adm-flash")))
        seen["flash"] = driver.find_element(By.CSS_SELECTOR, "p.adm-flash").text
        seen["after"] = driver.find_element(By.NAME, "lvl|1003|billing").get_attribute("value")
        # a bad level: the field error, nothing saved
        bad = driver.find_element(By.NAME, "lvl|1003|tv")
        bad.clear()
        bad.send_keys("0")
        driver.find_element(By.ID, "adm-grid-save").click()
        wait.until(ec.presence_of_element_located((By.ID, "adm-grid-error")))
        seen["error"] = driver.find_element(By.ID, "adm-grid-error").text
        invalid = driver.find_element(By.NAME, "lvl|1003|tv")
        seen["invalid"] = invalid.get_attribute("aria-invalid")
        seen["kept"] = invalid.get_attribute("value")
        seen["cell_error"] = driver.find_element(
            By.CSS_SELECTOR, 'tr[data-agent="1003"] td.adm-bad .field-error'
        ).text
        driver.save_screenshot(str(shot))
        return seen
    finally:
        driver.quit()


async def test_admin_changes_a_skill_level_in_the_grid(app: CtiApp, tmp_path: Path) -> None:
    port = getattr(app.http, "port", 0)
    assert port
    assert _levels(app.db, "1003") == {"broadband": 1, "tv": 2}
    shot = tmp_path / "grid.png"
    seen = await asyncio.wait_for(
        asyncio.to_thread(_browse, f"http://127.0.0.1:{port}", tmp_path / "profile", shot),
        timeout=120,
    )
    assert seen["before"] == "" and seen["marked"]
    assert seen["flash"] == "Saved; the running server uses it now."
    assert seen["after"] == "2"
    assert seen["error"] == "Not saved: correct the marked fields. Nothing was changed."
    assert seen["invalid"] == "true" and seen["kept"] == "0"
    assert seen["cell_error"] == "A level is a whole number from 1 to 99, or empty."
    assert _levels(app.db, "1003") == {"billing": 2, "broadband": 1, "tv": 2}
    assert app.centre.agents["1003"].skills == {"billing": 2, "broadband": 1, "tv": 2}
    assert shot.stat().st_size > 0
