"""Consultations towards a protocol 1.1 switch (R-IN-8): the server drives them with the
switch's ``consult`` / ``consult_drop`` / ``transfer_consult`` / ``conference`` actions
and reads the consult leg's reports on ``consult_call_id``; the desktops get the same
events as with a 1.0 switch (test_domain_consult.py).

The simulated switch acknowledges by hand, after reporting what the real one reports
while it executes a command (``held``, ``transferred``, ``released``), so the server's
handling of "report before acknowledgement" is exercised.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store import CallStore
from shared.cti_client import CtiClient
from shared.protocol.agent import (
    AgentLogin,
    AgentNotReady,
    AgentReady,
    AgentReserved,
    AgentSetReady,
    AgentState,
    AgentWorkNotReady,
)
from shared.protocol.base import VERSION_1_1, Request
from shared.protocol.call import (
    AgentDestination,
    CallAnswer,
    CallConference,
    CallConferenced,
    CallConnectionCleared,
    CallConsult,
    CallDelivered,
    CallDiverted,
    CallEstablished,
    CallFailed,
    CallHeld,
    CallOriginated,
    CallReconnect,
    CallRelease,
    CallRetrieved,
    CallTransfer,
    CallTransferred,
    ClearCause,
    ConsultResult,
    Destination,
    NumberDestination,
    PartyRole,
    QueueDestination,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import (
    Conference,
    Consult,
    ConsultDrop,
    LegRole,
    SwitchCallEventKind,
    SwitchCommand,
    SwitchCommandResult,
    TransferConsult,
    Unhold,
)
from tests.cti_server.domain.domain_support import (
    Clients,
    FakeSwitch,
    connected_call,
    expect,
    ready_agent,
    report,
    until,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind


async def ack(switch: FakeSwitch, command: SwitchCommand, **fields: Any) -> None:
    body = {"ok": True, **fields}
    await switch.client.request(SwitchCommandResult(id=0, command_id=command.command_id, **body))


def ask(desk: CtiClient, msg: Request) -> asyncio.Task[Any]:
    """Send a desktop request in the background (the test plays the switch meanwhile)."""
    return asyncio.get_running_loop().create_task(desk.request(msg))


async def setup_11(clients: Clients, call_id: str) -> tuple[FakeSwitch, CtiClient, CtiClient]:
    """A 1.1 switch; 1001 talks to a VIP caller; 1002 is ready to be consulted."""
    switch = await clients.switch()
    assert switch.client.welcome is not None
    assert switch.client.welcome.version >= VERSION_1_1
    await switch.register("1001", "1002")
    consultant = await clients.desktop("1002")
    await consultant.request(AgentLogin(id=0, extension="1002"))
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", call_id)
    switch.auto_ack = False
    await consultant.request(AgentSetReady(id=0))
    await expect(consultant, AgentReady)
    return switch, desk, consultant


async def consult_11(
    switch: FakeSwitch,
    desk: CtiClient,
    call_id: str,
    destination: Destination | None = None,
) -> tuple[str, Consult]:
    """call.consult: one `consult` command; the switch reports `held` and `ringing`
    (on the consultation's id) before acknowledging it."""
    destination = destination or AgentDestination(agent_id="1002")
    pending = ask(desk, CallConsult(id=0, call_id=call_id, destination=destination))
    command = await switch.command()
    assert isinstance(command.action, Consult) and command.call_id == call_id
    consult_id = command.action.consult_call_id
    await report(switch, call_id, K.HELD, leg=LegRole.AGENT, agent_id="1001")
    await report(switch, consult_id, K.RINGING, leg=LegRole.CONSULT)
    await ack(switch, command)
    body = await pending
    assert isinstance(body, ConsultResult) and body.consult_call_id == consult_id
    return consult_id, command.action


async def test_consult_and_transfer_with_the_11_actions(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """R-IN-8 on a 1.1 switch: `consult` carries the registered contact and the ring
    timeout, the switch's reports on the consultation's id drive the desktops, and
    `transfer_consult` hands the caller over; both desktops see what a 1.0 switch gives."""
    switch, desk, consultant = await setup_11(clients, "V11-1")
    consult_id, action = await consult_11(switch, desk, "V11-1")
    assert action.destination == AgentDestination(agent_id="1002")
    assert action.agent_sip_contact == "sip:1002@10.0.0.7:5062"
    assert action.ring_timeout_seconds == app.centre.domain.ring_timeout

    assert (await expect(desk, CallHeld)).call_id == "V11-1"
    originated = await expect(desk, CallOriginated)
    assert (originated.call_id, originated.consult_of) == (consult_id, "V11-1")
    assert (await expect(consultant, AgentReserved)).call_id == consult_id
    pop = await expect(consultant, CallDelivered)
    assert (pop.call_id, pop.consult_of, pop.from_agent) == (consult_id, "V11-1", "1001")
    assert pop.customer_ref == "C000001"

    await report(switch, consult_id, K.ANSWERED, leg=LegRole.CONSULT, agent_id="1002")
    assert (await expect(consultant, CallEstablished)).call_id == consult_id
    assert (await expect(desk, CallEstablished)).call_id == consult_id
    assert app.centre.agents["1002"].state is AgentState.BUSY

    pending = ask(desk, CallTransfer(id=0, call_id="V11-1", consult_call_id=consult_id))
    command = await switch.command()
    assert command.action == TransferConsult(consult_call_id=consult_id)
    assert command.call_id == "V11-1"
    # the switch reports the outcome before it acknowledges (as the real core does: the
    # consulting agent's leg released, the call transferred, the consultation released)
    await report(
        switch,
        "V11-1",
        K.RELEASED,
        leg=LegRole.AGENT,
        agent_id="1001",
        cause=ClearCause.TRANSFERRED,
    )
    await report(switch, "V11-1", K.TRANSFERRED, agent_id="1002")
    await report(switch, consult_id, K.RELEASED, leg=LegRole.CONSULT, cause=ClearCause.TRANSFERRED)
    await ack(switch, command)
    await pending

    gone = await expect(desk, CallTransferred)
    assert (gone.call_id, gone.to) == ("V11-1", AgentDestination(agent_id="1002"))
    assert (await expect(desk, AgentWorkNotReady)).call_id == "V11-1"
    moved = await expect(consultant, CallTransferred)
    assert (moved.call_id, moved.new_call_id) == (consult_id, "V11-1")
    assert (await expect(consultant, CallDelivered)).call_id == "V11-1"
    assert (await expect(consultant, CallEstablished)).call_id == "V11-1"
    call = app.centre.calls["V11-1"]
    assert (call.agent_id, call.consult_id) == ("1002", None)
    assert not call.transfer_applied  # the early report was the switch's only one

    # a late report of the ended consultation is acknowledged, not an error
    await report(switch, consult_id, K.RELEASED, leg=LegRole.CONSULT)
    await report(switch, "V11-1", K.RELEASED, leg=LegRole.CALLER)
    assert (await expect(consultant, CallConnectionCleared)).call_id == "V11-1"

    store = CallStore(db)
    row = await asyncio.to_thread(store.call_with_events, "V11-1")
    assert row is not None
    assert (row.hold_count, row.transfer_count) == (1, 1)  # `held` reported once, applied once
    assert (row.agent_id, row.disposition) == ("1002", "answered")
    consult_row = await asyncio.to_thread(store.get_call, consult_id)
    assert consult_row.disposition == "consult_transferred"


async def test_conference_then_the_joined_agent_leaves_on_the_consult_id(
    app: CtiApp, clients: Clients
) -> None:
    """`conference{consult_call_id}` joins everyone; when the consulted agent hangs up
    the switch reports it on the old consultation id: that agent leaves, the first agent
    goes on with the caller."""
    switch, desk, consultant = await setup_11(clients, "V11-2")
    consult_id, _ = await consult_11(switch, desk, "V11-2")
    await report(switch, consult_id, K.ANSWERED, leg=LegRole.CONSULT, agent_id="1002")
    await expect(consultant, CallEstablished)

    pending = ask(desk, CallConference(id=0, call_id="V11-2", consult_call_id=consult_id))
    command = await switch.command()
    assert command.action == Conference(consult_call_id=consult_id)
    await report(switch, "V11-2", K.CONFERENCED, agent_id="1002")
    await ack(switch, command)
    await pending
    mine = await expect(desk, CallConferenced)
    theirs = await expect(consultant, CallConferenced)
    assert mine.call_id == theirs.call_id == "V11-2"
    assert [p.role for p in mine.parties] == [PartyRole.CALLER, PartyRole.AGENT, PartyRole.CONSULT]
    assert [p.agent_id for p in mine.parties][1:] == ["1001", "1002"]

    await report(switch, consult_id, K.RELEASED, leg=LegRole.CONSULT, agent_id="1002")
    assert (await expect(consultant, CallConnectionCleared)).call_id == "V11-2"
    assert (await expect(desk, CallEstablished)).call_id == "V11-2"
    await expect(consultant, AgentWorkNotReady)  # a conference leg ends with ACW
    call = app.centre.calls["V11-2"]
    assert (call.agent_id, call.conferenced_with) == ("1001", None)


async def test_reconnect_drops_the_consultation_then_retrieves(
    app: CtiApp, clients: Clients
) -> None:
    """call.reconnect: `consult_drop` (the switch reports `released` on the consultation)
    then `unhold`; the consulted agent is ready again, the caller is back."""
    switch, desk, consultant = await setup_11(clients, "V11-3")
    consult_id, _ = await consult_11(switch, desk, "V11-3")
    await expect(consultant, CallDelivered)

    pending = ask(desk, CallReconnect(id=0, call_id="V11-3", consult_call_id=consult_id))
    drop = await switch.command()
    assert drop.action == ConsultDrop(consult_call_id=consult_id) and drop.call_id == "V11-3"
    await report(switch, consult_id, K.RELEASED, leg=LegRole.CONSULT)
    await ack(switch, drop)
    unhold = await switch.command()
    assert unhold.action == Unhold(agent_id="1001") and unhold.call_id == "V11-3"
    await report(switch, "V11-3", K.RETRIEVED, leg=LegRole.AGENT, agent_id="1001")
    await ack(switch, unhold)
    await pending

    assert (await expect(consultant, CallDiverted)).call_id == consult_id
    await expect(consultant, AgentReady)
    failed = await expect(desk, CallFailed)
    assert failed.call_id == consult_id
    assert (await expect(desk, CallRetrieved)).call_id == "V11-3"
    centre = app.centre
    assert centre.calls["V11-3"].consult_id is None
    assert consult_id not in centre.calls
    assert centre.engine.agent_state("1002") == "ready"


async def test_consult_to_a_number_goes_out_and_transfers(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """A 1.1 switch dials an external number through its trunk (`consult` with a number
    destination); the consulting agent sees it answered and hands the caller over; a
    conference with a number is refused (typed), the call ends later without an agent."""
    switch, desk, _ = await setup_11(clients, "V11-4")
    number = NumberDestination(number="95555")
    consult_id, action = await consult_11(switch, desk, "V11-4", number)
    assert action.destination == number and action.agent_sip_contact is None
    assert (await expect(desk, CallOriginated)).destination == number

    await report(switch, consult_id, K.ANSWERED, leg=LegRole.CONSULT)
    assert (await expect(desk, CallEstablished)).call_id == consult_id
    with pytest.raises(ProtocolError) as conference:
        await desk.request(CallConference(id=0, call_id="V11-4", consult_call_id=consult_id))
    assert conference.value.code is ErrorCode.DESTINATION_UNAVAILABLE

    pending = ask(desk, CallTransfer(id=0, call_id="V11-4", consult_call_id=consult_id))
    command = await switch.command()
    assert command.action == TransferConsult(consult_call_id=consult_id)
    await ack(switch, command)
    await pending
    gone = await expect(desk, CallTransferred)
    assert (gone.call_id, gone.to) == ("V11-4", number)
    await expect(desk, AgentWorkNotReady)
    call = app.centre.calls["V11-4"]
    assert (call.agent_id, call.from_agent) == (None, "1001")
    # the switch's own reports, this time after its ack: none of them ends the call
    await report(
        switch,
        "V11-4",
        K.RELEASED,
        leg=LegRole.AGENT,
        agent_id="1001",
        cause=ClearCause.TRANSFERRED,
    )
    await report(switch, "V11-4", K.TRANSFERRED)
    await report(switch, consult_id, K.RELEASED, leg=LegRole.CONSULT, cause=ClearCause.TRANSFERRED)
    assert "V11-4" in app.centre.calls and not call.closed
    await report(switch, "V11-4", K.RELEASED, leg=LegRole.CALLER)
    await until(lambda: "V11-4" not in app.centre.calls)

    row = await asyncio.to_thread(CallStore(db).call_with_events, "V11-4")
    assert row is not None and row.disposition == "answered"
    targets = [e.data.get("to_number") for e in row.events if e.kind == "transferred"]
    assert targets == ["95555"]


async def test_consulted_agent_releases_and_ring_no_answer(app: CtiApp, clients: Clients) -> None:
    """call.release of the consultation is `consult_drop`; the switch's `released` on
    the consultation clears it for both. A second consultation that is not answered
    (`failed`, no_answer) frees the agent as not ready `ring-no-answer`."""
    switch, desk, consultant = await setup_11(clients, "V11-5")
    consult_id, _ = await consult_11(switch, desk, "V11-5")
    await expect(consultant, CallDelivered)
    # the consulted agent rejects while ringing: consult_drop
    answer = ask(consultant, CallRelease(id=0, call_id=consult_id))
    drop = await switch.command()
    assert drop.action == ConsultDrop(consult_call_id=consult_id) and drop.call_id == "V11-5"
    await report(switch, consult_id, K.RELEASED, leg=LegRole.CONSULT, cause=ClearCause.BUSY)
    await ack(switch, drop)
    await answer
    assert (await expect(desk, CallFailed)).call_id == consult_id
    await expect(consultant, AgentReady)

    second, _ = await consult_11(switch, desk, "V11-5")
    await report(switch, second, K.FAILED, leg=LegRole.CONSULT, cause=ClearCause.NO_ANSWER)
    assert (await expect(consultant, CallDiverted)).call_id == second
    not_ready = await expect(consultant, AgentNotReady)
    assert not_ready.reason_code == "ring-no-answer"
    assert (await expect(desk, CallFailed)).call_id == second
    assert app.centre.calls["V11-5"].consult_id is None


async def test_a_11_consultation_is_answered_on_the_softphone(
    app: CtiApp, clients: Clients
) -> None:
    """A 1.1 switch dials the consult leg and connects it when the softphone answers:
    call.answer of the consultation is invalid_state (nothing sent); the softphone's
    answer (the switch's `answered` on the consultation) establishes it."""
    switch, desk, consultant = await setup_11(clients, "V11-6")
    consult_id, _ = await consult_11(switch, desk, "V11-6")
    await expect(consultant, CallDelivered)
    with pytest.raises(ProtocolError) as answer:
        await consultant.request(CallAnswer(id=0, call_id=consult_id))
    assert answer.value.code is ErrorCode.INVALID_STATE
    assert switch.commands.empty()
    await report(switch, consult_id, K.ANSWERED, leg=LegRole.CONSULT, agent_id="1002")
    assert (await expect(consultant, CallEstablished)).call_id == consult_id
    assert app.centre.calls[consult_id].state.value == "established"


async def test_refusals_are_typed_and_change_nothing(app: CtiApp, clients: Clients) -> None:
    """A queue destination → destination_unavailable (nothing sent); the switch refusing
    `consult` → its error code, the consulted agent ready again and never offered;
    transfer / conference before the answer → invalid_state; a foreign consultation id →
    invalid_state."""
    switch, desk, consultant = await setup_11(clients, "V11-7")
    with pytest.raises(ProtocolError) as queue:
        await desk.request(
            CallConsult(id=0, call_id="V11-7", destination=QueueDestination(queue_id="q_broadband"))
        )
    assert queue.value.code is ErrorCode.DESTINATION_UNAVAILABLE
    assert switch.commands.empty()

    pending = ask(
        desk, CallConsult(id=0, call_id="V11-7", destination=AgentDestination(agent_id="1002"))
    )
    command = await switch.command()
    assert isinstance(command.action, Consult)
    await ack(switch, command, ok=False, code=ErrorCode.DESTINATION_UNAVAILABLE, message="busy")
    with pytest.raises(ProtocolError) as refused:
        await pending
    assert refused.value.code is ErrorCode.DESTINATION_UNAVAILABLE
    centre = app.centre
    await until(lambda: centre.engine.agent_state("1002") == "ready")
    assert centre.calls["V11-7"].consult_id is None
    assert centre.agents["1002"].state is AgentState.READY

    consult_id, _ = await consult_11(switch, desk, "V11-7")
    with pytest.raises(ProtocolError) as early_transfer:
        await desk.request(CallTransfer(id=0, call_id="V11-7", consult_call_id=consult_id))
    assert early_transfer.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(ProtocolError) as early_conference:
        await desk.request(CallConference(id=0, call_id="V11-7", consult_call_id=consult_id))
    assert early_conference.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(ProtocolError) as foreign:
        await desk.request(CallReconnect(id=0, call_id="V11-7", consult_call_id="NOT-IT"))
    assert foreign.value.code is ErrorCode.INVALID_STATE
    assert switch.commands.empty()
    # the refused consult was never offered: the first pop is the running consultation's
    pop = await expect(consultant, CallDelivered)
    assert pop.call_id == consult_id


async def test_consulted_desktop_vanishing_while_ringing_drops_the_consultation(
    app: CtiApp, clients: Clients
) -> None:
    """The consulted agent's desktop disconnects while the consultation rings: the switch
    gets `consult_drop` (fire and forget), A gets call.failed, the switch's later
    `released` of the dropped consultation is acknowledged."""
    switch, desk, consultant = await setup_11(clients, "V11-8")
    consult_id, _ = await consult_11(switch, desk, "V11-8")
    await expect(consultant, CallDelivered)
    await consultant.disconnect()
    drop = await switch.command()
    assert drop.action == ConsultDrop(consult_call_id=consult_id) and drop.call_id == "V11-8"
    assert (await expect(desk, CallFailed)).call_id == consult_id
    await report(switch, consult_id, K.RELEASED, leg=LegRole.CONSULT)
    await ack(switch, drop)
    centre = app.centre
    assert centre.calls["V11-8"].consult_id is None
    rec = centre.agents["1002"]
    assert rec.state is AgentState.NOT_READY and rec.reason == "disconnected"
