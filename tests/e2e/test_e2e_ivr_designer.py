"""A flow published in the IVR flow designer runs on a real SIP call (R-IVR-5).

A real CTI server process and a real switch process (rtpengine) with the demo data.
The test signs in to the web console as the demo administrator (login form, session
cookie, CSRF token) and, through the designer's HTTP endpoints exactly as the browser
page calls them, creates the flow ``tier:normal``, saves a version and publishes it.
Calls of the normal tier run the published ``tier:<tier>`` flow (else ``default``), so
a normal-tier customer's SIP call now runs the new flow: its greeting plays, key 7 —
which the shipped default flow does not offer — reaches the queue the new flow names
with its business selection, and the server's call record shows the new flow's node
ids in the trajectory. The switch had the default flow cached from an earlier call;
it fetched the new version because the route response named it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cti_server.store import CallStore, make_engine
from cti_server.store.calls import CallView
from cti_server.store.models import Call
from tests.e2e.conftest import PhoneFactory, ProcessFactory
from tests.e2e.e2e_support import free_port, heard_level

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

FLOW = "tier:normal"
CALLER = "13700137000"
"""Demo customer C000003, tier normal."""
KEY = "7"
SELECTION = "designer_e2e"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')

DOCUMENT: dict[str, Any] = {
    "description": "published from the designer (e2e)",
    "language": "zh",
    "entry": "e2e_hello",
    "nodes": {
        "e2e_hello": {"kind": "prompt", "prompts": ["welcome"], "next": "e2e_menu"},
        "e2e_menu": {
            "kind": "menu",
            "prompts": ["main_menu"],
            "options": [{"digit": KEY, "next": "e2e_queue", "label": "sales (designer)"}],
            "timeout": 8,
            "retries": 3,
            "on_fail": "e2e_bye",
        },
        "e2e_queue": {
            "kind": "queue",
            "queue": "q_sales",
            "business_selection": SELECTION,
            "prompts": ["please_hold"],
        },
        "e2e_bye": {"kind": "hangup", "prompts": ["goodbye"]},
    },
}


async def sign_in(http: httpx.AsyncClient, agent_id: str) -> str:
    """The login form as a browser submits it; returns the session's CSRF token."""
    form = await http.get("/ui/login?lang=en")
    token = CSRF.search(form.text)
    assert form.status_code == 200 and token
    done = await http.post(
        "/ui/login",
        data={"csrf": token.group(1), "agent_id": agent_id, "password": "demo"},
    )
    assert done.status_code == 303, done.text
    home = await http.get("/ui/ivr")
    assert home.status_code == 200, home.text
    csrf = CSRF.search(home.text)
    assert csrf
    return csrf.group(1)


def latest_call(db: Path, caller: str) -> CallView | None:
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            call_id = conn.execute(
                sa.select(Call.id)
                .where(Call.caller_number == caller)
                .order_by(Call.arrived_at.desc())
                .limit(1)
            ).scalar()
        return CallStore(engine).call_with_events(call_id) if call_id else None
    finally:
        engine.dispose()


async def test_a_flow_published_in_the_designer_runs_on_a_real_call(
    processes: ProcessFactory, make_phone: PhoneFactory, rtpengine_binary: str, tmp_path: Path
) -> None:
    ws_port, sip_port = free_port(), free_port()
    db = tmp_path / "cti" / "opencc.sqlite3"
    server = processes(
        "cti-server",
        "cti_server",
        [
            "--demo",
            "--set",
            f"server.ws_port={ws_port}",
            "--set",
            "server.http_port=0",
            "--set",
            f"paths.data_dir={tmp_path / 'cti'}",
        ],
    )
    switch = processes(
        "switch",
        "cti_server.switch",
        [
            "--demo",
            "--switch-id",
            "sw-e2e-ivr",
            "--set",
            f"switch.sip_port={sip_port}",
            "--set",
            "switch.rtpengine_ng=127.0.0.1:0",
            "--set",
            f"switch.cti_url=ws://127.0.0.1:{ws_port}",
            "--set",
            f"paths.data_dir={tmp_path / 'switch'}",
        ],
    )
    await asyncio.gather(server.start(), switch.start())
    found = await server.wait_for(r"HTTP side ready: .* on port (\d+)", timeout=60)
    http_port = int(found.group(1))
    await switch.wait_for(r"switch ready on sip:", timeout=30)
    await switch.wait_for(r"CTI mode: the CTI link", timeout=30)
    sw = ("127.0.0.1", sip_port)

    # a first call runs the shipped default flow (the switch caches it)
    first = await make_phone(CALLER)
    assert await first.call(sw) == 200
    assert await heard_level(first.media, 0.4) > 300, "no greeting on the first call"
    await first.hang_up()
    view = latest_call(db, CALLER)
    assert view is not None and view.tier_id == "normal"

    # the administrator publishes tier:normal through the designer's endpoints
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{http_port}", follow_redirects=False, timeout=10
    ) as http:
        csrf = await sign_in(http, "9901")
        created = await http.post("/ui/ivr", data={"csrf": csrf, "flow_id": FLOW})
        assert created.status_code == 303, created.text
        api = f"/ui/ivr/api/flows/{FLOW}"
        headers = {"X-CSRF-Token": csrf}
        checked = await http.post(f"{api}/validate", json={"document": DOCUMENT}, headers=headers)
        assert checked.json()["valid"] is True, checked.text
        saved = await http.post(
            f"{api}/versions", json={"document": DOCUMENT, "base_version": 1}, headers=headers
        )
        assert saved.status_code == 201, saved.text
        version = saved.json()["version"]
        published = await http.post(f"{api}/publish", json={"version": version}, headers=headers)
        assert published.status_code == 200, published.text
        listing = await http.get("/ui/ivr")
        assert f'<tr data-tier="normal"><td>normal</td><td>{FLOW}</td></tr>' in listing.text

    # the next call of the normal tier runs it: key 7 reaches q_sales
    caller = await make_phone(CALLER)
    assert await caller.call(sw) == 200
    assert await heard_level(caller.media, 0.4) > 300, "no greeting from the new flow"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while True:
        await caller.press(KEY)
        await asyncio.sleep(1.0)
        view = await asyncio.to_thread(latest_call, db, CALLER)
        if view is not None and view.queue_id == "q_sales":
            break
        assert loop.time() < deadline, f"key {KEY} never reached q_sales: {view}"
    assert view.business_selection == SELECTION
    nodes = [s.get("node") for s in view.trajectory if s.get("kind") == "ivr_node"]
    assert {"e2e_hello", "e2e_menu", "e2e_queue"} <= set(nodes), view.trajectory
    assert {s.get("flow_id") for s in view.trajectory if s.get("kind") == "ivr_node"} == {FLOW}
    await caller.hang_up()
    assert "Traceback" not in "".join(server.lines)
    assert "Traceback" not in "".join(switch.lines)
