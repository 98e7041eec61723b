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


def test_cti_server_serves_the_demo_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`python -m cti_server --demo` migrates, seeds, serves agents and stops cleanly."""
    import asyncio
    import re
    import signal
    import threading

    from shared.cti_client import CtiClient
    from shared.protocol.agent import AgentLogin, AgentReady
    from shared.protocol.handshake import ClientKind, PasswordCredentials

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cti_server",
            "--demo",
            "--set",
            "server.ws_port=0",
            "--set",
            "server.http_port=0",
            "--set",
            f"paths.data_dir={tmp_path}",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    port: list[int] = []
    http_port: list[int] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            found = re.search(r"listening on [\d.]+:(\d+)", line)
            if found:
                port.append(int(found.group(1)))
            found = re.search(r"HTTP side ready: .* on port (\d+)", line)
            if found:
                http_port.append(int(found.group(1)))
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(60), "".join(lines)

        import httpx

        base = f"http://127.0.0.1:{http_port[0]}"

        async def agent_logs_in() -> str:
            client = await CtiClient.connect(
                f"ws://127.0.0.1:{port[0]}",
                PasswordCredentials(user_id="1001", password="demo"),
                ClientKind.DESKTOP,
                heartbeat=False,
            )
            try:
                await client.request(AgentLogin(id=0, initial_state="ready"))
                while not isinstance(await client.next_event(timeout=5), AgentReady):
                    pass
                async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                    return (await http.get("/metrics")).text
            finally:
                await client.close()

        metrics = asyncio.run(agent_logs_in())
        assert "opencc_cti_agents_ready 1.0" in metrics
        assert "opencc_metrics_source_errors_total 0.0" in metrics

        health = httpx.get(f"{base}/health", timeout=10)
        assert health.status_code == 200, health.text
        checks = {name: c["status"] for name, c in health.json()["checks"].items()}
        assert checks["database"] == "ok"
        assert checks["ws_server"] == "ok"
        assert checks["switch_links"] == "degraded"  # no switch connected in this test
        tiers = httpx.get(f"{base}/api/v1/tiers", auth=("9901", "demo"), timeout=10)
        assert tiers.status_code == 200, tiers.text
        assert "vip" in tiers.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    assert proc.stderr is not None
    proc.stderr.close()
    assert (tmp_path / "opencc.sqlite3").exists()
    assert "Traceback" not in "".join(lines)
