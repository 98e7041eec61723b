"""``CallControl.execute``: the commands a decider (CTI link or fallback ACD) may give.

Supported: ``offer_to_agent``, ``bridge``, ``hangup`` (caller or agent leg),
``hold`` / ``unhold`` (rtpengine ``block media`` both ways plus music on hold to
the caller), ``play`` (a prompt to the caller, optionally looped), ``record_start``
/ ``record_stop`` (the call's recording, :mod:`.recording`: rtpengine pcaps while
bridged, a WAV queued for upload when the call ends), ``send_dtmf`` (rtpengine
``play DTMF``), ``transfer`` (blind, :mod:`.transfer`), ``consult`` / ``consult_drop`` /
``transfer_consult`` / ``conference`` / ``monitor`` / ``monitor_stop`` (on the mixer,
:mod:`.multiparty`).
While a call is mixed, ``hold`` / ``unhold`` play music on the caller's mixer port
instead of blocking media in rtpengine.

Runs with the call's lock held (:meth:`SwitchCore.execute` takes it).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from cti_server.switch.core import agent_leg, multiparty, transfer
from cti_server.switch.core.calls import TALKING_PHASES, Call, Phase
from cti_server.switch.core.queue import MOH_REPEAT, start_call_moh
from cti_server.switch.media.ng import NgError
from cti_server.switch.ports import CommandFailed
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import (
    Bridge,
    Conference,
    Consult,
    ConsultDrop,
    Hangup,
    Hold,
    LegRole,
    Monitor,
    MonitorStop,
    OfferToAgent,
    Play,
    RecordStart,
    RecordStop,
    SendDtmf,
    SwitchAction,
    SwitchCallEventKind,
    TransferCall,
    TransferConsult,
    Unhold,
)

if TYPE_CHECKING:
    from cti_server.switch.core.b2bua import SwitchCore


def _media_failed(what: str, exc: NgError) -> CommandFailed:
    return CommandFailed(ErrorCode.UNAVAILABLE, f"{what} failed in the media engine: {exc}")


def _require_agent(call: Call, agent_id: str, phases: frozenset[Phase], what: str) -> None:
    if call.phase not in phases:
        raise CommandFailed(ErrorCode.INVALID_STATE, f"cannot {what} a call that is {call.phase}")
    if call.agent is None or call.agent.agent_id != agent_id:
        raise CommandFailed(
            ErrorCode.INVALID_STATE, f"agent {agent_id} is not on call {call.call_id}"
        )


async def execute(core: SwitchCore, call: Call, action: SwitchAction) -> None:
    """Carry out ``action`` on ``call``; raises :class:`CommandFailed`."""
    ng = core.ng
    if isinstance(action, OfferToAgent):
        await agent_leg.offer(
            core,
            call,
            action.agent_id,
            action.sip_contact,
            ring_timeout=action.ring_timeout_seconds,
            caller_display=action.caller_display,
        )
    elif isinstance(action, Bridge):
        if call.phase is Phase.OFFERING and call.agent is not None:
            raise CommandFailed(
                ErrorCode.INVALID_STATE,
                f"agent {call.agent.agent_id} has not answered yet: answer on the softphone",
            )
        _require_agent(call, action.agent_id, TALKING_PHASES, "bridge")
        # The core bridges as soon as the agent's softphone answers: nothing left to do.
    elif isinstance(action, Hangup):
        await _hangup(core, call, action)
    elif isinstance(action, Hold):
        _require_agent(call, action.agent_id, frozenset({Phase.BRIDGED, Phase.HELD}), "hold")
        if call.phase is Phase.HELD:
            return
        if call.mix is not None:
            await multiparty.hold(core, call, True)
            core.emit(call, SwitchCallEventKind.HELD, agent_id=action.agent_id)
            return
        try:
            await ng.block_media(call.call_id, call.caller_tag)
            await ng.block_media(call.call_id, call.b_tag)
            await start_call_moh(core, call)
        except NgError as exc:
            raise _media_failed("hold", exc) from exc
        call.phase = Phase.HELD
        core.emit(call, SwitchCallEventKind.HELD, agent_id=action.agent_id)
    elif isinstance(action, Unhold):
        _require_agent(call, action.agent_id, frozenset({Phase.BRIDGED, Phase.HELD}), "retrieve")
        if call.phase is Phase.BRIDGED:
            return
        if call.mix is not None:
            await multiparty.hold(core, call, False)
            core.emit(call, SwitchCallEventKind.RETRIEVED, agent_id=action.agent_id)
            return
        try:
            with contextlib.suppress(NgError):
                await ng.stop_media(call.call_id, call.caller_tag)
            await ng.unblock_media(call.call_id, call.caller_tag)
            await ng.unblock_media(call.call_id, call.b_tag)
        except NgError as exc:
            raise _media_failed("retrieve", exc) from exc
        call.phase = Phase.BRIDGED
        core.emit(call, SwitchCallEventKind.RETRIEVED, agent_id=action.agent_id)
    elif isinstance(action, Play):
        runner = core.runners.get(call.call_id)
        language = runner.run.language if runner is not None else "zh"
        path = core.prompts.path(action.prompt, language)
        if path is None:
            raise CommandFailed(ErrorCode.INVALID_FIELD, f"no prompt {action.prompt!r}")
        try:
            await ng.play_media(
                call.call_id,
                call.caller_tag,
                str(path),
                repeat_times=MOH_REPEAT if action.loop else 1,
            )
        except NgError as exc:
            raise _media_failed("play", exc) from exc
    elif isinstance(action, RecordStart):
        if not call.record:
            raise CommandFailed(
                ErrorCode.INVALID_STATE,
                f"calls of queue {call.queue_id} are not recorded (recording is off)",
            )
        try:
            await core.recorder.start(call, action.recording_id)
        except NgError as exc:
            raise _media_failed("recording", exc) from exc
        call.recording = action.recording_id
        core.emit(call, SwitchCallEventKind.RECORDING_STARTED, detail=action.recording_id)
    elif isinstance(action, RecordStop):
        if call.recording != action.recording_id:
            raise CommandFailed(
                ErrorCode.INVALID_STATE, f"recording {action.recording_id} is not running"
            )
        try:
            await core.recorder.stop(call)
        except NgError as exc:
            raise _media_failed("stop recording", exc) from exc
        call.recording = None
        core.emit(call, SwitchCallEventKind.RECORDING_STOPPED, detail=action.recording_id)
    elif isinstance(action, SendDtmf):
        if call.phase not in TALKING_PHASES:
            raise CommandFailed(ErrorCode.INVALID_STATE, f"cannot send DTMF on a {call.phase} call")
        # Keys for the caller are injected as if the agent side sent them, and vice versa.
        source = call.b_tag if action.leg is LegRole.CALLER else call.caller_tag
        try:
            for digit in action.digits:
                await ng.play_dtmf(call.call_id, source, digit)
        except NgError as exc:
            raise _media_failed("send DTMF", exc) from exc
    elif isinstance(action, TransferCall):
        await transfer.blind_transfer(core, call, action)
    elif isinstance(action, Consult):
        await multiparty.consult(core, call, action)
    elif isinstance(action, ConsultDrop):
        await multiparty.consult_drop(core, call, action)
    elif isinstance(action, TransferConsult):
        await multiparty.transfer_consult(core, call, action)
    elif isinstance(action, Conference):
        await multiparty.conference(core, call, action)
    elif isinstance(action, Monitor):
        await multiparty.monitor(core, call, action)
    elif isinstance(action, MonitorStop):
        await multiparty.monitor_stop(core, call, action)
    else:
        raise CommandFailed(ErrorCode.UNAVAILABLE, f"{type(action).__name__} is not supported")


async def _hangup(core: SwitchCore, call: Call, action: Hangup) -> None:
    if action.leg is LegRole.CALLER:
        await core.hang_up(call, action.cause, detail="hangup command")
        return
    if action.leg is LegRole.CONSULT:
        if call.consult is None:
            raise CommandFailed(ErrorCode.INVALID_STATE, f"call {call.call_id} has no consultation")
        await multiparty.end_leg(core, call, call.consult, action.cause)
        return
    if action.leg is LegRole.SUPERVISOR:
        if not call.monitors:
            raise CommandFailed(ErrorCode.INVALID_STATE, f"call {call.call_id} is not monitored")
        for monitor_leg in list(call.monitors.values()):
            await multiparty.end_leg(core, call, monitor_leg, action.cause)
        return
    if action.leg not in (LegRole.AGENT, LegRole.EXTERNAL):
        raise CommandFailed(ErrorCode.UNAVAILABLE, f"{action.leg} legs are not supported")
    if await multiparty.agent_hangup_command(core, call, action.cause):
        return
    leg = call.agent
    if leg is None:
        raise CommandFailed(ErrorCode.INVALID_STATE, f"call {call.call_id} has no agent leg")
    if call.phase is Phase.OFFERING:
        await agent_leg.reject_offer(core, call, leg, action.cause)
    else:
        await agent_leg.drop(core, call, leg, action.cause)
        await core.hang_up(call, action.cause, detail="agent leg hung up by command")
