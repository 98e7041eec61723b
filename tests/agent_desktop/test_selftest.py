"""``agent-desktop --self-test`` (what installers run after installing, issue 10): a
process of its own, no server, no display; it must pass here and say what it checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_self_test_opens_the_window_loads_a_panel_and_starts_the_phone(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # it sets it
    env["HOME"] = str(tmp_path)  # nothing of the user's is read or written
    result = subprocess.run(
        [sys.executable, "-m", "agent_desktop", "--self-test"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(lines[-1])
    assert result.returncode == 0, report
    assert report["self_test"] == "passed"
    checks = report["checks"]
    assert set(checks) >= {"main_window", "web_panel", "softphone", "translations"}
    assert all(check["ok"] for check in checks.values()), checks
    assert "Traceback" not in result.stderr
