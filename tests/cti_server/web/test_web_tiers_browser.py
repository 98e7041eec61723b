"""A real browser imports a tier file (R-TIER-3): Debian's headless Chromium driven by
Selenium against the whole CTI server (``CtiApp`` with its HTTP side and refresh
scheduler). The administrator opens the tier pages from the navigation, uploads a CSV
whose headers the importer does not know, maps the columns on the preview page, chooses
"import the valid rows", watches the progress bar finish, sees the bad row in the error
report, and the valid tiers are in the database and in the running server's look-up.

Skipped only where ``chromium`` / ``chromium-driver`` are not installed (as
``test_web_browser.py``)."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store.models import Customer
from tests.cti_server.web.test_web_browser import _driver, app, pytestmark

__all__ = ["app", "pytestmark"]

ROWS = 30_000  # enough rows that the page shows the import running before it ends


def _tier_file(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["Kundennummer", "Rufnummer", "Kategorie", "Name"])
        for index in range(1, ROWS + 1):
            tier = "gold" if index % 2 else "vip"
            out.writerow([f"B{index:05d}", f"1371{index:07d}", tier, f"客户{index}"])
            if index == 7:
                out.writerow(["BAD", "13700000000", "platinum", "坏行"])  # line 9
    return path


def _browse(base: str, profile: Path, source: Path, shot: Path) -> dict[str, Any]:
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _driver(profile)
    wait = WebDriverWait(driver, 30)
    seen: dict[str, Any] = {}
    try:
        driver.get(f"{base}/ui/login?lang=en")
        driver.find_element(By.NAME, "agent_id").send_keys("9901")
        driver.find_element(By.NAME, "password").send_keys("demo")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "header .who .user")))
        driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/ui/tiers"]').click()
        wait.until(ec.presence_of_element_located((By.ID, "tier-search")))
        driver.find_element(By.CSS_SELECTOR, 'nav.tier-nav a[href="/ui/tiers/import"]').click()
        wait.until(ec.presence_of_element_located((By.ID, "tier-upload")))
        # upload: tiers.js sends the file as a PUT and opens the mapping page
        driver.find_element(By.ID, "tier-file").send_keys(str(source))
        driver.find_element(By.ID, "tier-upload-button").click()
        wait.until(ec.presence_of_element_located((By.ID, "tier-mapping")))
        seen["preview_head"] = [
            th.text for th in driver.find_elements(By.CSS_SELECTOR, "#tier-preview thead th")
        ]
        seen["preview_rows"] = len(driver.find_elements(By.CSS_SELECTOR, "#tier-preview tbody tr"))
        for field, column in (
            ("customer_id", "Kundennummer"),
            ("numbers", "Rufnummer"),
            ("tier", "Kategorie"),
            ("name", "Name"),
        ):
            Select(driver.find_element(By.ID, f"map_{field}")).select_by_value(column)
        driver.find_element(By.ID, "tier-valid-only").click()
        driver.find_element(By.ID, "tier-start").click()
        # the progress page: tiers.js polls the job and reloads it when it has finished
        job = wait.until(ec.presence_of_element_located((By.ID, "tier-job")))
        seen["first_finished"] = job.get_attribute("data-finished")
        seen["bar"] = driver.find_element(By.ID, "tier-progress").tag_name
        values: list[str] = []
        deadline = time.monotonic() + 60
        while not driver.find_elements(By.ID, "tier-summary") and time.monotonic() < deadline:
            try:
                value = driver.find_element(By.ID, "tier-progress").get_attribute("value")
            except (NoSuchElementException, StaleElementReferenceException):
                continue  # the page is reloading
            if value is not None and (not values or values[-1] != value):
                values.append(value)
        seen["values"] = values
        wait.until(ec.presence_of_element_located((By.ID, "tier-summary")))
        seen["progress"] = driver.find_element(By.ID, "tier-progress").get_attribute("value")
        seen["state"] = driver.find_element(By.ID, "tier-state").text
        seen["summary"] = {
            dd.get_attribute("data-key"): dd.text
            for dd in driver.find_elements(By.CSS_SELECTOR, "#tier-summary dd")
        }
        seen["errors"] = [
            [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#tier-errors tbody tr")
        ]
        seen["csv_link"] = driver.find_element(By.ID, "tier-errors-csv").get_attribute("href")
        driver.save_screenshot(str(shot))
        return seen
    finally:
        driver.quit()


async def test_admin_imports_a_tier_file_in_the_browser(app: CtiApp, tmp_path: Path) -> None:
    port = getattr(app.http, "port", 0)
    assert port
    source = _tier_file(tmp_path / "kunden.csv")
    shot = tmp_path / "tiers.png"
    seen = await asyncio.wait_for(
        asyncio.to_thread(_browse, f"http://127.0.0.1:{port}", tmp_path / "profile", source, shot),
        timeout=150,
    )
    assert seen["preview_head"] == ["Kundennummer", "Rufnummer", "Kategorie", "Name"]
    # the page showed the import running; tiers.js polled it until the end
    assert seen["first_finished"] == "false" and seen["values"]
    assert seen["preview_rows"] == 10
    assert seen["bar"] == "progress" and seen["progress"] == "100"
    assert seen["state"] == "done"
    assert seen["summary"] == {
        "rows_read": str(ROWS + 1),
        "imported": str(ROWS),
        "updated": "0",
        "rejected": "1",
    }
    assert seen["errors"] == [["9", "tier", "unknown tier 'platinum'"]]
    assert seen["csv_link"].endswith("/errors.csv")
    with app.db.connect() as conn:
        tiers = dict(
            conn.execute(
                sa.select(Customer.id, Customer.tier_id).where(Customer.id.like("B%"))
            ).all()
        )
    assert len(tiers) == ROWS and "BAD" not in tiers
    assert tiers["B00001"] == "gold" and tiers["B00002"] == "vip"
    # the running server's tier look-up answers with the imported tier
    found = app.store.directory.lookup("13710000002")
    assert found is not None and (found.customer_id, found.tier_id) == ("B00002", "vip")
    assert shot.stat().st_size > 0
