"""The switch's call core: a B2BUA joining the SIP stack, rtpengine and the IVR.

:class:`SwitchCore` is the :class:`~cti_server.switch.sip.CallHandler` of the
switch's :class:`~cti_server.switch.sip.SipStack` and the
:class:`~cti_server.switch.ports.CallControl` its deciders drive. Lifecycle of
one call (docs/switch.md has the sequence diagram):

1. INVITE with SDP → 180, ``arrived`` report, ``route(arrival)`` → tier and flow.
2. rtpengine ``offer`` (caller SDP, from-tag = caller's tag) gives the switch-side
   SDP (kept for the agent leg); ``answer`` with a placeholder SDP pointing at the
   core's media sink (to-tag ``b_tag``) gives the caller's 200 OK SDP.
3. The flow runs (:mod:`.ivr_runner`): prompts by ``play media``, DTMF from
   rtpengine's DTMF log or SIP INFO.
4. ``Queue`` → music on hold, ``queue_enter`` report, ``route(agent_needed)``; an
   agent in the answer (or a later ``offer_to_agent`` command) rings the agent's
   softphone with the switch-side SDP (:mod:`.agent_leg`).
5. The agent answers → rtpengine ``answer`` again for ``b_tag`` with the agent's SDP
   (re-negotiation moves the switch side from the sink to the phone), music stops:
   bridged. Ring-no-answer → ``failed`` report (no_answer), back to the queue.
6. BYE from either side → BYE to the other, ``released`` reports, rtpengine
   ``delete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cti_server.switch.core import agent_leg, control, multiparty, transfer
from cti_server.switch.core.calls import WAITING_PHASES, AgentLeg, Call, Phase, new_call_id
from cti_server.switch.core.ivr_runner import IvrRunner, PromptLibrary
from cti_server.switch.core.queue import QueueFeatures, QueueMonitor, start_call_moh
from cti_server.switch.core.recording import CallRecorder
from cti_server.switch.core.voicemail import VoicemailBox
from cti_server.switch.media.dtmf import DTMF_DIGITS, DtmfEvent
from cti_server.switch.media.ng import CallNotFoundError, MediaOptions, NgClient, NgError
from cti_server.switch.media.playback import PlaybackCache
from cti_server.switch.ports import (
    CallReport,
    CommandFailed,
    Decider,
    DecisionUnavailable,
    RouteQuery,
)
from cti_server.switch.sip import (
    BaseCallHandler,
    Dialog,
    IncomingCall,
    SessionDescription,
    SipRequest,
    SipStack,
    audio_answer,
    parse_sdp,
)
from cti_server.switch.sip.dialog import DialogError, DialogId
from cti_server.switch.sip.sdp import NoCommonCodec, SdpParseError
from cti_server.switch.sip.transport import TransportError
from shared.ivr import CallContext, Flow, default_flow, load_shipped_flow
from shared.ivr.library import shipped_flow_names
from shared.ivr.run import (
    Hangup,
    Queue,
    RecordVoicemail,
    RequestCallback,
    TerminalAction,
    Transfer,
)
from shared.protocol.call import ClearCause
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import (
    LegRole,
    RouteResponse,
    RouteStage,
    SwitchAction,
    SwitchCallEventKind,
)

if TYPE_CHECKING:
    from cti_server.switch.media.mixer import Mixer

log = logging.getLogger("switch.core")

FlowSource = Callable[[str | None, int | None], Flow]
"""``(flow_id, flow_version) → Flow`` for the route response's flow."""

FlowPrefetch = Callable[[str | None, int | None], Awaitable[object]]
"""Awaited on a call's arrival before its flow starts, with the route response's
``(flow_id, flow_version)``: makes that version available to the :data:`FlowSource`
(``FlowCache.prefetch`` fetches it over the CTI link; R-IVR-5). Must not raise."""


def shipped_flow_source(flow_id: str | None, flow_version: int | None) -> Flow:
    """Shipped flows by id (``default``, ``vip``, ``normal``); anything else → default."""
    if flow_id is not None and flow_id in shipped_flow_names():
        return load_shipped_flow(flow_id)
    if flow_id is not None:
        log.warning(
            "flow %s v%s is not available here: running the default flow", flow_id, flow_version
        )
    return default_flow()


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """How the core treats calls."""

    prompts_dir: Path
    moh_file: Path
    sink_host: str = "127.0.0.1"
    """Where the media sink binds; rtpengine's interface must reach it."""
    ack_timeout: float = 2.0
    """How long to wait for the caller's ACK before the flow starts anyway."""
    default_ring_timeout: float = 20.0
    """Ring time of an agent leg the decider offered without a command."""
    media: MediaOptions = field(default_factory=lambda: MediaOptions(inject_dtmf=True))
    """ng options of every offer/answer (``inject_dtmf`` is needed by ``send_dtmf``)."""
    queues: Mapping[str, QueueFeatures] = field(default_factory=dict)
    """Per-queue announcements and max wait → overflow (R-IVR-1..4), by queue id."""
    queue_default: QueueFeatures = field(default_factory=QueueFeatures)
    """Features of the queues not in ``queues`` (announcements every 30 s, no max wait)."""
    voicemail_dir: Path | None = None
    """Voicemail WAVs and callback requests the server could not take; None = no voicemail."""
    outbound_gateway: str | None = None
    """SIP URI template for outside numbers, e.g. ``sip:{number}@gw.example:5060``
    (blind transfer / consult to a number, the IVR's transfer to a number); None = none."""
    close_timeout: float = 5.0
    """How long :meth:`SwitchCore.close` waits, overall, for the BYEs of the calls it
    ends (sent all at once); a party that never answers does not hold up the stop."""
    srtp: str = "allow"
    """Callers' SDES-SRTP (``RTP/SAVP`` + ``a=crypto``): ``allow`` (SRTP or RTP; rtpengine
    bridges SRTP to the agents' plain RTP), ``require`` (488 to plain RTP offers) or
    ``refuse`` (488 to SRTP offers)."""
    playback_dir: Path | None = None
    """Where prompts and music on hold are prepared for rtpengine (G.711 copies in the
    caller's codec, joined prompt sequences: :mod:`cti_server.switch.media.playback`).
    None: ``<data dir>/switch/playback``, the data dir being the folder above the
    music on hold's (``<data dir>/moh/default.wav``)."""
    recordings_dir: Path | None = None
    """rtpengine's recording folder (its pcaps) and the upload outbox's parent
    (:mod:`.recording`); None: calls cannot be recorded."""
    record_calls: bool = False
    """Record every bridged agent call whose queue allows it (R-SUP-3, :mod:`.recording`);
    ``record_start`` commands work either way."""
    recording_workers: int = 1
    """Worker processes converting finished recordings to WAV."""


def srtp_policy_error(caller_sdp: str, policy: str) -> str | None:
    """Why ``caller_sdp`` breaks the SRTP ``policy`` (None: it does not)."""
    secure = any(
        line.startswith("m=audio ") and "/SAVP" in line for line in caller_sdp.splitlines()
    )
    if policy == "require" and not secure:
        return "SRTP required (offer RTP/SAVP with a=crypto)"
    if policy == "refuse" and secure:
        return "SRTP not accepted here"
    return None


class _Sink(asyncio.DatagramProtocol):
    """Swallows the RTP rtpengine sends to the switch side before an agent answers."""

    def __init__(self) -> None:
        self.packets = 0

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.packets += 1


class SwitchCore(BaseCallHandler):
    """Owns every call of the switch (see the module docstring)."""

    def __init__(
        self,
        ng: NgClient,
        decider: Decider,
        config: CoreConfig,
        *,
        flows: FlowSource = shipped_flow_source,
        flow_prefetch: FlowPrefetch | None = None,
        clock: Callable[[], float] = time.time,
        mixer: Mixer | None = None,
    ) -> None:
        self.mixer = mixer
        """The RTP mixer of multi-party calls (consult, conference, monitor); the core
        starts and closes it. None: those commands fail ``unavailable``."""
        self.ng = ng
        self.decider = decider
        self.config = config
        self.flows = flows
        self.flow_prefetch = flow_prefetch
        self.clock = clock
        self.prompts = PromptLibrary(config.prompts_dir)
        self.prompts.playback = PlaybackCache(
            config.playback_dir or config.moh_file.parent.parent / "switch" / "playback"
        )
        self.calls: dict[str, Call] = {}
        self.runners: dict[str, IvrRunner] = {}
        self._by_dialog: dict[DialogId, Call] = {}
        self._by_invite: dict[int, Call] = {}
        self._stack: SipStack | None = None
        self._sink: asyncio.DatagramTransport | None = None
        self._sink_protocol = _Sink()
        self.sink_address: tuple[str, int] = (config.sink_host, 0)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.queue_monitor = QueueMonitor(self, config.queues, config.queue_default)
        """Queue announcements and max wait → overflow of the waiting calls."""
        self.voicemail = VoicemailBox(self, config.voicemail_dir)
        """Voicemail recordings and callback requests."""
        self.recorder = CallRecorder(
            ng,
            config.recordings_dir,
            enabled=config.record_calls,
            workers=config.recording_workers,
        )
        """Call recording (R-SUP-3): rtpengine pcaps while bridged → WAV in the outbox."""

    # --- lifecycle -------------------------------------------------------------------

    def attach(self, stack: SipStack) -> None:
        """The SIP stack this core answers for (built with ``handler=core``)."""
        self._stack = stack

    @property
    def stack(self) -> SipStack:
        if self._stack is None:
            raise RuntimeError("SwitchCore.attach(stack) was not called")
        return self._stack

    async def start(self) -> None:
        """Open the media sink."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self._sink_protocol, local_addr=(self.config.sink_host, 0)
        )
        self._sink = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.sink_address = (str(host), int(port))
        if self.mixer is not None:
            self.mixer.start()

    async def close(self) -> None:
        """Hang up every call (BYE both legs, rtpengine ``delete``), close the sink.

        The calls are hung up concurrently and the whole wait is bounded by
        ``config.close_timeout``: a call whose BYE is still unanswered then is released
        (``released``, detail ``switch stopping``) and deleted without waiting for it."""
        calls = list(self.calls.values())
        if calls:

            async def end(call: Call) -> None:
                async with call.lock:
                    await self._hang_up(call, ClearCause.NORMAL, detail="switch stopping")

            loop = asyncio.get_running_loop()
            enders = [loop.create_task(end(call), name=f"close-{call.call_id}") for call in calls]
            _, late = await asyncio.wait(enders, timeout=self.config.close_timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*enders, return_exceptions=True)
            for call in calls:
                if call.ended:
                    continue
                log.warning("%s: no answer to the BYE while stopping: released", call.call_id)
                self.emit(
                    call,
                    SwitchCallEventKind.RELEASED,
                    cause=ClearCause.NORMAL,
                    detail="switch stopping",
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finish(call), 2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self.mixer is not None:
            await self.mixer.close()
        await self.recorder.close()

    async def media_lost(self) -> None:
        """rtpengine restarted and lost its calls: hang every call up."""
        for call in list(self.calls.values()):
            async with call.lock:
                await self._hang_up(call, ClearCause.FAILED, detail="media engine restarted")

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    # --- reports and CallControl -------------------------------------------------------

    def report(self, report: CallReport) -> None:
        try:
            self.decider.report(report)
        except Exception:
            log.exception("decider.report failed for %s", report)

    def emit(
        self,
        call: Call,
        kind: SwitchCallEventKind,
        *,
        leg: LegRole = LegRole.CALLER,
        agent_id: str | None = None,
        cause: ClearCause | None = None,
        detail: str | None = None,
        queue_id: str | None = None,
    ) -> None:
        self.report(
            CallReport(
                call_id=call.call_id,
                kind=kind,
                at=self.clock(),
                leg=leg,
                agent_id=agent_id,
                queue_id=queue_id,
                cause=cause,
                detail=detail,
            )
        )

    async def execute(self, call_id: str, action: SwitchAction) -> None:
        """:class:`CallControl`: carry out one command (raises :class:`CommandFailed`)."""
        call = self.calls.get(call_id)
        if call is None or call.ended:
            raise CommandFailed(ErrorCode.UNKNOWN_CALL, f"no call {call_id} on this switch")
        async with call.lock:
            if call.ended:
                raise CommandFailed(ErrorCode.UNKNOWN_CALL, f"call {call_id} has ended")
            try:
                await control.execute(self, call, action)
            finally:
                await self.recorder.sync(call)  # hold, transfer, conference… (R-SUP-3)

    def registered_contacts(self) -> Mapping[str, str]:
        """:class:`CallControl`: agent SIP user → contact URI of its best binding."""
        registrar = self.stack.registrar
        if registrar is None:
            return {}
        contacts: dict[str, str] = {}
        for aor in registrar.aors():
            bindings = registrar.contacts(aor)
            if bindings:
                contacts[aor] = str(bindings[0].contact.uri)
        return contacts

    # --- SIP: new calls -----------------------------------------------------------------

    async def on_invite(self, call: IncomingCall) -> None:
        if call.offer is None:
            call.reject(488, "SDP offer required")
            return
        request = call.request
        tag = request.from_.tag or new_call_id()
        record = Call(
            call_id=new_call_id(),
            incoming=call,
            caller_tag=tag,
            b_tag=f"sw-{tag}"[:64],
            caller=request.from_.uri.user,
            called=request.uri.user or request.to.uri.user,
            arrived_at=self.clock(),
            caller_sdp=call.offer.to_text(),
        )
        self.calls[record.call_id] = record
        self._by_invite[id(call)] = record
        call.ring()
        self.emit(record, SwitchCallEventKind.ARRIVED)
        try:
            route = await self.decider.route(
                RouteQuery(
                    call_id=record.call_id,
                    stage=RouteStage.ARRIVAL,
                    caller=record.caller,
                    called=record.called,
                )
            )
        except DecisionUnavailable as exc:
            log.warning("%s: no routing decision (%s): default flow", record.call_id, exc)
            route = RouteResponse()
        if self.flow_prefetch is not None:  # the caller still hears ringing meanwhile
            await self.flow_prefetch(route.flow_id, route.flow_version)
        async with record.lock:
            if record.ended:
                return
            if not await self._answer_caller(record):
                return
            record.tier = route.tier
            record.phase = Phase.IVR
            flow = self.flows(route.flow_id, route.flow_version)
            runner = IvrRunner(
                record,
                flow,
                ng=self.ng,
                prompts=self.prompts,
                decider=self.decider,
                host=self,
                clock=self.clock,
            )
            self.runners[record.call_id] = runner
        await call.wait_ack(self.config.ack_timeout)
        await runner.start(
            CallContext(
                tier=route.tier,
                caller=record.caller,
                called=record.called,
                blacklisted=route.blacklisted,
                skip_ivr=route.skip_ivr,
            )
        )

    async def _answer_caller(self, call: Call) -> bool:
        """rtpengine offer/answer, then 200 OK to the caller. False: the call is gone."""
        incoming = call.incoming
        refused = srtp_policy_error(call.caller_sdp, self.config.srtp)
        if refused is not None:
            incoming.reject(488, refused)
            self.emit(call, SwitchCallEventKind.FAILED, cause=ClearCause.FAILED, detail=refused)
            await self._finish(call)
            return False
        try:
            offer = await self.ng.offer(
                call.caller_sdp, call.call_id, call.caller_tag, self.config.media
            )
            call.agent_side_offer = offer.sdp
            host, port = self.sink_address
            placeholder = audio_answer(parse_sdp(offer.sdp), host, port).to_text()
            call.b_side_sdp = placeholder
            answer = await self.ng.answer(
                placeholder, call.call_id, call.caller_tag, call.b_tag, self.config.media
            )
        except (NgError, NoCommonCodec, SdpParseError) as exc:
            log.warning("%s: media set-up failed: %s", call.call_id, exc)
            incoming.reject(488 if isinstance(exc, NoCommonCodec | SdpParseError) else 503)
            self.emit(call, SwitchCallEventKind.FAILED, cause=ClearCause.FAILED, detail=str(exc))
            await self._finish(call)
            return False
        if incoming.cancelled.is_set():
            await self._finish(call)
            return False
        call.caller_answer = answer.sdp
        try:
            dialog = incoming.answer(answer.sdp.encode())
        except DialogError:
            await self._finish(call)
            return False
        call.dialog = dialog
        self._by_dialog[dialog.id] = call
        return True

    # --- IVR host -----------------------------------------------------------------------

    async def ivr_finished(self, call: Call, action: TerminalAction) -> None:
        """The flow's terminal action (called with the call's lock held)."""
        if isinstance(action, Queue):
            call.business_selection = action.business_selection
            await self.enter_queue(call, action.queue_id)
        elif isinstance(action, Transfer):
            call.business_selection = action.business_selection
            contact = self.registered_contacts().get(action.agent_id or "")
            if action.agent_id is not None and contact is not None:
                await self._start_waiting(call, None)
                await agent_leg.offer(self, call, action.agent_id, contact)
            elif action.agent_id is not None:
                await self.enter_queue(call, None)
            elif action.number:
                await transfer.ivr_to_number(self, call, action.number)
            else:
                detail = "the flow's transfer names neither an agent nor a number"
                self.emit(call, SwitchCallEventKind.FAILED, cause=ClearCause.FAILED, detail=detail)
                await self._hang_up(call, ClearCause.FAILED, detail=detail)
        elif isinstance(action, RecordVoicemail):
            await self.voicemail.start(call, action)
        elif isinstance(action, Hangup):
            await self._hang_up(call, ClearCause.NORMAL, detail=action.reason)

    async def _start_waiting(self, call: Call, queue_id: str | None) -> None:
        call.phase = Phase.QUEUED
        call.queue_id = queue_id
        try:
            await start_call_moh(self, call)
        except NgError as exc:
            log.warning("%s: music on hold failed: %s", call.call_id, exc)

    async def enter_queue(self, call: Call, queue_id: str | None) -> None:
        """Music on hold, ``queue_enter``, ``route(agent_needed)``; ring the agent if named."""
        await self._start_waiting(call, queue_id)
        self.queue_monitor.entered(call, queue_id)
        runner = self.runners.get(call.call_id)
        self.emit(
            call,
            SwitchCallEventKind.QUEUE_ENTER,
            queue_id=queue_id,
            detail=call.business_selection,
        )
        try:
            response = await self.decider.route(
                RouteQuery(
                    call_id=call.call_id,
                    stage=RouteStage.AGENT_NEEDED,
                    caller=call.caller,
                    called=call.called,
                    business_selection=call.business_selection,
                    tier=call.tier,
                    queue_id=queue_id,
                    trajectory=runner.run.protocol_trajectory() if runner else (),
                )
            )
        except DecisionUnavailable as exc:
            log.warning("%s: no agent decision (%s): waiting for an offer", call.call_id, exc)
            return
        if response.queue_id is not None:
            call.queue_id = response.queue_id
        call.record = response.record is not False  # the queue's recording setting
        if response.agent is not None and call.phase is Phase.QUEUED:
            try:
                await agent_leg.offer(
                    self, call, response.agent.agent_id, response.agent.sip_contact
                )
            except CommandFailed as exc:
                log.warning(
                    "%s: offer to %s failed: %s", call.call_id, response.agent.agent_id, exc
                )

    # --- SIP: in-dialog events ----------------------------------------------------------

    async def on_cancel(self, call: IncomingCall) -> None:
        record = self._by_invite.get(id(call))
        if record is not None:
            async with record.lock:
                await self._caller_left(record)

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        await self._dialog_ended(dialog)

    async def on_dialog_timeout(self, dialog: Dialog) -> None:
        await self._dialog_ended(dialog)

    async def on_session_expired(self, dialog: Dialog) -> None:
        """RFC 4028: a leg stopped refreshing its session; the stack already sent it BYE.
        The caller's → the call is released (``failed``, detail ``session expired``)."""
        call = self._by_dialog.get(dialog.id)
        if call is None or call.dialog is None or call.dialog.id != dialog.id:
            await self._dialog_ended(dialog)
            return
        async with call.lock:
            if call.ended or call.dialog is None or call.dialog.id != dialog.id:
                return
            self._by_dialog.pop(dialog.id, None)
            call.dialog = None  # the stack's BYE is on its way
            await self.caller_lost(call, "session expired")

    async def _dialog_ended(self, dialog: Dialog) -> None:
        call = self._by_dialog.pop(dialog.id, None)
        if call is None:
            return
        async with call.lock:
            if call.ended:
                return
            if call.dialog is not None and call.dialog.id == dialog.id:
                call.dialog = None
                await self._caller_left(call)
            elif multiparty.owns(call, dialog):
                await multiparty.leg_ended(self, call, dialog)
                await self.recorder.sync(call)
            elif call.agent is not None and call.agent.dialog is dialog:
                await agent_leg.agent_hung_up(self, call, call.agent)

    async def on_info(self, dialog: Dialog, request: SipRequest) -> None:
        call = self._by_dialog.get(dialog.id)
        digit = dtmf_from_info(request)
        if call is None or digit is None or call.dialog is None or call.dialog.id != dialog.id:
            return
        runner = self.runners.get(call.call_id)
        if runner is not None and call.phase is Phase.IVR:
            self.spawn(runner.on_dtmf(digit), f"info-dtmf-{call.call_id}")

    def on_dtmf_event(self, event: DtmfEvent) -> None:
        """rtpengine's DTMF log: caller keys go to the flow while the call is in IVR."""
        call = self.calls.get(event.call_id)
        if call is None or event.source_tag != call.caller_tag or call.phase is not Phase.IVR:
            return
        runner = self.runners.get(call.call_id)
        if runner is not None:
            self.spawn(runner.on_dtmf(event.digit), f"dtmf-{call.call_id}")

    async def on_reinvite(self, dialog: Dialog, request: SipRequest) -> SessionDescription | None:
        """A re-INVITE (refresh, phone-side hold) from either leg: rtpengine re-offer from
        that side, re-answer with the other side's last SDP, return rtpengine's answer."""
        call = self._by_dialog.get(dialog.id)
        if call is None or not request.body:
            return None
        async with call.lock:
            if call.ended:
                return None
            if call.mix is not None and (call.dialog is None or call.dialog.id != dialog.id):
                return multiparty.reinvite_answer(call, dialog, request.body)
            from_caller = call.dialog is not None and call.dialog.id == dialog.id
            sdp = request.body.decode(errors="replace")
            from_tag, to_tag = (
                (call.caller_tag, call.b_tag) if from_caller else (call.b_tag, call.caller_tag)
            )
            other = call.b_side_sdp if from_caller else call.caller_sdp
            try:
                await self.ng.offer(sdp, call.call_id, from_tag, self._reoffer_media(from_caller))
                answer = await self.ng.answer(
                    other, call.call_id, from_tag, to_tag, self.config.media
                )
                parsed = parse_sdp(answer.sdp)
            except (NgError, SdpParseError) as exc:
                log.warning("%s: re-INVITE refused: %s", call.call_id, exc)
                return None
            if from_caller:
                call.caller_sdp = sdp
                call.caller_answer = answer.sdp
            else:
                call.b_side_sdp = sdp
            return parsed

    # --- endings ------------------------------------------------------------------------

    async def _caller_left(self, call: Call) -> None:
        """The caller hung up (BYE or CANCEL); lock held."""
        if call.ended:
            return
        abandoned = call.phase in (Phase.ANSWERING, Phase.IVR, *WAITING_PHASES)
        cause = ClearCause.CALLER_ABANDONED if abandoned else ClearCause.NORMAL
        if call.phase in WAITING_PHASES:
            self.emit(
                call, SwitchCallEventKind.QUEUE_LEAVE, queue_id=call.queue_id, detail="abandoned"
            )
        runner = self.runners.get(call.call_id)
        if runner is not None:
            runner.caller_hung_up()
        self.voicemail.caller_left(call)
        # The caller's release goes first: the server closes the call on the first
        # release it gets, and the caller is who released it (the agent leg's BYE is ours).
        self.emit(call, SwitchCallEventKind.RELEASED, cause=cause)
        if call.agent is not None:
            await agent_leg.drop(self, call, call.agent, cause)
        await self._finish(call)

    async def _hang_up(self, call: Call, cause: ClearCause, *, detail: str | None = None) -> None:
        """The switch ends the call: BYE (or reject) the caller, drop the agent leg; lock held."""
        if call.ended:
            return
        runner = self.runners.get(call.call_id)
        if runner is not None:
            runner.stop()
        if call.agent is not None:
            await agent_leg.drop(self, call, call.agent, cause)
        dialog, call.dialog = call.dialog, None
        if dialog is not None:
            self._by_dialog.pop(dialog.id, None)
            with contextlib.suppress(TransportError, DialogError):
                await self.stack.bye(dialog)
        else:
            call.incoming.reject(480)
        self.emit(call, SwitchCallEventKind.RELEASED, cause=cause, detail=detail)
        await self._finish(call)

    async def hang_up(self, call: Call, cause: ClearCause, *, detail: str | None = None) -> None:
        await self._hang_up(call, cause, detail=detail)

    async def caller_lost(self, call: Call, detail: str) -> None:
        """The caller is gone without a BYE (session expired, no RTP; lock held): the
        agent leg gets BYE, the caller a BYE sent in the background (nobody may answer
        it), ``queue_leave`` when waiting, ``released`` with cause ``failed``."""
        if call.ended:
            return
        if call.phase in WAITING_PHASES:
            self.emit(call, SwitchCallEventKind.QUEUE_LEAVE, queue_id=call.queue_id, detail=detail)
        dialog, call.dialog = call.dialog, None
        if dialog is not None:
            self._by_dialog.pop(dialog.id, None)

            async def bye() -> None:
                with contextlib.suppress(TransportError, DialogError):
                    await self.stack.bye(dialog)

            self.spawn(bye(), f"bye-lost-caller-{call.call_id}")
        await self._hang_up(call, ClearCause.FAILED, detail=detail)

    async def _finish(self, call: Call) -> None:
        """Forget the call and delete its rtpengine call."""
        self.voicemail.caller_left(call)
        call.phase = Phase.ENDED
        call.ended_event.set()
        self.calls.pop(call.call_id, None)
        self._by_invite.pop(id(call.incoming), None)
        runner = self.runners.pop(call.call_id, None)
        if runner is not None:
            runner.stop()
        for did in [d for d, c in self._by_dialog.items() if c is call]:
            del self._by_dialog[did]
        await multiparty.finish(self, call)
        recording = self.recorder.call_ended(call)
        with contextlib.suppress(CallNotFoundError, NgError):
            await self.ng.delete(call.call_id)
        if recording is not None:  # rtpengine closed the pcaps: convert and queue the WAV
            self.recorder.convert_later(recording)

    def new_runner(self, call: Call, flow: Flow) -> IvrRunner:
        """A fresh flow run for ``call`` (replaces and stops its previous runner)."""
        old = self.runners.pop(call.call_id, None)
        if old is not None:
            old.stop()
        runner = IvrRunner(
            call,
            flow,
            ng=self.ng,
            prompts=self.prompts,
            decider=self.decider,
            host=self,
            clock=self.clock,
        )
        self.runners[call.call_id] = runner
        return runner

    def callback_requested(self, call: Call, action: RequestCallback) -> None:
        """IVR host: pass the flow's callback request on (the flow goes on meanwhile)."""
        self.spawn(
            self.voicemail.request_callback(self.decider, call, action),
            f"callback-request-{call.call_id}",
        )

    def _reoffer_media(self, from_caller: bool) -> MediaOptions:
        """ng options of a re-offer: from the agent side it must not rewrite the caller
        side's protocol (an SRTP caller would get plain RTP: rtpengine then stops
        sending to it), so ``transport protocol`` is left out; rtpengine keeps the
        caller's ``RTP/SAVP`` and keys."""
        if from_caller:
            return self.config.media
        return replace(self.config.media, transport_protocol=None)

    def track_dialog(self, dialog: Dialog, call: Call) -> None:
        self._by_dialog[dialog.id] = call

    def forget_dialog(self, dialog: Dialog) -> None:
        self._by_dialog.pop(dialog.id, None)


def dtmf_from_info(request: SipRequest) -> str | None:
    """The key of a SIP INFO (``application/dtmf-relay`` ``Signal=5`` or ``application/dtmf``)."""
    ctype = (request.content_type or "").lower()
    text = request.body.decode(errors="replace").strip()
    value: str | None = None
    if ctype == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, val = line.partition("=")
            if name.strip().lower() == "signal":
                value = val.strip()
    elif ctype == "application/dtmf":
        value = text
    if value is None:
        return None
    value = {"10": "*", "11": "#"}.get(value, value).upper()
    return value if len(value) == 1 and value in DTMF_DIGITS else None


__all__ = [
    "AgentLeg",
    "CoreConfig",
    "FlowPrefetch",
    "FlowSource",
    "SwitchCore",
    "dtmf_from_info",
    "shipped_flow_source",
]
