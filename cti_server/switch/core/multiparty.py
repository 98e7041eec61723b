"""Multi-party calls: consultation, consultative transfer, conference, listen/whisper/barge.

Two-party calls stay on the fast path (one rtpengine call, caller ↔ agent). When a
third party joins, the call goes **mixed** (:func:`go_mixed`):

* a room of the switch's RTP mixer (:mod:`cti_server.switch.media.mixer`) is
  opened for the call;
* rtpengine's switch side (``b_tag``) is re-answered with the SDP of the mixer port
  ``caller``: rtpengine now relays caller ↔ mixer. The caller is never re-INVITEd,
  keeps its rtpengine port, its DTMF is still detected and a recording of the call
  holds what the caller hears (the mix) and says;
* the agent's softphone is re-INVITEd with the offer of the port ``agent:<id>``;
* new parties (the consulted agent or number, supervisors) are INVITEd with the
  offer of their own port (``consult:<consult_call_id>``, ``monitor:<monitor_id>``).

Who hears whom is then one function of the call's state (:func:`apply`):

* the **talk group** hears itself: the caller (unless held), the agent, the
  consulted party while it is consulted during a hold or conferenced, barging
  supervisors;
* a held caller hears music on hold from its port and is heard by nobody;
* a **listening** supervisor hears the talk group, nobody hears it;
* a **whispering** supervisor hears the talk group, only the agent hears it;
* a consulted party outside the talk group (the agent retrieved the caller without
  a conference) hears nobody and is heard by nobody.

Reports: the consult leg's ``ringing`` / ``answered`` / ``failed`` / ``released`` go
to its ``consult_call_id`` (leg ``consult``); a supervisor leg's to the call (leg
``supervisor``, ``agent_id`` = the supervisor).

Every function runs with the call's lock held, except :func:`_ring`, which waits
for the new party without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cti_server.switch.core.calls import TALKING_PHASES, AgentLeg, Call, Phase
from cti_server.switch.core.transfer import agent_contact, outbound_target
from cti_server.switch.media.mixer import MixerError, MixerPort, MixerRoom
from cti_server.switch.media.ng import NgError
from cti_server.switch.ports import CallReport, CommandFailed
from cti_server.switch.sip import InviteResult, NameAddr, SessionDescription, parse_sdp
from cti_server.switch.sip.dialog import Dialog, DialogError
from cti_server.switch.sip.message import SipParseError, parse_uri
from cti_server.switch.sip.sdp import SdpParseError
from cti_server.switch.sip.stack import ReinviteError
from cti_server.switch.sip.transport import TransportError
from shared.protocol.call import AgentDestination, ClearCause, NumberDestination
from shared.protocol.errors import ErrorCode
from shared.protocol.supervisor import MonitorMode
from shared.protocol.switch import (
    Conference,
    Consult,
    ConsultDrop,
    LegRole,
    Monitor,
    MonitorStop,
    SwitchCallEventKind,
    TransferConsult,
)

if TYPE_CHECKING:
    from cti_server.switch.core.b2bua import SwitchCore

log = logging.getLogger("switch.core.multiparty")

CALLER = "caller"
CANCEL_GRACE = 4.0
_BUSY = frozenset({486, 600, 603})
_sessions = itertools.count(int(time.time()) % 1_000_000_000)


@dataclass(slots=True, eq=False)
class MixState:
    """A mixed call's room and ports (by label)."""

    room: MixerRoom
    ports: dict[str, MixerPort] = field(default_factory=dict)
    moh: bool = False
    """The caller's port plays music on hold."""


def _session() -> int:
    return next(_sessions)


def _failed(what: str, exc: Exception) -> CommandFailed:
    return CommandFailed(ErrorCode.UNAVAILABLE, f"{what} failed: {exc}")


# --- reports ---------------------------------------------------------------------------


def report_leg(
    core: SwitchCore,
    call: Call,
    leg: AgentLeg,
    kind: SwitchCallEventKind,
    *,
    cause: ClearCause | None = None,
    detail: str | None = None,
    call_id: str | None = None,
) -> None:
    """A consult leg's report goes to its consult call id, any other to the call
    (``call_id`` overrides)."""
    core.report(
        CallReport(
            call_id=call_id or _report_call_id(call, leg),
            kind=kind,
            at=core.clock(),
            leg=leg.role,
            agent_id=leg.report_agent_id,
            cause=cause,
            detail=detail if detail is not None else leg.monitor_id,
        )
    )


def _report_call_id(call: Call, leg: AgentLeg) -> str:
    """Where ``leg``'s reports go: the consult call while consulting; the call itself
    once conferenced (the CTI server folds the consultation into the call then)."""
    if leg.consult_call_id is None or (call.conferenced and call.consult is leg):
        return call.call_id
    return leg.consult_call_id


# --- mixing ----------------------------------------------------------------------------


def _require_talking(call: Call, what: str) -> AgentLeg:
    leg = call.agent
    if call.phase not in TALKING_PHASES or leg is None or not leg.answered or leg.dialog is None:
        raise CommandFailed(
            ErrorCode.INVALID_STATE,
            f"cannot {what} call {call.call_id}: it is {call.phase}, not talking to an agent",
        )
    return leg


async def go_mixed(core: SwitchCore, call: Call) -> MixState:
    """Move the call from the fast path onto a mixer room (see the module docstring)."""
    if call.mix is not None:
        return call.mix
    agent = _require_talking(call, "mix")
    assert agent.dialog is not None
    if agent.external or agent.role is LegRole.EXTERNAL:
        # An outside party behind a gateway is never re-INVITEd (gateways may refuse it).
        raise CommandFailed(
            ErrorCode.INVALID_STATE,
            f"call {call.call_id} is with an outside number, not an agent",
        )
    mixer = core.mixer
    if mixer is None:
        raise CommandFailed(
            ErrorCode.UNAVAILABLE, "this switch has no mixer: multi-party calls are not possible"
        )
    ng, media = core.ng, core.config.media
    old_b_side = call.b_side_sdp
    room = mixer.room(call.call_id)
    mix = MixState(room)
    rtpengine_moved = False
    try:
        caller_port = await room.add_port(CALLER)
        mix.ports[CALLER] = caller_port
        mixer_answer = caller_port.sdp_answer(call.agent_side_offer, _session())
        await ng.answer(mixer_answer, call.call_id, call.caller_tag, call.b_tag, media)
        rtpengine_moved = True
        call.b_side_sdp = mixer_answer
        label = f"agent:{agent.agent_id}"
        agent_port = await room.add_port(label)
        mix.ports[label] = agent_port
        offer = in_dialog_offer(call, agent, agent_port.sdp_offer(_session()))
        answer = await core.stack.reinvite(agent.dialog, offer.encode())
        agent_port.accept_answer(answer.to_text())
        agent.port = label
    except (MixerError, NgError, ReinviteError, SdpParseError, OSError) as exc:
        log.warning("%s: going multi-party failed: %s", call.call_id, exc)
        if rtpengine_moved:
            with contextlib.suppress(NgError):
                await ng.answer(old_b_side, call.call_id, call.caller_tag, call.b_tag, media)
            call.b_side_sdp = old_b_side
        with contextlib.suppress(MixerError, OSError):
            await room.close()
        raise _failed("connecting the call to the mixer", exc) from exc
    if call.phase is Phase.HELD:
        # rtpengine's hold (block media + its music) becomes the mixer's.
        for tag in (call.caller_tag, call.b_tag):
            with contextlib.suppress(NgError):
                await ng.unblock_media(call.call_id, tag)
        with contextlib.suppress(NgError):
            await ng.stop_media(call.call_id, call.caller_tag)
    call.mix = mix
    apply(core, call)
    log.info("%s: mixed (room with caller and agent %s)", call.call_id, agent.agent_id)
    return mix


def in_dialog_offer(call: Call, leg: AgentLeg, sdp: str) -> str:
    """``sdp`` with the ``o=`` line of the leg's dialog, version + 1 (RFC 3264 8)."""
    parsed = parse_sdp(sdp)
    base = leg.sdp_origin or parse_sdp(call.agent_side_offer).origin
    origin = dataclasses.replace(base, session_version=base.session_version + 1)
    leg.sdp_origin = origin
    return dataclasses.replace(parsed, origin=origin).to_text()


async def maybe_unmix(core: SwitchCore, call: Call) -> None:
    """Back to the fast path when only the caller and an agent are left, talking.

    The agent's softphone is re-INVITEd with rtpengine's switch-side SDP and its
    answer given to rtpengine for ``b_tag`` (as on the first answer); the room closes.
    An outside party (gateway) is not re-INVITEd: such a call stays mixed."""
    mix, agent = call.mix, call.agent
    if (
        mix is None
        or call.ended
        or call.phase is not Phase.BRIDGED
        or call.consult is not None
        or call.monitors
        or agent is None
        or agent.dialog is None
        or not agent.answered
        or agent.external
        or agent.role is not LegRole.AGENT
    ):
        return
    port = mix.ports.get(agent.port or "")
    try:
        answer = await core.stack.reinvite(
            agent.dialog, in_dialog_offer(call, agent, call.agent_side_offer).encode()
        )
    except (ReinviteError, SdpParseError) as exc:
        log.warning("%s: staying mixed (re-INVITE to %s: %s)", call.call_id, agent.agent_id, exc)
        return
    sdp = answer.to_text()
    try:
        await core.ng.answer(sdp, call.call_id, call.caller_tag, call.b_tag, core.config.media)
    except NgError as exc:
        log.warning("%s: staying mixed (rtpengine: %s)", call.call_id, exc)
        if port is not None:
            # Point the phone back at its mixer port.
            with contextlib.suppress(ReinviteError, SdpParseError, MixerError):
                back = in_dialog_offer(call, agent, port.sdp_offer(_session()))
                port.accept_answer(
                    (await core.stack.reinvite(agent.dialog, back.encode())).to_text()
                )
        return
    call.b_side_sdp = sdp
    agent.port = None
    call.mix = None
    with contextlib.suppress(MixerError, OSError):
        await mix.room.close()
    log.info("%s: back on the fast path (caller and agent %s)", call.call_id, agent.agent_id)


def _parties(call: Call) -> list[AgentLeg]:
    legs = [call.agent, call.consult, *call.monitors.values()]
    return [leg for leg in legs if leg is not None and leg.port is not None and not leg.ended]


def apply(core: SwitchCore, call: Call) -> None:
    """Set the room's hearing matrix from the call's state (see the module docstring)."""
    mix = call.mix
    if mix is None:
        return
    held = call.phase is Phase.HELD
    agent, consult = call.agent, call.consult
    talk: list[str] = [] if held else [CALLER]
    if agent is not None and agent.port is not None and agent.answered:
        talk.append(agent.port)
    if (
        consult is not None
        and consult.port is not None
        and consult.answered
        and (held or call.conferenced)
    ):
        talk.append(consult.port)
    whisperers: list[str] = []
    listeners: list[str] = []
    for leg in call.monitors.values():
        if leg.port is None or not leg.answered:
            continue
        if leg.mode is MonitorMode.BARGE:
            talk.append(leg.port)
        elif leg.mode is MonitorMode.WHISPER:
            whisperers.append(leg.port)
        else:
            listeners.append(leg.port)
    room = mix.room
    for label, port in mix.ports.items():
        if label == CALLER and held:
            sources: list[str] = []
        elif label in talk:
            sources = [other for other in talk if other != label]
            if agent is not None and label == agent.port:
                sources += whisperers
        elif label in whisperers or label in listeners:
            sources = list(talk)
        else:
            sources = []
        room.set_hears(label, sources)
        if label == CALLER:
            if held and not mix.moh:
                port.play(core.config.moh_file, loop=True)
                mix.moh = True
            elif not held and mix.moh:
                port.stop_play()
                mix.moh = False


def reinvite_answer(call: Call, dialog: Dialog, body: bytes) -> SessionDescription | None:
    """A mixed party's own re-INVITE (refresh, phone-side hold): its port answers."""
    mix = call.mix
    if mix is None or not body:
        return None
    for leg in _parties(call):
        if leg.dialog is dialog and leg.port is not None:
            port = mix.ports.get(leg.port)
            if port is None:
                return None
            try:
                return parse_sdp(port.sdp_answer(body.decode(errors="replace"), _session()))
            except (MixerError, SdpParseError) as exc:
                log.warning("%s: re-INVITE from %s refused: %s", call.call_id, leg.agent_id, exc)
                return None
    return None


# --- new parties -----------------------------------------------------------------------


async def _invite_party(
    core: SwitchCore,
    call: Call,
    leg: AgentLeg,
    label: str,
    *,
    from_user: str,
    display: str | None,
) -> None:
    """Add ``leg``'s mixer port and INVITE it with the port's offer (mixed call)."""
    mix = call.mix
    assert mix is not None
    try:
        target = parse_uri(leg.contact)
        port = await mix.room.add_port(label)
    except SipParseError as exc:
        raise CommandFailed(ErrorCode.INVALID_FIELD, f"bad contact {leg.contact!r}: {exc}") from exc
    except MixerError as exc:
        raise _failed("adding a mixer port", exc) from exc
    mix.ports[label] = port
    leg.port = label
    host, _ = core.stack.local_address("UDP")
    try:
        offer = port.sdp_offer(_session())
        leg.sdp_origin = parse_sdp(offer).origin
        leg.outgoing = core.stack.start_invite(
            target,
            sdp=offer.encode(),
            from_uri=NameAddr(parse_uri(f"sip:{from_user}@{host}")).uri,
            display_name=display,
            headers=[("X-OpenCC-Call-ID", leg.consult_call_id or call.call_id)],
        )
    except (TransportError, SipParseError, MixerError, OSError) as exc:
        await _remove_port(call, leg)
        raise CommandFailed(
            ErrorCode.DESTINATION_UNAVAILABLE, f"cannot call {leg.contact}: {exc}"
        ) from exc
    report_leg(core, call, leg, SwitchCallEventKind.RINGING)
    leg.task = core.spawn(_ring(core, call, leg), f"{label}-{call.call_id}")


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
        answered = result is not None and result.dialog is not None and not timed_out
        if leg.ended or call.ended or call.mix is None:
            if answered and result is not None and result.dialog is not None:
                with contextlib.suppress(TransportError, DialogError):
                    await core.stack.bye(result.dialog)
            return
        if answered and result is not None and result.dialog is not None:
            port = call.mix.ports.get(leg.port or "")
            try:
                if result.answer is None or port is None:
                    raise MixerError("the 200 OK has no SDP")
                port.accept_answer(result.answer.to_text())
            except MixerError as exc:
                with contextlib.suppress(TransportError, DialogError):
                    await core.stack.bye(result.dialog)
                await _lost(core, call, leg, ClearCause.FAILED, f"media: {exc}")
                return
            leg.dialog = result.dialog
            leg.answered = True
            core.track_dialog(result.dialog, call)
            apply(core, call)
            report_leg(core, call, leg, SwitchCallEventKind.ANSWERED)
            return
        if timed_out:
            cause, detail = ClearCause.NO_ANSWER, "ring-no-answer"
        elif result is not None and result.status in _BUSY:
            cause, detail = ClearCause.BUSY, f"{result.status} {result.response.reason}"
        elif result is not None:
            cause, detail = ClearCause.NO_ANSWER, f"{result.status} {result.response.reason}"
        else:
            cause, detail = ClearCause.FAILED, error or "unreachable"
        await _lost(core, call, leg, cause, detail)


async def _lost(
    core: SwitchCore, call: Call, leg: AgentLeg, cause: ClearCause, detail: str
) -> None:
    """A new party never got connected: ``failed``, port removed, leg forgotten."""
    leg.ended = True
    _detach(call, leg)
    await _remove_port(call, leg)
    apply(core, call)
    report_leg(core, call, leg, SwitchCallEventKind.FAILED, cause=cause, detail=detail)
    await maybe_unmix(core, call)


def _detach(call: Call, leg: AgentLeg) -> None:
    if call.consult is leg:
        call.consult = None
        call.conferenced = False
    if leg.monitor_id is not None and call.monitors.get(leg.monitor_id) is leg:
        del call.monitors[leg.monitor_id]
    if call.agent is leg:
        call.agent = None


async def _remove_port(call: Call, leg: AgentLeg) -> None:
    label, leg.port = leg.port, None
    if call.mix is None or label is None or label not in call.mix.ports:
        return
    del call.mix.ports[label]
    with contextlib.suppress(MixerError, OSError, KeyError):
        await call.mix.room.remove_port(label)


async def end_leg(core: SwitchCore, call: Call, leg: AgentLeg, cause: ClearCause) -> None:
    """The switch ends a consult or supervisor leg: CANCEL or BYE, port gone, ``released``."""
    if leg.ended:
        return
    leg.ended = True
    report_to = _report_call_id(call, leg)
    _detach(call, leg)
    if leg.dialog is not None:
        dialog, leg.dialog = leg.dialog, None
        core.forget_dialog(dialog)
        with contextlib.suppress(TransportError, DialogError, OSError):
            await core.stack.bye(dialog)
    elif leg.outgoing is not None:
        leg.outgoing.cancel()
    await _remove_port(call, leg)
    apply(core, call)
    report_leg(core, call, leg, SwitchCallEventKind.RELEASED, cause=cause, call_id=report_to)
    await maybe_unmix(core, call)


# --- commands --------------------------------------------------------------------------


def _consult_of(call: Call, consult_call_id: str, what: str, *, answered: bool) -> AgentLeg:
    leg = call.consult
    if leg is None or leg.consult_call_id != consult_call_id:
        raise CommandFailed(
            ErrorCode.INVALID_STATE,
            f"cannot {what}: call {call.call_id} has no consultation {consult_call_id}",
        )
    if answered and not leg.answered:
        raise CommandFailed(
            ErrorCode.INVALID_STATE,
            f"cannot {what}: consultation {consult_call_id} has not been answered",
        )
    return leg


async def consult(core: SwitchCore, call: Call, action: Consult) -> None:
    """Hold the caller and call the destination on a consult leg (see :class:`Consult`)."""
    agent = _require_talking(call, "consult from")
    if call.consult is not None:
        raise CommandFailed(
            ErrorCode.INVALID_STATE,
            f"call {call.call_id} already has consultation {call.consult.consult_call_id}",
        )
    if action.consult_call_id == call.call_id:
        raise CommandFailed(ErrorCode.INVALID_FIELD, "consult_call_id is the call's own id")
    dest = action.destination
    if isinstance(dest, AgentDestination):
        if dest.agent_id == agent.agent_id:
            raise CommandFailed(
                ErrorCode.INVALID_STATE, f"agent {dest.agent_id} is already on the call"
            )
        contact = agent_contact(core, dest.agent_id, action.agent_sip_contact)
        who, external = dest.agent_id, False
    elif isinstance(dest, NumberDestination):
        contact = outbound_target(core, dest.number)
        who, external = dest.number, True
    else:
        raise CommandFailed(
            ErrorCode.DESTINATION_UNAVAILABLE,
            f"a consultation cannot go to a {type(dest).__name__}: the server picks the agent",
        )
    await go_mixed(core, call)
    if call.phase is Phase.BRIDGED:
        call.phase = Phase.HELD
        apply(core, call)
        core.emit(call, SwitchCallEventKind.HELD, agent_id=agent.agent_id)
    leg = AgentLeg(
        agent_id=who,
        contact=contact,
        ring_timeout=action.ring_timeout_seconds,
        role=LegRole.CONSULT,
        consult_call_id=action.consult_call_id,
        external=external,
    )
    call.consult = leg
    try:
        await _invite_party(
            core,
            call,
            leg,
            f"consult:{action.consult_call_id}",
            from_user=agent.agent_id,
            display=agent.agent_id,
        )
    except CommandFailed:
        leg.ended = True
        _detach(call, leg)
        raise


async def consult_drop(core: SwitchCore, call: Call, action: ConsultDrop) -> None:
    leg = _consult_of(call, action.consult_call_id, "drop the consultation", answered=False)
    await end_leg(core, call, leg, ClearCause.NORMAL)


async def transfer_consult(core: SwitchCore, call: Call, action: TransferConsult) -> None:
    """Caller ↔ consulted party; the consulting agent is released."""
    leg = _consult_of(call, action.consult_call_id, "complete the transfer", answered=True)
    await _agent_leaves(core, call, ClearCause.TRANSFERRED, promote=leg, report=False)
    core.emit(call, SwitchCallEventKind.TRANSFERRED, agent_id=leg.report_agent_id)
    core.report(
        CallReport(
            call_id=action.consult_call_id,
            kind=SwitchCallEventKind.RELEASED,
            at=core.clock(),
            leg=LegRole.CONSULT,
            agent_id=leg.report_agent_id,
            cause=ClearCause.TRANSFERRED,
        )
    )


async def _agent_leaves(
    core: SwitchCore,
    call: Call,
    cause: ClearCause,
    *,
    promote: AgentLeg,
    bye: bool = True,
    report: bool = True,
) -> None:
    """The call's agent leaves a mixed call; ``promote`` (the consult leg) takes its place.

    ``report``: ``released`` for the agent (an agent leaving a conference); not after a
    transfer, whose ``transferred`` ends the agent's part (a ``released`` of the agent
    leg would end the whole call for the CTI server)."""
    agent = call.agent
    if agent is not None:
        agent.ended = True
        call.agent = None
        dialog, agent.dialog = agent.dialog, None
        if dialog is not None:
            core.forget_dialog(dialog)
            if bye:
                with contextlib.suppress(TransportError, DialogError, OSError):
                    await core.stack.bye(dialog)
        await _remove_port(call, agent)
        if report:
            core.emit(
                call,
                SwitchCallEventKind.RELEASED,
                leg=agent.role,
                agent_id=agent.report_agent_id,
                cause=cause,
            )
    call.consult = None
    call.conferenced = False
    promote.role = LegRole.AGENT
    promote.consult_call_id = None
    call.agent = promote
    call.phase = Phase.BRIDGED
    apply(core, call)
    await maybe_unmix(core, call)


async def conference(core: SwitchCore, call: Call, action: Conference) -> None:
    leg = _consult_of(call, action.consult_call_id, "conference", answered=True)
    if call.conferenced:
        return
    call.conferenced = True
    call.phase = Phase.BRIDGED
    apply(core, call)
    core.emit(call, SwitchCallEventKind.CONFERENCED, agent_id=leg.report_agent_id)


async def monitor(core: SwitchCore, call: Call, action: Monitor) -> None:
    """Connect a supervisor (listen / whisper / barge) or change a running monitor's mode."""
    running = call.monitors.get(action.monitor_id)
    if running is not None:
        running.mode = action.mode
        apply(core, call)
        return
    agent = call.agent
    if agent is None or agent.agent_id != action.agent_id:
        raise CommandFailed(
            ErrorCode.INVALID_STATE, f"agent {action.agent_id} is not on call {call.call_id}"
        )
    _require_talking(call, "monitor")
    if action.supervisor_id == agent.agent_id:
        raise CommandFailed(ErrorCode.INVALID_STATE, "an agent cannot monitor its own call")
    try:
        parse_uri(action.supervisor_contact)
    except SipParseError as exc:
        raise CommandFailed(
            ErrorCode.INVALID_FIELD, f"bad supervisor contact {action.supervisor_contact!r}"
        ) from exc
    await go_mixed(core, call)
    leg = AgentLeg(
        agent_id=action.supervisor_id,
        contact=action.supervisor_contact,
        ring_timeout=core.config.default_ring_timeout,
        role=LegRole.SUPERVISOR,
        monitor_id=action.monitor_id,
        mode=action.mode,
    )
    call.monitors[action.monitor_id] = leg
    try:
        await _invite_party(
            core,
            call,
            leg,
            f"monitor:{action.monitor_id}",
            from_user=agent.agent_id,
            display=f"monitor {agent.agent_id}",
        )
    except CommandFailed:
        leg.ended = True
        _detach(call, leg)
        raise


async def monitor_stop(core: SwitchCore, call: Call, action: MonitorStop) -> None:
    leg = call.monitors.get(action.monitor_id)
    if leg is None:
        raise CommandFailed(
            ErrorCode.INVALID_STATE,
            f"monitor {action.monitor_id} is not running on call {call.call_id}",
        )
    await end_leg(core, call, leg, ClearCause.NORMAL)


async def hold(core: SwitchCore, call: Call, held: bool) -> None:
    """Hold / retrieve of a mixed call: music on the caller's port instead of rtpengine's."""
    call.phase = Phase.HELD if held else Phase.BRIDGED
    apply(core, call)
    await maybe_unmix(core, call)


# --- SIP endings -----------------------------------------------------------------------


def owns(call: Call, dialog: Dialog) -> bool:
    """True when a BYE on ``dialog`` is this module's business (see :func:`leg_ended`)."""
    if call.consult is not None and call.consult.dialog is dialog:
        return True
    if any(leg.dialog is dialog for leg in call.monitors.values()):
        return True
    return call.consult is not None and call.agent is not None and call.agent.dialog is dialog


async def leg_ended(core: SwitchCore, call: Call, dialog: Dialog) -> None:
    """A party of a mixed call hung up (lock held).

    Consulted party or supervisor: its leg is released, the others stay as they are.
    The agent during a conference: the consulted party takes its place (caller ↔
    consulted party go on). The agent during a consultation: the consultation is
    dropped and the call ends, as when the agent of a two-party call hangs up.
    """
    consult_leg = call.consult
    if consult_leg is not None and consult_leg.dialog is dialog:
        consult_leg.dialog = None
        await end_leg(core, call, consult_leg, ClearCause.NORMAL)
        return
    for leg in list(call.monitors.values()):
        if leg.dialog is dialog:
            leg.dialog = None
            await end_leg(core, call, leg, ClearCause.NORMAL)
            return
    agent = call.agent
    if agent is None or agent.dialog is not dialog or consult_leg is None:
        return
    agent.dialog = None
    if call.conferenced and consult_leg.answered:
        await _agent_leaves(core, call, ClearCause.NORMAL, promote=consult_leg, bye=False)
        return
    await end_leg(core, call, consult_leg, ClearCause.NORMAL)
    from cti_server.switch.core import agent_leg

    await agent_leg.agent_hung_up(core, call, agent)


async def agent_hangup_command(core: SwitchCore, call: Call, cause: ClearCause) -> bool:
    """``hangup`` of the agent leg during a conference: the consulted party stays with the
    caller (True); False when the command means the call's end."""
    leg = call.consult
    if leg is None or not call.conferenced or not leg.answered:
        return False
    await _agent_leaves(core, call, cause, promote=leg)
    return True


async def finish(core: SwitchCore, call: Call) -> None:
    """The call ended: release the consult and supervisor legs, close the room."""
    for leg in [call.consult, *call.monitors.values()]:
        if leg is not None:
            await end_leg(core, call, leg, ClearCause.NORMAL)
    mix, call.mix = call.mix, None
    if mix is not None:
        with contextlib.suppress(MixerError, OSError):
            await mix.room.close()
