"""Issue 8, live administration of queues and agent groups against the whole running CTI
server (real ``CtiApp`` with its HTTP side, real WebSocket desktop and switch clients;
SQLite and PostgreSQL): a queue's definition or the tiers a group serves, saved on the
console, change the routing of calls already waiting — no restart; deleting a queue
with a waiting call is refused with the reason on the page; a change the engine cannot
take is listed on the page as needing a restart; a queue's recording switch reaches the
switch in the route response."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio
import sqlalchemy as sa

from cti_server.app import CtiApp, default_http_side
from cti_server.domain import DomainConfig
from cti_server.routing import CallState as EngineCallState
from cti_server.store.models import AuditEntry
from cti_server.store.models import Queue as QueueRow
from cti_server.ws import TransportConfig
from shared.config import PathSettings, ServerSettings, Settings
from shared.protocol.call import ClearCause
from shared.protocol.switch import OfferToAgent, RouteStage, SwitchCallEventKind
from tests.cti_server.domain.domain_support import (
    Clients,
    connected_call,
    ready_agent,
    report,
    route,
    until,
)
from tests.cti_server.web.conftest import FAST_HASHER, _backends

pytestmark = pytest.mark.asyncio

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
BILLING = {
    "name": "billing queue",
    "skill_id": "billing",
    "agent_order": "longest_idle",
    "max_level": "1",
    "overflow": '[{"after": 20, "widen_to_level": 2}]',
    "max_wait": "300",
    "max_wait_action": "callback",
    "acw_seconds": "15",
    "calendar_id": "",
    "recording": "1",
    "action": "save",
}


@pytest_asyncio.fixture(params=_backends())
async def app(
    request: pytest.FixtureRequest, make_web_db: Callable[[str], sa.Engine], tmp_path: Path
) -> AsyncIterator[CtiApp]:
    settings = Settings(
        paths=PathSettings(data_dir=str(tmp_path)),
        server=ServerSettings(host="127.0.0.1", ws_port=0, http_port=0),
    )
    server = CtiApp(
        settings,
        db=make_web_db(request.param),
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


@pytest_asyncio.fixture
async def console(app: CtiApp) -> AsyncIterator[httpx.AsyncClient]:
    """An administrator's browser session on the console (``csrf`` in its headers)."""
    port = getattr(app.http, "port", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        form = await http.get("/ui/login?lang=en")
        match = _CSRF.search(form.text)
        assert match
        done = await http.post(
            "/ui/login", data={"csrf": match.group(1), "agent_id": "9901", "password": "demo"}
        )
        assert done.status_code == 303
        match = _CSRF.search((await http.get("/ui/")).text)
        assert match
        http.headers["x-test-csrf"] = match.group(1)
        yield http


async def _post(console: httpx.AsyncClient, path: str, **fields: Any) -> httpx.Response:
    data = {"csrf": console.headers["x-test-csrf"], **fields}
    return await console.post(path, data=data)


async def _waiting_call(app: CtiApp, clients: Clients, call_id: str, selection: str) -> Any:
    switch = await clients.switch()
    await switch.register("1004", "1006")
    await route(switch, call_id, RouteStage.ARRIVAL)  # the VIP caller
    queued = await route(switch, call_id, RouteStage.AGENT_NEEDED, business_selection=selection)
    assert queued.agent is None
    assert app.centre.engine.call_state(call_id) == EngineCallState.WAITING
    return switch


async def test_a_queue_change_saved_on_the_page_offers_a_waiting_call_at_once(
    app: CtiApp, clients: Clients, console: httpx.AsyncClient
) -> None:
    await ready_agent(clients, "1004")  # billing level 2: not eligible for the first 20 s
    switch = await _waiting_call(app, clients, "LQ-1", "billing")
    arrived = app.centre.engine.call_queue("LQ-1")

    saved = await _post(console, "/ui/admin/queues/q_billing", **{**BILLING, "max_level": "2"})

    assert saved.status_code == 303
    assert "restart=" not in saved.headers["location"]  # nothing waits for a restart
    command = await switch.command()
    assert isinstance(command.action, OfferToAgent)
    assert (command.call_id, command.action.agent_id) == ("LQ-1", "1004")
    assert arrived == "q_billing" and app.centre.engine.queue_spec("q_billing").max_level == 2
    page = await console.get(saved.headers["location"])
    assert "Saved; the running server uses it now." in page.text
    assert "next start" not in page.text


async def test_a_group_serving_a_new_tier_takes_the_waiting_call(
    app: CtiApp, clients: Clients, console: httpx.AsyncClient
) -> None:
    await ready_agent(clients, "1006")  # tv level 1, only in "general" (gold, normal)
    switch = await _waiting_call(app, clients, "LQ-2", "tv")
    with app.db.connect() as conn:
        members = conn.execute(
            sa.text("SELECT agent_id FROM agent_group_members WHERE group_id = 'general'")
        ).scalars()
        form: dict[str, Any] = {"name": "general", "tiers": ["gold", "normal", "vip"]}
        form["members"] = sorted(members)

    saved = await _post(console, "/ui/admin/groups/general", action="save", **form)

    assert saved.status_code == 303 and "restart=" not in saved.headers["location"]
    command = await switch.command()
    assert isinstance(command.action, OfferToAgent)
    assert (command.call_id, command.action.agent_id) == ("LQ-2", "1006")
    assert app.centre.engine.group_tiers("general") == frozenset({"gold", "normal", "vip"})
    assert app.centre.config.groups["general"].tiers == frozenset({"gold", "normal", "vip"})


async def test_deleting_a_queue_with_a_waiting_call_is_refused_with_the_reason(
    app: CtiApp, clients: Clients, console: httpx.AsyncClient
) -> None:
    switch = await _waiting_call(app, clients, "LQ-3", "sales")
    with app.db.begin() as conn:  # nothing else points to q_sales
        conn.execute(sa.text("DELETE FROM audit_log"))

    refused = await _post(console, "/ui/admin/queues/q_sales", action="delete")

    assert refused.status_code == 400
    assert "Not saved" in refused.text and "[queue_has_calls]" in refused.text
    assert "1 waiting" in refused.text
    with app.db.connect() as conn:
        assert conn.execute(sa.select(QueueRow.id).where(QueueRow.id == "q_sales")).first()
        assert conn.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar() == 0
    assert app.centre.engine.position("LQ-3") == 1  # still queued

    await report(switch, "LQ-3", SwitchCallEventKind.RELEASED, cause=ClearCause.CALLER_ABANDONED)
    assert app.centre.engine.waiting("q_sales") == 0
    deleted = await _post(console, "/ui/admin/queues/q_sales", action="delete")
    assert deleted.status_code == 303 and "saved=deleted" in deleted.headers["location"]
    assert "restart=" not in deleted.headers["location"]
    assert "q_sales" not in app.centre.config.queues
    with pytest.raises(Exception, match="unknown queue"):
        app.centre.engine.queue_spec("q_sales")


async def test_a_change_the_engine_refuses_is_listed_as_needing_a_restart(
    app: CtiApp, clients: Clients, console: httpx.AsyncClient
) -> None:
    await _waiting_call(app, clients, "LQ-4", "billing")
    bad = {**BILLING, "max_wait": "30", "max_wait_action": "overflow:q_nowhere"}

    saved = await _post(console, "/ui/admin/queues/q_billing", **bad)

    assert saved.status_code == 303 and "restart=" in saved.headers["location"]
    page = await console.get(saved.headers["location"])
    assert "the routing engine takes these at the next start" in page.text
    assert "queue q_billing changed" in page.text and "q_nowhere" in page.text
    # the engine keeps routing by what it had: the waiting call stays where it was
    assert app.centre.engine.queue_spec("q_billing").max_wait == 300
    assert app.centre.engine.position("LQ-4") == 1


async def test_recording_off_for_a_queue_reaches_the_switch_in_the_route_response(
    app: CtiApp, clients: Clients, console: httpx.AsyncClient
) -> None:
    switch = await clients.switch()
    await route(switch, "REC-1", RouteStage.ARRIVAL)
    on = await route(switch, "REC-1", RouteStage.AGENT_NEEDED, business_selection="billing")
    assert on.record is msgspec.UNSET  # the default: record (nothing on the wire)

    form = {k: v for k, v in BILLING.items() if k != "recording"}  # checkbox cleared
    saved = await _post(console, "/ui/admin/queues/q_billing", **form)
    assert saved.status_code == 303
    assert app.centre.config.queues["q_billing"].recording is False
    with app.db.connect() as conn:
        stored = conn.execute(sa.select(QueueRow.recording).where(QueueRow.id == "q_billing"))
        assert stored.scalar() is False
    page = (await console.get("/ui/admin/queues")).text
    assert "Record calls" in page

    await route(switch, "REC-2", RouteStage.ARRIVAL)
    off = await route(switch, "REC-2", RouteStage.AGENT_NEEDED, business_selection="billing")
    assert off.record is False
    other = await route(switch, "REC-3", RouteStage.ARRIVAL)
    assert other.record is msgspec.UNSET
    sales = await route(switch, "REC-3", RouteStage.AGENT_NEEDED, business_selection="sales")
    assert sales.record is msgspec.UNSET

    port = getattr(app.http, "port", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=("9901", "demo")) as api:
        got = await api.get("/api/v1/queues/q_billing")
        assert got.status_code == 200 and got.json()["recording"] is False
        put = await api.patch("/api/v1/queues/q_billing", json={"recording": True})
        assert put.status_code == 200, put.text
    assert app.centre.config.queues["q_billing"].recording is True


async def test_a_group_deleted_while_a_member_talks_leaves_routing_when_the_call_ends(
    app: CtiApp, clients: Clients, console: httpx.AsyncClient
) -> None:
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "LQ-6")
    engine = app.centre.engine

    deleted = await _post(console, "/ui/admin/groups/vip_team", action="delete")

    assert deleted.status_code == 303 and "later=" in deleted.headers["location"]
    page = await console.get(deleted.headers["location"])
    assert "apply as soon as the calls concerned are over" in page.text
    assert "agent group vip_team deleted" in page.text and "group_has_members" not in page.text
    assert engine.group_tiers("vip_team") == frozenset({"vip"})  # 1001 is still talking in it

    await report(switch, "LQ-6", SwitchCallEventKind.RELEASED, cause=ClearCause.NORMAL)
    await until(lambda: "vip_team" not in app.centre.config.groups)
    with pytest.raises(Exception, match="unknown agent group"):
        engine.group_tiers("vip_team")
    assert app.centre.pending_removals == []


async def test_the_rest_api_refuses_deleting_a_queue_with_a_waiting_call(
    app: CtiApp, clients: Clients
) -> None:
    await _waiting_call(app, clients, "LQ-7", "tv")
    port = getattr(app.http, "port", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=("9901", "demo")) as api:
        refused = await api.delete("/api/v1/queues/q_tv")
    assert refused.status_code == 409
    assert "queue_has_calls" in refused.text
    assert "q_tv" in app.centre.config.queues and app.centre.engine.position("LQ-7") == 1
