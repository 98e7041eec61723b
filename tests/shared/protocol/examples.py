"""One realistic example of every message type, keyed by its ``type`` tag.

``test_roundtrip.py`` fails when a type in ``MESSAGE_TYPES`` has no example here.
The examples also seed the property-based mutation tests.
"""

from __future__ import annotations

from shared.protocol.agent import (
    AgentEndAfterCallWork,
    AgentLoggedOff,
    AgentLoggedOn,
    AgentLogin,
    AgentLogout,
    AgentNotReady,
    AgentReady,
    AgentReserved,
    AgentSetAfterCallWork,
    AgentSetNotReady,
    AgentSetReady,
    AgentSnapshot,
    AgentState,
    AgentWorkNotReady,
    LogoffReason,
    SkillLevel,
)
from shared.protocol.base import PROTOCOL_VERSION, ProtocolVersion, WireMessage
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
    CallHold,
    CallOriginated,
    CallReconnect,
    CallRelease,
    CallRetrieve,
    CallRetrieved,
    CallSendDtmf,
    CallSingleStepTransfer,
    CallSnapshot,
    CallState,
    CallTransfer,
    CallTransferred,
    CallWrapUp,
    ClearCause,
    ConsultResult,
    DivertReason,
    IvrDestination,
    NumberDestination,
    Party,
    PartyRole,
    QueueDestination,
    TrajectoryKind,
    TrajectoryStep,
    WrapUpResult,
)
from shared.protocol.desktop import (
    DesktopDirectory,
    DesktopDirectoryRequest,
    DirectoryAgent,
    DirectoryQueue,
    DirectoryReason,
    IvrTarget,
    WebTokenRequest,
    WebTokenResult,
)
from shared.protocol.errors import ErrorCode
from shared.protocol.handshake import (
    ClientKind,
    Hello,
    Logout,
    PasswordCredentials,
    Ping,
    Pong,
    Resume,
    Snapshot,
    SnapshotRequest,
    TokenCredentials,
    Welcome,
)
from shared.protocol.responses import Error, Result
from shared.protocol.supervisor import (
    AgentCounts,
    MonitorEndReason,
    MonitorMode,
    MonitorResult,
    ServiceLevel,
    SubscriptionResult,
    SupervisorAgentStatus,
    SupervisorForceLogout,
    SupervisorForceState,
    SupervisorMonitor,
    SupervisorMonitorEnded,
    SupervisorMonitorStop,
    SupervisorQueueStats,
    SupervisorSubscribe,
    SupervisorTierStats,
    SupervisorUnsubscribe,
)
from shared.protocol.switch import (
    AgentsSnapshot,
    Bridge,
    Conference,
    Consult,
    ConsultDrop,
    FallbackCall,
    FallbackOutcome,
    FlowDocument,
    Hangup,
    Hold,
    LegRole,
    LookupResult,
    Monitor,
    MonitorStop,
    OfferToAgent,
    Play,
    PromptChunk,
    PromptIndex,
    PromptIndexEntry,
    RecordingReceipt,
    RecordStart,
    RecordStop,
    RoutedAgent,
    RouteResponse,
    RouteStage,
    SendDtmf,
    SwitchAction,
    SwitchAgentEntry,
    SwitchAgentsSnapshot,
    SwitchAgentState,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchCommand,
    SwitchCommandResult,
    SwitchFallbackReport,
    SwitchFlowGet,
    SwitchLookup,
    SwitchPromptGet,
    SwitchPromptIndex,
    SwitchRecordingPut,
    SwitchRegistration,
    SwitchRouteRequest,
    TransferCall,
    TransferConsult,
    Unhold,
)
from shared.protocol.system import NoticeSeverity, SwitchMode, SystemMode, SystemNotice

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
PASSWORD = "pa55-Secret!"
PIN = "739164"
CALL = "01KC7R3W1M6Y4Q9XAB12CDEF34"
CONSULT = "01KC7R5Z8N2P3Q4R5S6T7V8W9X"

TRAJECTORY = (
    TrajectoryStep(at=T0, kind=TrajectoryKind.IVR_NODE, node="welcome_gold"),
    TrajectoryStep(at=T0 + 6.5, kind=TrajectoryKind.MENU_CHOICE, node="main_menu", detail="2"),
    TrajectoryStep(at=T0 + 7.0, kind=TrajectoryKind.QUEUE_ENTER, node="billing"),
    TrajectoryStep(at=T0 + 31.0, kind=TrajectoryKind.OFFER, node="a1001"),
)

EXAMPLES: dict[str, WireMessage] = {
    # --- handshake ---
    "hello": Hello(
        id=1,
        versions=(PROTOCOL_VERSION, ProtocolVersion(major=2, minor=0)),
        kind=ClientKind.DESKTOP,
        credentials=PasswordCredentials(user_id="a1001", password=PASSWORD),
        client_name="PC-17",
        client_version="0.1.0",
        resume=Resume(session_id="s-01KC7R0000", last_seq=41),
    ),
    "welcome": Welcome(
        id=1,
        session_id="s-01KC7R0000",
        version=PROTOCOL_VERSION,
        principal="a1001",
        heartbeat_seconds=15.0,
        resumed=True,
        last_seq=44,
        server_time=T0,
    ),
    "ping": Ping(id=2),
    "pong": Pong(id=2, server_time=T0 + 15),
    "logout": Logout(id=99),
    "snapshot": SnapshotRequest(id=3),
    "result": Result(
        id=3,
        body=Snapshot(
            last_seq=44,
            agent=AgentSnapshot(
                agent_id="a1001",
                state=AgentState.BUSY,
                since=T0 + 32,
                extension="1001",
                call_id=CALL,
                skills=(SkillLevel(skill="billing", level=1), SkillLevel(skill="sales", level=2)),
            ),
            calls=(
                CallSnapshot(
                    call_id=CALL,
                    state=CallState.ESTABLISHED,
                    since=T0 + 32,
                    caller="+8613800138000",
                    called="95598",
                    tier="gold",
                    queue_id="billing",
                    skill="billing",
                    business_selection="bill_query",
                    customer_ref="C-000123",
                    customer_name="王小明",
                    trajectory=TRAJECTORY,
                ),
            ),
        ),
    ),
    "error": Error(
        id=4,
        code=ErrorCode.INVALID_STATE,
        message="call is not ringing",
        detail={"call_id": CALL, "state": "established"},
    ),
    # --- agent ---
    "agent.login": AgentLogin(
        id=5, extension="1001", initial_state="not_ready", reason_code="login"
    ),
    "agent.logout": AgentLogout(id=6, reason_code="end_of_shift"),
    "agent.set_ready": AgentSetReady(id=7),
    "agent.set_not_ready": AgentSetNotReady(id=8, reason_code="break"),
    "agent.set_after_call_work": AgentSetAfterCallWork(id=9, call_id=CALL),
    "agent.end_after_call_work": AgentEndAfterCallWork(id=10),
    "agent.logged_on": AgentLoggedOn(
        seq=1,
        ts=T0,
        agent_id="a1001",
        extension="1001",
        display_name="Li Na",
        skills=(SkillLevel(skill="billing", level=1),),
        queues=("billing", "general"),
    ),
    "agent.ready": AgentReady(seq=2, ts=T0 + 1, agent_id="a1001"),
    "agent.not_ready": AgentNotReady(
        seq=3, ts=T0 + 2, agent_id="a1001", reason_code="break", reason_label="Break"
    ),
    "agent.work_not_ready": AgentWorkNotReady(
        seq=4, ts=T0 + 3, agent_id="a1001", call_id=CALL, deadline=T0 + 33
    ),
    "agent.logged_off": AgentLoggedOff(
        seq=5, ts=T0 + 4, agent_id="a1001", reason=LogoffReason.TAKEN_OVER
    ),
    "agent.reserved": AgentReserved(
        seq=6, ts=T0 + 5, agent_id="a1001", call_id=CALL, expires_at=T0 + 25
    ),
    # --- call requests ---
    "call.answer": CallAnswer(id=11, call_id=CALL),
    "call.release": CallRelease(id=12, call_id=CALL),
    "call.hold": CallHold(id=13, call_id=CALL),
    "call.retrieve": CallRetrieve(id=14, call_id=CALL),
    "call.single_step_transfer": CallSingleStepTransfer(
        id=15, call_id=CALL, destination=QueueDestination(queue_id="billing_l2")
    ),
    "call.consult": CallConsult(
        id=16, call_id=CALL, destination=AgentDestination(agent_id="a1002")
    ),
    "call.transfer": CallTransfer(id=17, call_id=CALL, consult_call_id=CONSULT),
    "call.conference": CallConference(id=18, call_id=CALL, consult_call_id=CONSULT),
    "call.reconnect": CallReconnect(id=19, call_id=CALL, consult_call_id=CONSULT),
    "call.send_dtmf": CallSendDtmf(id=20, call_id=CALL, digits="123#"),
    # --- call events ---
    "call.delivered": CallDelivered(
        seq=7,
        ts=T0 + 31,
        call_id=CALL,
        agent_id="a1001",
        caller="+8613800138000",
        called="95598",
        tier="gold",
        queue_id="billing",
        skill="billing",
        business_selection="bill_query",
        customer_ref="C-000123",
        customer_name="王小明",
        wait_seconds=24.0,
        ring_timeout_seconds=20.0,
        trajectory=TRAJECTORY,
    ),
    "call.originated": CallOriginated(
        seq=8,
        ts=T0 + 40,
        call_id=CONSULT,
        agent_id="a1001",
        destination=NumberDestination(number="+862150001234"),
        consult_of=CALL,
    ),
    "call.established": CallEstablished(seq=9, ts=T0 + 32, call_id=CALL, agent_id="a1001"),
    "call.held": CallHeld(seq=10, ts=T0 + 40, call_id=CALL, agent_id="a1001"),
    "call.retrieved": CallRetrieved(seq=11, ts=T0 + 50, call_id=CALL, agent_id="a1001"),
    "call.transferred": CallTransferred(
        seq=12,
        ts=T0 + 60,
        call_id=CALL,
        agent_id="a1001",
        from_agent="a1001",
        to=IvrDestination(flow_id="survey", node="start"),
        new_call_id=CONSULT,
    ),
    "call.conferenced": CallConferenced(
        seq=13,
        ts=T0 + 70,
        call_id=CALL,
        agent_id="a1001",
        parties=(
            Party(role=PartyRole.CALLER, number="+8613800138000"),
            Party(role=PartyRole.AGENT, agent_id="a1001"),
            Party(role=PartyRole.CONSULT, agent_id="a1002"),
        ),
    ),
    "call.connection_cleared": CallConnectionCleared(
        seq=14,
        ts=T0 + 80,
        call_id=CALL,
        agent_id="a1001",
        cause=ClearCause.NORMAL,
        released_by=PartyRole.CALLER,
    ),
    "call.diverted": CallDiverted(
        seq=15, ts=T0 + 51, call_id=CALL, agent_id="a1003", reason=DivertReason.NO_ANSWER
    ),
    "call.failed": CallFailed(
        seq=16,
        ts=T0 + 45,
        call_id=CONSULT,
        agent_id="a1001",
        cause=ClearCause.BUSY,
        detail="486 Busy Here",
    ),
    # --- supervisor ---
    "supervisor.subscribe": SupervisorSubscribe(id=21, queues=("billing",), tiers=None, agents=()),
    "supervisor.unsubscribe": SupervisorUnsubscribe(id=22, subscription_id="sub-7"),
    "supervisor.force_state": SupervisorForceState(
        id=23, agent_id="a1001", state="not_ready", reason_code="coaching"
    ),
    "supervisor.force_logout": SupervisorForceLogout(id=24, agent_id="a1001", reason_code="forced"),
    "supervisor.monitor": SupervisorMonitor(id=25, agent_id="a1001", mode=MonitorMode.WHISPER),
    "supervisor.monitor_stop": SupervisorMonitorStop(id=26, monitor_id="mon-3"),
    "supervisor.queue_stats": SupervisorQueueStats(
        seq=17,
        ts=T0 + 90,
        queue_id="billing",
        waiting=4,
        longest_wait_seconds=37.5,
        agents=AgentCounts(ready=1, not_ready=2, busy=9, work_not_ready=1),
        service_level=ServiceLevel(
            threshold_seconds=20.0,
            target_percent=80.0,
            achieved_percent=76.4,
            window_seconds=1800.0,
            offered=123,
            answered=118,
            answered_in_threshold=94,
            abandoned=5,
        ),
    ),
    "supervisor.tier_stats": SupervisorTierStats(
        seq=18,
        ts=T0 + 90,
        tier="gold",
        waiting=1,
        longest_wait_seconds=8.0,
        service_level=ServiceLevel(
            threshold_seconds=10.0,
            target_percent=90.0,
            achieved_percent=None,
            window_seconds=1800.0,
        ),
    ),
    "supervisor.agent_status": SupervisorAgentStatus(
        seq=19,
        ts=T0 + 91,
        agent_id="a1001",
        state=AgentState.NOT_READY,
        since=T0 + 91,
        reason_code="break",
        queues=("billing",),
    ),
    "supervisor.monitor_ended": SupervisorMonitorEnded(
        seq=20, ts=T0 + 95, monitor_id="mon-3", reason=MonitorEndReason.CALL_ENDED
    ),
    # --- switch link ---
    "switch.route_request": SwitchRouteRequest(
        id=30,
        call_id=CALL,
        stage=RouteStage.AGENT_NEEDED,
        caller="+8613800138000",
        called="95598",
        trunk="pstn-gw-1",
        business_selection="bill_query",
        tier="gold",
        trajectory=TRAJECTORY[:3],
    ),
    "switch.call_event": SwitchCallEvent(
        id=31,
        call_id=CALL,
        kind=SwitchCallEventKind.DTMF,
        leg=LegRole.CALLER,
        at=T0 + 6.4,
        node="main_menu",
        dtmf="2",
    ),
    "switch.registration": SwitchRegistration(
        id=32,
        sip_user="1001",
        registered=True,
        contact="sip:1001@10.0.0.17:5060;transport=udp",
        expires_seconds=300,
        user_agent="OpenCC desktop 0.1.0",
    ),
    "switch.command_result": SwitchCommandResult(
        id=33,
        command_id="cmd-88",
        ok=False,
        code=ErrorCode.UNKNOWN_CALL,
        message="call already released",
    ),
    "switch.fallback_report": SwitchFallbackReport(
        id=34,
        link_down_at=T0 + 100,
        link_up_at=T0 + 400,
        calls=(
            FallbackCall(
                call_id=CONSULT,
                outcome=FallbackOutcome.ANSWERED,
                arrived_at=T0 + 120,
                caller="+8613900139000",
                called="95598",
                queue_id="general",
                agent_id="a1002",
                offered_at=T0 + 125,
                answered_at=T0 + 129,
                released_at=T0 + 300,
            ),
        ),
    ),
    "switch.command": SwitchCommand(
        seq=21,
        ts=T0 + 30,
        command_id="cmd-88",
        call_id=CALL,
        action=OfferToAgent(
            agent_id="a1001",
            sip_contact="sip:1001@10.0.0.17:5060",
            ring_timeout_seconds=20.0,
            caller_display="+8613800138000",
        ),
        expires_at=T0 + 35,
    ),
    # --- added in 1.1 ---
    "switch.lookup": SwitchLookup(
        id=35,
        call_id=CALL,
        service="account_balance",
        args={"account": "6222020200112233", "pin": PIN, "language": "zh"},
    ),
    "switch.agents_snapshot": SwitchAgentsSnapshot(id=36),
    # --- added in 1.2 ---
    "switch.flow_get": SwitchFlowGet(id=37, flow_id="default", version=2),
    "switch.prompt_index": SwitchPromptIndex(id=38),
    "switch.prompt_get": SwitchPromptGet(id=39, language="zh", prompt_id="welcome", offset=32768),
    "system.notice": SystemNotice(
        seq=25,
        ts=T0 + 800,
        notice_id="42",
        title="光缆中断 / fibre cut",
        body="Broadband outage in 浦东; repair ETA 18:00. Log faults against work order 7.",
        severity=NoticeSeverity.MAJOR_OUTAGE,
        region="上海",
        created_by="9001",
        created_at=T0 + 799,
    ),
    "switch.agent_state": SwitchAgentState(
        seq=22,
        ts=T0 + 2,
        agent_id="a1001",
        state=AgentState.NOT_READY,
        reason_code="break",
        sip_user="1001",
    ),
    "system.mode": SystemMode(
        seq=23,
        ts=T0 + 401,
        switch_id="switch-a",
        mode=SwitchMode.FALLBACK,
        since=T0 + 100,
        detail="CTI link lost at 00:01:40; 3 calls distributed by the switch, 1 still running",
    ),
    # --- added in 1.3 ---
    "web.token": WebTokenRequest(id=60, next_path="/ui/calls/01KC7R3W1M6Y4Q9XAB12CDEF34"),
    "call.wrap_up": CallWrapUp(
        id=61,
        call_id=CALL,
        notes="客户咨询宽带资费；已告知千兆套餐价格。\nCustomer will call back.",
        category="inquiry.tariff.broadband",
    ),
    "desktop.directory": DesktopDirectoryRequest(id=62),
    "switch.recording_put": SwitchRecordingPut(
        id=64,
        recording_id="rec-01KC7R3W1M6Y4Q9XAB12CDEF34",
        call_id=CALL,
        size=96044,
        sha256="ab" * 32,
        offset=32768,
        data="UklGRiQAAABXQVZF",
        seconds=6.0,
        started_at=T0 + 20,
    ),
}

WEB_TOKEN = "tok-Zk3q9V0xq1LwM2n8Bv7c6X5z4A3s2D1f0G9h8J7k6L5"


SWITCH_ACTIONS: tuple[SwitchAction, ...] = (
    OfferToAgent(agent_id="a1001", sip_contact="sip:1001@10.0.0.17"),
    Bridge(agent_id="a1001"),
    Play(prompt="moh_default", loop=True, interruptible=False),
    TransferCall(
        destination=AgentDestination(agent_id="a1002"), agent_sip_contact="sip:1002@10.0.0.18"
    ),
    Hangup(leg=LegRole.AGENT, cause=ClearCause.NORMAL),
    Hold(agent_id="a1001"),
    Unhold(agent_id="a1001"),
    RecordStart(recording_id="rec-1"),
    RecordStop(recording_id="rec-1"),
    Monitor(
        monitor_id="mon-3",
        agent_id="a1001",
        supervisor_id="s2001",
        supervisor_contact="sip:2001@10.0.0.30",
        mode=MonitorMode.BARGE,
    ),
    MonitorStop(monitor_id="mon-3"),
    Conference(consult_call_id=CONSULT),
    SendDtmf(digits="9"),
    Consult(
        consult_call_id=CONSULT,
        destination=AgentDestination(agent_id="a1002"),
        agent_sip_contact="sip:1002@10.0.0.18:5060",
        ring_timeout_seconds=15.0,
    ),
    Consult(consult_call_id=CONSULT, destination=NumberDestination(number="+862150001234")),
    ConsultDrop(consult_call_id=CONSULT),
    TransferConsult(consult_call_id=CONSULT),
)

VARIANTS: tuple[WireMessage, ...] = (
    # --- 1.3: result bodies and the welcome's role ---
    Result(
        id=60,
        body=WebTokenResult(
            token=WEB_TOKEN,
            expires_at=T0 + 60,
            sso_path=f"/ui/sso?token={WEB_TOKEN}&next=%2Fui%2Fcalls%2F{CALL}",
        ),
    ),
    Result(id=61, body=WrapUpResult(call_id=CALL, contact_id="01KC7R9ZCONTACT", wrapped_up_at=T0)),
    Result(id=63, body=WrapUpResult(call_id=CALL, wrapped_up_at=T0 + 5)),
    Result(id=64, body=RecordingReceipt(recording_id="rec-1", received=65536)),
    Result(id=65, body=RecordingReceipt(recording_id="rec-1", received=96044, complete=True)),
    Result(
        id=62,
        body=DesktopDirectory(
            role="team_lead",
            reason_codes=(
                DirectoryReason(code="break", label="小休"),
                DirectoryReason(code="lunch", label="用餐"),
            ),
            queues=(DirectoryQueue(queue_id="q_billing", name="账务咨询"),),
            agents=(
                DirectoryAgent(
                    agent_id="1001",
                    display_name="张伟",
                    extension="1001",
                    state=AgentState.READY,
                ),
                DirectoryAgent(agent_id="1002", display_name="王芳"),
            ),
            ivr_targets=(
                IvrTarget(flow_id="survey", label="满意度调查 / Satisfaction survey"),
                IvrTarget(flow_id="default", node="main_menu", label="主菜单"),
            ),
        ),
    ),
    Result(id=64, body=DesktopDirectory()),
    WebTokenRequest(id=65),
    CallWrapUp(id=66, call_id=CALL, notes=""),
    Welcome(
        id=1,
        session_id="s-01KC7R0001",
        version=PROTOCOL_VERSION,
        principal="9001",
        heartbeat_seconds=15.0,
        server_time=T0,
        role="team_lead",
    ),
    Welcome(
        id=1,
        session_id="s-01KC7R0002",
        version=PROTOCOL_VERSION,
        principal="switch-a",
        heartbeat_seconds=15.0,
        server_time=T0,
        role=None,
    ),
    # every result body kind, and the bare acknowledgement
    Result(id=40),
    Result(id=41, body=ConsultResult(consult_call_id=CONSULT)),
    Result(id=42, body=SubscriptionResult(subscription_id="sub-7")),
    Result(id=43, body=MonitorResult(monitor_id="mon-3", call_id=CALL)),
    Result(
        id=44,
        body=RouteResponse(
            customer_id="C-000123",
            tier="gold",
            flow_id="gold_main",
            flow_version=3,
            skip_ivr=True,
            queue_id="billing",
            skill="billing",
            priority=10,
            agent=RoutedAgent(agent_id="a1001", sip_contact="sip:1001@10.0.0.17"),
            explanation="level-1 billing agent idle longest (412 s)",
        ),
    ),
    Result(
        id=45,
        body=LookupResult(
            values={"balance": "128.50", "currency": "CNY", "due_date": "2026-01-20"}
        ),
    ),
    Result(id=46, body=LookupResult(error="account not found")),
    Result(
        id=47,
        body=AgentsSnapshot(
            last_seq=21,
            agents=(
                SwitchAgentEntry(
                    agent_id="a1001", state=AgentState.READY, since=T0 + 1, sip_user="1001"
                ),
                SwitchAgentEntry(
                    agent_id="a1002",
                    state=AgentState.NOT_READY,
                    since=T0 - 300,
                    reason_code="lunch",
                    sip_user="1002",
                ),
                SwitchAgentEntry(agent_id="a1003", state=AgentState.LOGGED_OFF, since=T0 - 9000),
            ),
        ),
    ),
    Result(id=48, body=AgentsSnapshot(last_seq=0)),
    Result(
        id=49,
        body=FlowDocument(
            flow_id="default",
            version=2,
            published=True,
            document={
                "id": "default",
                "version": 2,
                "entry": "bye",
                "nodes": {"bye": {"kind": "hangup"}},
            },
        ),
    ),
    SwitchFlowGet(id=50, flow_id="vip"),
    Result(
        id=53,
        body=PromptIndex(
            prompts=(
                PromptIndexEntry(language="en", prompt_id="welcome", sha256="ab" * 32, size=16044),
                PromptIndexEntry(
                    language="zh", prompt_id="holiday_2026", sha256="0f" * 32, size=44
                ),
            )
        ),
    ),
    Result(id=54, body=PromptIndex()),
    Result(
        id=55,
        body=PromptChunk(sha256="ab" * 32, size=16044, offset=0, data="UklGRiQAAABXQVZF"),
    ),
    SwitchPromptGet(id=56, language="en", prompt_id="welcome"),
    SystemMode(seq=24, ts=T0 + 700, switch_id="switch-a", mode=SwitchMode.NORMAL, since=T0 + 700),
    Error(id=None, code=ErrorCode.BAD_JSON, message="the frame is not valid JSON"),
    # the switch's hello, with a token
    Hello(
        id=1,
        versions=(PROTOCOL_VERSION,),
        kind=ClientKind.SWITCH,
        credentials=TokenCredentials(token="sw-token-0123456789"),
        client_name="switch-a",
    ),
    # every destination kind
    CallSingleStepTransfer(id=50, call_id=CALL, destination=AgentDestination(agent_id="a2")),
    CallSingleStepTransfer(id=51, call_id=CALL, destination=IvrDestination(flow_id="survey")),
    CallSingleStepTransfer(id=52, call_id=CALL, destination=NumberDestination(number="10086")),
    # every switch action
    *(
        SwitchCommand(seq=100 + i, ts=T0, command_id=f"cmd-{i}", call_id=CALL, action=action)
        for i, action in enumerate(SWITCH_ACTIONS)
    ),
)
