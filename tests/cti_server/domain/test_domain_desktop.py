"""Protocol 1.3 for the agent desktop over real WebSockets: ``welcome.role``,
``web.token`` (one-time web sign-on), ``call.wrap_up`` (after-call notes onto the contact
record, also when it races the release write) and ``desktop.directory``; a 1.2 desktop
keeps working and never sees any of it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from websockets.asyncio.client import connect

from cti_server.app import CtiApp, default_http_side
from cti_server.domain import DomainConfig
from cti_server.store import CallStore, WrapUpRefusal, redeem_web_token
from cti_server.store.models import CallEvent, ContactRecord
from cti_server.ws import TransportConfig
from shared.config import PathSettings, ServerSettings, Settings
from shared.cti_client import CtiClient
from shared.protocol import VERSION_1_2, ErrorCode, ProtocolError
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLogin,
    AgentReady,
    AgentState,
    AgentWorkNotReady,
)
from shared.protocol.call import (
    AgentDestination,
    CallConnectionCleared,
    CallDelivered,
    CallEstablished,
    CallRelease,
    CallSingleStepTransfer,
    CallTransferred,
    CallWrapUp,
    IvrDestination,
    WrapUpResult,
)
from shared.protocol.desktop import (
    DesktopDirectory,
    DesktopDirectoryRequest,
    WebTokenRequest,
    WebTokenResult,
)
from shared.protocol.handshake import ClientKind, PasswordCredentials
from shared.protocol.switch import Hangup, LegRole, SwitchCallEventKind, TransferCall
from tests.cti_server.domain.domain_support import (
    GRACE,
    Clients,
    FakeSwitch,
    connected_call,
    expect,
    ready_agent,
    report,
)

pytestmark = pytest.mark.asyncio

NOTES = "客户咨询宽带资费，已告知千兆套餐价格。"


async def _error(client: CtiClient, msg: object) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        await client.request(msg)  # type: ignore[arg-type]
    return caught.value


def _contact(
    db: sa.Engine, call_id: str, agent_id: str | None = None
) -> tuple[str | None, str, str]:
    """The call's one contact record (or ``agent_id``'s, when several agents had a part)."""
    query = sa.select(
        ContactRecord.agent_id, ContactRecord.summary, ContactRecord.business_selection
    ).where(ContactRecord.call_id == call_id)
    if agent_id is not None:
        query = query.where(ContactRecord.agent_id == agent_id)
    with db.connect() as conn:
        row = conn.execute(query).one()
    return row[0], row[1], row[2]


def _wrap_events(db: sa.Engine, call_id: str) -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(CallEvent.data)
            .where(CallEvent.call_id == call_id, CallEvent.kind == "wrapped_up")
            .order_by(CallEvent.seq)
        ).scalars()
        return [dict(r) for r in rows]


async def _old_desktop(app: CtiApp, clients: Clients, user: str) -> CtiClient:
    client = CtiClient(
        app.url,
        PasswordCredentials(user_id=user, password="demo"),
        ClientKind.DESKTOP,
        heartbeat=False,
        request_timeout=5.0,
        versions=[VERSION_1_2],
    )
    clients.opened.append(client)
    await client.open()
    return client


async def _released_call(switch: FakeSwitch, desk: CtiClient, agent: str, call_id: str) -> None:
    await connected_call(switch, desk, agent, call_id)
    await report(switch, call_id, SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    await expect(desk, CallConnectionCleared)


# --- welcome.role and 1.2 compatibility ------------------------------------------------------


async def test_welcome_names_the_role_and_a_1_2_desktop_sees_no_new_field(
    app: CtiApp, clients: Clients
) -> None:
    agent = await clients.desktop("1001")
    assert agent.welcome is not None and agent.welcome.principal_role == "agent"
    lead = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
    assert lead.welcome is not None and lead.welcome.role == "team_lead"
    switch = await clients.switch()
    assert switch.client.welcome is not None and switch.client.welcome.role is None

    old = await _old_desktop(app, clients, "1002")
    assert old.welcome is not None and old.welcome.version == VERSION_1_2
    assert old.welcome.principal_role is None
    for request in (
        WebTokenRequest(id=0),
        DesktopDirectoryRequest(id=0),
        CallWrapUp(id=0, call_id="ANY", notes="x"),
    ):
        refused = await _error(old, request)
        assert refused.code is ErrorCode.UNEXPECTED_TYPE, request
    # on the wire: a 1.2 welcome has exactly the fields 1.2 defined
    async with connect(app.url) as ws:
        hello = {
            "type": "hello",
            "id": 1,
            "versions": [{"major": 1, "minor": 2}],
            "kind": "desktop",
            "credentials": {"kind": "password", "user_id": "1003", "password": "demo"},
        }
        await ws.send(json.dumps(hello))
        welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome" and welcome["version"] == {"major": 1, "minor": 2}
    assert "role" not in welcome


# --- web.token ---------------------------------------------------------------------------------


async def test_web_token_signs_the_desktop_on_to_the_web_panels_once(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    desk = await clients.desktop("1001")
    body = await desk.request(WebTokenRequest(id=0, next_path="/ui/calls/CALL-1?x=1&y=2"))
    assert isinstance(body, WebTokenResult)
    assert body.token not in repr(body)
    assert body.sso_path.startswith("/ui/sso?token=")
    assert "next=%2Fui%2Fcalls%2FCALL-1%3Fx%3D1%26y%3D2" in body.sso_path
    assert 0 < body.expires_at - app.clock.wall() <= 60
    assert await asyncio.to_thread(redeem_web_token, db, body.token) == "1001"
    assert await asyncio.to_thread(redeem_web_token, db, body.token) is None  # once

    plain = await desk.request(WebTokenRequest(id=0))
    assert isinstance(plain, WebTokenResult) and plain.sso_path.endswith("&next=%2Fui%2F")
    lead = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
    led = await lead.request(WebTokenRequest(id=0, next_path="/ui/surveys"))
    assert isinstance(led, WebTokenResult)
    assert await asyncio.to_thread(redeem_web_token, db, led.token) == "9001"

    for bad in (
        "/api/v1/agents",
        "https://evil.example/ui/",
        "/ui",
        "/ui/../api/v1",
        "/ui/%2e%2e/x",
    ):
        refused = await _error(desk, WebTokenRequest(id=0, next_path=bad))
        assert refused.code is ErrorCode.INVALID_FIELD, bad
        assert refused.detail["path"] == "$.next_path"
    tool = await clients.desktop("1002", kind=ClientKind.TOOL)
    refused = await _error(tool, WebTokenRequest(id=0))
    assert refused.code is ErrorCode.FORBIDDEN
    switch = await clients.switch()  # not even a request of the switch link
    refused = await _error(switch.client, WebTokenRequest(id=0))
    assert refused.code is ErrorCode.UNEXPECTED_TYPE


# --- call.wrap_up ------------------------------------------------------------------------------


async def test_wrap_up_in_acw_and_again_when_ready_latest_notes_win(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    await _released_call(switch, desk, "1001", "WRAP-1")
    await expect(desk, AgentWorkNotReady)
    assert app.centre.agents["1001"].state is AgentState.WORK_NOT_READY

    first = await desk.request(
        CallWrapUp(id=0, call_id="WRAP-1", notes=NOTES, category="inquiry.tariff.broadband")
    )
    assert isinstance(first, WrapUpResult) and first.contact_id is not None
    assert _contact(db, "WRAP-1") == ("1001", NOTES, "inquiry.tariff.broadband")

    await desk.request(AgentEndAfterCallWork(id=0))
    await expect(desk, AgentReady)
    second = await desk.request(CallWrapUp(id=0, call_id="WRAP-1", notes="补充：客户稍后回电"))
    assert isinstance(second, WrapUpResult) and second.contact_id == first.contact_id
    # latest notes win; a wrap-up without a category keeps the one given before
    assert _contact(db, "WRAP-1") == ("1001", "补充：客户稍后回电", "inquiry.tariff.broadband")
    assert _wrap_events(db, "WRAP-1") == [
        {"agent_id": "1001", "notes": NOTES, "category": "inquiry.tariff.broadband"},
        {"agent_id": "1001", "notes": "补充：客户稍后回电"},
    ]


async def test_wrap_up_refusals_are_typed_and_write_nothing(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "WRAP-2")

    during = await _error(desk, CallWrapUp(id=0, call_id="WRAP-2", notes="too early"))
    assert during.code is ErrorCode.INVALID_STATE  # still talking (after a short wait)
    assert during.detail["reason"] == "on_call"

    await report(switch, "WRAP-2", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    await expect(desk, CallConnectionCleared)
    other = await clients.desktop("1002")
    await other.request(AgentLogin(id=0, extension="1002"))
    stranger = await _error(other, CallWrapUp(id=0, call_id="WRAP-2", notes="not mine"))
    assert stranger.code is ErrorCode.FORBIDDEN
    unknown = await _error(desk, CallWrapUp(id=0, call_id="NO-SUCH-CALL", notes="x"))
    assert unknown.code is ErrorCode.UNKNOWN_CALL
    too_long = await _error(desk, CallWrapUp(id=0, call_id="WRAP-2", notes="字" * 4001))
    assert too_long.code is ErrorCode.INVALID_FIELD and too_long.detail["path"] == "$.notes"
    long_category = CallWrapUp(id=0, call_id="WRAP-2", notes="x", category="c" * 65)
    bad_category = await _error(desk, long_category)
    assert bad_category.code is ErrorCode.INVALID_FIELD
    lead = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
    forbidden = await _error(lead, CallWrapUp(id=0, call_id="WRAP-2", notes="x"))
    assert forbidden.code is ErrorCode.FORBIDDEN  # a desktop request only

    # more than 24 h after the release: refused, nothing written
    store = CallStore(db)
    late = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    view = await asyncio.to_thread(
        store.wrap_up, "WRAP-2", "1001", notes="late", category=None, at=late
    )
    assert view.refused is WrapUpRefusal.TOO_LATE and view.ended_at is not None
    assert _wrap_events(db, "WRAP-2") == []
    assert _contact(db, "WRAP-2")[1] == "answered; released by caller"  # unchanged
    # at 4000 characters it is stored
    done = await desk.request(CallWrapUp(id=0, call_id="WRAP-2", notes="字" * 4000))
    assert isinstance(done, WrapUpResult)
    assert _contact(db, "WRAP-2")[1] == "字" * 4000


async def test_wrap_up_sent_right_after_the_release_request_waits_for_the_release(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """The desktop hangs up and saves its notes at once: the switch's ``released`` report
    arrives after the wrap-up request; the notes still land on the contact record."""
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "WRAP-3")
    await desk.request(CallRelease(id=0, call_id="WRAP-3"))  # the switch acknowledged
    assert isinstance((await switch.command()).action, Hangup)
    pending = asyncio.create_task(desk.request(CallWrapUp(id=0, call_id="WRAP-3", notes=NOTES)))
    await asyncio.sleep(0.2)
    assert not pending.done()
    await report(switch, "WRAP-3", SwitchCallEventKind.RELEASED, leg=LegRole.AGENT)
    result = await pending
    assert isinstance(result, WrapUpResult) and result.contact_id is not None
    assert _contact(db, "WRAP-3") == ("1001", NOTES, "billing")


async def test_wrap_up_waits_for_the_contact_record_still_queued_on_the_writer(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """``call.connection_cleared`` reaches the desktop before the release's contact record
    commits; a wrap-up sent then is ordered after that write, not lost."""
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "WRAP-4")
    gate = threading.Event()
    blocked = app.centre.store.writer.submit(lambda _calls, _sessions: gate.wait(10))
    released = asyncio.create_task(
        report(switch, "WRAP-4", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    )
    await expect(desk, CallConnectionCleared)
    pending = asyncio.create_task(desk.request(CallWrapUp(id=0, call_id="WRAP-4", notes=NOTES)))
    await asyncio.sleep(0.3)
    with db.connect() as conn:  # the release is not even written yet
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(ContactRecord.call_id == "WRAP-4")
            ).scalar_one()
            == 0
        )
    assert not pending.done()
    gate.set()
    await blocked
    await released
    result = await pending
    assert isinstance(result, WrapUpResult) and result.contact_id is not None
    assert _contact(db, "WRAP-4") == ("1001", NOTES, "billing")


async def test_after_a_transfer_each_agent_wraps_up_their_own_part(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """A transferred the call to B: A's part is over at the transfer and has its own
    contact record (disposition ``transferred``), which A's notes complete; B's notes go
    onto the contact record written at the release."""
    switch = await clients.switch()
    await switch.register("1001", "1002")
    first = await ready_agent(clients, "1001")
    await connected_call(switch, first, "1001", "WRAP-7")
    second = await ready_agent(clients, "1002")
    await first.request(
        CallSingleStepTransfer(
            id=0, call_id="WRAP-7", destination=AgentDestination(agent_id="1002")
        )
    )
    await switch.command()
    await report(switch, "WRAP-7", SwitchCallEventKind.TRANSFERRED, agent_id="1002")
    await expect(first, CallTransferred)
    mine = await first.request(CallWrapUp(id=0, call_id="WRAP-7", notes="已转账务专席"))
    assert isinstance(mine, WrapUpResult) and mine.contact_id is not None
    assert _contact(db, "WRAP-7", "1001") == ("1001", "已转账务专席", "billing")
    early = await _error(second, CallWrapUp(id=0, call_id="WRAP-7", notes="x"))
    assert early.code is ErrorCode.FORBIDDEN  # B has not answered yet

    await expect(second, CallDelivered)
    await report(switch, "WRAP-7", SwitchCallEventKind.ANSWERED, leg=LegRole.AGENT, agent_id="1002")
    await expect(second, CallEstablished)
    await report(switch, "WRAP-7", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    await expect(second, CallConnectionCleared)
    theirs = await second.request(CallWrapUp(id=0, call_id="WRAP-7", notes=NOTES))
    assert isinstance(theirs, WrapUpResult) and theirs.contact_id is not None
    assert _contact(db, "WRAP-7", "1002") == ("1002", NOTES, "billing")
    assert _contact(db, "WRAP-7", "1001") == ("1001", "已转账务专席", "billing")
    assert _wrap_events(db, "WRAP-7") == [
        {"agent_id": "1001", "notes": "已转账务专席"},
        {"agent_id": "1002", "notes": NOTES},
    ]


# --- desktop.directory -------------------------------------------------------------------------


async def test_directory_lists_reasons_queues_agents_and_working_ivr_targets(
    app: CtiApp, clients: Clients
) -> None:
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    body = await desk.request(DesktopDirectoryRequest(id=0))
    assert isinstance(body, DesktopDirectory)
    assert body.role == "agent"
    reasons = {r.code: r.label for r in body.reason_codes}
    assert reasons["break"] == "小休" and "lunch" in reasons
    assert set(reasons) == set(app.centre.reasons)  # exactly what set_not_ready accepts
    queues = {q.queue_id: q.name for q in body.queues}
    assert set(queues) == set(app.centre.config.queues) and "q_billing" in queues
    agents = {a.agent_id: a for a in body.agents}
    assert agents["1001"].state is AgentState.READY and agents["1001"].extension == "1001"
    assert agents["1002"].state is AgentState.LOGGED_OFF and agents["1002"].extension is None
    assert agents["1001"].display_name and "9001" in agents
    assert "survey" in {t.flow_id for t in body.ivr_targets}

    lead = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
    led = await lead.request(DesktopDirectoryRequest(id=0))
    assert isinstance(led, DesktopDirectory) and led.role == "team_lead"
    tool = await clients.desktop("1003", kind=ClientKind.TOOL)
    refused = await _error(tool, DesktopDirectoryRequest(id=0))
    assert refused.code is ErrorCode.FORBIDDEN

    # the survey target is a destination the server executes
    survey = next(t for t in body.ivr_targets if t.flow_id == "survey")
    await connected_call(switch, desk, "1001", "WRAP-5")
    await desk.request(
        CallSingleStepTransfer(id=0, call_id="WRAP-5", destination=survey.destination())
    )
    command = await switch.command()
    assert isinstance(command.action, TransferCall)
    assert command.action.destination == IvrDestination(flow_id="survey")


# --- end to end: token → web session → the call page with the notes -----------------------


async def test_the_sso_path_opens_the_call_page_showing_the_wrap_up(
    db: sa.Engine, tmp_path: Path
) -> None:
    settings = Settings(
        paths=PathSettings(data_dir=str(tmp_path)),
        server=ServerSettings(host="127.0.0.1", ws_port=0, http_port=0),
    )
    app = CtiApp(
        settings,
        db=db,
        domain=DomainConfig(command_timeout=0.5, supervisor_interval=0.1, ring_timeout=5.0),
        transport=TransportConfig(heartbeat_interval=5.0, disconnect_grace=GRACE),
        hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
        http_app_factory=default_http_side,
    )
    await app.start(host="127.0.0.1", port=0)
    clients = Clients(app)
    try:
        switch = await clients.switch()
        await switch.register("1001")
        desk = await ready_agent(clients, "1001")
        await _released_call(switch, desk, "1001", "WRAP-6")
        await desk.request(CallWrapUp(id=0, call_id="WRAP-6", notes=NOTES, category="billing"))
        token = await desk.request(WebTokenRequest(id=0, next_path="/ui/calls/WRAP-6?lang=en"))
        assert isinstance(token, WebTokenResult)
        base = f"http://127.0.0.1:{getattr(app.http, 'port', 0)}"
        async with httpx.AsyncClient(base_url=base, follow_redirects=True) as web:
            page = await web.get(token.sso_path)
            assert page.status_code == 200
            assert str(page.url) == f"{base}/ui/calls/WRAP-6?lang=en"
            assert "After-call notes" in page.text and NOTES in page.text
            assert (await web.get("/ui/contacts?lang=en")).status_code == 200  # signed in
        async with httpx.AsyncClient(base_url=base) as stranger:
            assert (await stranger.get(token.sso_path)).status_code == 403  # used up
    finally:
        await clients.close()
        await app.stop()
