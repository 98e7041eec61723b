"""The outbound dialer of one campaign: events in, actions out, no I/O.

The driver (the CTI server with the switch, or the simulator) calls one method per
event with the current wall-clock epoch ``now`` and executes the returned actions:

* agents: :meth:`Dialer.agent_login`, :meth:`~Dialer.agent_logout`,
  :meth:`~Dialer.wrap_ended` (ready again after after-call work);
* calls: :meth:`~Dialer.call_answered` (a person answered: AMD said human),
  :meth:`~Dialer.call_result` (busy / no answer / machine / failed),
  :meth:`~Dialer.call_ended` (the agent's conversation is over; wrap starts);
* preview: :meth:`~Dialer.preview_next`, :meth:`~Dialer.preview_accept`,
  :meth:`~Dialer.preview_skip`;
* time: :meth:`~Dialer.tick` at :meth:`~Dialer.next_deadline` (abandon windows) and
  periodically (pacing moves with time as talking agents approach their end).

Every event ends with a pacing decision (:attr:`Dialer.last_decision` explains it).
An answered call goes to the longest-idle free agent (its reserved agent in preview and
progressive); with none free it waits ``abandon_wait`` (2 s) and is then abandoned:
``AbandonCall`` plays a short message and the call counts as abandoned.
"""

from __future__ import annotations

import enum
import itertools
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from cti_server.outbound.model import (
    AbandonCall,
    Action,
    Connect,
    Dial,
    DialGuard,
    DialMode,
    InvalidState,
    NoRecord,
    Outcome,
    PreviewOffer,
    Strategy,
    TargetRecord,
    UnknownObject,
)
from cti_server.outbound.pacing import (
    AbandonMonitor,
    AnswerRate,
    BusyAgent,
    LogNormalTime,
    PacingConfig,
    PacingDecision,
    PacingInputs,
    decide,
    ringing_odds,
)
from cti_server.outbound.records import RecordBook


class AgentPhase(enum.StrEnum):
    IDLE = "idle"
    PREVIEWING = "previewing"  # looking at a preview record
    RESERVED = "reserved"  # a call is ringing for this agent
    TALKING = "talking"
    WRAP = "wrap"


class CallPhase(enum.StrEnum):
    RINGING = "ringing"
    WAITING = "waiting"  # answered, waiting for an agent (abandon window running)
    CONNECTED = "connected"
    ENDED = "ended"


@dataclass(slots=True)
class _Agent:
    agent_id: str
    phase: AgentPhase = AgentPhase.IDLE
    since: float = 0.0
    login_at: float = 0.0
    busy_seconds: float = 0.0  # talk + wrap, closed phases
    logged_seconds: float = 0.0  # closed sessions
    logging_out: bool = False
    record: TargetRecord | None = None
    call_id: str | None = None


@dataclass(slots=True)
class _Call:
    call_id: str
    record: TargetRecord
    dialled_at: float
    agent_id: str | None  # reserved agent (preview/progressive)
    phase: CallPhase = CallPhase.RINGING
    answered_at: float = 0.0


@dataclass(slots=True)
class CampaignStats:
    """Counters of one campaign (R-OUT-2 statistics)."""

    dials: int = 0
    outcomes: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    connected: int = 0  # right-party contacts handed to an agent
    abandoned: int = 0
    talk_seconds: float = 0.0

    @property
    def answered(self) -> int:
        """Calls answered by a person (connected + abandoned)."""
        return self.connected + self.abandoned

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0


class Dialer:
    """Dialling and pacing core of one campaign."""

    def __init__(
        self,
        campaign_id: str,
        *,
        mode: DialMode,
        strategy: Strategy | None = None,
        pacing: PacingConfig | None = None,
        guard: DialGuard | None = None,
    ) -> None:
        self.campaign_id = campaign_id
        self.mode = mode
        self.strategy = strategy or Strategy()
        self.config = pacing or PacingConfig()
        self.records = RecordBook(self.strategy, guard)
        self.stats = CampaignStats()
        cfg = self.config
        self.answer_rate = AnswerRate(cfg.answer_prior, cfg.answer_prior_weight, cfg.answer_window)
        self.talk_time = LogNormalTime(*cfg.talk_prior, window=cfg.duration_window)
        self.wrap_time = LogNormalTime(*cfg.wrap_prior, window=cfg.duration_window)
        self.answer_delay = LogNormalTime(*cfg.answer_delay_prior, window=cfg.duration_window)
        self.other_delay = LogNormalTime(*cfg.other_delay_prior, window=cfg.duration_window)
        self.abandons = AbandonMonitor(cfg.abandon_window_seconds)
        self.paused = False
        self.last_decision: PacingDecision | None = None
        self._agents: OrderedDict[str, _Agent] = OrderedDict()  # idle order: oldest first
        self._calls: dict[str, _Call] = {}
        self._waiting: OrderedDict[str, _Call] = OrderedDict()  # answered, no agent yet
        self._ids = itertools.count(1)
        self._retired_busy = 0.0  # agents logged out: their closed totals
        self._retired_logged = 0.0

    # ---- set-up ------------------------------------------------------------------

    def add_records(self, records: Iterable[TargetRecord], due: float = 0.0) -> None:
        for record in records:
            self.records.add(record, due)

    def set_mode(self, mode: DialMode, now: float) -> list[Action]:
        self.mode = mode
        return self._pace(now)

    def pause(self) -> None:
        """Stop placing new calls (calls in progress go on)."""
        self.paused = True

    def resume(self, now: float) -> list[Action]:
        self.paused = False
        return self._pace(now)

    # ---- queries -----------------------------------------------------------------

    def agent_phase(self, agent_id: str) -> AgentPhase:
        return self._agent(agent_id).phase

    def call_phase(self, call_id: str) -> CallPhase:
        return self._call(call_id).phase

    def calls_in_flight(self) -> int:
        return sum(1 for c in self._calls.values() if c.phase is CallPhase.RINGING)

    def utilisation(self, now: float) -> tuple[float, float]:
        """(talk + wrap seconds, logged-in seconds) of all agents up to ``now``."""
        busy, logged = self._retired_busy, self._retired_logged
        for agent in self._agents.values():
            busy += agent.busy_seconds
            logged += agent.logged_seconds + (now - agent.login_at)
            if agent.phase in (AgentPhase.TALKING, AgentPhase.WRAP):
                busy += now - agent.since
        return busy, logged

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must run next for an abandon window (None: nothing due)."""
        for call in self._waiting.values():
            return call.answered_at + self.config.abandon_wait
        return None

    def decide(self, now: float) -> PacingDecision:
        """The pacing decision at ``now`` (no side effects)."""
        idle = 0
        busy_agents: list[BusyAgent] = []
        for agent in self._agents.values():
            phase = agent.phase
            if phase is AgentPhase.IDLE:
                if not agent.logging_out:
                    idle += 1
            elif agent.logging_out:
                continue
            elif phase is AgentPhase.TALKING:
                busy_agents.append(BusyAgent(False, now - agent.since))
            elif phase is AgentPhase.WRAP:
                busy_agents.append(BusyAgent(True, now - agent.since))
        ringing = [
            now - c.dialled_at
            for c in self._calls.values()
            if c.phase is CallPhase.RINGING and c.agent_id is None
        ]
        p = self.answer_rate.value
        timeout = self.strategy.ring_timeout
        odds = [ringing_odds(e, p, self.answer_delay, self.other_delay, timeout) for e in ringing]
        inputs = PacingInputs(
            mode=self.mode,
            logged_in=len(self._agents),
            idle=idle,
            busy=busy_agents,
            in_flight=len(ringing),
            waiting=len(self._waiting),
            answer_rate=p,
            ringing=ringing,
            ringing_odds=odds,
            horizon=self.answer_delay.mean,
            running_abandon=self.abandons.rate(now),
            answered_in_window=self.abandons.answered(now),
        )
        return decide(inputs, self.config, self.talk_time, self.wrap_time)

    # ---- agents ------------------------------------------------------------------

    def agent_login(self, agent_id: str, now: float) -> list[Action]:
        if agent_id in self._agents:
            raise InvalidState(f"agent {agent_id!r} is already logged in")
        self._agents[agent_id] = _Agent(agent_id, since=now, login_at=now)
        return self._agent_free(self._agents[agent_id], now)

    def agent_logout(self, agent_id: str, now: float) -> list[Action]:
        """Log out now if idle, else after the current call and wrap."""
        agent = self._agent(agent_id)
        if agent.phase is AgentPhase.IDLE:
            self._remove_agent(agent, now)
        elif agent.phase is AgentPhase.PREVIEWING:
            self.preview_skip(agent_id, now)
            self._remove_agent(agent, now)
        else:
            agent.logging_out = True
        return self._pace(now)

    def wrap_ended(self, agent_id: str, now: float) -> list[Action]:
        agent = self._agent(agent_id)
        if agent.phase is not AgentPhase.WRAP:
            raise InvalidState(f"agent {agent_id!r} is {agent.phase}, not in wrap-up")
        agent.busy_seconds += now - agent.since
        self.wrap_time.observe(now - agent.since)
        if agent.logging_out:
            self._remove_agent(agent, now)
            return self._pace(now)
        return self._agent_free(agent, now)

    # ---- preview -----------------------------------------------------------------

    def preview_next(self, agent_id: str, now: float) -> list[Action]:
        """An idle agent asks for the next record (preview mode)."""
        agent = self._agent(agent_id)
        if agent.phase is not AgentPhase.IDLE:
            raise InvalidState(f"agent {agent_id!r} is {agent.phase}, not idle")
        record, actions = self.records.pick(now)
        out: list[Action] = list(actions)
        if record is None:
            out.append(NoRecord(agent_id, self.records.next_due()))
            return out
        self._set_phase(agent, AgentPhase.PREVIEWING, now)
        agent.record = record
        out.append(PreviewOffer(agent_id, record))
        return out

    def preview_accept(self, agent_id: str, now: float) -> list[Action]:
        agent = self._agent(agent_id)
        if agent.phase is not AgentPhase.PREVIEWING or agent.record is None:
            raise InvalidState(f"agent {agent_id!r} has no preview record to accept")
        self._set_phase(agent, AgentPhase.RESERVED, now)
        record, agent.record = agent.record, None
        return [self._dial(record, agent, now)]

    def preview_skip(self, agent_id: str, now: float) -> list[Action]:
        """The agent declines the previewed record: it goes back undialled."""
        agent = self._agent(agent_id)
        if agent.phase is not AgentPhase.PREVIEWING or agent.record is None:
            raise InvalidState(f"agent {agent_id!r} has no preview record to skip")
        self.records.release(agent.record.record_id, now)
        agent.record = None
        self._set_phase(agent, AgentPhase.IDLE, now)
        return []

    # ---- calls -------------------------------------------------------------------

    def call_answered(self, call_id: str, now: float) -> list[Action]:
        """A person answered (the switch's AMD said human)."""
        call = self._call(call_id)
        if call.phase is not CallPhase.RINGING:
            raise InvalidState(f"call {call_id!r} is {call.phase}, not ringing")
        self.answer_rate.observe(True)
        self.answer_delay.observe(now - call.dialled_at)
        call.answered_at = now
        out: list[Action] = []
        agent = self._agents.get(call.agent_id) if call.agent_id else None
        if agent is None:
            agent = self._free_agent()
        if agent is not None:
            out.append(self._connect(call, agent, now))
        else:
            call.phase = CallPhase.WAITING
            self._waiting[call_id] = call
        out.extend(self._pace(now))
        return out

    def call_result(self, call_id: str, outcome: Outcome, now: float) -> list[Action]:
        """The dial ended without a person: busy, no answer, machine or failed."""
        if outcome in (Outcome.ANSWERED, Outcome.ABANDONED):
            raise InvalidState(f"{outcome} is reported with call_answered, not call_result")
        call = self._call(call_id)
        if call.phase is not CallPhase.RINGING:
            raise InvalidState(f"call {call_id!r} is {call.phase}, not ringing")
        self.answer_rate.observe(False)
        self.other_delay.observe(now - call.dialled_at)
        self.stats.outcomes[outcome] += 1
        call.phase = CallPhase.ENDED
        del self._calls[call_id]
        out: list[Action] = []
        closed = self.records.result(call.record.record_id, outcome, now)
        if closed is not None:
            out.append(closed)
        if call.agent_id is not None and call.agent_id in self._agents:
            agent = self._agents[call.agent_id]
            agent.call_id = None
            if agent.logging_out:
                self._remove_agent(agent, now)
            else:
                out.extend(self._agent_free(agent, now, pace=False))
        out.extend(self._pace(now))
        return out

    def call_ended(
        self, call_id: str, now: float, *, callback_at: float | None = None
    ) -> list[Action]:
        """The connected conversation is over: the agent goes to wrap-up."""
        call = self._call(call_id)
        if call.phase is not CallPhase.CONNECTED or call.agent_id is None:
            raise InvalidState(f"call {call_id!r} is {call.phase}, not connected")
        agent = self._agents[call.agent_id]
        self.talk_time.observe(now - agent.since)
        self.stats.talk_seconds += now - agent.since
        agent.busy_seconds += now - agent.since
        call.phase = CallPhase.ENDED
        del self._calls[call_id]
        agent.call_id = None
        self._set_phase(agent, AgentPhase.WRAP, now)
        out: list[Action] = []
        closed = self.records.contacted(call.record.record_id, now, callback_at)
        if closed is not None:
            out.append(closed)
        out.extend(self._pace(now))
        return out

    def tick(self, now: float) -> list[Action]:
        """Abandon answered calls past their window, then pace."""
        out: list[Action] = []
        limit = self.config.abandon_wait
        while self._waiting:
            call = next(iter(self._waiting.values()))
            if call.answered_at + limit > now:
                break
            del self._waiting[call.call_id]
            del self._calls[call.call_id]
            call.phase = CallPhase.ENDED
            self.stats.abandoned += 1
            self.stats.outcomes[Outcome.ABANDONED] += 1
            self.abandons.record(now, True)
            out.append(AbandonCall(call.call_id, call.record, self.config.abandon_message))
            closed = self.records.result(call.record.record_id, Outcome.ABANDONED, now)
            if closed is not None:
                out.append(closed)
        out.extend(self._pace(now))
        return out

    # ---- internals ---------------------------------------------------------------

    def _agent(self, agent_id: str) -> _Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise UnknownObject(f"agent {agent_id!r}") from None

    def _call(self, call_id: str) -> _Call:
        try:
            return self._calls[call_id]
        except KeyError:
            raise UnknownObject(f"call {call_id!r}") from None

    def _set_phase(self, agent: _Agent, phase: AgentPhase, now: float) -> None:
        agent.phase = phase
        agent.since = now
        if phase is AgentPhase.IDLE:
            self._agents.move_to_end(agent.agent_id)  # longest idle is first

    def _remove_agent(self, agent: _Agent, now: float) -> None:
        agent.logged_seconds += now - agent.login_at
        del self._agents[agent.agent_id]
        self._retired_busy += agent.busy_seconds
        self._retired_logged += agent.logged_seconds

    def _free_agent(self) -> _Agent | None:
        for agent in self._agents.values():
            if agent.phase is AgentPhase.IDLE and not agent.logging_out:
                return agent
        return None

    def _agent_free(self, agent: _Agent, now: float, *, pace: bool = True) -> list[Action]:
        """The agent is free: take the oldest waiting answered call, else go idle."""
        self._set_phase(agent, AgentPhase.IDLE, now)
        out: list[Action] = []
        if self._waiting:
            _, call = self._waiting.popitem(last=False)
            out.append(self._connect(call, agent, now))
        if pace:
            out.extend(self._pace(now))
        return out

    def _connect(self, call: _Call, agent: _Agent, now: float) -> Connect:
        call.phase = CallPhase.CONNECTED
        call.agent_id = agent.agent_id
        agent.call_id = call.call_id
        self._set_phase(agent, AgentPhase.TALKING, now)
        self.stats.connected += 1
        self.stats.outcomes[Outcome.ANSWERED] += 1
        self.abandons.record(now, False)
        return Connect(call.call_id, agent.agent_id, call.record)

    def _dial(self, record: TargetRecord, agent: _Agent | None, now: float) -> Dial:
        call_id = f"{self.campaign_id}-{next(self._ids)}"
        call = _Call(call_id, record, now, agent.agent_id if agent else None)
        self._calls[call_id] = call
        if agent is not None:
            agent.call_id = call_id
        self.records.dialled(record.record_id)
        self.stats.dials += 1
        return Dial(call_id, record, call.agent_id, self.strategy.ring_timeout)

    def _pace(self, now: float) -> list[Action]:
        if self.paused or self.mode is DialMode.PREVIEW:
            return []
        decision = self.decide(now)
        self.last_decision = decision
        out: list[Action] = []
        reserve = decision.effective_mode is DialMode.PROGRESSIVE
        for _ in range(decision.lines):
            agent = None
            if reserve:
                agent = self._free_agent()
                if agent is None:
                    break
            record, closed = self.records.pick(now)
            out.extend(closed)
            if record is None:
                break
            if agent is not None:
                self._set_phase(agent, AgentPhase.RESERVED, now)
            out.append(self._dial(record, agent, now))
        return out
