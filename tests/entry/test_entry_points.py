"""Every console entry point starts, reads its configuration and says what it does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(module: str, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("module", "section_key"),
    [
        ("cti_server", "server.ws_port"),
        ("cti_server.switch", "switch.sip_port"),
        ("agent_desktop", "desktop.server_url"),
    ],
)
def test_print_config_shows_layers_and_masks_secrets(module: str, section_key: str) -> None:
    result = _run(
        module,
        "--print-config",
        "--set",
        "log.level=DEBUG",
        env={"OPENCC_SWITCH__TOKEN": "tok-123", "OPENCC_SERVER__SWITCH_TOKEN": "tok-456"},
    )
    assert result.returncode == 0, result.stderr
    assert section_key in result.stdout
    assert "log.level                    = DEBUG" in result.stdout
    assert "(--set log.level)" in result.stdout
    assert "tok-123" not in result.stdout
    assert "tok-456" not in result.stdout


@pytest.mark.parametrize("module", ["cti_server", "cti_server.switch", "agent_desktop"])
def test_bad_configuration_exits_2_with_a_clear_message(module: str) -> None:
    result = _run(module, "--set", "server.ws_port=eighty")
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "server.ws_port" in result.stderr
    assert "Traceback" not in result.stderr
