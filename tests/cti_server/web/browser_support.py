"""Headless Chromium for the web panels' real-browser tests (Debian's chromium and
chromium-driver, driven by Selenium); skipped with a reason where they are missing."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

needs_chromium = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() or shutil.which("chromium"))
    or not (Path(CHROMEDRIVER).exists() or shutil.which("chromedriver")),
    reason="Debian chromium / chromium-driver not installed (apt-get install chromium "
    "chromium-driver; scripts/bootstrap.sh does it)",
)

# The flags this machine needs (as root: no sandbox; no background connections, which
# its closed network refuses), then the test's own.
_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)


def chromium_driver(
    profile: Path,
    *,
    lang: str = "zh-CN",
    size: tuple[int, int] = (1280, 900),
    extra: Sequence[str] = (),
) -> Any:
    """A new headless Chromium with an empty profile folder ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or CHROMIUM
    for flag in (
        *_FLAGS,
        f"--lang={lang}",
        f"--window-size={size[0]},{size[1]}",
        *extra,
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    service = Service(shutil.which("chromedriver") or CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    return driver
