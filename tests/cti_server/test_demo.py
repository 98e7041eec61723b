"""The demo launcher prints what exists: routing comparison and staffing (README demo)."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from cti_server import demo
from cti_server.switch.media.process import RtpEngineNotFoundError, resolve_binary
from tests.e2e.e2e_support import LoggedProcess, Phone, free_port


def test_demo_prints_the_routing_comparison_and_staffing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert demo.main(["--no-serve", "--replications", "1"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("tier"))
    for label in ("FIFO", "static priority", "SL gap"):
        assert label in header
    rows = {
        line.split()[0]: line
        for line in lines
        if line.split()[:1] in (["vip"], ["gold"], ["normal"])
    }
    assert set(rows) == {"vip", "gold", "normal"}
    for row in rows.values():
        assert row.count("%") == 4  # target + one SL per strategy
        assert row.count("met") + row.count("MISSED") == 3
    assert "calls simulated" in out
    assert "Erlang C:" in out and "Erlang A" in out


def test_demo_rejects_a_bad_replication_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        demo.main(["--no-serve", "--replications", "0"])
    assert info.value.code == 2
    assert "--replications" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.asyncio
async def test_demo_runs_the_server_and_the_switch_linked_until_sigterm(tmp_path: Path) -> None:
    """README demo, step 3: one command starts the CTI server and the switch; a demo
    softphone registers with the switch, the switch's CTI link comes up, and SIGTERM
    stops both processes (no switch or rtpengine left behind)."""
    try:
        resolve_binary(None)
    except RtpEngineNotFoundError as exc:
        pytest.skip(f"rtpengine not installed: {exc}")
    ws_port, http_port, sip_port = free_port(), free_port(), free_port()
    demo_proc = LoggedProcess(
        "cti-demo",
        "cti_server.demo",
        [
            "--replications",
            "1",
            "--set",
            f"server.ws_port={ws_port}",
            "--set",
            f"server.http_port={http_port}",
            "--set",
            f"switch.sip_port={sip_port}",
            "--set",
            "switch.rtpengine_ng=127.0.0.1:0",
            "--set",
            f"paths.data_dir={tmp_path}",
        ],
    )
    await demo_proc.start()
    phone = await Phone.open("1001")
    try:
        await demo_proc.wait_for(r"CTI link up", timeout=90)
        assert await phone.register(("127.0.0.1", sip_port), "demo") == 200
        assert await phone.register(("127.0.0.1", sip_port), "wrong") in (401, 403)
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{http_port}/health")
            login = await http.get(f"http://127.0.0.1:{http_port}/ui/login")
        assert health.status_code == 200
        assert login.status_code == 200 and "工号" in login.text  # the web panels are served
        assert demo_proc.proc is not None
        demo_proc.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(demo_proc.proc.wait(), 30) == 0
        await demo_proc.wait_for(r"stopping the switch", timeout=5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", sip_port))  # the switch is gone: its SIP port is free
    finally:
        await phone.close()
        await demo_proc.stop()


def test_the_demo_switch_gets_the_demo_link_and_only_its_own_settings() -> None:
    command = demo.switch_command(
        ["server.ws_port=9000", "switch.sip_port=5070", "switch.cti_url=ws://x", "log.level=DEBUG"],
        "ws://127.0.0.1:9000",
    )
    assert command[1:4] == ["-m", "cti_server.switch", "--demo"]
    sets = [command[i + 1] for i, word in enumerate(command) if word == "--set"]
    assert sets == ["switch.cti_url=ws://127.0.0.1:9000", "switch.sip_port=5070", "log.level=DEBUG"]


def test_the_demo_desktop_is_pointed_at_the_demo_server_and_switch() -> None:
    from shared.config import load_settings

    settings = load_settings(
        overrides=["server.ws_port=9000", "server.http_port=9080", "switch.sip_port=5070"]
    ).settings
    command = demo.desktop_command(settings)
    assert command[1:3] == ["-m", "agent_desktop"]
    sets = [command[i + 1] for i, word in enumerate(command) if word == "--set"]
    assert sets == [
        "desktop.server_url=ws://127.0.0.1:9000",
        "desktop.web_url=http://127.0.0.1:9080",
        "desktop.sip_registrar=127.0.0.1:5070",
    ]


def test_without_a_display_the_demo_says_how_to_open_the_desktop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not demo.has_display() or sys.platform == "win32"
    monkeypatch.setenv("DISPLAY", ":0")
    assert demo.has_display()
