"""The agent leg: ring the agent's softphone, bridge on answer, RONA back to the queue.

The INVITE carries rtpengine's switch-side SDP (from the caller's ``offer``). On
200 OK the agent's SDP is given to rtpengine as a new ``answer`` for the switch
side's tag: rtpengine stops sending to the media sink and relays between caller
and agent; music on hold is stopped. No answer within the ring timeout → CANCEL,
``failed`` report (agent leg, cause ``no_answer``), the caller stays in the queue
with music on hold and the decider offers the call again.

Every function here runs with the call's lock held, except :func:`_ring`, which
waits for the agent without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from cti_server.switch.core.calls import AgentLeg, Call, Phase
from cti_server.switch.media.ng import NgError
from cti_server.switch.ports import CommandFailed
from cti_server.switch.sip import InviteResult, NameAddr
from cti_server.switch.sip.dialog import DialogError
from cti_server.switch.sip.message import SipParseError, parse_uri
from cti_server.switch.sip.transport import TransportError
from shared.protocol.call import ClearCause
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import LegRole, SwitchCallEventKind

if TYPE_CHECKING:
    from cti_server.switch.core.b2bua import SwitchCore

log = logging.getLogger("switch.core.agent")

RONA_DETAIL = "ring-no-answer"
CANCEL_GRACE = 4.0
"""Seconds to wait for the final answer after CANCEL."""
_BUSY = frozenset({486, 600, 603})


async def offer(
    core: SwitchCore,
    call: Call,
    agent_id: str,
    contact: str,
    *,
    ring_timeout: float | None = None,
    caller_display: str | None = None,
    role: LegRole = LegRole.AGENT,
) -> None:
    """Ring ``agent_id`` at ``contact`` for ``call`` (which must be waiting in the queue).

    ``role`` ``external``: ``agent_id`` is an outside number, ``contact`` the gateway URI.
    """
    if call.phase is Phase.OFFERING and call.agent is not None and call.agent.agent_id == agent_id:
        return  # the same offer again (e.g. a replayed command)
    if call.phase is not Phase.QUEUED:
        raise CommandFailed(
            ErrorCode.INVALID_STATE, f"call {call.call_id} is {call.phase}, not waiting in a queue"
        )
    try:
        target = parse_uri(contact)
    except SipParseError as exc:
        raise CommandFailed(
            ErrorCode.INVALID_FIELD, f"bad agent contact {contact!r}: {exc}"
        ) from exc
    leg = AgentLeg(
        agent_id=agent_id,
        contact=contact,
        ring_timeout=ring_timeout if ring_timeout is not None else core.config.default_ring_timeout,
        role=role,
    )
    host, _ = core.stack.local_address("UDP")
    user = call.caller or "anonymous"
    from_uri = NameAddr(parse_uri(f"sip:{user}@{host}")).uri
    try:
        leg.outgoing = core.stack.start_invite(
            target,
            sdp=call.agent_side_offer.encode(),
            from_uri=from_uri,
            display_name=caller_display or call.caller,
            headers=[("X-OpenCC-Call-ID", call.call_id)],
        )
    except (TransportError, SipParseError) as exc:
        raise CommandFailed(
            ErrorCode.DESTINATION_UNAVAILABLE, f"cannot call {contact}: {exc}"
        ) from exc
    call.agent = leg
    call.phase = Phase.OFFERING
    core.emit(call, SwitchCallEventKind.RINGING, leg=leg.role, agent_id=leg.report_agent_id)
    leg.task = core.spawn(_ring(core, call, leg), f"agent-leg-{call.call_id}-{agent_id}")


async def _ring(core: SwitchCore, call: Call, leg: AgentLeg) -> None:
    outgoing = leg.outgoing
    assert outgoing is not None
    timed_out = False
    result: InviteResult | None = None
    error: str | None = None
    try:
        result = await asyncio.wait_for(outgoing.result(), leg.ring_timeout)
    except TimeoutError:
        timed_out = True
        outgoing.cancel()
        with contextlib.suppress(TimeoutError, TransportError, OSError):
            result = await asyncio.wait_for(outgoing.result(), CANCEL_GRACE)
    except (TransportError, OSError) as exc:
        error = str(exc)
    async with call.lock:
        if call.agent is not leg or call.ended or leg.ended:
            if result is not None and result.dialog is not None and not timed_out:
                with contextlib.suppress(TransportError, DialogError):
                    await core.stack.bye(result.dialog)
            return
        if result is not None and result.dialog is not None and not timed_out:
            await _answered(core, call, leg, result)
            return
        if timed_out:
            cause, detail = ClearCause.NO_ANSWER, RONA_DETAIL
        elif result is not None and result.status in _BUSY:
            cause, detail = ClearCause.BUSY, f"{result.status} {result.response.reason}"
        elif result is not None:
            cause, detail = ClearCause.NO_ANSWER, f"{result.status} {result.response.reason}"
        else:
            cause, detail = ClearCause.FAILED, error or "agent unreachable"
        _back_to_queue(core, call, leg, cause, detail)


def _back_to_queue(
    core: SwitchCore, call: Call, leg: AgentLeg, cause: ClearCause, detail: str
) -> None:
    leg.ended = True
    call.agent = None
    call.phase = Phase.QUEUED  # music on hold never stopped
    core.emit(
        call,
        SwitchCallEventKind.FAILED,
        leg=leg.role,
        agent_id=leg.report_agent_id,
        cause=cause,
        detail=detail,
    )
    log.info(
        "%s: agent %s did not take the call (%s): back in queue", call.call_id, leg.agent_id, detail
    )


async def _answered(core: SwitchCore, call: Call, leg: AgentLeg, result: InviteResult) -> None:
    dialog = result.dialog
    assert dialog is not None
    leg.dialog = dialog
    core.track_dialog(dialog, call)
    try:
        if result.answer is None:
            raise NgError("the agent's 200 OK has no SDP")
        sdp = result.answer.to_text()
        await core.ng.answer(sdp, call.call_id, call.caller_tag, call.b_tag, core.config.media)
    except NgError as exc:
        # rtpengine has dropped (or never had) the media of this call: offering it to
        # the next agent cannot help, so the call ends (BYE both sides, ``released``
        # with cause ``failed`` and the media error as detail).
        detail = f"media failure while bridging: {exc}"[:200]
        log.warning("%s: bridging to %s failed: %s: call ended", call.call_id, leg.agent_id, exc)
        leg.ended = True
        leg.dialog = None
        call.agent = None
        core.forget_dialog(dialog)
        with contextlib.suppress(TransportError, DialogError):
            await core.stack.bye(dialog)
        core.emit(
            call,
            SwitchCallEventKind.RELEASED,
            leg=leg.role,
            agent_id=leg.report_agent_id,
            cause=ClearCause.FAILED,
            detail=detail,
        )
        await core.hang_up(call, ClearCause.FAILED, detail=detail)
        return
    call.b_side_sdp = sdp
    with contextlib.suppress(NgError):
        await core.ng.stop_media(call.call_id, call.caller_tag)
    leg.answered = True
    call.phase = Phase.BRIDGED
    # Answered first: deciders treat a queue_leave without an answer as a withdrawal.
    core.emit(call, SwitchCallEventKind.ANSWERED, leg=leg.role, agent_id=leg.report_agent_id)
    core.emit(call, SwitchCallEventKind.BRIDGED, agent_id=leg.report_agent_id)
    core.emit(
        call, SwitchCallEventKind.QUEUE_LEAVE, queue_id=call.queue_id, agent_id=leg.report_agent_id
    )
    await core.recorder.sync(call)  # R-SUP-3: record while bridged


async def agent_hung_up(core: SwitchCore, call: Call, leg: AgentLeg) -> None:
    """The agent's BYE: the call is over for the caller too."""
    leg.ended = True
    leg.dialog = None
    core.emit(
        call,
        SwitchCallEventKind.RELEASED,
        leg=leg.role,
        agent_id=leg.report_agent_id,
        cause=ClearCause.NORMAL,
    )
    call.agent = None
    await core.hang_up(call, ClearCause.NORMAL, detail="agent hung up")


async def drop(core: SwitchCore, call: Call, leg: AgentLeg, cause: ClearCause) -> None:
    """End the agent leg because the call ends: CANCEL a ringing phone, BYE an answered one."""
    if leg.ended:
        return
    leg.ended = True
    call.agent = None
    if leg.dialog is not None:
        core.forget_dialog(leg.dialog)
        with contextlib.suppress(TransportError, DialogError):
            await core.stack.bye(leg.dialog)
        core.emit(
            call,
            SwitchCallEventKind.RELEASED,
            leg=leg.role,
            agent_id=leg.report_agent_id,
            cause=ClearCause.NORMAL,
        )
    else:
        if leg.outgoing is not None:
            leg.outgoing.cancel()
        core.emit(
            call,
            SwitchCallEventKind.RELEASED,
            leg=leg.role,
            agent_id=leg.report_agent_id,
            cause=cause,
        )


async def reject_offer(core: SwitchCore, call: Call, leg: AgentLeg, cause: ClearCause) -> None:
    """The decider withdraws a ringing offer (``hangup`` of the agent leg): back to queue."""
    if leg.outgoing is not None:
        leg.outgoing.cancel()
    _back_to_queue(core, call, leg, cause, "offer withdrawn")
