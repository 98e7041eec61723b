"""The handler table: results, domain errors, internal errors, permissions."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cti_server.ws import DomainError, RequestContext, Role, Router
from shared.protocol.call import (
    AgentDestination,
    CallAnswer,
    CallConsult,
    CallHold,
    CallRelease,
    CallRetrieve,
    CallSendDtmf,
    ConsultResult,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, Ping
from shared.protocol.supervisor import SupervisorForceLogout, SupervisorSubscribe
from shared.protocol.switch import SwitchRegistration
from tests.cti_server.ws.ws_support import ClientFactory, ServerFactory


@pytest.mark.asyncio
async def test_result_body_and_bare_result(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = await make_client(server)
    body = await client.request(
        lambda i: CallConsult(id=i, call_id="c9", destination=AgentDestination(agent_id="1002"))
    )
    assert body == ConsultResult(consult_call_id="consult-c9")
    assert await client.request(CallAnswer(id=0, call_id="c9")) is None


@pytest.mark.asyncio
async def test_domain_error_becomes_its_code(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = await make_client(server)
    with pytest.raises(ProtocolError) as info:
        await client.request(CallHold(id=0, call_id="c1"))
    assert info.value.code is ErrorCode.INVALID_STATE
    assert info.value.message == "the call is not established"
    assert info.value.detail == {"call": 1}


@pytest.mark.asyncio
async def test_handler_exception_is_internal_logged_not_sent_and_server_keeps_serving(
    make_server: ServerFactory, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server()
    client = await make_client(server)
    with caplog.at_level(logging.ERROR), pytest.raises(ProtocolError) as info:
        await client.request(CallRetrieve(id=0, call_id="c1"))
    assert info.value.code is ErrorCode.INTERNAL
    assert "hunter2" not in info.value.message and not info.value.detail
    assert any("hunter2" in (r.exc_text or "") for r in caplog.records)
    assert server.stats.handler_exceptions == 1
    assert server.stats.errors_by_code["internal"] == 1
    assert await client.request(CallAnswer(id=0, call_id="c1")) is None
    other = await make_client(server, "1002")
    assert await other.request(CallAnswer(id=0, call_id="c2")) is None


@pytest.mark.asyncio
async def test_wrong_result_body_from_a_handler_is_internal(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = await make_client(server)
    with pytest.raises(ProtocolError) as info:
        await client.request(CallSendDtmf(id=0, call_id="c1", digits="12"))
    assert info.value.code is ErrorCode.INTERNAL


@pytest.mark.asyncio
async def test_request_without_handler_is_unexpected_type(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = await make_client(server)
    with pytest.raises(ProtocolError) as info:
        await client.request(CallRelease(id=0, call_id="c1"))
    assert info.value.code is ErrorCode.UNEXPECTED_TYPE
    assert info.value.detail == {"type": "call.release"}


@pytest.mark.asyncio
async def test_forbidden_by_role(make_server: ServerFactory, make_client: ClientFactory) -> None:
    """Only team leads may force a logoff (R-SUP-1, R-SEC-1 role-scoped users)."""
    server = await make_server()
    agent = await make_client(server, "1001")
    with pytest.raises(ProtocolError) as info:
        await agent.request(SupervisorForceLogout(id=0, agent_id="1002"))
    assert info.value.code is ErrorCode.FORBIDDEN
    assert info.value.detail["role"] == "agent"
    lead = await make_client(server, "lead")
    assert await lead.request(SupervisorForceLogout(id=0, agent_id="1002")) is None


@pytest.mark.asyncio
async def test_forbidden_by_client_kind(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    lead_desktop = await make_client(server, "lead", kind=ClientKind.DESKTOP)
    with pytest.raises(ProtocolError) as info:
        await lead_desktop.request(SupervisorSubscribe(id=0))
    assert info.value.code is ErrorCode.FORBIDDEN
    assert info.value.detail["kind"] == "desktop"
    lead_sup = await make_client(server, "lead", kind=ClientKind.SUPERVISOR)
    assert (await lead_sup.request(SupervisorSubscribe(id=0))) is not None
    switch = await make_client(server, kind=ClientKind.SWITCH)
    assert await switch.request(SwitchRegistration(id=0, sip_user="1001", registered=True)) is None


@pytest.mark.asyncio
async def test_slow_handler_does_not_block_pings_or_other_requests(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """Requests run concurrently: a handler waiting on the switch does not stall heartbeats."""
    gate = asyncio.Event()
    router = Router()

    @router.handles(CallHold)
    async def slow(ctx: RequestContext, msg: CallHold) -> None:
        await gate.wait()

    @router.handles(CallAnswer)
    async def fast(ctx: RequestContext, msg: CallAnswer) -> None:
        return None

    server = await make_server(router=router)
    client = await make_client(server)
    pending = asyncio.create_task(client.request(CallHold(id=0, call_id="c1")))
    await client.ping()
    assert await client.request(CallAnswer(id=0, call_id="c1")) is None
    assert not pending.done()
    gate.set()
    assert await pending is None


@pytest.mark.asyncio
async def test_too_many_requests_in_flight_are_rate_limited(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    gate = asyncio.Event()
    router = Router()

    @router.handles(CallHold)
    async def slow(ctx: RequestContext, msg: CallHold) -> None:
        await gate.wait()

    server = await make_server(router=router, max_inflight_requests=2)
    client = await make_client(server)
    first = [asyncio.create_task(client.request(CallHold(id=0, call_id="c"))) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(ProtocolError) as info:
        await client.request(CallHold(id=0, call_id="c"))
    assert info.value.code is ErrorCode.RATE_LIMITED
    gate.set()
    assert await asyncio.gather(*first) == [None, None]


def test_router_refuses_duplicates_and_transport_requests() -> None:
    router = Router()

    async def handler(ctx: RequestContext, msg: CallAnswer) -> None:
        return None

    router.add(CallAnswer, handler)
    with pytest.raises(ValueError, match="already has a handler"):
        router.add(CallAnswer, handler)
    with pytest.raises(ValueError, match="handled by the transport"):
        router.add(Ping, handler)  # type: ignore[arg-type]
    other = Router()
    other.add(CallAnswer, handler)
    with pytest.raises(ValueError, match="already has a handler"):
        router.include(other)


def test_router_include_merges_feature_routers() -> None:
    calls, supervision = Router(), Router()

    @calls.handles(CallAnswer)
    async def answer(ctx: RequestContext, msg: CallAnswer) -> None:
        raise DomainError(ErrorCode.UNKNOWN_CALL)

    @supervision.handles(SupervisorForceLogout, roles={Role.TEAM_LEAD})
    async def force(ctx: RequestContext, msg: SupervisorForceLogout) -> None:
        return None

    root = Router()
    root.include(calls)
    root.include(supervision)
    assert CallAnswer in root and SupervisorForceLogout in root and len(root) == 2
    route = root.route_for(SupervisorForceLogout)
    assert route is not None and route.roles == frozenset({"team_lead"})
