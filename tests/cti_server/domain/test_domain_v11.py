"""Protocol 1.1 on the CTI server: IVR look-ups, agent states pushed to the switches,
the agents snapshot and the switches' modes for the desktops (R-IN-3, R-IVR-2, R-TIER-2).

A real server on port 0 with real WebSocket clients; "1.0" clients offer only 1.0."""

from __future__ import annotations

import time

import pytest

from cti_server.app import CtiApp
from shared.cti_client import CtiClient
from shared.protocol.agent import AgentLogin, AgentNotReady, AgentReady, AgentSetNotReady
from shared.protocol.agent import AgentState as WireState
from shared.protocol.base import VERSION_1_0, VERSION_1_1
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import (
    ClientKind,
    PasswordCredentials,
    SnapshotRequest,
    TokenCredentials,
)
from shared.protocol.switch import (
    AgentsSnapshot,
    FallbackCall,
    FallbackOutcome,
    LookupResult,
    RouteStage,
    SwitchAgentsSnapshot,
    SwitchAgentState,
    SwitchFallbackReport,
    SwitchLookup,
)
from shared.protocol.system import SwitchMode, SystemMode
from tests.cti_server.domain.domain_support import (
    SWITCH_TOKEN,
    VIP_CALLER,
    Clients,
    expect,
    ready_agent,
    route,
)

pytestmark = pytest.mark.asyncio


async def switch_10(app: CtiApp, clients: Clients, name: str = "sw-old") -> CtiClient:
    """A switch that offers only protocol 1.0."""
    client = CtiClient(
        app.url,
        TokenCredentials(token=SWITCH_TOKEN),
        ClientKind.SWITCH,
        client_name=name,
        heartbeat=False,
        request_timeout=5.0,
        versions=[VERSION_1_0],
    )
    clients.opened.append(client)
    welcome = await client.open()
    assert welcome.version == VERSION_1_0
    return client


async def desktop_10(app: CtiApp, clients: Clients, user: str) -> CtiClient:
    client = CtiClient(
        app.url,
        PasswordCredentials(user_id=user, password="demo"),
        ClientKind.DESKTOP,
        heartbeat=False,
        request_timeout=5.0,
        versions=[VERSION_1_0],
    )
    clients.opened.append(client)
    await client.open()
    return client


async def lookup(
    client: CtiClient, service: str, call_id: str = "LK-1", **args: str
) -> LookupResult:
    body = await client.request(SwitchLookup(id=0, call_id=call_id, service=service, args=args))
    assert isinstance(body, LookupResult)
    return body


# -- switch.lookup -----------------------------------------------------------------------


async def test_customer_lookup_for_the_vip_number_and_for_the_calls_caller(
    clients: Clients,
) -> None:
    """R-IVR-2 / R-TIER-2: an IVR flow reads the customer behind a number or the caller."""
    switch = await clients.switch()
    assert switch.client.welcome is not None and switch.client.welcome.version >= VERSION_1_1
    by_number = await lookup(switch.client, "customer", number=VIP_CALLER)
    assert by_number.error is None
    assert by_number.values["customer_id"] == "C000001"
    assert by_number.values["tier"] == "vip"
    assert by_number.values["blacklisted"] == "false"
    assert by_number.values["name"]

    await route(switch, "LK-CALLER", RouteStage.ARRIVAL, caller="13600136000")
    by_caller = await lookup(switch.client, "customer", call_id="LK-CALLER")
    assert by_caller.values["customer_id"] == "C000004"
    assert by_caller.values["blacklisted"] == "true"

    unknown = await lookup(switch.client, "customer", number="13311112222")
    assert unknown.values == {} and unknown.error == "no customer with this number"


async def test_unknown_service_and_bad_arguments_are_error_results(clients: Clients) -> None:
    """An unknown service or a bad argument is a LookupResult error naming it, not a
    protocol error: the flow decides what to play."""
    switch = await clients.switch()
    unknown = await lookup(switch.client, "balance", account="1")
    assert unknown.values == {}
    assert unknown.error is not None and "`balance`" in unknown.error
    assert "customer" in unknown.error and "queue_wait" in unknown.error

    no_number = await lookup(switch.client, "customer", call_id="LK-NONE")
    assert no_number.error is not None and "`number`" in no_number.error
    bad_number = await lookup(switch.client, "customer", number="not-a-number")
    assert bad_number.error is not None and "`number`" in bad_number.error
    bad_queue = await lookup(switch.client, "queue_wait", queue_id="q_nowhere")
    assert bad_queue.error is not None and "`queue_id`" in bad_queue.error


async def test_queue_wait_gives_the_callers_position(clients: Clients) -> None:
    """R-IVR-2: "you are number N in the queue" - waiting count, longest wait, position."""
    switch = await clients.switch()
    await switch.register("1001")
    for call_id in ("QW-1", "QW-2"):
        await route(switch, call_id, RouteStage.ARRIVAL)
        queued = await route(switch, call_id, RouteStage.AGENT_NEEDED, queue_id="q_billing")
        assert queued.agent is None  # nobody is ready
    second = await lookup(switch.client, "queue_wait", call_id="QW-2")
    assert second.error is None
    assert second.values["queue_id"] == "q_billing"
    assert second.values["waiting"] == "2"
    assert second.values["position"] == "2"
    assert int(second.values["longest_wait_seconds"]) >= 0
    explicit = await lookup(switch.client, "queue_wait", call_id="QW-X", queue_id="q_billing")
    assert explicit.values["waiting"] == "2" and "position" not in explicit.values


async def test_a_10_switch_cannot_send_11_requests(app: CtiApp, clients: Clients) -> None:
    """A request newer than the session's version is ``unexpected_type``."""
    old = await switch_10(app, clients)
    with pytest.raises(ProtocolError) as caught:
        await old.request(SwitchLookup(id=0, call_id="LK-OLD", service="customer"))
    assert caught.value.code is ErrorCode.UNEXPECTED_TYPE
    with pytest.raises(ProtocolError) as caught:
        await old.request(SwitchAgentsSnapshot(id=0))
    assert caught.value.code is ErrorCode.UNEXPECTED_TYPE


# -- agent states for the switches ---------------------------------------------------------


async def test_agent_state_goes_to_11_switches_only(app: CtiApp, clients: Clients) -> None:
    """R-IN-3: every state change reaches a 1.1 switch (so its fallback knows who was
    ready); a 1.0 switch gets nothing it cannot decode."""
    new = await clients.switch("sw-new")
    old = await switch_10(app, clients)
    desk = await clients.desktop("1003")
    await desk.request(AgentLogin(id=0, extension="1003", initial_state="ready"))
    await expect(desk, AgentReady)

    ready = await expect(new.client, SwitchAgentState)
    while ready.state is not WireState.READY:  # login passes through not ready
        ready = await expect(new.client, SwitchAgentState)
    assert (ready.agent_id, ready.sip_user) == ("1003", "1003")

    await desk.request(AgentSetNotReady(id=0, reason_code="break"))
    await expect(desk, AgentNotReady)
    not_ready = await expect(new.client, SwitchAgentState)
    assert (not_ready.agent_id, not_ready.state) == ("1003", WireState.NOT_READY)
    assert not_ready.reason_code == "break"

    assert old.last_seq == 0  # not one event went to the 1.0 switch


async def test_agents_snapshot_lists_every_agent(clients: Clients) -> None:
    """``switch.agents_snapshot``: every agent's state as of the session's last_seq."""
    switch = await clients.switch()
    await ready_agent(clients, "1004")
    await expect(switch.client, SwitchAgentState)
    body = await switch.client.request(SwitchAgentsSnapshot(id=0))
    assert isinstance(body, AgentsSnapshot)
    assert body.last_seq <= switch.client.last_seq
    by_id = {a.agent_id: a for a in body.agents}
    assert {"1001", "1004", "1010", "9001"} <= set(by_id)
    assert by_id["1004"].state is WireState.READY and by_id["1004"].sip_user == "1004"
    assert by_id["1001"].state is WireState.LOGGED_OFF and by_id["1001"].sip_user is None
    assert by_id["1004"].since <= time.time()


# -- switch modes for the desktops ----------------------------------------------------------


async def test_fallback_report_and_link_loss_reach_11_desktops(
    app: CtiApp, clients: Clients
) -> None:
    """R-IN-3: desktops learn that a switch ran without CTI (banner) and when it is back."""
    desk = await clients.desktop("1005")
    old_desk = await desktop_10(app, clients, "1006")
    switch = await clients.switch("sw-mode")

    down_at = time.time() - 120
    up_at = time.time() - 1
    await switch.client.request(
        SwitchFallbackReport(
            id=0,
            link_down_at=down_at,
            link_up_at=up_at,
            calls=(
                FallbackCall(
                    call_id="FB-MODE-1",
                    outcome=FallbackOutcome.ABANDONED,
                    arrived_at=down_at + 10,
                    caller=VIP_CALLER,
                    released_at=down_at + 30,
                ),
            ),
        )
    )
    back = await expect(desk, SystemMode)
    assert (back.switch_id, back.mode) == ("sw-mode", SwitchMode.NORMAL)
    assert back.since == pytest.approx(up_at)
    assert back.detail is not None and "fallback" in back.detail and "1 call(s)" in back.detail

    # the link drops: the switch distributes calls by itself
    await switch.client.disconnect()
    lost = await expect(desk, SystemMode)
    assert (lost.switch_id, lost.mode) == ("sw-mode", SwitchMode.FALLBACK)

    # a snapshot is followed by the mode of every switch in fallback
    await desk.request(SnapshotRequest(id=0))
    again = await expect(desk, SystemMode)
    assert (again.switch_id, again.mode) == ("sw-mode", SwitchMode.FALLBACK)

    await switch.client.reconnect()
    normal = await expect(desk, SystemMode)
    assert (normal.switch_id, normal.mode) == ("sw-mode", SwitchMode.NORMAL)

    assert old_desk.last_seq == 0  # 1.0 desktops get no mode notices
