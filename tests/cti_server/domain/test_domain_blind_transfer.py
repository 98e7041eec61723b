"""Blind transfer to an agent from the desktop (``call.single_step_transfer``, R-IN-8),
through a real server and a fake switch.

Found by the end-to-end call-control test (tests/e2e/test_e2e_call_control.py): the
switch rings the target's softphone after ``transfer`` and reports ``transferred``
(agent = target), then ``answered`` for the target; the server used to drop the call
from A and then refuse the target's ``answered`` (the engine did not know the call), so
the target's desktop never got the call and stayed ready for other calls. Now the target
is reserved when the request is accepted, the call becomes the target's direct call
(delivered with ``from_agent``, established on answer, after-call work at the end), and
a target that does not answer frees the agent and puts the call back in its queue.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store import CallStore
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLogin,
    AgentReserved,
    AgentWorkNotReady,
)
from shared.protocol.call import (
    AgentDestination,
    CallConnectionCleared,
    CallDelivered,
    CallDiverted,
    CallEstablished,
    CallSingleStepTransfer,
    CallTransferred,
    ClearCause,
    TrajectoryKind,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import LegRole, OfferToAgent, SwitchCallEventKind, TransferCall
from tests.cti_server.domain.domain_support import (
    Clients,
    connected_call,
    expect,
    ready_agent,
    report,
    until,
)

pytestmark = pytest.mark.asyncio
K = SwitchCallEventKind


async def test_blind_transfer_to_an_agent_delivers_the_call_to_the_target(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """A transfers to B: B is reserved at once, gets the screen pop (from A), is busy on
    the call once its softphone answers and goes to after-call work when it ends; A goes
    to after-call work; the record holds the transfer and B as the answering agent."""
    centre = app.centre
    switch = await clients.switch()
    await switch.register("1001", "1002")
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "BT-1")
    target = await ready_agent(clients, "1002")

    await desk.request(
        CallSingleStepTransfer(id=0, call_id="BT-1", destination=AgentDestination(agent_id="1002"))
    )
    transfer = await switch.command()
    assert isinstance(transfer.action, TransferCall)
    assert transfer.action.agent_sip_contact is not None
    assert centre.engine.agent_state("1002") == "not_ready"  # reserved: nothing else rings
    # the switch's reports, in its order: transferred, then the target rings and answers
    await report(switch, "BT-1", K.TRANSFERRED, agent_id="1002")
    assert (await expect(desk, CallTransferred)).to == AgentDestination(agent_id="1002")
    await expect(desk, AgentWorkNotReady)
    assert (await expect(target, AgentReserved)).call_id == "BT-1"
    pop = await expect(target, CallDelivered)
    assert (pop.call_id, pop.from_agent, pop.tier) == ("BT-1", "1001", "vip")
    assert TrajectoryKind.TRANSFER in [s.kind for s in pop.trajectory]
    await report(switch, "BT-1", K.RINGING, leg=LegRole.AGENT, agent_id="1002")
    await report(switch, "BT-1", K.ANSWERED, leg=LegRole.AGENT, agent_id="1002")
    assert (await expect(target, CallEstablished)).call_id == "BT-1"
    assert centre.agents["1002"].call_id == "BT-1"

    await report(switch, "BT-1", K.RELEASED, leg=LegRole.CALLER, cause=ClearCause.NORMAL)
    assert (await expect(target, CallConnectionCleared)).call_id == "BT-1"
    assert (await expect(target, AgentWorkNotReady)).call_id == "BT-1"
    call = await asyncio.to_thread(CallStore(db).get_call, "BT-1")
    assert (call.transfer_count, call.agent_id, call.disposition) == (1, "1002", "answered")


async def test_blind_transfer_not_answered_frees_the_target_and_requeues(
    app: CtiApp, clients: Clients
) -> None:
    """The target's softphone does not answer: the target is diverted (not ready,
    ring-no-answer), the call waits in its queue again and goes to the next ready agent."""
    centre = app.centre
    switch = await clients.switch()
    await switch.register("1001", "1002")
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "BT-2")
    target = await ready_agent(clients, "1002")
    await desk.request(
        CallSingleStepTransfer(id=0, call_id="BT-2", destination=AgentDestination(agent_id="1002"))
    )
    await switch.command()
    await report(switch, "BT-2", K.TRANSFERRED, agent_id="1002")
    await expect(target, CallDelivered)
    await report(
        switch, "BT-2", K.FAILED, leg=LegRole.AGENT, agent_id="1002", cause=ClearCause.NO_ANSWER
    )
    assert (await expect(target, CallDiverted)).call_id == "BT-2"
    assert centre.engine.agent_state("1002") == "not_ready"
    assert centre.engine.agent_reason("1002") == "ring-no-answer"
    await until(lambda: centre.engine.call_state("BT-2") == "waiting")
    # A ends after-call work and is ready: the waiting call is offered to A again
    await desk.request(AgentEndAfterCallWork(id=0))
    offer = await switch.command()
    assert isinstance(offer.action, OfferToAgent)
    assert (offer.call_id, offer.action.agent_id) == ("BT-2", "1001")


async def test_blind_transfer_to_an_agent_who_is_not_ready_is_refused(
    app: CtiApp, clients: Clients
) -> None:
    """A target that is not ready: ``destination_unavailable``, nothing sent, the call
    stays with A."""
    switch = await clients.switch()
    await switch.register("1001", "1002")
    desk = await ready_agent(clients, "1001")
    await connected_call(switch, desk, "1001", "BT-3")
    other = await clients.desktop("1002")
    await other.request(AgentLogin(id=0, extension="1002"))  # not ready
    with pytest.raises(ProtocolError) as refused:
        await desk.request(
            CallSingleStepTransfer(
                id=0, call_id="BT-3", destination=AgentDestination(agent_id="1002")
            )
        )
    assert refused.value.code is ErrorCode.DESTINATION_UNAVAILABLE
    with pytest.raises(TimeoutError):
        await switch.command(timeout=0.3)
    assert app.centre.calls["BT-3"].agent_id == "1001"
