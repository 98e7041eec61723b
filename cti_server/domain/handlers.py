"""Thin request handlers: protocol messages → :class:`ContactCentre` calls.

One router per feature (agents, calls, supervision, switch link, snapshots); the
composition root merges them with :func:`build_router`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from cti_server.store import ConfigStore
from cti_server.store.flows import switch_flow
from cti_server.store.prompts import PromptNotFound, PromptRejected, PromptStore
from cti_server.store.recordings import RecordingStore, UploadRejected
from cti_server.ws import DomainError, RequestContext, Role, Router
from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLogin,
    AgentLogout,
    AgentSetAfterCallWork,
    AgentSetNotReady,
    AgentSetReady,
)
from shared.protocol.base import Request
from shared.protocol.call import (
    CallAnswer,
    CallConference,
    CallConsult,
    CallHold,
    CallReconnect,
    CallRelease,
    CallRetrieve,
    CallSendDtmf,
    CallSingleStepTransfer,
    CallTransfer,
    CallWrapUp,
    ConsultResult,
    WrapUpResult,
)
from shared.protocol.desktop import (
    DesktopDirectory,
    DesktopDirectoryRequest,
    WebTokenRequest,
    WebTokenResult,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, Snapshot, SnapshotRequest
from shared.protocol.supervisor import (
    MonitorResult,
    SubscriptionResult,
    SupervisorForceLogout,
    SupervisorForceState,
    SupervisorMonitor,
    SupervisorMonitorStop,
    SupervisorSubscribe,
    SupervisorUnsubscribe,
)
from shared.protocol.switch import (
    AgentsSnapshot,
    FlowDocument,
    LookupResult,
    PromptChunk,
    PromptIndex,
    PromptIndexEntry,
    RecordingReceipt,
    RouteResponse,
    SwitchAgentsSnapshot,
    SwitchCallEvent,
    SwitchCommandResult,
    SwitchFallbackReport,
    SwitchFlowGet,
    SwitchLookup,
    SwitchPromptGet,
    SwitchPromptIndex,
    SwitchRecordingPut,
    SwitchRegistration,
    SwitchRouteRequest,
)

from . import desktop
from .centre import ContactCentre
from .supervisor import Subscription

DESKTOP = {ClientKind.DESKTOP}
SUPERVISORS = {Role.TEAM_LEAD, Role.ADMIN}
SUPERVISOR_KINDS = {ClientKind.DESKTOP, ClientKind.SUPERVISOR, ClientKind.TOOL}
SWITCH = {ClientKind.SWITCH}
DESKTOP_KINDS = {ClientKind.DESKTOP, ClientKind.SUPERVISOR}


def require_version(ctx: RequestContext, msg: Request) -> None:
    """``unexpected_type`` for a request newer than the session's protocol version."""
    needed = type(msg).introduced_in
    have = ctx.session.version
    if needed.major != have.major or needed.minor > have.minor:
        tag = msg.type_tag()
        raise ProtocolError(
            ErrorCode.UNEXPECTED_TYPE,
            f"`{tag}` needs protocol {needed.major}.{needed.minor}; "
            f"this session speaks {have.major}.{have.minor}",
            detail={"type": tag},
        )


def agent_router(centre: ContactCentre) -> Router:
    router = Router()

    @router.handles(AgentLogin, kinds=DESKTOP)
    async def login(ctx: RequestContext, msg: AgentLogin) -> None:
        await centre.login(
            ctx.session,
            ctx.principal.principal_id,
            extension=msg.extension,
            ready=msg.initial_state == "ready",
            reason_code=msg.reason_code,
        )

    @router.handles(AgentLogout, kinds=DESKTOP)
    async def logout(ctx: RequestContext, msg: AgentLogout) -> None:
        await centre.logout(ctx.principal.principal_id, reason_code=msg.reason_code)

    @router.handles(AgentSetReady, kinds=DESKTOP)
    async def ready(ctx: RequestContext, msg: AgentSetReady) -> None:
        await centre.set_ready(ctx.principal.principal_id)

    @router.handles(AgentSetNotReady, kinds=DESKTOP)
    async def not_ready(ctx: RequestContext, msg: AgentSetNotReady) -> None:
        await centre.set_not_ready(ctx.principal.principal_id, msg.reason_code)

    @router.handles(AgentSetAfterCallWork, kinds=DESKTOP)
    async def acw(ctx: RequestContext, msg: AgentSetAfterCallWork) -> None:
        await centre.set_after_call_work(ctx.principal.principal_id)

    @router.handles(AgentEndAfterCallWork, kinds=DESKTOP)
    async def end_acw(ctx: RequestContext, msg: AgentEndAfterCallWork) -> None:
        await centre.end_after_call_work(ctx.principal.principal_id)

    return router


def call_router(centre: ContactCentre) -> Router:
    router = Router()

    @router.handles(CallAnswer, kinds=DESKTOP)
    async def answer(ctx: RequestContext, msg: CallAnswer) -> None:
        await centre.call_control(ctx.principal.principal_id, msg.call_id, "answer")

    @router.handles(CallRelease, kinds=DESKTOP)
    async def release(ctx: RequestContext, msg: CallRelease) -> None:
        await centre.call_control(ctx.principal.principal_id, msg.call_id, "release")

    @router.handles(CallHold, kinds=DESKTOP)
    async def hold(ctx: RequestContext, msg: CallHold) -> None:
        await centre.call_control(ctx.principal.principal_id, msg.call_id, "hold")

    @router.handles(CallRetrieve, kinds=DESKTOP)
    async def retrieve(ctx: RequestContext, msg: CallRetrieve) -> None:
        await centre.call_control(ctx.principal.principal_id, msg.call_id, "retrieve")

    @router.handles(CallSendDtmf, kinds=DESKTOP)
    async def dtmf(ctx: RequestContext, msg: CallSendDtmf) -> None:
        await centre.call_control(
            ctx.principal.principal_id, msg.call_id, "dtmf", digits=msg.digits
        )

    @router.handles(CallSingleStepTransfer, kinds=DESKTOP)
    async def transfer(ctx: RequestContext, msg: CallSingleStepTransfer) -> None:
        await centre.call_control(
            ctx.principal.principal_id, msg.call_id, "transfer", destination=msg.destination
        )

    @router.handles(CallConsult, kinds=DESKTOP)
    async def consult(ctx: RequestContext, msg: CallConsult) -> ConsultResult:
        consult_id = await centre.consults.consult(
            ctx.principal.principal_id, msg.call_id, msg.destination
        )
        return ConsultResult(consult_call_id=consult_id)

    @router.handles(CallTransfer, kinds=DESKTOP)
    async def complete_transfer(ctx: RequestContext, msg: CallTransfer) -> None:
        await centre.consults.transfer(ctx.principal.principal_id, msg.call_id, msg.consult_call_id)

    @router.handles(CallConference, kinds=DESKTOP)
    async def conference(ctx: RequestContext, msg: CallConference) -> None:
        await centre.consults.conference(
            ctx.principal.principal_id, msg.call_id, msg.consult_call_id
        )

    @router.handles(CallReconnect, kinds=DESKTOP)
    async def reconnect(ctx: RequestContext, msg: CallReconnect) -> None:
        await centre.consults.reconnect(
            ctx.principal.principal_id, msg.call_id, msg.consult_call_id
        )

    return router


def supervisor_router(centre: ContactCentre) -> Router:
    router = Router()

    @router.handles(SupervisorSubscribe, kinds=SUPERVISOR_KINDS, roles=SUPERVISORS)
    async def subscribe(ctx: RequestContext, msg: SupervisorSubscribe) -> SubscriptionResult:
        sub = centre.feed.subscribe(ctx.session, msg)
        # the current values follow the result (queued after it by the connection)
        centre.spawn(_initial(centre, sub))
        return SubscriptionResult(subscription_id=sub.subscription_id)

    @router.handles(SupervisorUnsubscribe, kinds=SUPERVISOR_KINDS, roles=SUPERVISORS)
    async def unsubscribe(ctx: RequestContext, msg: SupervisorUnsubscribe) -> None:
        if not centre.feed.unsubscribe(ctx.session, msg.subscription_id):
            raise DomainError(
                ErrorCode.UNKNOWN_SUBSCRIPTION,
                f"no subscription {msg.subscription_id} on this session",
                {"subscription_id": msg.subscription_id},
            )

    @router.handles(SupervisorForceState, kinds=SUPERVISOR_KINDS, roles=SUPERVISORS)
    async def force_state(ctx: RequestContext, msg: SupervisorForceState) -> None:
        by = ctx.principal.principal_id
        rec = centre.agent(msg.agent_id)
        before = {"state": rec.state.value, "reason_code": rec.reason}
        if msg.state == "ready":
            await centre.set_ready(msg.agent_id, forced_by=by)
        else:
            reason = msg.reason_code
            if reason is not None:
                centre.check_reason(reason)
            await centre.set_not_ready(msg.agent_id, reason or "forced", forced_by=by, check=False)
        await centre.store.audit(
            actor=by,
            action="force_state",
            entity="agent",
            entity_id=msg.agent_id,
            before=before,
            after={"state": msg.state, "reason_code": msg.reason_code},
        )

    @router.handles(SupervisorForceLogout, kinds=SUPERVISOR_KINDS, roles=SUPERVISORS)
    async def force_logout(ctx: RequestContext, msg: SupervisorForceLogout) -> None:
        by = ctx.principal.principal_id
        rec = centre.agent(msg.agent_id)
        before = {"state": rec.state.value, "reason_code": rec.reason}
        deferred = await centre.force_logout(msg.agent_id, by, msg.reason_code)
        await centre.store.audit(
            actor=by,
            action="force_logout",
            entity="agent",
            entity_id=msg.agent_id,
            before=before,
            after={
                "state": "logged_off",
                "reason_code": msg.reason_code,
                "after_call": deferred,
            },
        )

    @router.handles(SupervisorMonitor, kinds=SUPERVISOR_KINDS, roles=SUPERVISORS)
    async def monitor(ctx: RequestContext, msg: SupervisorMonitor) -> MonitorResult:
        return await centre.monitors.start(
            ctx.session, ctx.principal.principal_id, msg.agent_id, msg.mode
        )

    @router.handles(SupervisorMonitorStop, kinds=SUPERVISOR_KINDS, roles=SUPERVISORS)
    async def monitor_stop(ctx: RequestContext, msg: SupervisorMonitorStop) -> None:
        await centre.monitors.stop(ctx.session, ctx.principal.principal_id, msg.monitor_id)

    return router


async def _initial(centre: ContactCentre, sub: Subscription) -> None:
    centre.feed.initial(sub)


def switch_router(centre: ContactCentre) -> Router:
    router = Router()

    @router.handles(SwitchRouteRequest, kinds=SWITCH)
    async def route(ctx: RequestContext, msg: SwitchRouteRequest) -> RouteResponse:
        return await centre.route_request(ctx.principal.principal_id, msg)

    @router.handles(SwitchCallEvent, kinds=SWITCH)
    async def call_event(ctx: RequestContext, msg: SwitchCallEvent) -> None:
        await centre.call_event(ctx.principal.principal_id, msg)

    @router.handles(SwitchRegistration, kinds=SWITCH)
    async def registration(ctx: RequestContext, msg: SwitchRegistration) -> None:
        centre.registration(msg.sip_user, msg.registered, msg.contact, msg.expires_seconds)

    @router.handles(SwitchCommandResult, kinds=SWITCH)
    async def command_result(ctx: RequestContext, msg: SwitchCommandResult) -> None:
        await centre.command_result(msg)

    @router.handles(SwitchFallbackReport, kinds=SWITCH)
    async def fallback(ctx: RequestContext, msg: SwitchFallbackReport) -> None:
        await centre.fallback_report(ctx.principal.principal_id, msg)

    @router.handles(SwitchLookup, kinds=SWITCH)
    async def lookup(ctx: RequestContext, msg: SwitchLookup) -> LookupResult:
        require_version(ctx, msg)
        return await centre.lookup(ctx.principal.principal_id, msg)

    @router.handles(SwitchAgentsSnapshot, kinds=SWITCH)
    async def agents_snapshot(ctx: RequestContext, msg: SwitchAgentsSnapshot) -> AgentsSnapshot:
        require_version(ctx, msg)
        return centre.agents_snapshot(ctx.session)  # no await: consistent with last_seq

    @router.handles(SwitchFlowGet, kinds=SWITCH)
    async def flow_get(ctx: RequestContext, msg: SwitchFlowGet) -> FlowDocument:
        """R-IVR-5: a stored, valid flow version for the switch's cache (1.2)."""
        require_version(ctx, msg)
        return await switch_flow(ConfigStore(centre.store.sessions), msg)

    return router


def desktop_router(centre: ContactCentre) -> Router:
    """The agent desktop's 1.3 requests (web sign-on, wrap-up, directory)."""
    router = Router()

    @router.handles(WebTokenRequest, kinds=DESKTOP_KINDS)
    async def web_token(ctx: RequestContext, msg: WebTokenRequest) -> WebTokenResult:
        require_version(ctx, msg)
        return await desktop.web_token(centre, ctx.principal.principal_id, msg.next_path)

    @router.handles(CallWrapUp, kinds=DESKTOP)
    async def wrap_up(ctx: RequestContext, msg: CallWrapUp) -> WrapUpResult:
        require_version(ctx, msg)
        return await desktop.wrap_up(centre, ctx.principal.principal_id, msg)

    @router.handles(DesktopDirectoryRequest, kinds=DESKTOP_KINDS)
    async def directory(ctx: RequestContext, msg: DesktopDirectoryRequest) -> DesktopDirectory:
        require_version(ctx, msg)
        return desktop.directory(centre, ctx.principal)

    return router


def prompt_router(prompts: PromptStore) -> Router:
    """R-IVR-5: the IVR prompts administrators uploaded, for the switches' caches (1.2)."""
    router = Router()

    @router.handles(SwitchPromptIndex, kinds=SWITCH)
    async def prompt_index(ctx: RequestContext, msg: SwitchPromptIndex) -> PromptIndex:
        require_version(ctx, msg)
        uploaded = await asyncio.to_thread(prompts.uploaded)
        return PromptIndex(
            prompts=tuple(
                PromptIndexEntry(
                    language=p.language, prompt_id=p.prompt_id, sha256=p.sha256, size=p.size
                )
                for p in uploaded
            )
        )

    @router.handles(SwitchPromptGet, kinds=SWITCH)
    async def prompt_get(ctx: RequestContext, msg: SwitchPromptGet) -> PromptChunk:
        require_version(ctx, msg)
        try:
            info, data = await asyncio.to_thread(
                prompts.chunk, msg.language, msg.prompt_id, msg.offset
            )
        except PromptNotFound as exc:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD, str(exc), detail={"field": "prompt_id"}
            ) from None
        except PromptRejected as exc:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD, exc.message, detail={"field": exc.field}
            ) from None
        return PromptChunk(
            sha256=info.sha256,
            size=info.size,
            offset=msg.offset,
            data=base64.b64encode(data).decode("ascii"),
        )

    return router


def snapshot_router(centre: ContactCentre) -> Router:
    router = Router()

    @router.handles(SnapshotRequest)
    async def snapshot(ctx: RequestContext, msg: SnapshotRequest) -> Snapshot:
        # 1.1 desktops / supervisors: the switches' modes follow the result
        centre.spawn(_modes(centre, ctx))
        return centre.snapshot(ctx.session)  # no await: consistent with session.last_seq

    return router


async def _modes(centre: ContactCentre, ctx: RequestContext) -> None:
    centre.modes.push_all(ctx.session)


def recording_router(recordings: RecordingStore) -> Router:
    """``switch.recording_put`` (1.3, R-SUP-3): finished call recordings the switches
    upload; :mod:`cti_server.store.recordings` keeps them."""
    router = Router()

    @router.handles(SwitchRecordingPut, kinds=SWITCH)
    async def recording_put(ctx: RequestContext, msg: SwitchRecordingPut) -> RecordingReceipt:
        require_version(ctx, msg)
        try:
            data = base64.b64decode(msg.data, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(
                ErrorCode.INVALID_FIELD, "data is not base64", detail={"field": "data"}
            ) from None
        try:
            state = await asyncio.to_thread(
                recordings.put,
                recording_id=msg.recording_id,
                call_id=msg.call_id,
                switch_id=ctx.principal.principal_id,
                size=msg.size,
                sha256=msg.sha256,
                offset=msg.offset,
                data=data,
                seconds=msg.seconds,
                started_at=msg.started_at,
            )
        except UploadRejected as exc:
            detail: dict[str, str | int | bool | None] = {"field": exc.field}
            if exc.expected is not None:
                detail["expected"] = exc.expected
            raise ProtocolError(ErrorCode.INVALID_FIELD, exc.message, detail=detail) from None
        return RecordingReceipt(
            recording_id=state.recording_id, received=state.received, complete=state.complete
        )

    return router


def build_router(
    centre: ContactCentre,
    *,
    prompts: PromptStore | None = None,
    recordings: RecordingStore | None = None,
) -> Router:
    """Every handler of the CTI server's domain (with ``prompts``: the switches' prompt
    sync, ``switch.prompt_index`` / ``switch.prompt_get``; with ``recordings``: call
    recordings the switches upload, ``switch.recording_put``)."""
    router = Router()
    for part in (
        agent_router(centre),
        call_router(centre),
        supervisor_router(centre),
        switch_router(centre),
        snapshot_router(centre),
        desktop_router(centre),
    ):
        router.include(part)
    if prompts is not None:
        router.include(prompt_router(prompts))
    if recordings is not None:
        router.include(recording_router(recordings))
    return router
