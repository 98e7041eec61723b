"""The fallback ACD's journal: an append-only JSON-lines file on disk (R-IN-3).

Every step the fallback ACD takes with a call (arrived, queued, offered, ring-no-answer,
answered, released …) is one line, written and flushed at once (so it survives a
``kill -9`` of the switch) and fsynced per record or per small batch (so it survives a
power cut within ``fsync_interval``; see docs/switch_link.md for the measured costs).

When the CTI link comes back, :meth:`Journal.pending` folds the lines into one
:class:`~shared.protocol.switch.FallbackCall` per call, split into parts of at most
500 calls. After the server acknowledged a part, :meth:`Journal.acknowledge` appends an
``acked`` line, so a crash in the middle of a replay never sends a part twice; when all
parts are acknowledged :meth:`Journal.compact` rewrites the file (temporary file, fsync,
rename) keeping only calls that are still in progress. A call reported ``in_progress``
is not reported again unless something new happens to it before it ends (the server
records the report idempotently either way).

A journal reopened after a switch restart reports the calls it left unfinished as
``failed`` (their SIP dialogs died with the process).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Self

import msgspec

from shared.clock import Clock
from shared.protocol.call import TrajectoryKind, TrajectoryStep
from shared.protocol.switch import FallbackCall, FallbackOutcome

log = logging.getLogger("switch.journal")

MAX_CALLS_PER_PART = 500
"""``switch.fallback_report`` carries at most this many calls."""
MAX_TRAJECTORY = 256

type FsyncPolicy = Literal["record", "batch", "none"]


class JournalError(Exception):
    """The journal file cannot be used (unreadable, not a journal)."""


class Step(enum.StrEnum):
    """What one journal line records."""

    LINK_DOWN = "link_down"
    """The CTI link went down at ``at`` (the start of an outage)."""
    ARRIVED = "arrived"
    IVR = "ivr"
    """An IVR node or menu choice (``node``, ``detail``)."""
    QUEUED = "queued"
    OFFERED = "offered"
    NO_ANSWER = "no_answer"
    """The offered agent did not answer or rejected (the call keeps its position)."""
    ANSWERED = "answered"
    AGENT_LEFT = "agent_left"
    """The agent's part ended (agent hung up or transferred) before the caller's."""
    RELEASED = "released"
    FAILED = "failed"
    DELIVERED = "delivered"
    """The call's end reached the CTI server through the link (nothing left to replay)."""
    RETURNED = "returned"
    """The CTI server took the call back (it is not the fallback's any more)."""
    ACKED = "acked"
    """The server acknowledged a fallback report part carrying ``calls``."""


class Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One journal line."""

    seq: int
    at: float
    step: Step
    call_id: str | None = None
    caller: str | None = None
    called: str | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    node: str | None = None
    detail: str | None = None
    calls: tuple[str, ...] = ()
    in_progress: tuple[str, ...] = ()


@dataclass(slots=True)
class _CallFold:
    """A call's lines folded together."""

    call_id: str
    arrived_at: float
    caller: str | None = None
    called: str | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    released_at: float | None = None
    last_at: float = 0.0
    outcome: FallbackOutcome | None = None
    trajectory: list[TrajectoryStep] = field(default_factory=list)
    dirty: bool = True
    """Something happened since the server last acknowledged it."""
    reported_in_progress: bool = False
    gone: bool = False
    """Delivered through the link, or returned to the server: never replayed."""

    def step(self, at: float, kind: TrajectoryKind, node: str | None, detail: str | None) -> None:
        if len(self.trajectory) < MAX_TRAJECTORY:
            self.trajectory.append(TrajectoryStep(at=at, kind=kind, node=node, detail=detail))

    def as_call(self, outcome: FallbackOutcome) -> FallbackCall:
        return FallbackCall(
            call_id=self.call_id,
            outcome=outcome,
            arrived_at=self.arrived_at,
            caller=self.caller,
            called=self.called,
            queue_id=self.queue_id,
            agent_id=self.agent_id,
            offered_at=self.offered_at,
            answered_at=self.answered_at,
            released_at=self.released_at,
            trajectory=tuple(self.trajectory),
        )


@dataclass(frozen=True, slots=True)
class ReportPart:
    """One ``switch.fallback_report`` part ready to send."""

    part: int
    last_part: bool
    calls: tuple[FallbackCall, ...]


@dataclass(frozen=True, slots=True)
class PendingReport:
    """What the server has not acknowledged yet."""

    link_down_at: float
    parts: tuple[ReportPart, ...]

    @property
    def call_count(self) -> int:
        return sum(len(p.calls) for p in self.parts)


_TRAJECTORY_OF = {
    Step.IVR: TrajectoryKind.IVR_NODE,
    Step.QUEUED: TrajectoryKind.QUEUE_ENTER,
    Step.OFFERED: TrajectoryKind.OFFER,
    Step.ANSWERED: TrajectoryKind.ANSWER,
    Step.RELEASED: TrajectoryKind.RELEASE,
    Step.FAILED: TrajectoryKind.RELEASE,
}


class Journal:
    """The append-only journal file of one switch.

    ``fsync``: ``"record"`` fsyncs every line; ``"batch"`` (default) fsyncs after
    ``batch_records`` lines or ``fsync_interval`` seconds, whichever comes first (the
    interval is checked on the next append and by :meth:`sync`, which the owner calls
    from a timer); ``"none"`` leaves it to the OS (tests). Every line is flushed to the
    OS at once in all modes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock,
        fsync: FsyncPolicy = "batch",
        batch_records: int = 16,
        fsync_interval: float = 0.05,
    ) -> None:
        if fsync not in ("record", "batch", "none"):
            raise ValueError(f"fsync must be 'record', 'batch' or 'none', got {fsync!r}")
        if batch_records < 1 or fsync_interval <= 0:
            raise ValueError("batch_records must be >= 1 and fsync_interval > 0")
        self.path = Path(path)
        self.clock = clock
        self.fsync_policy: FsyncPolicy = fsync
        self.batch_records = batch_records
        self.fsync_interval = fsync_interval
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(Record)
        self._calls: dict[str, _CallFold] = {}
        self._link_down_at: float | None = None
        self._seq = 0
        self._unsynced = 0
        self._last_sync = clock.monotonic()
        self.records_written = 0
        self.fsyncs = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        self._file: IO[bytes] | None = open(self.path, "ab")  # noqa: SIM115 (kept open)

    # -- writing -------------------------------------------------------------------------

    def append(self, step: Step, call_id: str | None = None, **fields: object) -> Record:
        """Write one line (flushed; fsynced per the policy) and fold it in."""
        self._seq += 1
        at = fields.pop("at", None)
        record = Record(
            seq=self._seq,
            at=float(at) if isinstance(at, int | float) else self.clock.wall(),
            step=step,
            call_id=call_id,
            **fields,  # type: ignore[arg-type]
        )
        self._write(record)
        self._fold(record)
        return record

    def mark_link_down(self, at: float | None = None) -> None:
        """Note the start of an outage (only the first one since the last replay counts)."""
        if self._link_down_at is None:
            self.append(Step.LINK_DOWN, at=at if at is not None else self.clock.wall())

    def sync(self) -> None:
        """Fsync pending lines now (the owner calls it from a timer in batch mode)."""
        if self._file is None or self._unsynced == 0:
            return
        os.fsync(self._file.fileno())
        self.fsyncs += 1
        self._unsynced = 0
        self._last_sync = self.clock.monotonic()

    def _write(self, record: Record) -> None:
        if self._file is None:
            raise JournalError(f"the journal {self.path} is closed")
        self._file.write(self._encoder.encode(record) + b"\n")
        self._file.flush()
        self.records_written += 1
        self._unsynced += 1
        due = self.fsync_policy == "record" or (
            self.fsync_policy == "batch"
            and (
                self._unsynced >= self.batch_records
                or self.clock.monotonic() - self._last_sync >= self.fsync_interval
            )
        )
        if due:
            self.sync()

    # -- folding -------------------------------------------------------------------------

    def _fold(self, r: Record) -> None:
        if r.step is Step.LINK_DOWN:
            if self._link_down_at is None:
                self._link_down_at = r.at
            return
        if r.step is Step.ACKED:
            for cid in r.calls:
                fold = self._calls.get(cid)
                if fold is not None:
                    fold.dirty = False
            for cid in r.in_progress:
                fold = self._calls.get(cid)
                if fold is not None:
                    fold.dirty = False
                    fold.reported_in_progress = True
            return
        if r.call_id is None:
            return
        call = self._calls.get(r.call_id)
        if call is None:
            call = _CallFold(r.call_id, r.at)
            self._calls[r.call_id] = call
        fold = call
        fold.dirty = True
        fold.last_at = max(fold.last_at, r.at)
        if r.caller is not None:
            fold.caller = r.caller
        if r.called is not None:
            fold.called = r.called
        if r.queue_id is not None:
            fold.queue_id = r.queue_id
        step = r.step
        if step is Step.ARRIVED:
            fold.arrived_at = min(fold.arrived_at, r.at)
        elif step is Step.OFFERED:
            fold.agent_id, fold.offered_at = r.agent_id, r.at
        elif step is Step.NO_ANSWER:
            if fold.answered_at is None:
                fold.agent_id = fold.offered_at = None
        elif step is Step.ANSWERED:
            fold.agent_id, fold.answered_at = r.agent_id or fold.agent_id, r.at
        elif step is Step.RELEASED:
            fold.released_at = r.at
            fold.outcome = (
                FallbackOutcome.ANSWERED
                if fold.answered_at is not None
                else FallbackOutcome.ABANDONED
            )
        elif step is Step.FAILED:
            fold.released_at = r.at
            fold.outcome = (
                FallbackOutcome.ANSWERED if fold.answered_at is not None else FallbackOutcome.FAILED
            )
        elif step in (Step.DELIVERED, Step.RETURNED):
            fold.gone = True
            fold.dirty = False
        kind = _TRAJECTORY_OF.get(step)
        if kind is not None:
            node = (r.node or r.queue_id) if step in (Step.IVR, Step.QUEUED) else r.agent_id
            fold.step(r.at, kind, node, r.detail)

    def _load(self) -> None:
        """Fold an existing file; a torn last line (crash mid-write) is dropped."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            lines = f.read().split(b"\n")
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = self._decoder.decode(line)
            except msgspec.ValidationError as exc:
                raise JournalError(f"{self.path}:{n}: not a journal record: {exc}") from None
            except msgspec.DecodeError:
                if n >= len(lines) - 1:
                    log.warning("%s:%d: torn last line dropped", self.path, n)
                    continue
                raise JournalError(f"{self.path}:{n}: unreadable line") from None
            self._seq = max(self._seq, record.seq)
            self._fold(record)
        # Calls left unfinished by a previous process died with it.
        for fold in self._calls.values():
            if fold.outcome is None and not fold.gone:
                answered = fold.answered_at is not None
                fold.outcome = FallbackOutcome.ANSWERED if answered else FallbackOutcome.FAILED
                fold.released_at = fold.last_at
                fold.dirty = True

    # -- replay --------------------------------------------------------------------------

    @property
    def link_down_at(self) -> float | None:
        return self._link_down_at

    def handed_over(self, call_id: str) -> bool:
        """Whether the server was told this call is in progress (it knows it now)."""
        fold = self._calls.get(call_id)
        return fold is not None and fold.reported_in_progress

    def has_pending(self) -> bool:
        return any(f.dirty and not f.gone for f in self._calls.values())

    def live_calls(self) -> list[str]:
        """Calls the journal knows as not ended (in arrival order)."""
        return [c for c, f in self._calls.items() if f.outcome is None and not f.gone]

    def handed_over_live(self) -> list[FallbackCall]:
        """Calls still running that a server already adopted and :meth:`pending` does not
        report again (nothing new since): a restarted server must learn them anew."""
        return [
            f.as_call(FallbackOutcome.IN_PROGRESS)
            for f in sorted(self._calls.values(), key=lambda f: f.arrived_at)
            if f.reported_in_progress and f.outcome is None and not f.gone and not f.dirty
        ]

    def pending(self, *, max_calls: int = MAX_CALLS_PER_PART) -> PendingReport | None:
        """Calls to report, in arrival order, split into parts (``None``: nothing new)."""
        if not 1 <= max_calls <= MAX_CALLS_PER_PART:
            raise ValueError(f"max_calls must be 1..{MAX_CALLS_PER_PART}")
        calls = [
            f.as_call(f.outcome or FallbackOutcome.IN_PROGRESS)
            for f in sorted(self._calls.values(), key=lambda f: f.arrived_at)
            if f.dirty and not f.gone
        ]
        if not calls:
            return None
        chunks = [calls[i : i + max_calls] for i in range(0, len(calls), max_calls)]
        parts = tuple(
            ReportPart(part=i + 1, last_part=i == len(chunks) - 1, calls=tuple(chunk))
            for i, chunk in enumerate(chunks)
        )
        down = self._link_down_at if self._link_down_at is not None else calls[0].arrived_at
        return PendingReport(link_down_at=down, parts=parts)

    def acknowledge(self, calls: Iterable[FallbackCall]) -> None:
        """The server acknowledged a part carrying ``calls`` (one durable ``acked`` line)."""
        done: list[str] = []
        live: list[str] = []
        for call in calls:
            (live if call.outcome is FallbackOutcome.IN_PROGRESS else done).append(call.call_id)
        self.append(Step.ACKED, calls=tuple(done), in_progress=tuple(live))
        self.sync()

    def compact(self) -> int:
        """Rewrite the file keeping only calls still in progress; returns lines kept.

        Runs synchronously (no await), so no line appended by the fallback can slip
        between reading the state and the rename."""
        keep = {c for c, f in self._calls.items() if f.outcome is None and not f.gone}
        if self._file is None:
            raise JournalError(f"the journal {self.path} is closed")
        self._file.flush()
        with open(self.path, "rb") as f:
            lines = f.read().split(b"\n")
        kept: list[bytes] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                record = self._decoder.decode(line)
            except (msgspec.ValidationError, msgspec.DecodeError):
                continue
            if record.call_id in keep:
                kept.append(line)
        if keep:
            flags = [c for c in keep if self._calls[c].reported_in_progress]
            seq = self._seq + 1
            self._seq = seq
            marker = Record(
                seq=seq, at=self.clock.wall(), step=Step.ACKED, in_progress=tuple(sorted(flags))
            )
            kept.append(self._encoder.encode(marker))
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as out:
            out.write(b"".join(line + b"\n" for line in kept))
            out.flush()
            os.fsync(out.fileno())
        self._file.close()
        os.replace(tmp, self.path)
        with contextlib.suppress(OSError):  # make the rename durable (POSIX)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._unsynced = 0
        self._calls = {c: f for c, f in self._calls.items() if c in keep}
        self._link_down_at = None
        return len(kept)

    def close(self) -> None:
        if self._file is None:
            return
        self.sync()
        self._file.close()
        self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, calls={len(self._calls)})"
