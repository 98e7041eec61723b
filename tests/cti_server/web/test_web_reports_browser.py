"""A real browser opens a report with its charts (R-SUP-4): Debian's headless Chromium,
driven by Selenium, against the HTTP side on a real port over the seeded day of calls of
``test_web_reports``. The team lead signs in, follows the Reports link, picks 15-minute
intervals in UTC for 2026-03-10 and checks the service-level bars the server drew.

Skipped (with the reason) only where ``chromium`` / ``chromium-driver`` are not installed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.cti_server.http.http_support import running_stack
from tests.cti_server.web import test_web_reports as seeded
from tests.cti_server.web.browser_support import chromium_driver, needs_chromium
from tests.cti_server.web.conftest import FAST_HASHER

webdriver: Any = pytest.importorskip("selenium.webdriver", reason="selenium not installed")

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
]


@pytest.fixture
def base_url(make_web_db: Callable[[str], sa.Engine]) -> Iterator[str]:
    engine = make_web_db("sqlite")
    seeded.seed_calls(engine)
    with running_stack(engine, FAST_HASHER) as stack:
        yield stack.server.base_url


def _driver(profile: Path) -> Any:
    return chromium_driver(profile, lang="en-US")


def test_team_lead_opens_a_report_with_a_service_level_chart(base_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = _driver(tmp_path / "profile")
    wait = WebDriverWait(driver, 15)
    try:
        driver.get(f"{base_url}/ui/login?lang=en")
        driver.find_element(By.NAME, "agent_id").send_keys("9001")
        driver.find_element(By.NAME, "password").send_keys("demo")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "header .who .user")))
        driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/ui/reports"]').click()
        wait.until(ec.presence_of_element_located((By.ID, "rpt-filter")))
        form = driver.find_element(By.ID, "rpt-filter")
        for name, value in (("from", "2026-03-10"), ("to", "2026-03-10")):
            field = form.find_element(By.NAME, name)
            driver.execute_script("arguments[0].value = arguments[1]", field, value)
        tz = form.find_element(By.NAME, "tz")
        tz.clear()
        tz.send_keys("UTC")
        Select(form.find_element(By.NAME, "interval")).select_by_value("15")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(ec.url_contains("interval=15"))
        chart = wait.until(ec.presence_of_element_located((By.ID, "rpt-sl-chart")))
        bars = chart.find_elements(By.CSS_SELECTOR, "rect.rpt-bar")
        values = {b.get_attribute("data-label"): b.get_attribute("data-value") for b in bars}
        # quarter hours with offered calls: 10:00, 10:15, 15:45, 23:45
        assert values == {
            "2026-03-10 10:00": "66.7",
            "2026-03-10 10:15": "50",
            "2026-03-10 15:45": "0",
            "2026-03-10 23:45": "100",
        }
        tall = next(b for b in bars if b.get_attribute("data-value") == "100")
        short = next(b for b in bars if b.get_attribute("data-value") == "50")
        # the browser laid the bars out: 100 % is twice as tall as 50 %
        assert tall.size["height"] > 0
        assert tall.size["height"] == pytest.approx(2 * short.size["height"], rel=0.05)
        heat = driver.find_elements(By.CSS_SELECTOR, "svg.rpt-heat rect.rpt-cell")
        assert len(heat) == 7 * 24
        summary = driver.find_element(By.CSS_SELECTOR, 'table[data-table="summary"]').text
        assert "Service level % 57.1" in summary
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 0
