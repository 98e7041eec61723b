"""A real browser builds an extraction set (issue 9): Debian's headless Chromium driven by
Selenium against the whole CTI server. A team lead opens the outbound pages from the
navigation, uploads a CSV (``tiers.js`` PUT), imports it, opens "New extraction set" from
the finished import, builds ``Region = Beijing OR (Type = vip AND Balance < 10)`` with the
condition builder (``outbound.js``), maps the fields, saves, counts the matching rows and
makes the target list.

Skipped only where ``chromium`` / ``chromium-driver`` are not installed (as
``test_web_browser.py``)."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store.models import ObExtractionSet, ObTargetRecord
from tests.cti_server.web.test_web_browser import _driver, app, pytestmark

__all__ = ["app", "pytestmark"]

HEADER = ["Phone", "Name", "Account", "Region", "Type", "Balance"]
ROWS = [
    ["13800000001", "Li Lei", "A1", "Beijing", "vip", "120"],
    ["13800000002", "Han Meimei", "A2", "Shanghai", "normal", "80"],
    ["13800000003", "Wang Fang", "A3", "Beijing", "normal", "300"],
    ["13800000004", "Zhao Lei", "A4", "Guangzhou", "vip", "5"],
    ["13800000005", "Sun Li", "A5", "Guangzhou", "vip", "50"],
]


def _browse(base: str, profile: Path, source: Path, shot: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _driver(profile)
    wait = WebDriverWait(driver, 30)
    seen: dict[str, Any] = {}

    def conditions() -> list[Any]:
        found: list[Any] = driver.find_elements(By.CSS_SELECTOR, "#ob-builder .ob-cond")
        return found

    def fill(index: int, field: str, operator: str, value: str) -> None:
        row = conditions()[index]
        Select(row.find_element(By.CLASS_NAME, "ob-field")).select_by_value(field)
        Select(row.find_element(By.CLASS_NAME, "ob-operator")).select_by_value(operator)
        box = row.find_element(By.CLASS_NAME, "ob-value")
        box.clear()
        box.send_keys(value)

    try:
        driver.get(f"{base}/ui/login?lang=en")
        driver.find_element(By.NAME, "agent_id").send_keys("9001")
        driver.find_element(By.NAME, "password").send_keys("demo")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "header .who .user")))
        driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/ui/outbound"]').click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "nav.ob-nav")))
        driver.find_element(By.CSS_SELECTOR, 'nav.ob-nav a[href="/ui/outbound/import"]').click()
        driver.find_element(By.ID, "ob-file").send_keys(str(source))
        driver.find_element(By.ID, "tier-upload-button").click()
        wait.until(ec.presence_of_element_located((By.ID, "ob-import-form")))
        seen["preview_head"] = [
            th.text for th in driver.find_elements(By.CSS_SELECTOR, "#ob-preview thead th")
        ]
        driver.find_element(By.ID, "ob-start").click()
        wait.until(ec.element_to_be_clickable((By.ID, "ob-make-set"))).click()
        wait.until(ec.presence_of_element_located((By.ID, "ob-builder")))
        seen["json_hidden"] = not driver.find_element(By.ID, "ob-conditions").is_displayed()
        driver.find_element(By.ID, "ob-set-name").send_keys("Beijing or small VIP")
        Select(driver.find_element(By.ID, "ob-set-class")).select_by_value("retention")
        # top group: OR; a condition and a nested AND group with two conditions
        Select(driver.find_element(By.CSS_SELECTOR, "#ob-builder .ob-group-op")).select_by_value(
            "or"
        )
        driver.find_element(By.CSS_SELECTOR, "#ob-builder .ob-add-condition").click()
        fill(0, "Region", "=", "Beijing")
        driver.find_element(By.CSS_SELECTOR, "#ob-builder .ob-add-group").click()
        inner = driver.find_elements(By.CSS_SELECTOR, "#ob-builder .ob-group .ob-group")[0]
        Select(inner.find_element(By.CLASS_NAME, "ob-group-op")).select_by_value("and")
        for _ in range(2):
            driver.find_element(
                By.CSS_SELECTOR, "#ob-builder .ob-group .ob-group .ob-add-condition"
            ).click()
        fill(1, "Type", "=", "vip")
        fill(2, "Balance", "<", "10")
        for target in ("phone", "name", "account", "region", "type"):
            Select(driver.find_element(By.NAME, f"map_{target}")).select_by_value(
                target.capitalize()
            )
        driver.find_element(By.ID, "ob-set-save").click()
        wait.until(ec.presence_of_element_located((By.ID, "ob-set-count"))).click()
        seen["count"] = wait.until(ec.presence_of_element_located((By.ID, "ob-note"))).text
        # the builder shows the saved tree again
        seen["fields"] = [
            Select(s).first_selected_option.get_attribute("value")
            for s in driver.find_elements(By.CSS_SELECTOR, "#ob-builder .ob-field")
        ]
        driver.save_screenshot(str(shot.with_name("set.png")))
        driver.find_element(By.ID, "ob-set-run-button").click()
        seen["ran"] = wait.until(ec.presence_of_element_located((By.ID, "ob-ran"))).text
        driver.save_screenshot(str(shot))
        return seen
    finally:
        driver.quit()


async def test_lead_builds_an_and_or_set_in_the_browser(app: CtiApp, tmp_path: Path) -> None:
    port = getattr(app.http, "port", 0)
    assert port
    source = tmp_path / "targets.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *ROWS])
    shot = tmp_path / "outbound.png"
    seen = await asyncio.wait_for(
        asyncio.to_thread(_browse, f"http://127.0.0.1:{port}", tmp_path / "profile", source, shot),
        timeout=120,
    )
    assert seen["preview_head"] == HEADER
    assert seen["json_hidden"] is True
    assert seen["count"] == "3 rows match now."
    assert seen["fields"] == ["Region", "Type", "Balance"]
    assert seen["ran"] == "3 records made from 3 matching rows (0 skipped)."
    with app.db.connect() as conn:
        stored = conn.execute(sa.select(ObExtractionSet.conditions)).scalar_one()
        names = conn.execute(sa.select(ObTargetRecord.name).order_by(ObTargetRecord.id)).all()
    assert stored == {
        "op": "or",
        "items": [
            {"field": "Region", "operator": "=", "value": "Beijing"},
            {
                "op": "and",
                "items": [
                    {"field": "Type", "operator": "=", "value": "vip"},
                    {"field": "Balance", "operator": "<", "value": "10"},
                ],
            },
        ],
    }
    assert [n for (n,) in names] == ["Li Lei", "Wang Fang", "Zhao Lei"]
    assert shot.stat().st_size > 0 and shot.with_name("set.png").stat().st_size > 0
