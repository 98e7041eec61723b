"""The fallback ACD on its own (R-IN-3): default flow, one FIFO per queue, the
longest-idle registered agent last known ready, offers of waiting calls when an agent
becomes free, ring-no-answer to the next agent with the call keeping its position,
agents busy on CTI-routed calls left alone, everything journaled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cti_server.switch.fallback import LOOKUP_UNAVAILABLE, FallbackAcd, FallbackQueue
from cti_server.switch.journal import Journal
from cti_server.switch.ports import CommandFailed, RegistrationReport
from shared.clock import ManualClock
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import FallbackOutcome, LegRole, OfferToAgent, SwitchCallEventKind
from tests.cti_server.switch.link.link_support import (
    FakeControl,
    arrive,
    contact,
    event,
    need_agent,
)

pytestmark = pytest.mark.asyncio
K = SwitchCallEventKind


class Setup:
    def __init__(self, tmp_path: Path, *agents: str, cooldown: float = 30.0) -> None:
        self.clock = ManualClock(start=100.0)
        self.control = FakeControl(*agents)
        self.journal = Journal(tmp_path / "j.jsonl", clock=self.clock, fsync="none")
        self.acd = FallbackAcd(
            self.clock,
            "default",
            (
                FallbackQueue("q_billing"),
                FallbackQueue("q_tv", agents=frozenset({"1003"}), selections=frozenset({"9"})),
            ),
            control=self.control,
            journal=self.journal,
            rona_cooldown=cooldown,
        )

    def register(self, agent: str) -> None:
        self.control.contacts[agent] = contact(agent)
        self.acd.registration(
            RegistrationReport(sip_user=agent, registered=True, contact=contact(agent))
        )
        self.clock.advance(1.0)

    async def offered(self) -> tuple[str, str]:
        call_id, action = await self.control.next(1.0)
        assert isinstance(action, OfferToAgent)
        assert action.sip_contact == contact(action.agent_id)
        return call_id, action.agent_id


@pytest_asyncio.fixture
async def s(tmp_path: Path) -> AsyncIterator[Setup]:
    setup = Setup(tmp_path)
    yield setup
    await setup.acd.close()
    setup.journal.close()


async def test_arrival_runs_the_default_flow_without_the_cti_server(s: Setup) -> None:
    response = await arrive(s.acd, "A")
    assert (response.flow_id, response.tier, response.skip_ivr) == ("default", None, False)
    s.acd.remember_tier("13800138000", "vip")  # learnt from the link before the outage
    assert (await arrive(s.acd, "B")).tier == "vip"
    assert (await s.acd.lookup("A", "balance", {})).error == LOOKUP_UNAVAILABLE


async def test_longest_idle_registered_agent_then_fifo(s: Setup) -> None:
    """R-IN-3: the longest-idle registered agent gets the call; with none free calls
    wait in arrival order and are offered by the fallback itself."""
    s.register("1001")
    s.register("1002")
    for call in ("A", "B", "C", "D"):
        await arrive(s.acd, call)
    first = await need_agent(s.acd, "A")
    second = await need_agent(s.acd, "B")
    assert first.agent is not None and first.agent.agent_id == "1001"  # idle longest
    assert second.agent is not None and second.agent.agent_id == "1002"
    assert (first.queue_id, first.agent.sip_contact) == ("q_billing", contact("1001"))
    assert (await need_agent(s.acd, "C")).agent is None
    assert (await need_agent(s.acd, "D")).agent is None
    s.acd.report(event("B", K.ANSWERED, LegRole.AGENT, "1002"))
    s.acd.report(event("B", K.RELEASED))  # 1002 free: the oldest waiting call is offered
    assert await s.offered() == ("C", "1002")
    s.acd.report(event("A", K.RELEASED))  # 1001 rang; the caller gave up: abandoned
    assert await s.offered() == ("D", "1001")


async def test_ring_no_answer_goes_to_the_next_agent_and_keeps_the_position(
    s: Setup,
) -> None:
    """A call that rang unanswered goes back ahead of later callers; the agent who did
    not answer sits out the cool-down, then is ready again."""
    s.register("1001")
    s.register("1002")
    for call in ("A", "B", "C"):
        await arrive(s.acd, call)
    assert (await need_agent(s.acd, "A")).agent.agent_id == "1001"  # type: ignore[union-attr]
    assert (await need_agent(s.acd, "B")).agent.agent_id == "1002"  # type: ignore[union-attr]
    assert (await need_agent(s.acd, "C")).agent is None
    s.acd.report(event("A", K.FAILED, LegRole.AGENT, "1001"))  # no answer
    assert s.acd.agent_state("1001") == "not_ready"
    s.acd.report(event("B", K.ANSWERED, LegRole.AGENT, "1002"))
    s.acd.report(event("B", K.RELEASED))
    assert await s.offered() == ("A", "1002")  # A before C: same position
    s.acd._cooled("1001")  # the cool-down timer fires
    assert await s.offered() == ("C", "1001")
    pending = s.journal.pending()
    assert pending is not None
    outcome = {c.call_id: c for c in pending.parts[0].calls}
    assert outcome["B"].outcome is FallbackOutcome.ANSWERED
    assert outcome["A"].outcome is FallbackOutcome.IN_PROGRESS
    assert outcome["A"].agent_id == "1002"


async def test_a_failed_offer_moves_on_to_another_agent(s: Setup) -> None:
    s.register("1001")
    s.register("1002")
    await arrive(s.acd, "X")
    await arrive(s.acd, "W")
    s.acd.note_agent_ready("1001", False)
    s.acd.note_agent_ready("1002", False)  # both last known not ready: nobody gets W
    assert (await need_agent(s.acd, "W")).agent is None
    s.control.failure = lambda _c, a: (
        CommandFailed(ErrorCode.DESTINATION_UNAVAILABLE, "unreachable")
        if isinstance(a, OfferToAgent) and a.agent_id == "1001"
        else None
    )
    s.acd.note_agent_ready("1001", True)
    assert await s.offered() == ("W", "1001")
    s.acd.note_agent_ready("1002", True)
    assert await s.offered() == ("W", "1002")
    assert s.acd.offers_failed == 1


async def test_only_registered_free_agents_of_the_queue(s: Setup) -> None:
    """Queues may name their agents; unregistered agents and agents busy on calls the
    CTI server routed are not offered anything."""
    s.register("1001")
    await arrive(s.acd, "T")
    response = await need_agent(s.acd, "T", selection="9")  # IVR choice 9 → q_tv
    assert (response.queue_id, response.agent) == ("q_tv", None)  # 1001 does not serve it
    s.register("1003")
    assert await s.offered() == ("T", "1003")

    s.acd.observe(event("CTI-1", K.ANSWERED, LegRole.AGENT, "1001"))  # a CTI-routed call
    await arrive(s.acd, "U")
    assert (await need_agent(s.acd, "U")).agent is None
    s.acd.observe(event("CTI-1", K.RELEASED))
    assert await s.offered() == ("U", "1001")

    s.acd.report(event("U", K.RELEASED))  # caller gave up while 1001's phone rang
    s.acd.registration(RegistrationReport(sip_user="1001", registered=False))
    await arrive(s.acd, "V")
    assert (await need_agent(s.acd, "V")).agent is None
    assert s.acd.agent_state("1001") == "logged_out"


async def test_adopted_calls_keep_their_order_and_can_be_taken_back(s: Setup) -> None:
    """Calls the CTI server had queued when the link dropped are adopted; the server may
    take a merely waiting call back, not a ringing one."""
    s.acd.adopt("Q1", queue_id="q_billing", caller="1", called=None, arrived_at=10.0)
    s.acd.adopt("Q2", queue_id="q_billing", caller="2", called=None, arrived_at=11.0)
    s.register("1001")
    assert await s.offered() == ("Q1", "1001")
    assert not s.acd.take_back("Q1")
    assert s.acd.take_back("Q2") and not s.acd.owns("Q2")
    await asyncio.sleep(0)
    assert s.control.queue.empty()
