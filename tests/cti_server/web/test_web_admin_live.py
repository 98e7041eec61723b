"""The administration console against the whole running CTI server (real ``CtiApp`` with
its HTTP side, real WebSocket desktop and switch clients; SQLite and PostgreSQL): a
skill-level change saved on the page — or through the REST API — changes the very next
routing decision while the agent stays logged on and waiting calls stay queued; a change
to an agent who is ringing waits for the call; tier SL targets apply live; prompts are
uploaded and played back; the switches page shows the connected switch."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.app import CtiApp, default_http_side
from cti_server.domain import DomainConfig
from cti_server.routing import AgentState as EngineState
from cti_server.routing import CallState as EngineCallState
from cti_server.store.models import AgentSkill, AuditEntry
from cti_server.ws import TransportConfig
from shared.config import PathSettings, ServerSettings, Settings
from shared.protocol.agent import AgentLogin, AgentReady
from shared.protocol.switch import LegRole, OfferToAgent, RouteStage, SwitchCallEventKind
from tests.cti_server.domain.domain_support import Clients, expect, report, route
from tests.cti_server.prompt_support import wav_bytes
from tests.cti_server.web.conftest import FAST_HASHER, _backends

pytestmark = pytest.mark.asyncio

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_STAMP = re.compile(r'name="stamp" value="([^"]+)"')


@pytest_asyncio.fixture(params=_backends())
async def app(
    request: pytest.FixtureRequest, make_web_db: Callable[[str], sa.Engine], tmp_path: Path
) -> AsyncIterator[CtiApp]:
    engine = make_web_db(request.param)
    settings = Settings(
        paths=PathSettings(data_dir=str(tmp_path)),
        server=ServerSettings(host="127.0.0.1", ws_port=0, http_port=0),
    )
    server = CtiApp(
        settings,
        db=engine,
        domain=DomainConfig(command_timeout=0.5, supervisor_interval=0.2, ring_timeout=5.0),
        transport=TransportConfig(heartbeat_interval=5.0, disconnect_grace=1.0),
        hasher=FAST_HASHER,
        http_app_factory=default_http_side,
    )
    await server.start(host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def clients(app: CtiApp) -> AsyncIterator[Clients]:
    opened = Clients(app)
    try:
        yield opened
    finally:
        await opened.close()


class Console:
    """An administrator's browser session on the console (async: the server runs in this
    test's event loop)."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=10)
        self.csrf = ""

    async def login(self, agent_id: str = "9901") -> None:
        form = await self.http.get("/ui/login?lang=en")
        match = _CSRF.search(form.text)
        assert match
        done = await self.http.post(
            "/ui/login", data={"csrf": match.group(1), "agent_id": agent_id, "password": "demo"}
        )
        assert done.status_code == 303
        home = await self.http.get("/ui/")
        match = _CSRF.search(home.text)
        assert match
        self.csrf = match.group(1)

    async def set_level(self, agent_id: str, skill: str, level: str) -> httpx.Response:
        html = (await self.http.get("/ui/admin/skill-grid")).text
        stamp = _STAMP.search(html)
        assert stamp
        form: dict[str, Any] = {"csrf": self.csrf, "stamp": stamp.group(1), "page": "1"}
        form["agent"] = re.findall(r'name="agent" value="([^"]+)"', html)
        for name, value in re.findall(r'name="(lvl\|[^"]+)" value="([^"]*)"', html):
            form[name] = value
        form[f"lvl|{agent_id}|{skill}"] = level
        return await self.http.post("/ui/admin/skill-grid", data=form)


@pytest_asyncio.fixture
async def console(app: CtiApp) -> AsyncIterator[Console]:
    port = getattr(app.http, "port", 0)
    assert port
    browser = Console(f"http://127.0.0.1:{port}")
    await browser.login()
    try:
        yield browser
    finally:
        await browser.http.aclose()


async def test_a_level_saved_on_the_page_changes_the_next_routing_decision(
    app: CtiApp, clients: Clients, console: Console
) -> None:
    switch = await clients.switch()
    await switch.register("1001")
    desk = await clients.desktop("1001")
    await desk.request(AgentLogin(id=0, extension="1001", initial_state="ready"))
    await expect(desk, AgentReady)
    centre = app.centre

    # REST edits apply live too: 1001's billing becomes level 3 (q_billing takes level 1 first)
    port = getattr(app.http, "port", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=("9901", "demo")) as api:
        put = await api.put(
            "/api/v1/agents/1001/skills", json={"skills": {"billing": 3, "sales": 2}}
        )
        assert put.status_code == 200, put.text
    assert centre.agents["1001"].skills == {"billing": 3, "sales": 2}
    assert centre.engine.agent_state("1001") == EngineState.READY  # state kept

    await route(switch, "LIVE-1", RouteStage.ARRIVAL)
    queued = await route(switch, "LIVE-1", RouteStage.AGENT_NEEDED, business_selection="billing")
    assert queued.agent is None  # level 3 is not eligible in the first 20 s
    assert centre.engine.call_state("LIVE-1") == EngineCallState.WAITING

    # the administrator gives 1001 billing level 1 on the page: the waiting call is offered
    saved = await console.set_level("1001", "billing", "1")
    assert saved.status_code == 303 and "saved=1" in saved.headers["location"]
    command = await switch.command()
    assert isinstance(command.action, OfferToAgent)
    assert (command.call_id, command.action.agent_id) == ("LIVE-1", "1001")
    assert centre.engine.call_agent("LIVE-1") == "1001"
    with app.db.connect() as conn:
        level = conn.execute(
            sa.select(AgentSkill.level).where(
                AgentSkill.agent_id == "1001", AgentSkill.skill_id == "billing"
            )
        ).scalar_one()
        audit = conn.execute(
            sa.select(AuditEntry.actor, AuditEntry.after)
            .where(AuditEntry.entity == "agent", AuditEntry.entity_id == "1001")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert level == 1
    assert audit is not None and audit.actor == "9901"
    assert audit.after == {"skills": {"billing": 1, "sales": 2}}

    # while 1001's phone rings, a change waits for the call, then applies
    deferred = await console.set_level("1001", "tv", "2")
    assert deferred.status_code == 303
    assert "1001" in centre.pending_config
    assert centre.agents["1001"].skills == {"billing": 1, "sales": 2}
    await report(switch, "LIVE-1", SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id="1001")
    await report(switch, "LIVE-1", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    for _ in range(100):
        if "1001" not in centre.pending_config:
            break
        await _sleep()
    assert "1001" not in centre.pending_config
    assert centre.agents["1001"].skills == {"billing": 1, "sales": 2, "tv": 2}
    assert centre.engine.agent_state("1001") != EngineState.LOGGED_OUT


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.05)


async def test_a_lowered_level_keeps_the_next_call_queued(
    app: CtiApp, clients: Clients, console: Console
) -> None:
    switch = await clients.switch()
    await switch.register("1002")
    desk = await clients.desktop("1002")
    await desk.request(AgentLogin(id=0, extension="1002", initial_state="ready"))
    await expect(desk, AgentReady)
    bad = await console.set_level("1002", "billing", "0")
    assert bad.status_code == 400 and "A level is a whole number" in bad.text
    assert app.centre.agents["1002"].skills["billing"] == 1  # nothing applied
    lowered = await console.set_level("1002", "billing", "2")
    assert lowered.status_code == 303
    await route(switch, "LIVE-2", RouteStage.ARRIVAL)
    routed = await route(switch, "LIVE-2", RouteStage.AGENT_NEEDED, business_selection="billing")
    assert routed.agent is None
    assert app.centre.engine.agent_state("1002") == EngineState.READY
    # another reload leaves the waiting call queued and the agent ready
    assert (await console.set_level("1002", "tv", "1")).status_code == 303
    assert app.centre.agents["1002"].skills == {"billing": 2, "broadband": 2, "tv": 1}
    assert app.centre.engine.call_state("LIVE-2") == EngineCallState.WAITING
    assert app.centre.engine.agent_state("1002") == EngineState.READY


async def test_tiers_reasons_and_new_agents_apply_live(app: CtiApp, console: Console) -> None:
    form = {
        "csrf": console.csrf,
        "name": "金卡",
        "sl_seconds": "12",
        "sl_target": "92.5",
        "priority_weight": "2",
        "blacklist_action": "bar",
    }
    assert (await console.http.post("/ui/admin/tiers/gold", data=form)).status_code == 303
    centre = app.centre
    assert centre.config.tiers["gold"].sl_target == pytest.approx(0.925)
    figures = centre.engine.tier_figures("gold", centre.now())
    assert figures.target == pytest.approx(0.925)
    reason = {"csrf": console.csrf, "id": "coaching", "label": "辅导", "paid": "1", "active": "1"}
    assert (await console.http.post("/ui/admin/reasons", data=reason)).status_code == 303
    assert centre.reasons["coaching"] == "辅导"
    # a new skill given to agents by bulk edit
    skill = {"csrf": console.csrf, "id": "vip_care", "name": "VIP 关怀"}
    assert (await console.http.post("/ui/admin/skills", data=skill)).status_code == 303
    bulk = {
        "csrf": console.csrf,
        "bulk_agents": ["1003", "1004"],
        "bulk_skill": "vip_care",
        "bulk_level": "1",
    }
    assert (await console.http.post("/ui/admin/skill-grid/bulk", data=bulk)).status_code == 303
    assert centre.agents["1003"].skills["vip_care"] == 1
    assert centre.agents["1004"].skills["vip_care"] == 1
    # a queue change is stored; the engine takes it at the next start (reported in the log)
    queue = {
        "csrf": console.csrf,
        "name": "vip care",
        "skill_id": "vip_care",
        "agent_order": "longest_idle",
        "overflow": "[]",
        "max_wait_action": "callback",
        "acw_seconds": "0",
        "id": "q_vip_care",
    }
    assert (await console.http.post("/ui/admin/queues", data=queue)).status_code == 303
    assert "q_vip_care" in centre.config.queues
    assert centre.agents["1003"].queues[-1:] == ("q_vip_care",)


async def test_prompts_are_uploaded_and_played_back_and_switches_listed(
    app: CtiApp, clients: Clients, console: Console
) -> None:
    await clients.switch("sw-admin")
    audio = wav_bytes(440.0, 0.5)
    headers = {"Content-Type": "audio/wav", "X-CSRF-Token": console.csrf}
    put = await console.http.put("/ui/admin/prompts/zh/welcome_vip", content=audio, headers=headers)
    assert put.status_code == 200 and put.json()["ok"] is True
    page = (await console.http.get("/ui/admin/prompts")).text
    assert 'src="/ui/admin/prompts/zh/welcome_vip/audio"' in page
    played = await console.http.get("/ui/admin/prompts/zh/welcome_vip/audio")
    assert played.status_code == 200 and played.headers["content-type"] == "audio/wav"
    assert played.content == audio
    bad = await console.http.put(
        "/ui/admin/prompts/zh/welcome_vip",
        content=wav_bytes(440.0, 0.5, rate=16000),
        headers=headers,
    )
    assert bad.status_code == 422 and bad.json()["problem"] == "bad_rate"
    assert (await console.http.get("/ui/admin/prompts/zh/welcome_vip/audio")).content == audio
    forged = await console.http.put(
        "/ui/admin/prompts/zh/other", content=audio, headers={"X-CSRF-Token": "forged"}
    )
    assert forged.status_code == 403
    with app.db.connect() as conn:
        actions = (
            conn.execute(
                sa.select(AuditEntry.action).where(
                    AuditEntry.entity == "prompt", AuditEntry.entity_id == "zh/welcome_vip"
                )
            )
            .scalars()
            .all()
        )
    assert list(actions) == ["upload"]
    removed = await console.http.post(
        "/ui/admin/prompts/zh/welcome_vip/delete", data={"csrf": console.csrf}
    )
    assert removed.status_code == 303
    assert (await console.http.get("/ui/admin/prompts/zh/welcome_vip/audio")).status_code == 404

    switches = (await console.http.get("/ui/admin/switches")).text
    row = re.search(r'<tr data-switch="sw-admin">(.*?)</tr>', switches, re.S)
    assert row, switches[-2000:]
    assert "<td>yes</td>" in row.group(1) and "normal" in row.group(1)
