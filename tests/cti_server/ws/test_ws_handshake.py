"""The hello handshake: versions, authentication, the first-frame rule (R-SEC-1)."""

from __future__ import annotations

import pytest

from shared.cti_client import CtiClient
from shared.protocol.base import PROTOCOL_VERSION
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, PasswordCredentials, TokenCredentials, Welcome
from shared.protocol.responses import Error, Result
from tests.cti_server.ws.ws_support import (
    TOOL_TOKEN,
    ClientFactory,
    RawFactory,
    ServerFactory,
    url,
    wait_until,
)


@pytest.mark.asyncio
async def test_hello_gets_welcome_with_session_and_heartbeat(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(heartbeat_interval=7.5)
    client = await make_client(server, "1001")
    welcome = client.welcome
    assert welcome is not None
    assert welcome.principal == "1001"
    assert str(welcome.version) == str(PROTOCOL_VERSION)
    assert welcome.heartbeat_seconds == 7.5
    assert welcome.resumed is False and welcome.last_seq == 0
    assert server.sessions.get(welcome.session_id) is not None
    assert server.stats.connections_open == 1 and server.stats.sessions_live == 1


@pytest.mark.asyncio
async def test_unsupported_version_is_refused_and_a_good_hello_still_works(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    server = await make_server()
    raw = await make_raw(server)
    reply = await raw.hello(versions=[{"major": 9, "minor": 0}], rid=1)
    assert isinstance(reply, Error)
    assert reply.code is ErrorCode.UNSUPPORTED_VERSION and reply.id == 1
    assert reply.detail["supported"] == str(PROTOCOL_VERSION)
    assert isinstance(await raw.hello(rid=2), Welcome)


@pytest.mark.asyncio
async def test_bad_password_is_not_authenticated(make_server: ServerFactory) -> None:
    server = await make_server()
    with pytest.raises(ProtocolError) as info:
        await CtiClient.connect(
            url(server),
            PasswordCredentials(user_id="1001", password="wrong"),
            ClientKind.DESKTOP,
        )
    assert info.value.code is ErrorCode.NOT_AUTHENTICATED
    assert "wrong" not in info.value.message
    assert len(server.sessions) == 0


@pytest.mark.asyncio
async def test_unknown_user_and_wrong_password_look_the_same(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    server = await make_server()
    raw = await make_raw(server)
    unknown = await raw.hello("nobody", password="x", rid=1)
    wrong = await raw.hello("1001", password="x", rid=2)
    assert isinstance(unknown, Error) and isinstance(wrong, Error)
    assert (unknown.code, unknown.message) == (wrong.code, wrong.message)
    assert unknown.code is ErrorCode.NOT_AUTHENTICATED


@pytest.mark.asyncio
async def test_agent_role_cannot_connect_as_supervisor(make_server: ServerFactory) -> None:
    server = await make_server()
    with pytest.raises(ProtocolError) as info:
        await CtiClient.connect(
            url(server),
            PasswordCredentials(user_id="1001", password="pw1001"),
            ClientKind.SUPERVISOR,
        )
    assert info.value.code is ErrorCode.FORBIDDEN


@pytest.mark.asyncio
async def test_switch_and_tool_tokens(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    switch = await make_client(server, kind=ClientKind.SWITCH)
    assert switch.welcome is not None and switch.welcome.principal == "sw1"
    tool = await CtiClient.connect(url(server), TokenCredentials(token=TOOL_TOKEN), ClientKind.TOOL)
    assert tool.welcome is not None and tool.welcome.principal == "bench"
    await tool.close()
    with pytest.raises(ProtocolError) as info:  # a tool token is not a switch token
        await CtiClient.connect(url(server), TokenCredentials(token=TOOL_TOKEN), ClientKind.SWITCH)
    assert info.value.code is ErrorCode.NOT_AUTHENTICATED


@pytest.mark.asyncio
async def test_request_before_hello_is_not_authenticated(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    server = await make_server()
    raw = await make_raw(server)
    await raw.send({"type": "call.answer", "id": 1, "call_id": "c1"})
    reply = await raw.recv()
    assert isinstance(reply, Error)
    assert reply.code is ErrorCode.NOT_AUTHENTICATED and reply.id == 1
    assert isinstance(await raw.hello(rid=2), Welcome)


@pytest.mark.asyncio
async def test_second_hello_is_already_authenticated(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    server = await make_server()
    raw = await make_raw(server)
    assert isinstance(await raw.hello(rid=1), Welcome)
    reply = await raw.hello(rid=2)
    assert isinstance(reply, Error) and reply.code is ErrorCode.ALREADY_AUTHENTICATED
    await raw.send({"type": "ping", "id": 3})
    assert (await raw.recv()).type_tag() == "pong"


@pytest.mark.asyncio
async def test_too_many_bad_frames_before_hello_close_the_connection(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    server = await make_server(max_bad_frames_before_hello=3)
    raw = await make_raw(server)
    for rid in (1, 2, 3):
        await raw.send({"type": "agent.set_ready", "id": rid})
        reply = await raw.recv()
        assert isinstance(reply, Error) and reply.code is ErrorCode.NOT_AUTHENTICATED
    await raw.ws.wait_closed()
    assert raw.ws.close_code == 1008
    assert raw.ws.close_reason == "too many bad frames"


@pytest.mark.asyncio
async def test_no_hello_in_time_closes_the_connection(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    server = await make_server(hello_timeout=0.1)
    raw = await make_raw(server)
    await raw.ws.wait_closed()
    assert (raw.ws.close_code, raw.ws.close_reason) == (1008, "no hello")
    assert server.stats.hello_timeouts == 1
    await wait_until(lambda: server.stats.connections_open == 0)


@pytest.mark.asyncio
async def test_logout_ends_the_session_and_closes(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = await make_client(server)
    session_id = client.session_id
    assert session_id is not None
    await client.logout()
    assert (client.close_code, client.close_reason) == (1000, "logged out")
    assert server.sessions.get(session_id) is None
    assert client.session_id is None


@pytest.mark.asyncio
async def test_bare_result_and_typed_result(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    server = await make_server()
    raw = await make_raw(server)
    await raw.hello(rid=1)
    await raw.send(
        {
            "type": "call.consult",
            "id": 2,
            "call_id": "c1",
            "destination": {"kind": "agent", "agent_id": "1002"},
        }
    )
    reply = await raw.recv()
    assert isinstance(reply, Result) and reply.id == 2
    assert reply.body is not None and reply.body.consult_call_id == "consult-c1"  # type: ignore[union-attr]
