"""The campaign's record book: which target to call next, retries, attempts, recycling.

A record is *due* at a time; due records wait in a ready heap ordered by priority
(highest first), then due time, then insertion. When picked, its calling window is
checked in the target's time zone (closed: deferred to the next opening) and the
injected dial guard is asked (DNC: closed for good; cooling: deferred).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from cti_server.outbound.model import (
    RETRYABLE,
    DialGuard,
    InvalidState,
    OutboundConfigError,
    Outcome,
    RecordClosed,
    RecordStatus,
    Strategy,
    TargetRecord,
    UnknownObject,
    zone,
)


@dataclass(slots=True)
class RecordState:
    record: TargetRecord
    status: RecordStatus = RecordStatus.READY
    due: float = 0.0
    attempts: int = 0  # dials in the current cycle
    total_attempts: int = 0
    recycles: int = 0
    last_outcome: Outcome | None = None
    block_reason: str | None = None
    version: int = 0  # bumps on reschedule; stale heap entries are skipped


class RecordBook:
    def __init__(self, strategy: Strategy, guard: DialGuard | None = None) -> None:
        self.strategy = strategy
        self.guard = guard
        self._states: dict[str, RecordState] = {}
        self._seq = itertools.count()
        self._future: list[tuple[float, int, str, int]] = []  # (due, seq, id, version)
        self._ready: list[tuple[int, float, int, str, int]] = []  # (-prio, due, seq, id, v)

    def __len__(self) -> int:
        return len(self._states)

    def add(self, record: TargetRecord, due: float = 0.0) -> None:
        if record.record_id in self._states:
            raise OutboundConfigError("record_id", f"duplicate record {record.record_id!r}")
        if not record.phone:
            raise OutboundConfigError("phone", f"record {record.record_id!r} has no phone")
        zone(record.tz)  # typed error now rather than at dial time
        state = RecordState(record, due=due)
        self._states[record.record_id] = state
        self._schedule(state, due)

    def state(self, record_id: str) -> RecordState:
        try:
            return self._states[record_id]
        except KeyError:
            raise UnknownObject(record_id) from None

    def counts(self) -> dict[RecordStatus, int]:
        out = dict.fromkeys(RecordStatus, 0)
        for state in self._states.values():
            out[state.status] += 1
        return out

    def _schedule(self, state: RecordState, due: float) -> None:
        state.status = RecordStatus.READY
        state.due = due
        state.version += 1
        heapq.heappush(self._future, (due, next(self._seq), state.record.record_id, state.version))

    def next_due(self) -> float | None:
        """Earliest due time among records not yet ready (for the driver's timers)."""
        while self._future:
            due, _, rid, version = self._future[0]
            if self._states[rid].version == version:
                return due
            heapq.heappop(self._future)
        return None

    def pick(self, now: float) -> tuple[TargetRecord | None, list[RecordClosed]]:
        """The next record that may be dialled now (marked DIALLING), plus closures."""
        closed: list[RecordClosed] = []
        future, ready, states = self._future, self._ready, self._states
        while future and future[0][0] <= now:
            due, seq, rid, version = heapq.heappop(future)
            state = states[rid]
            if state.version == version and state.status is RecordStatus.READY:
                heapq.heappush(ready, (-state.record.priority, due, seq, rid, version))
        while ready:
            _, _, _, rid, version = heapq.heappop(ready)
            state = states[rid]
            if state.version != version or state.status is not RecordStatus.READY:
                continue
            record = state.record
            window = self.strategy.window_for(record)
            opens = window.next_open(now, record.tz)
            if opens is None or opens > now:
                # Closed in the target's zone: come back when it opens (or in a day).
                self._schedule(state, opens if opens is not None else now + 86400.0)
                continue
            if self.guard is not None:
                block = self.guard(record.phone, now)
                if block is not None:
                    state.block_reason = block.reason
                    if block.until is None:
                        state.status = RecordStatus.DNC
                        state.version += 1
                        closed.append(RecordClosed(rid, RecordStatus.DNC))
                    else:
                        self._schedule(state, max(block.until, now))
                    continue
            state.status = RecordStatus.DIALLING
            state.version += 1
            return record, closed
        return None, closed

    def release(self, record_id: str, now: float) -> None:
        """Put a picked record back without an attempt (preview skipped)."""
        state = self.state(record_id)
        if state.status is not RecordStatus.DIALLING:
            raise InvalidState(f"record {record_id!r} is {state.status}, not dialling")
        self._schedule(state, now)

    def dialled(self, record_id: str) -> None:
        state = self.state(record_id)
        state.attempts += 1
        state.total_attempts += 1

    def result(self, record_id: str, outcome: Outcome, now: float) -> RecordClosed | None:
        """A dial attempt ended with a retryable outcome: schedule the retry or close."""
        if outcome not in RETRYABLE:
            raise InvalidState(f"{outcome} is not a retryable outcome")
        state = self.state(record_id)
        state.last_outcome = outcome
        strategy = self.strategy
        if state.attempts < strategy.max_attempts:
            self._schedule(state, now + strategy.retry_after[outcome])
            return None
        if strategy.recycle_after is not None and state.recycles < strategy.max_recycles:
            state.recycles += 1
            state.attempts = 0
            self._schedule(state, now + strategy.recycle_after)
            return None
        state.status = RecordStatus.EXHAUSTED
        state.version += 1
        return RecordClosed(record_id, RecordStatus.EXHAUSTED)

    def contacted(
        self, record_id: str, now: float, callback_at: float | None = None
    ) -> RecordClosed | None:
        """The person was reached; done unless the agent booked a callback."""
        state = self.state(record_id)
        state.last_outcome = Outcome.ANSWERED
        if callback_at is not None:
            state.attempts = 0
            self._schedule(state, callback_at)
            return None
        state.status = RecordStatus.DONE
        state.version += 1
        return RecordClosed(record_id, RecordStatus.DONE)
