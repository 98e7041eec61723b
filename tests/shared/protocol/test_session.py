"""Request-id rules, event sequencing, resume after reconnect and response matching."""

from __future__ import annotations

import pytest

from shared.protocol import (
    PROTOCOL_VERSION,
    ErrorCode,
    EventSequencer,
    EventTracker,
    PendingRequests,
    ProtocolError,
    ProtocolVersion,
    RequestIdGuard,
    Track,
    negotiate_version,
)
from shared.protocol.agent import AgentNotReady, AgentReady, AgentSetReady
from shared.protocol.base import Event
from shared.protocol.call import CallConsult, ConsultResult, QueueDestination
from shared.protocol.handshake import (
    ClientKind,
    Hello,
    Ping,
    Pong,
    Snapshot,
    SnapshotRequest,
    TokenCredentials,
    Welcome,
)
from shared.protocol.responses import Error, Result

T0 = 1_767_225_600.0


def _v(major: int, minor: int) -> ProtocolVersion:
    return ProtocolVersion(major=major, minor=minor)


# --- RequestIdGuard ---------------------------------------------------------------


def test_guard_accepts_strictly_increasing_ids_with_gaps() -> None:
    guard = RequestIdGuard()
    for rid in (1, 2, 5, 6, 100):
        guard.check(rid)
    assert guard.last_id == 100


def test_guard_rejects_a_repeated_id_as_duplicate() -> None:
    guard = RequestIdGuard()
    guard.check(AgentSetReady(id=1))
    guard.check(AgentSetReady(id=2))
    with pytest.raises(ProtocolError) as info:
        guard.check(AgentSetReady(id=2))
    assert info.value.code is ErrorCode.DUPLICATE_ID
    assert info.value.request_id == 2
    with pytest.raises(ProtocolError) as info:
        guard.check(1)
    assert info.value.code is ErrorCode.DUPLICATE_ID


def test_guard_rejects_a_lower_unseen_id_as_out_of_order() -> None:
    guard = RequestIdGuard()
    guard.check(10)
    with pytest.raises(ProtocolError) as info:
        guard.check(7)
    assert info.value.code is ErrorCode.OUT_OF_ORDER_ID
    assert info.value.detail == {"id": 7, "last_id": 10}
    guard.check(11)  # a rejected id does not poison the connection


def test_guard_classifies_old_duplicates_as_out_of_order_once_forgotten() -> None:
    guard = RequestIdGuard(remember=2)
    for rid in (1, 2, 3):
        guard.check(rid)
    with pytest.raises(ProtocolError) as info:
        guard.check(1)
    assert info.value.code is ErrorCode.OUT_OF_ORDER_ID


# --- EventSequencer ---------------------------------------------------------------


def _ready(n: int) -> AgentReady:
    return AgentReady(agent_id=f"a{n}")


def test_sequencer_stamps_seq_from_one_and_the_server_time() -> None:
    seq = EventSequencer()
    first = seq.stamp(_ready(1), ts=T0)
    second = seq.stamp(AgentNotReady(agent_id="a1", reason_code="break"), ts=T0 + 1)
    assert (first.seq, first.ts, second.seq, second.ts) == (1, T0, 2, T0 + 1)
    assert isinstance(second, AgentNotReady)  # the type is kept
    assert seq.last_seq == 2


def test_replay_returns_exactly_the_missed_events() -> None:
    seq = EventSequencer(capacity=10)
    events = [seq.stamp(_ready(i), ts=T0 + i) for i in range(5)]
    replay = seq.replay_after(2)
    assert not replay.needs_snapshot
    assert replay.events == tuple(events[2:])
    assert seq.replay_after(5).events == ()
    assert seq.replay_after(0).events == tuple(events)


def test_replay_after_eviction_needs_a_snapshot() -> None:
    seq = EventSequencer(capacity=3)
    for i in range(10):
        seq.stamp(_ready(i), ts=T0)
    assert seq.oldest_replayable == 8
    assert [e.seq for e in seq.replay_after(7).events] == [8, 9, 10]
    replay = seq.replay_after(6)
    assert replay.needs_snapshot
    assert replay.events == ()
    assert "evicted" in replay.reason


def test_replay_from_a_seq_the_session_never_reached_needs_a_snapshot() -> None:
    """A client resuming with a seq from before a server restart must resync."""
    seq = EventSequencer()
    seq.stamp(_ready(1), ts=T0)
    assert seq.replay_after(5).needs_snapshot


def test_a_sequencer_without_buffer_can_only_resume_clients_that_missed_nothing() -> None:
    seq = EventSequencer(capacity=0)
    seq.stamp(_ready(1), ts=T0)
    assert not seq.replay_after(1).needs_snapshot
    assert seq.replay_after(0).needs_snapshot


# --- EventTracker -----------------------------------------------------------------


def test_tracker_applies_consecutive_events_and_drops_replayed_duplicates() -> None:
    tracker = EventTracker()
    assert [tracker.track(s) for s in (1, 2, 3)] == [Track.APPLY] * 3
    # reconnect: the server replays from the client's last_seq, overlapping one event
    assert tracker.track(3) is Track.DUPLICATE
    assert tracker.track(4) is Track.APPLY
    assert tracker.last_seq == 4


def test_tracker_detects_a_gap_and_waits_for_a_snapshot() -> None:
    tracker = EventTracker(last_seq=4)
    assert tracker.track(AgentReady(seq=7, ts=T0, agent_id="a1")) is Track.GAP
    assert tracker.needs_snapshot
    err = tracker.gap_error()
    assert err.code is ErrorCode.SEQUENCE_GAP and err.detail == {"last_seq": 4}
    assert tracker.track(8) is Track.GAP  # nothing is applied until the snapshot
    tracker.reset(8)
    assert not tracker.needs_snapshot
    assert tracker.track(9) is Track.APPLY
    assert tracker.gaps == 1


def test_tracker_follows_the_welcome() -> None:
    tracker = EventTracker(last_seq=41)
    welcome = Welcome(
        id=1,
        session_id="s1",
        version=PROTOCOL_VERSION,
        principal="a1",
        heartbeat_seconds=15,
        resumed=True,
        last_seq=44,
        server_time=T0,
    )
    assert tracker.on_welcome(welcome) is False  # events 42..44 are replayed
    assert tracker.resume_info("s1").last_seq == 41
    fresh = Welcome(
        id=1, session_id="s2", version=PROTOCOL_VERSION, principal="a1",
        heartbeat_seconds=15, server_time=T0,
    )  # fmt: skip
    assert tracker.on_welcome(fresh) is True
    assert tracker.needs_snapshot and tracker.last_seq == 0


def test_sequencer_and_tracker_resume_end_to_end() -> None:
    """A desktop that loses its connection gets exactly the missed events, once each."""
    server = EventSequencer(capacity=100)
    client = EventTracker()
    applied: list[Event] = []
    for i in range(3):
        event = server.stamp(_ready(i), ts=T0 + i)
        if client.track(event) is Track.APPLY:
            applied.append(event)
    for i in range(3, 6):  # sent while the link was down
        server.stamp(_ready(i), ts=T0 + i)
    for replayed in server.replay_after(client.resume_info("s1").last_seq).events:
        if client.track(replayed) is Track.APPLY:
            applied.append(replayed)
    assert [e.seq for e in applied] == [1, 2, 3, 4, 5, 6]


# --- PendingRequests --------------------------------------------------------------


def test_pending_requests_allocate_ids_and_match_results() -> None:
    pending = PendingRequests()
    ready = pending.issue(lambda i: AgentSetReady(id=i), now=10.0)
    consult = pending.issue(
        lambda i: CallConsult(id=i, call_id="c1", destination=QueueDestination(queue_id="q")),
        now=11.0,
    )
    assert (ready.id, consult.id) == (1, 2)
    assert len(pending) == 2 and 2 in pending
    done = pending.resolve(Result(id=2, body=ConsultResult(consult_call_id="c2")))
    assert done.request == consult and done.ok and done.sent_at == 11.0
    failed = pending.resolve(Error(id=1, code=ErrorCode.INVALID_STATE, message="on a call"))
    assert failed.request == ready and not failed.ok
    assert len(pending) == 0


def test_a_result_for_an_unknown_request_id_is_an_error() -> None:
    pending = PendingRequests()
    pending.issue(lambda i: AgentSetReady(id=i))
    with pytest.raises(ProtocolError) as info:
        pending.resolve(Result(id=7))
    assert info.value.code is ErrorCode.UNKNOWN_REQUEST_ID
    assert info.value.request_id == 7
    pending.resolve(Result(id=1))
    with pytest.raises(ProtocolError) as info:
        pending.resolve(Result(id=1))  # a second answer to the same request
    assert info.value.code is ErrorCode.UNKNOWN_REQUEST_ID


def test_a_response_that_does_not_fit_its_request_is_an_error() -> None:
    pending = PendingRequests()
    hello = pending.issue(
        lambda i: Hello(
            id=i,
            versions=(PROTOCOL_VERSION,),
            kind=ClientKind.TOOL,
            credentials=TokenCredentials(token="t"),
        )
    )
    with pytest.raises(ProtocolError) as info:
        pending.resolve(Result(id=hello.id))
    assert info.value.code is ErrorCode.UNEXPECTED_TYPE
    snap = pending.issue(lambda i: SnapshotRequest(id=i))
    with pytest.raises(ProtocolError):
        pending.resolve(Result(id=snap.id))  # a snapshot request needs a Snapshot body
    ready = pending.issue(lambda i: AgentSetReady(id=i))
    with pytest.raises(ProtocolError):
        pending.resolve(Result(id=ready.id, body=Snapshot(last_seq=0)))
    ping = pending.issue(lambda i: Ping(id=i))
    assert pending.resolve(Pong(id=ping.id, server_time=T0)).ok


def test_an_uncorrelated_error_is_reported_without_a_request() -> None:
    pending = PendingRequests()
    done = pending.resolve(Error(id=None, code=ErrorCode.BAD_JSON, message="bad"))
    assert done.request is None and not done.ok


def test_pending_requests_expire_and_drain() -> None:
    pending = PendingRequests(first_id=100)
    a = pending.issue(lambda i: AgentSetReady(id=i), now=0.0)
    b = pending.issue(lambda i: Ping(id=i), now=8.0)
    assert pending.expire(now=10.0, timeout=5.0) == [a]
    assert list(pending) == [b]
    assert pending.drain() == [b]
    assert len(pending) == 0
    assert pending.next_id() == 102  # ids keep increasing across reconnects


def test_track_keeps_ids_increasing_and_refuses_a_pending_id() -> None:
    pending = PendingRequests()
    pending.track(AgentSetReady(id=50))
    assert pending.next_id() == 51
    with pytest.raises(ValueError, match="already pending"):
        pending.track(AgentSetReady(id=50))


# --- versions ---------------------------------------------------------------------


def test_version_negotiation_picks_the_highest_common_major_at_the_lower_minor() -> None:
    supported = (_v(1, 4), _v(2, 1))
    assert negotiate_version([_v(1, 9)], supported) == _v(1, 4)
    assert negotiate_version([_v(1, 2), _v(2, 3)], supported) == _v(2, 1)
    assert negotiate_version([PROTOCOL_VERSION]) == PROTOCOL_VERSION


def test_no_common_version_is_unsupported_version() -> None:
    with pytest.raises(ProtocolError) as info:
        negotiate_version([_v(0, 9), _v(3, 0)], (_v(1, 4), _v(2, 1)))
    assert info.value.code is ErrorCode.UNSUPPORTED_VERSION
    assert info.value.detail == {"supported": "1.4,2.1"}
    assert "3.0" in info.value.message
