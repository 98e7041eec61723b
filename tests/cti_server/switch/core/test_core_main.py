"""``python -m cti_server.switch --demo``: a real switch process agents can register with."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

import cti_server.switch.__main__ as switch_main
from cti_server.switch.__main__ import SipUsersError, load_sip_users
from shared.config import load_settings
from tests.cti_server.switch.core.conftest import ROOT, PhoneFactory
from tests.e2e.e2e_support import free_port  # free for UDP and TCP: the switch binds both


def test_core_sip_users_file_is_read_and_bad_files_fail_clearly(tmp_path: Path) -> None:
    good = tmp_path / "users.toml"
    good.write_text('1001 = "s3cret"\n"2001" = "x"\n')
    assert load_sip_users(good) == {"1001": "s3cret", "2001": "x"}
    bad = tmp_path / "bad.toml"
    bad.write_text("1001 = 5\n")
    with pytest.raises(SipUsersError, match="1001"):
        load_sip_users(bad)
    with pytest.raises(SipUsersError, match="cannot read"):
        load_sip_users(tmp_path / "missing.toml")


@pytest.mark.asyncio
async def test_core_demo_process_registers_agents_and_stops_on_sigterm(
    rtpengine_binary: str, tmp_path: Path, make_phone: PhoneFactory
) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cti_server.switch",
        "--demo",
        "--standalone",
        "--set",
        f"switch.sip_port={port}",
        "--set",
        "switch.rtpengine_ng=127.0.0.1:0",
        "--set",
        f"paths.data_dir={tmp_path}",
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "".join(lines)
            lines.append(line)
            if "standalone (no-CTI) mode" in line:
                break
        agent = await make_phone("1003")
        assert await agent.register(("127.0.0.1", port), "demo") == 200
        intruder = await make_phone("1003")
        assert await intruder.register(("127.0.0.1", port), "wrong") in (401, 403)
        proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stderr.read(), 30)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "Traceback" not in "".join(lines) + rest.decode()
    assert (tmp_path / "moh" / "default.wav").is_file()


def test_core_settings_carry_the_outbound_gateway_and_mixer_ports() -> None:
    settings = load_settings(
        overrides=[
            "switch.outbound_gateway=sip:{number}@gw.example:5060",
            "switch.mixer_ports=9000-9099",
        ]
    ).settings
    config = switch_main.app_config(settings)
    assert config.outbound_gateway == "sip:{number}@gw.example:5060"
    assert config.mixer_ports == (9000, 9099)
    assert switch_main.app_config(load_settings(overrides=[]).settings).outbound_gateway is None


@pytest.mark.parametrize("text", ["9000-9000", "9099-9000", "80-90", "1024-70000"])
def test_core_bad_mixer_ports_stop_the_switch_with_a_clear_message(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="mixer_ports"):
        switch_main.mixer_port_range(text)
    assert switch_main.main(["--standalone", "--set", f"switch.mixer_ports={text}"]) == 2
    assert "mixer_ports" in capsys.readouterr().err
