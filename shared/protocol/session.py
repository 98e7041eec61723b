"""I/O-free session helpers: request-id rules, event sequencing, resume and matching.

Server side: :class:`RequestIdGuard` (one per connection) and
:class:`EventSequencer` (one per session, survives reconnects).
Client side: :class:`EventTracker` (one per session) and :class:`PendingRequests`
(one per connection). All synchronous and pure; time is passed in.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgspec

from shared.protocol.base import MAX_REQUEST_ID, Event, Request
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import Resume, Welcome
from shared.protocol.messages import AnyResponse
from shared.protocol.responses import Error, Result

# --- server side ----------------------------------------------------------------


class RequestIdGuard:
    """Accepts strictly increasing request ids on one connection (gaps are fine).

    ``check`` raises ``duplicate_id`` for an id seen recently (the last ``remember``
    ids) and ``out_of_order_id`` for any other id not above the last one.
    """

    def __init__(self, *, remember: int = 256) -> None:
        if remember < 1:
            raise ValueError("remember must be >= 1")
        self._last = 0
        self._recent: deque[int] = deque(maxlen=remember)
        self._recent_set: set[int] = set()

    @property
    def last_id(self) -> int:
        """The highest id accepted so far (0 before the first)."""
        return self._last

    def check(self, request: Request | int) -> None:
        """Accept ``request``'s id or raise :class:`ProtocolError` (correlated with that id)."""
        rid = request.id if isinstance(request, Request) else request
        if rid > self._last:
            self._last = rid
            if len(self._recent) == self._recent.maxlen:
                self._recent_set.discard(self._recent[0])
            self._recent.append(rid)
            self._recent_set.add(rid)
            return
        detail: dict[str, str | int | bool | None] = {"id": rid, "last_id": self._last}
        if rid in self._recent_set:
            raise ProtocolError(
                ErrorCode.DUPLICATE_ID,
                f"request id {rid} was already used on this connection",
                detail=detail,
                request_id=rid,
            )
        raise ProtocolError(
            ErrorCode.OUT_OF_ORDER_ID,
            f"request id {rid} is not greater than the last id {self._last}",
            detail=detail,
            request_id=rid,
        )


@dataclass(frozen=True, slots=True)
class Replay:
    """What a resuming client gets: the missed events, or the need for a snapshot."""

    events: tuple[Event, ...] = ()
    needs_snapshot: bool = False
    reason: str = ""


class EventSequencer:
    """Stamps a session's events with ``seq`` 1, 2, 3 … and keeps the last ``capacity``.

    ``replay_after(last_seq)`` gives a reconnecting client what it missed, or says it
    needs a snapshot because those events were evicted (or it claims a seq the session
    never reached, e.g. from before a server restart).
    """

    def __init__(self, *, capacity: int = 1024, last_seq: int = 0) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        if last_seq < 0:
            raise ValueError("last_seq must be >= 0")
        self._last = last_seq
        self._buffer: deque[Event] = deque(maxlen=capacity or None)
        self._capacity = capacity

    @property
    def last_seq(self) -> int:
        return self._last

    @property
    def oldest_replayable(self) -> int:
        """The lowest seq still in the buffer (``last_seq + 1`` when empty)."""
        return self._last - len(self._buffer) + 1

    def stamp[E: Event](self, event: E, ts: float) -> E:
        """``event`` with the next ``seq`` and server time ``ts``; kept for replay."""
        if self._last >= MAX_REQUEST_ID:
            raise OverflowError("event sequence exhausted; start a new session")
        self._last += 1
        stamped = msgspec.structs.replace(event, seq=self._last, ts=ts)
        if self._capacity:
            self._buffer.append(stamped)
        return stamped

    def replay_after(self, last_seq: int) -> Replay:
        if last_seq < 0 or last_seq > self._last:
            return Replay(
                needs_snapshot=True,
                reason=f"seq {last_seq} is not in this session (last is {self._last})",
            )
        if last_seq == self._last:
            return Replay()
        if last_seq + 1 < self.oldest_replayable:
            return Replay(
                needs_snapshot=True,
                reason=f"events after {last_seq} were evicted "
                f"(oldest kept is {self.oldest_replayable})",
            )
        start = last_seq + 1 - self.oldest_replayable
        return Replay(events=tuple(self._buffer)[start:])


# --- client side ----------------------------------------------------------------


class Track(enum.StrEnum):
    APPLY = "apply"
    """The next event: apply it."""
    DUPLICATE = "duplicate"
    """Already seen (a replay overlapping what arrived before the reconnect): drop it."""
    GAP = "gap"
    """Events were missed, or a snapshot is awaited: drop it; resync with a snapshot."""


class EventTracker:
    """Follows a session's event ``seq`` on the client.

    After a gap it stays in "needs snapshot" mode (every event is ``GAP``) until
    :meth:`reset` with the snapshot's ``last_seq``.
    """

    def __init__(self, *, last_seq: int = 0) -> None:
        self._last = last_seq
        self._needs_snapshot = False
        self.gaps = 0
        """How many gaps were detected (for logs and metrics)."""

    @property
    def last_seq(self) -> int:
        """The last applied seq: what to put in ``hello.resume.last_seq``."""
        return self._last

    @property
    def needs_snapshot(self) -> bool:
        return self._needs_snapshot

    def track(self, event: Event | int) -> Track:
        seq = event.seq if isinstance(event, Event) else event
        if self._needs_snapshot:
            return Track.GAP
        if seq <= self._last:
            return Track.DUPLICATE
        if seq == self._last + 1:
            self._last = seq
            return Track.APPLY
        self._needs_snapshot = True
        self.gaps += 1
        return Track.GAP

    def gap_error(self) -> ProtocolError:
        """A typed error describing the current gap (for logs / UI)."""
        return ProtocolError(
            ErrorCode.SEQUENCE_GAP,
            f"events after seq {self._last} were missed; a snapshot is needed",
            detail={"last_seq": self._last},
        )

    def on_welcome(self, welcome: Welcome) -> bool:
        """Adopt the welcome; True when the client must now request a snapshot."""
        if welcome.resumed:
            return False
        self._last = welcome.last_seq
        self._needs_snapshot = True
        return True

    def reset(self, last_seq: int) -> None:
        """A snapshot as of ``last_seq`` was loaded: continue after it."""
        self._last = last_seq
        self._needs_snapshot = False

    def resume_info(self, session_id: str) -> Resume:
        return Resume(session_id=session_id, last_seq=self._last)


@dataclass(frozen=True, slots=True)
class Completion:
    """A response matched to its request (``request`` is None for an uncorrelated error)."""

    request: Request | None
    response: AnyResponse
    sent_at: float = 0.0

    @property
    def ok(self) -> bool:
        return not isinstance(self.response, Error)


class PendingRequests:
    """Allocates request ids on a client connection and matches responses to requests."""

    def __init__(self, *, first_id: int = 1) -> None:
        if not 1 <= first_id <= MAX_REQUEST_ID:
            raise ValueError("first_id out of range")
        self._next = first_id
        self._pending: dict[int, tuple[Request, float]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._pending

    def __iter__(self) -> Iterator[Request]:
        return iter([request for request, _ in self._pending.values()])

    def next_id(self) -> int:
        """Allocate the next id (use :meth:`track` when the request is sent)."""
        rid = self._next
        self._next += 1
        return rid

    def issue[R: Request](self, make: Callable[[int], R], now: float = 0.0) -> R:
        """Build a request with the next id and track it: ``issue(lambda i: Ping(id=i))``."""
        request = make(self.next_id())
        self.track(request, now)
        return request

    def track(self, request: Request, now: float = 0.0) -> None:
        """Wait for a response to ``request`` (sent at ``now``)."""
        if request.id in self._pending:
            raise ValueError(f"request id {request.id} is already pending")
        self._next = max(self._next, request.id + 1)
        self._pending[request.id] = (request, now)

    def resolve(self, response: AnyResponse) -> Completion:
        """Match ``response`` to its request.

        Raises ``unknown_request_id`` when nothing waits for that id, and
        ``unexpected_type`` when the response does not fit the request (e.g. a
        ``result`` for a ``hello``, or a body of the wrong kind); the request is
        then no longer pending.
        """
        rid = response.id
        if rid is None:  # an error the server could not correlate
            return Completion(request=None, response=response)
        entry = self._pending.pop(rid, None)
        if entry is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_REQUEST_ID,
                f"`{response.type_tag()}` for request id {rid}, which is not pending",
                detail={"id": rid, "type": response.type_tag()},
                request_id=rid,
            )
        request, sent_at = entry
        if not isinstance(response, Error):
            problem = _mismatch(request, response)
            if problem is not None:
                raise ProtocolError(
                    ErrorCode.UNEXPECTED_TYPE,
                    problem,
                    detail={"id": rid, "request": request.type_tag()},
                    request_id=rid,
                )
        return Completion(request=request, response=response, sent_at=sent_at)

    def expire(self, now: float, timeout: float) -> list[Request]:
        """Forget and return the requests sent more than ``timeout`` seconds before ``now``."""
        late = [rid for rid, (_, sent) in self._pending.items() if now - sent > timeout]
        return [self._pending.pop(rid)[0] for rid in late]

    def drain(self) -> list[Request]:
        """Forget and return every pending request (the connection was lost)."""
        requests = [request for request, _ in self._pending.values()]
        self._pending.clear()
        return requests


def _mismatch(request: Request, response: AnyResponse) -> str | None:
    tag = response.type_tag()
    if tag != request.response_type:
        return f"`{request.type_tag()}` is answered by `{request.response_type}`, not `{tag}`"
    if isinstance(response, Result):
        expected = request.result_type
        body = response.body
        if expected is None and body is not None:
            return f"`{request.type_tag()}` expects a bare result, got a `{type(body).__name__}`"
        if expected is not None and not isinstance(body, expected):
            return f"`{request.type_tag()}` expects a `{expected.__name__}` result body"
    return None
