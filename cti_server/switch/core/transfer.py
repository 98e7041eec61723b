"""Blind transfer (``transfer``) and calls to outside numbers through the outbound gateway.

A blind transfer takes a two-party call (caller ↔ agent on the fast path: one
rtpengine call, the switch side answered with the agent's SDP) and sends the caller
elsewhere without re-INVITEing the caller:

1. The agent leg gets a BYE. No ``released`` is reported for it: the CTI server
   takes an agent leg's ``released`` for the end of the call; ``transferred`` (4.)
   ends the agent's part.
2. The switch side (``b_tag``) is re-answered with the media sink's SDP, as before an
   answer; a hold's ``block media`` is lifted; music on hold plays to the caller.
3. The destination: an **agent** is rung like a queue offer (``agent_leg.offer``;
   ring-no-answer → ``failed`` and the call waits in the queue as usual); a **queue**
   is entered (``queue_enter``, ``route(agent_needed)``); an **IVR** flow restarts at
   the given node; a **number** is called through ``CoreConfig.outbound_gateway``
   (an ``external`` leg bridged like an agent leg).
4. ``transferred`` is reported on the call (``agent_id`` = the target agent,
   ``queue_id`` = the target queue, ``node`` = the IVR node, ``detail`` = the number).

Runs with the call's lock held.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import msgspec

from cti_server.switch.core import agent_leg
from cti_server.switch.core.calls import TALKING_PHASES, Call, Phase
from cti_server.switch.core.queue import start_call_moh
from cti_server.switch.media.ng import NgError
from cti_server.switch.ports import CommandFailed
from cti_server.switch.sip import audio_answer, parse_sdp
from cti_server.switch.sip.dialog import DialogError
from cti_server.switch.sip.message import SipParseError, parse_uri
from cti_server.switch.sip.sdp import NoCommonCodec, SdpParseError
from cti_server.switch.sip.transport import TransportError
from shared.ivr import CallContext
from shared.protocol.call import (
    AgentDestination,
    ClearCause,
    IvrDestination,
    NumberDestination,
    QueueDestination,
)
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import LegRole, SwitchCallEventKind, TransferCall

if TYPE_CHECKING:
    from cti_server.switch.core.b2bua import SwitchCore

log = logging.getLogger("switch.core.transfer")

NO_GATEWAY = "no outbound gateway is configured: calls to outside numbers are not possible"


def outbound_target(core: SwitchCore, number: str) -> str:
    """The SIP URI for ``number`` through the outbound gateway (CommandFailed without one)."""
    template = core.config.outbound_gateway
    if not template:
        raise CommandFailed(ErrorCode.DESTINATION_UNAVAILABLE, NO_GATEWAY)
    if not number or any(ch not in "0123456789+*#" for ch in number):
        raise CommandFailed(ErrorCode.INVALID_FIELD, f"bad number {number!r}")
    try:
        uri = template.format(number=number)
        parse_uri(uri)
    except (KeyError, IndexError, ValueError, SipParseError) as exc:
        raise CommandFailed(
            ErrorCode.DESTINATION_UNAVAILABLE,
            f"the outbound gateway template {template!r} is not a SIP URI: {exc}",
        ) from exc
    return uri


def agent_contact(core: SwitchCore, agent_id: str, given: str | None) -> str:
    """The contact to ring ``agent_id`` at: the command's, else the registrar's."""
    contact = given or core.registered_contacts().get(agent_id)
    if contact is None:
        raise CommandFailed(
            ErrorCode.DESTINATION_UNAVAILABLE, f"agent {agent_id} has no registered softphone"
        )
    try:
        parse_uri(contact)
    except SipParseError as exc:
        raise CommandFailed(
            ErrorCode.INVALID_FIELD, f"bad agent contact {contact!r}: {exc}"
        ) from exc
    return contact


async def blind_transfer(core: SwitchCore, call: Call, action: TransferCall) -> None:
    """``transfer``: see the module docstring. Everything is checked before the agent goes."""
    leg = call.agent
    if call.phase not in TALKING_PHASES or leg is None or not leg.answered:
        raise CommandFailed(
            ErrorCode.INVALID_STATE,
            f"cannot transfer call {call.call_id}: it is {call.phase}, not talking to an agent",
        )
    if call.mix is not None or call.consult is not None or call.monitors:
        raise CommandFailed(
            ErrorCode.INVALID_STATE,
            f"call {call.call_id} is in a consultation, conference or monitored: "
            "end that first (or use transfer_consult)",
        )
    dest = action.destination
    contact: str | None = None
    if isinstance(dest, AgentDestination):
        if dest.agent_id == leg.agent_id:
            raise CommandFailed(
                ErrorCode.INVALID_STATE, f"agent {dest.agent_id} is already on the call"
            )
        contact = agent_contact(core, dest.agent_id, action.agent_sip_contact)
    elif isinstance(dest, NumberDestination):
        contact = outbound_target(core, dest.number)
    elif isinstance(dest, IvrDestination):
        flow = core.flows(dest.flow_id, None)
        if dest.node is not None and dest.node not in flow.nodes:
            raise CommandFailed(
                ErrorCode.INVALID_FIELD, f"flow {flow.id} has no node {dest.node!r}"
            )

    await release_agent(core, call)
    await to_waiting(core, call)

    if isinstance(dest, AgentDestination):
        assert contact is not None
        call.phase = Phase.QUEUED
        core.emit(call, SwitchCallEventKind.TRANSFERRED, agent_id=dest.agent_id)
        await _ring(core, call, dest.agent_id, contact, LegRole.AGENT)
    elif isinstance(dest, QueueDestination):
        core.emit(call, SwitchCallEventKind.TRANSFERRED, queue_id=dest.queue_id)
        await core.enter_queue(call, dest.queue_id)
    elif isinstance(dest, IvrDestination):
        core.emit(
            call, SwitchCallEventKind.TRANSFERRED, detail=f"ivr {dest.flow_id}:{dest.node or ''}"
        )
        await restart_ivr(core, call, dest)
    else:
        assert contact is not None
        call.phase = Phase.QUEUED
        core.emit(call, SwitchCallEventKind.TRANSFERRED, detail=dest.number)
        await _ring(core, call, dest.number, contact, LegRole.EXTERNAL)


async def _ring(core: SwitchCore, call: Call, who: str, contact: str, role: LegRole) -> None:
    try:
        await agent_leg.offer(core, call, who, contact, role=role)
    except CommandFailed as exc:
        # The agent is already gone: the caller waits in the queue for the decider.
        log.warning("%s: transfer to %s failed: %s", call.call_id, who, exc)
        core.emit(
            call,
            SwitchCallEventKind.FAILED,
            leg=role,
            agent_id=None if role is LegRole.EXTERNAL else who,
            cause=ClearCause.FAILED,
            detail=exc.message,
        )


async def release_agent(core: SwitchCore, call: Call) -> None:
    """BYE the call's agent leg (no ``released`` report: deciders take the agent's
    ``released`` for the call's end; ``transferred`` ends the agent's part)."""
    leg = call.agent
    if leg is None:
        return
    leg.ended = True
    call.agent = None
    if leg.dialog is not None:
        dialog, leg.dialog = leg.dialog, None
        core.forget_dialog(dialog)
        with contextlib.suppress(TransportError, DialogError, OSError):
            await core.stack.bye(dialog)
    elif leg.outgoing is not None:
        leg.outgoing.cancel()


async def to_waiting(core: SwitchCore, call: Call) -> None:
    """Switch side back to the media sink, hold lifted, music on hold to the caller."""
    ng = core.ng
    if call.phase is Phase.HELD:
        for tag in (call.caller_tag, call.b_tag):
            with contextlib.suppress(NgError):
                await ng.unblock_media(call.call_id, tag)
    host, port = core.sink_address
    try:
        placeholder = audio_answer(parse_sdp(call.agent_side_offer), host, port).to_text()
        await ng.answer(placeholder, call.call_id, call.caller_tag, call.b_tag, core.config.media)
        call.b_side_sdp = placeholder
    except (NgError, NoCommonCodec, SdpParseError) as exc:
        log.warning("%s: switch side back to the sink failed: %s", call.call_id, exc)
    call.phase = Phase.QUEUED
    await core.recorder.sync(call)  # waiting for the next party: paused
    try:
        await start_call_moh(core, call)
    except NgError as exc:
        log.warning("%s: music on hold failed: %s", call.call_id, exc)


async def restart_ivr(core: SwitchCore, call: Call, dest: IvrDestination) -> None:
    """Run ``dest.flow_id`` from ``dest.node`` (the entry when None) for the caller."""
    with contextlib.suppress(NgError):
        await core.ng.stop_media(call.call_id, call.caller_tag)
    flow = core.flows(dest.flow_id, None)
    if dest.node is not None and dest.node != flow.entry:
        flow = msgspec.structs.replace(flow, entry=dest.node)
    call.phase = Phase.IVR
    call.queue_id = None
    runner = core.new_runner(call, flow)
    context = CallContext(tier=call.tier, caller=call.caller, called=call.called)
    # The runner takes the call's lock, which the command holds: start it afterwards.
    core.spawn(runner.start(context), f"ivr-restart-{call.call_id}")


async def ivr_to_number(core: SwitchCore, call: Call, number: str) -> None:
    """The flow's terminal ``transfer`` to an outside number: ring it through the gateway.

    No gateway (or a bad number) → ``failed`` and the call is hung up."""
    try:
        contact = outbound_target(core, number)
    except CommandFailed as exc:
        core.emit(call, SwitchCallEventKind.FAILED, cause=ClearCause.FAILED, detail=exc.message)
        await core.hang_up(call, ClearCause.FAILED, detail=exc.message)
        return
    await to_waiting(core, call)
    core.emit(call, SwitchCallEventKind.TRANSFERRED, detail=number)
    await _ring(core, call, number, contact, LegRole.EXTERNAL)
