"""A real browser plays a call recording (R-SUP-3): Debian's headless Chromium, driven by
Selenium, against the HTTP side on a real port. The team lead signs in, follows the
Recordings link, finds the recorded call, and the page's ``<audio>`` element loads the
WAV from the server (its length read by the browser), plays and seeks — the seek is a
``Range`` request — and every request the browser made is in the audit log.

Skipped (with the reason) only where ``chromium`` / ``chromium-driver`` are not installed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from cti_server.store.models import AuditEntry
from cti_server.store.recordings import store_recording
from tests.cti_server.http.http_support import running_stack
from tests.cti_server.web.browser_support import chromium_driver, needs_chromium
from tests.cti_server.web.conftest import FAST_HASHER
from tests.cti_server.web.test_web_recordings import add_call, tone_wav

webdriver: Any = pytest.importorskip("selenium.webdriver", reason="selenium not installed")

pytestmark = [
    pytest.mark.slow,
    needs_chromium,
]

SECONDS = 80.0
"""1.28 MB: more than one answer to an open range (1 MiB), so a seek near the end is a
``Range`` request the server answers with 206."""
SEEK_TO = 75.0


@pytest.fixture
def served(make_web_db: Callable[[str], sa.Engine]) -> Iterator[tuple[str, sa.Engine, bytes]]:
    engine = make_web_db("sqlite")
    add_call(engine, "CALL-BROWSER-1", agent="1003")
    wav = tone_wav(SECONDS)
    store_recording(
        sessionmaker(engine),
        recording_id="REC-BROWSER-1",
        call_id="CALL-BROWSER-1",
        wav=wav,
        seconds=SECONDS,
    )
    with running_stack(engine, FAST_HASHER) as stack:
        yield stack.server.base_url, engine, wav


def _driver(profile: Path) -> Any:
    return chromium_driver(
        profile,
        lang="en-US",
        extra=("--autoplay-policy=no-user-gesture-required", "--mute-audio"),
    )


LOAD = """
const [audio, done] = [arguments[0], arguments[arguments.length - 1]];
audio.addEventListener('loadedmetadata', () => done(audio.duration), {once: true});
audio.addEventListener('error', () => done('error ' + audio.error.code), {once: true});
audio.preload = 'metadata';
audio.load();
"""

PLAY_AND_SEEK = """
const [audio, done] = [arguments[0], arguments[arguments.length - 1]];
audio.play().then(() => {
  const started = () => {
    if (audio.currentTime > 0.3) {
      audio.pause();
      audio.addEventListener('seeked', () => done(audio.currentTime), {once: true});
      audio.currentTime = arguments[1];
    } else { setTimeout(started, 50); }
  };
  started();
}, (err) => done('play failed: ' + err));
"""


def test_team_lead_plays_and_seeks_a_recording(
    served: tuple[str, sa.Engine, bytes], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base_url, engine, wav = served
    assert len(wav) == 44 + int(SECONDS * 16_000)
    driver = _driver(tmp_path / "profile")
    wait = WebDriverWait(driver, 15)
    try:
        driver.get(f"{base_url}/ui/login?lang=en")
        driver.find_element(By.NAME, "agent_id").send_keys("9001")
        driver.find_element(By.NAME, "password").send_keys("demo")
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "header .who .user")))
        driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/ui/recordings"]').click()
        form = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "form.filters")))
        Select(form.find_element(By.NAME, "recorded")).select_by_value("yes")
        Select(form.find_element(By.NAME, "agent")).select_by_value("1003")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(ec.url_contains("recorded=yes"))
        rows = driver.find_elements(By.CSS_SELECTOR, "table.recordings tbody tr")
        assert [r.get_attribute("data-call") for r in rows] == ["CALL-BROWSER-1"]
        rows[0].find_element(By.LINK_TEXT, "Listen / score").click()
        audio = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li audio")))

        duration = driver.execute_async_script(LOAD, audio)
        assert duration == pytest.approx(SECONDS, abs=0.05)
        position = driver.execute_async_script(PLAY_AND_SEEK, audio, SEEK_TO)
        assert position == pytest.approx(SEEK_TO, abs=0.1)
        driver.save_screenshot(str(tmp_path / "recording.png"))
    finally:
        driver.quit()
    with engine.connect() as conn:
        plays = conn.execute(
            sa.select(AuditEntry.actor, AuditEntry.after).where(
                AuditEntry.action == "recording_play"
            )
        ).all()
    assert plays, "the browser's requests were not audited"
    assert {actor for actor, _after in plays} == {"9001"}
    starts = {int(after["range"].split("-")[0]) for _actor, after in plays}
    assert 0 in starts
    # the seek to 75 s (byte 44 + 75 × 16 000 = 1 200 044) needed bytes the first answer
    # (at most bytes 0 … 1 048 575; the browser may stop reading it earlier) did not
    # carry: a second Range request from further on (where Chromium stopped, or later)
    assert max(starts) > 0, starts
    assert max(starts) < 44 + 80 * 16_000, starts  # within the 80 s file
    assert all(after["bytes"] <= 1_048_576 for _actor, after in plays)
