"""Supervisor feed and supervisor actions (R-SUP-1, R-SUP-2), audited (R-SEC-1)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.store import ConfigStore
from shared.protocol.agent import (
    AgentLoggedOff,
    AgentLogin,
    AgentNotReady,
    AgentReady,
    AgentState,
    LogoffReason,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind
from shared.protocol.supervisor import (
    MonitorEndReason,
    MonitorMode,
    MonitorResult,
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
)
from shared.protocol.switch import LegRole, Monitor, MonitorStop, SwitchCallEventKind
from tests.cti_server.domain.domain_support import (
    Clients,
    connected_call,
    expect,
    ready_agent,
    report,
)

pytestmark = pytest.mark.asyncio


async def test_subscribe_gets_stats_and_agent_status(app: CtiApp, clients: Clients) -> None:
    lead = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
    desk = await clients.desktop("1004")
    await desk.request(AgentLogin(id=0, initial_state="ready"))
    await expect(desk, AgentReady)

    body = await lead.request(SupervisorSubscribe(id=0, queues=("q_broadband",)))
    assert isinstance(body, SubscriptionResult)
    queue = await expect(lead, SupervisorQueueStats)
    assert queue.queue_id == "q_broadband"
    assert queue.agents.ready >= 1 and queue.waiting == 0
    tier = await expect(lead, SupervisorTierStats)
    assert tier.service_level.target_percent > 0
    status = await expect(lead, SupervisorAgentStatus)
    assert status.state is AgentState.READY

    # periodic: another round arrives within the interval
    again = await expect(lead, SupervisorQueueStats, timeout=1.0)
    assert again.queue_id == "q_broadband"


async def test_an_agent_may_not_subscribe(app: CtiApp, clients: Clients) -> None:
    desk = await clients.desktop("1005")
    with pytest.raises(ProtocolError) as refused:
        await desk.request(SupervisorSubscribe(id=0))
    assert refused.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(ProtocolError) as forced:
        await desk.request(SupervisorForceLogout(id=0, agent_id="1006"))
    assert forced.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(ProtocolError) as as_supervisor:
        await clients.desktop("1005", kind=ClientKind.SUPERVISOR)
    assert as_supervisor.value.code is ErrorCode.FORBIDDEN


async def test_force_state_and_force_logout_are_applied_and_audited(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    lead = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
    await lead.request(SupervisorSubscribe(id=0, agents=("1007",)))
    desk = await clients.desktop("1007")
    await desk.request(AgentLogin(id=0, initial_state="ready"))
    await expect(desk, AgentReady)

    await lead.request(
        SupervisorForceState(id=0, agent_id="1007", state="not_ready", reason_code="meeting")
    )
    forced = await expect(desk, AgentNotReady)
    assert (forced.reason_code, forced.forced_by) == ("meeting", "9001")
    status = await expect(lead, SupervisorAgentStatus)
    while status.reason_code != "meeting":  # login (not ready "login"), ready, then forced
        status = await expect(lead, SupervisorAgentStatus)
    assert status.state is AgentState.NOT_READY

    with pytest.raises(ProtocolError) as bad:
        await lead.request(
            SupervisorForceState(id=0, agent_id="1007", state="not_ready", reason_code="nap")
        )
    assert bad.value.code is ErrorCode.INVALID_FIELD
    with pytest.raises(ProtocolError) as unknown:
        await lead.request(SupervisorForceLogout(id=0, agent_id="4242"))
    assert unknown.value.code is ErrorCode.UNKNOWN_AGENT

    await lead.request(SupervisorForceLogout(id=0, agent_id="1007"))
    off = await expect(desk, AgentLoggedOff)
    assert (off.reason, off.forced_by) == (LogoffReason.FORCED, "9001")
    assert app.centre.agents["1007"].state is AgentState.LOGGED_OFF

    audit = await asyncio.to_thread(
        ConfigStore(db).audit_log, entity="agent", entity_id="1007", actor="9001"
    )
    assert {a.action for a in audit} >= {"force_state", "force_logout"}
    state_row = next(a for a in audit if a.action == "force_state")
    assert state_row.before == {"state": "ready", "reason_code": None}
    assert state_row.after == {"state": "not_ready", "reason_code": "meeting"}


async def test_monitor_listen_whisper_stop_and_call_end(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """R-SUP-2: a team lead listens to an agent's call (switch monitor command with the
    lead's SIP contact), switches to whisper (same monitor), stops; a second monitor ends
    with the call; every step is audited; agents may not monitor."""
    switch = await clients.switch()
    await switch.register("1001", "9001")
    desk = await ready_agent(clients, "1001")
    lead = await clients.desktop("9001", kind=ClientKind.SUPERVISOR)
    with pytest.raises(ProtocolError) as idle:
        await lead.request(SupervisorMonitor(id=0, agent_id="1001"))
    assert idle.value.code is ErrorCode.INVALID_STATE
    with pytest.raises(ProtocolError) as forbidden:
        await desk.request(SupervisorMonitor(id=0, agent_id="1001"))
    assert forbidden.value.code is ErrorCode.FORBIDDEN

    await connected_call(switch, desk, "1001", "MON-1")
    body = await lead.request(SupervisorMonitor(id=0, agent_id="1001"))
    assert isinstance(body, MonitorResult) and body.call_id == "MON-1"
    command = await switch.command()
    assert command.call_id == "MON-1" and isinstance(command.action, Monitor)
    assert command.action.mode is MonitorMode.LISTEN
    assert command.action.supervisor_contact == "sip:9001@10.0.0.7:5062"
    assert command.action.monitor_id == body.monitor_id

    again = await lead.request(SupervisorMonitor(id=0, agent_id="1001", mode=MonitorMode.WHISPER))
    assert isinstance(again, MonitorResult) and again.monitor_id == body.monitor_id
    whisper = await switch.command()
    assert isinstance(whisper.action, Monitor) and whisper.action.mode is MonitorMode.WHISPER

    await lead.request(SupervisorMonitorStop(id=0, monitor_id=body.monitor_id))
    assert (await switch.command()).action == MonitorStop(monitor_id=body.monitor_id)
    ended = await expect(lead, SupervisorMonitorEnded)
    assert (ended.monitor_id, ended.reason) == (body.monitor_id, MonitorEndReason.STOPPED)
    with pytest.raises(ProtocolError) as gone:
        await lead.request(SupervisorMonitorStop(id=0, monitor_id=body.monitor_id))
    assert gone.value.code is ErrorCode.INVALID_FIELD

    barge = await lead.request(SupervisorMonitor(id=0, agent_id="1001", mode=MonitorMode.BARGE))
    assert isinstance(barge, MonitorResult) and barge.monitor_id != body.monitor_id
    await report(switch, "MON-1", SwitchCallEventKind.RELEASED, leg=LegRole.CALLER)
    over = await expect(lead, SupervisorMonitorEnded)
    assert (over.monitor_id, over.reason) == (barge.monitor_id, MonitorEndReason.CALL_ENDED)
    assert len(app.centre.monitors) == 0

    audit = await asyncio.to_thread(
        ConfigStore(db).audit_log, entity="agent", entity_id="1001", actor="9001"
    )
    actions = sorted(a.action for a in audit)
    assert actions.count("monitor") == 3 and actions.count("monitor_stop") == 1


async def test_back_office_staff_may_not_use_the_cti_link_nor_be_routed(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """docs/web.md: department staff (``dept_staff``) work in the web panels only; the
    CTI link refuses them as desktop and as supervisor, and routing never sees them."""
    from cti_server.store import seed
    from tests.cti_server.domain.conftest import FAST_HASHER

    await asyncio.to_thread(seed.seed_back_office, db, hasher=FAST_HASHER)
    for kind in (ClientKind.DESKTOP, ClientKind.SUPERVISOR):
        with pytest.raises(ProtocolError) as refused:
            await clients.desktop("8001", kind=kind)
        assert refused.value.code is ErrorCode.FORBIDDEN
        assert "web panels" in str(refused.value)
    config = await asyncio.to_thread(ConfigStore(db).routing_config)
    assert "8001" not in config.agents and "1001" in config.agents
