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
    SubscriptionResult,
    SupervisorAgentStatus,
    SupervisorForceLogout,
    SupervisorForceState,
    SupervisorQueueStats,
    SupervisorSubscribe,
    SupervisorTierStats,
)
from tests.cti_server.domain.domain_support import Clients, expect

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
