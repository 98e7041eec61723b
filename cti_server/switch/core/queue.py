"""Music on hold, queue announcements and max wait → overflow (R-IVR-1..4).

rtpengine plays it with ``play media`` and a large ``repeat-times``, so a
waiting caller hears it without the switch doing anything per packet. The
default music is generated (no licensing question, no binary in git): a slow,
soft arpeggio of sine notes with attack/release envelopes, 8 kHz mono 16-bit.
Administrators replace it with their own file (any format ffmpeg reads).

:class:`QueueMonitor` watches every waiting call: every ``announce_every`` seconds
it interrupts the music with "you are number N in the queue" / "the expected wait
is about M minutes" (``shared.ivr.say`` read-outs), and after ``max_wait`` seconds
it moves the call to its queue's :class:`OverflowTarget` (another queue, an IVR
node, voicemail, a callback request or a polite hang-up). See docs/switch.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import time
import tomllib
import wave
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from cti_server.switch.core.calls import TALKING_PHASES, WAITING_PHASES, Call, Phase
from cti_server.switch.media.ng import NgClient, NgError
from cti_server.switch.media.playback import PlaybackCache, playback_codec
from cti_server.switch.ports import DecisionUnavailable
from shared.ivr import CallContext, Flow
from shared.ivr.library import (
    callback_confirm_flow,
    overflow_hangup_flow,
    overflow_voicemail_flow,
)
from shared.ivr.model import Language
from shared.ivr.say import say as say_number
from shared.protocol.switch import SwitchCallEventKind

if TYPE_CHECKING:
    from cti_server.switch.core.b2bua import SwitchCore

log = logging.getLogger("switch.core.queue")

BUILTIN_VARIABLES: Final = frozenset({"caller", "called", "tier", "language", "business_selection"})

SAMPLE_RATE: Final = 8000
MOH_NOTES: Final = (523.25, 659.25, 783.99, 659.25, 587.33, 698.46, 880.0, 698.46)
"""C5 E5 G5 E5 D5 F5 A5 F5: the default music's notes (Hz), one every ``NOTE_SECONDS``."""
NOTE_SECONDS: Final = 0.6
MOH_REPEAT: Final = 1000
"""``repeat-times`` for music on hold (about 80 minutes of the default music)."""


def moh_samples(
    notes: tuple[float, ...] = MOH_NOTES,
    note_seconds: float = NOTE_SECONDS,
    amplitude: int = 6000,
) -> list[int]:
    """The default music as 16-bit samples (each note faded in and out over 40 ms)."""
    per_note = round(note_seconds * SAMPLE_RATE)
    fade = round(0.04 * SAMPLE_RATE)
    samples: list[int] = []
    for freq in notes:
        step = 2 * math.pi * freq / SAMPLE_RATE
        for i in range(per_note):
            gain = min(1.0, i / fade, (per_note - 1 - i) / fade)
            samples.append(round(amplitude * gain * math.sin(step * i)))
    return samples


def write_moh_wav(path: Path) -> Path:
    """Write the default music on hold to ``path`` (directories created); returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = moh_samples()
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    tmp.replace(path)
    return path


def ensure_moh(path: Path) -> Path:
    """``path`` if it exists, else the default music written there."""
    return path if path.is_file() else write_moh_wav(path)


async def start_moh(
    ng: NgClient,
    call_id: str,
    caller_tag: str,
    moh_file: Path,
    *,
    playback: PlaybackCache | None = None,
    codec: str | None = None,
) -> None:
    """Play the music to the caller in a loop (replaces any playback); with a
    ``playback`` cache, its copy prepared for ``codec`` (same audio, cheaper to open)."""
    if playback is not None:
        moh_file = await playback.file(moh_file, codec)
    await ng.play_media(call_id, caller_tag, str(moh_file), repeat_times=MOH_REPEAT)


async def start_call_moh(core: SwitchCore, call: Call) -> None:
    """:func:`start_moh` for ``call`` with the core's music, prepared in the call's
    codec (raises :class:`NgError`)."""
    await start_moh(
        core.ng,
        call.call_id,
        call.caller_tag,
        core.config.moh_file,
        playback=core.prompts.playback,
        codec=playback_codec(call.caller_sdp),
    )


# --- queue features: announcements, max wait → overflow (R-IVR-1..4) -------------------

OVERFLOW_KINDS: Final = ("queue", "ivr", "voicemail", "callback", "hangup")
POLL_SECONDS: Final = 0.2
"""Shortest sleep of a waiting call's watcher (an overdue call ringing an agent)."""
IDLE_POLL_SECONDS: Final = 1.0
"""Longest sleep of a watcher (it notices a call that left within this time)."""
RECENT_WAITS: Final = 20
"""Answered waits per queue kept for the local expected-wait estimate."""
WAIT_LOOKUP_TIMEOUT: Final = 1.0
"""Seconds the ``queue_wait`` look-up may take before the local estimate is used."""


class QueueConfigError(ValueError):
    """A queue feature setting is malformed (the message names it)."""


@dataclass(frozen=True, slots=True)
class OverflowTarget:
    """Where a call goes when it waited ``max_wait`` seconds.

    Text form (settings, docs): ``queue:<queue_id>``, ``ivr:<flow_id>[:<node_id>]``,
    ``voicemail[:<mailbox>]``, ``callback[:<queue_id>]``, ``hangup``.
    """

    kind: str
    target: str | None = None
    node: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in OVERFLOW_KINDS:
            raise QueueConfigError(
                f"overflow kind must be one of {', '.join(OVERFLOW_KINDS)}, got {self.kind!r}"
            )
        if self.kind in ("queue", "ivr") and not self.target:
            raise QueueConfigError(f"overflow {self.kind} needs a target ({self.kind}:<id>)")

    @classmethod
    def parse(cls, text: str) -> OverflowTarget:
        kind, _, rest = text.strip().partition(":")
        target, _, node = rest.partition(":") if kind == "ivr" else (rest, "", "")
        return cls(kind=kind, target=target or None, node=node or None)

    def __str__(self) -> str:
        return ":".join(part for part in (self.kind, self.target, self.node) if part)


@dataclass(frozen=True, slots=True)
class QueueFeatures:
    """Per-queue waiting features of the switch (``CoreConfig.queues``)."""

    announce_every: float = 30.0
    """Seconds between announcements (the first after this long); 0 = no announcements."""
    announce_position: bool = True
    announce_wait: bool = True
    max_wait: float = 0.0
    """Seconds in this queue before the call overflows; 0 = wait forever."""
    overflow: OverflowTarget | None = None
    """Where it goes then (None with a ``max_wait``: hang up with a prompt)."""

    def __post_init__(self) -> None:
        if not (self.announce_every == 0 or 1.0 <= self.announce_every <= 3600):
            raise QueueConfigError("announce_every must be 0 (off) or 1-3600 seconds")
        if not 0 <= self.max_wait <= 86_400:
            raise QueueConfigError("max_wait must be 0 (none) to 86400 seconds")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> QueueFeatures:
        """From settings (``announce_every``, ``announce_position``, ``announce_wait``,
        ``max_wait``, ``overflow`` as text); unknown keys are an error."""
        known = {"announce_every", "announce_position", "announce_wait", "max_wait", "overflow"}
        unknown = set(data) - known
        if unknown:
            raise QueueConfigError(f"unknown queue setting(s): {', '.join(sorted(unknown))}")
        overflow = data.get("overflow")
        try:
            return cls(
                announce_every=float(data.get("announce_every", 30.0)),
                announce_position=bool(data.get("announce_position", True)),
                announce_wait=bool(data.get("announce_wait", True)),
                max_wait=float(data.get("max_wait", 0.0)),
                overflow=OverflowTarget.parse(str(overflow)) if overflow else None,
            )
        except (TypeError, ValueError) as exc:
            raise QueueConfigError(str(exc)) from exc


DEFAULT_FEATURES: Final = QueueFeatures()


def announcement_prompts(
    position: int | None, wait_seconds: float | None, language: Language
) -> list[str]:
    """Prompt ids of one announcement: "you are number N in the queue", "the expected
    wait is about M minutes" (either part left out when its value is None)."""
    prompts: list[str] = []
    if position is not None and position >= 1:
        prompts += ["queue_position", *say_number(str(position), "number", language)]
        prompts.append("queue_position_end")
    if wait_seconds is not None and wait_seconds >= 0:
        minutes = math.ceil(wait_seconds / 60)
        if minutes <= 1 and wait_seconds < 60:
            prompts.append("queue_wait_short")
        else:
            prompts += ["queue_wait", *say_number(str(minutes), "number", language)]
            prompts.append("queue_minute" if minutes == 1 else "queue_minutes")
    return prompts


@dataclass(frozen=True, slots=True)
class Announcement:
    """One announcement played to a waiting caller (kept in :attr:`QueueMonitor.played`)."""

    call_id: str
    queue_id: str | None
    position: int | None
    wait_seconds: float | None
    wait_source: str
    """``server`` (queue_wait look-up), ``local`` (average recent wait × position), ``none``."""
    prompts: tuple[str, ...]


@dataclass(slots=True)
class _Waiter:
    call: Call
    entered: float
    """Monotonic time the call entered this queue."""
    seq: int
    task: asyncio.Task[None] | None = None


class QueueMonitor:
    """Watches every waiting call: periodic announcements and max wait → overflow.

    One per core. :meth:`entered` starts a watcher task for a call that entered a
    queue; the watcher ends when the call stops waiting there (answered, abandoned,
    overflowed, moved). Positions count the calls of the same queue waiting on this
    switch, in the order they entered it.
    """

    def __init__(
        self,
        core: SwitchCore,
        queues: Mapping[str, QueueFeatures] | None = None,
        default: QueueFeatures = DEFAULT_FEATURES,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.queues = dict(queues or {})
        self.default = default
        self.monotonic = monotonic
        self.waiters: dict[str, _Waiter] = {}
        self.recent_waits: dict[str | None, deque[float]] = {}
        self.played: deque[Announcement] = deque(maxlen=1000)
        """The last announcements (diagnostics, tests)."""
        self._seq = 0

    def features(self, queue_id: str | None) -> QueueFeatures:
        return self.queues.get(queue_id or "", self.default)

    # --- calls entering and leaving ------------------------------------------------------

    def entered(self, call: Call, queue_id: str | None) -> None:
        """``call`` entered ``queue_id`` (music on hold playing, lock held)."""
        old = self.waiters.pop(call.call_id, None)
        if old is not None and old.task is not None and old.task is not asyncio.current_task():
            old.task.cancel()
        self._seq += 1
        waiter = _Waiter(call=call, entered=self.monotonic(), seq=self._seq)
        self.waiters[call.call_id] = waiter
        waiter.task = self.core.spawn(self._watch(waiter), f"queue-watch-{call.call_id}")

    def _still_waiting(self, waiter: _Waiter) -> bool:
        call = waiter.call
        return (
            self.waiters.get(call.call_id) is waiter
            and not call.ended
            and call.phase in WAITING_PHASES
        )

    def _left(self, waiter: _Waiter) -> None:
        if self.waiters.get(waiter.call.call_id) is waiter:
            del self.waiters[waiter.call.call_id]
        if waiter.call.phase in TALKING_PHASES:
            waits = self.recent_waits.setdefault(waiter.call.queue_id, deque(maxlen=RECENT_WAITS))
            waits.append(self.monotonic() - waiter.entered)

    def position(self, call_id: str) -> int | None:
        """1-based place of the call among the calls waiting in its queue here."""
        waiter = self.waiters.get(call_id)
        if waiter is None:
            return None
        ahead = sum(
            1
            for other in self.waiters.values()
            if other.call.queue_id == waiter.call.queue_id
            and other.seq < waiter.seq
            and not other.call.ended
            and other.call.phase in WAITING_PHASES
        )
        return ahead + 1

    def local_estimate(self, queue_id: str | None, position: int) -> float | None:
        """Average of the recent answered waits of the queue × position (None: no history)."""
        waits = self.recent_waits.get(queue_id)
        if not waits:
            return None
        return sum(waits) / len(waits) * position

    # --- the watcher ------------------------------------------------------------------

    async def _watch(self, waiter: _Waiter) -> None:
        call = waiter.call
        try:
            next_announce: float | None = None
            while self._still_waiting(waiter):
                features = self.features(call.queue_id)
                now = self.monotonic()
                if features.announce_every > 0 and next_announce is None:
                    next_announce = waiter.entered + features.announce_every
                overdue = features.max_wait > 0 and now - waiter.entered >= features.max_wait
                if overdue and await self._overflow(waiter, features):
                    return
                if next_announce is not None and now >= next_announce:
                    await self._announce(waiter)
                    next_announce = self.monotonic() + features.announce_every
                # wake for the next deadline (at most IDLE_POLL_SECONDS apart, to notice a
                # call that left); an overdue call ringing an agent is looked at often
                now = self.monotonic()
                due = [IDLE_POLL_SECONDS]
                if next_announce is not None:
                    due.append(next_announce - now)
                if features.max_wait > 0:
                    due.append(waiter.entered + features.max_wait - now)
                await asyncio.sleep(max(POLL_SECONDS, min(due)))
        finally:
            self._left(waiter)

    async def _announce(self, waiter: _Waiter) -> None:
        call = waiter.call
        if call.phase is not Phase.QUEUED:
            return  # ringing an agent: no interruption
        features = self.features(call.queue_id)
        position = self.position(call.call_id) if features.announce_position else None
        wait, source = None, "none"
        if features.announce_wait:
            wait, source = await self._expected_wait(waiter)
        runner = self.core.runners.get(call.call_id)
        language: Language = runner.run.language if runner is not None else "zh"
        prompts = announcement_prompts(position, wait, language)
        if not prompts or not self._still_waiting(waiter):
            return
        self.played.append(
            Announcement(call.call_id, call.queue_id, position, wait, source, tuple(prompts))
        )
        log.info("%s: queue announcement %s", call.call_id, " ".join(prompts))
        played = False
        # the announcement's prompts joined into one file where possible (one play media)
        pieces = await self.core.prompts.pieces(
            prompts, language, playback_codec(call.caller_sdp), call_id=call.call_id
        )
        for piece in pieces:
            async with call.lock:
                if not self._still_waiting(waiter) or call.phase is not Phase.QUEUED:
                    break
                try:
                    duration_ms = await self.core.ng.play_media(
                        call.call_id, call.caller_tag, str(piece.path)
                    )
                except NgError as exc:
                    log.warning("%s: cannot play %s: %s", call.call_id, piece.path, exc)
                    continue
                played = True
            await asyncio.sleep(duration_ms / 1000 if duration_ms is not None else piece.seconds)
        if not played:
            return
        async with call.lock:
            if not call.ended and call.phase in WAITING_PHASES:
                try:
                    await start_call_moh(self.core, call)
                except NgError as exc:
                    log.warning("%s: music on hold failed: %s", call.call_id, exc)

    async def _expected_wait(self, waiter: _Waiter) -> tuple[float | None, str]:
        """The server's ``queue_wait`` look-up (``expected_wait_seconds``), else the local
        estimate."""
        call = waiter.call
        position = self.position(call.call_id) or 1
        if call.queue_id is not None:
            try:
                result = await asyncio.wait_for(
                    self.core.decider.lookup(
                        call.call_id, "queue_wait", {"queue_id": call.queue_id}
                    ),
                    WAIT_LOOKUP_TIMEOUT,
                )
            except (DecisionUnavailable, TimeoutError):
                result = None
            except Exception:  # a decider bug must not end the announcements
                log.exception("%s: queue_wait look-up failed", call.call_id)
                result = None
            if result is not None and result.error is None:
                text = result.values.get("expected_wait_seconds")
                with contextlib.suppress(TypeError, ValueError):
                    if text is not None and float(text) >= 0:
                        return float(text), "server"
        estimate = self.local_estimate(call.queue_id, position)
        return (estimate, "local") if estimate is not None else (None, "none")

    # --- overflow ---------------------------------------------------------------------

    async def _overflow(self, waiter: _Waiter, features: QueueFeatures) -> bool:
        """Move the call to the overflow target if it is not ringing an agent (else after
        the offer fails). True when the call left the queue."""
        call = waiter.call
        async with call.lock:
            if not self._still_waiting(waiter) or call.phase is not Phase.QUEUED:
                return False
            await self.overflow_now(call, features.overflow)
            return True

    async def overflow_now(self, call: Call, target: OverflowTarget | None) -> None:
        """``queue_leave`` (detail ``overflow <target>``) and hand the call on (lock held)."""
        waiter = self.waiters.pop(call.call_id, None)
        if waiter is not None:
            self._left(waiter)
        target = target or OverflowTarget("hangup")
        core = self.core
        log.info("%s: max wait in %s reached: overflow to %s", call.call_id, call.queue_id, target)
        core.emit(
            call,
            SwitchCallEventKind.QUEUE_LEAVE,
            queue_id=call.queue_id,
            detail=f"overflow {target}",
        )
        if target.kind == "queue":
            await core.enter_queue(call, target.target)
            return
        old = core.runners.get(call.call_id)
        language: Language = old.run.language if old is not None else "zh"
        try:
            flow = self._overflow_flow(target, language)
        except (KeyError, ValueError) as exc:
            log.warning(
                "%s: overflow target %s unusable (%s): hanging up", call.call_id, target, exc
            )
            flow = overflow_hangup_flow(language)
        with contextlib.suppress(NgError):
            await core.ng.stop_media(call.call_id, call.caller_tag)
        call.phase = Phase.IVR
        call.queue_id = None
        context = CallContext(
            tier=call.tier,
            caller=call.caller,
            called=call.called,
            language=language,
            variables=(
                {k: v for k, v in old.run.variables.items() if k not in BUILTIN_VARIABLES}
                if old is not None
                else {}
            ),
        )
        runner = core.new_runner(call, flow)  # stops the finished flow's runner
        core.spawn(runner.start(context), f"overflow-ivr-{call.call_id}")

    def _overflow_flow(self, target: OverflowTarget, language: Language) -> Flow:
        if target.kind == "ivr":
            flow = self.core.flows(target.target, None)
            if target.node is not None:
                if target.node not in flow.nodes:
                    raise KeyError(f"flow {flow.id} has no node {target.node}")
                flow = msgspec.structs.replace(flow, entry=target.node)
            return flow
        if target.kind == "voicemail":
            return overflow_voicemail_flow(target.target or "general", language)
        if target.kind == "callback":
            return callback_confirm_flow(target.target, language, intro=("agents_busy",))
        return overflow_hangup_flow(language)


def load_queue_file(path: Path) -> tuple[dict[str, QueueFeatures], QueueFeatures]:
    """Read queue features from TOML: ``[default]`` and ``[queues.<queue_id>]`` tables
    with ``announce_every``, ``announce_position``, ``announce_wait``, ``max_wait``,
    ``overflow``; raises :class:`QueueConfigError` naming the file and table."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise QueueConfigError(f"cannot read queue settings from {path}: {exc}") from exc
    unknown = set(data) - {"default", "queues"}
    if unknown:
        raise QueueConfigError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}")

    def features(where: str, table: object) -> QueueFeatures:
        if not isinstance(table, dict):
            raise QueueConfigError(f"{path}: [{where}] must be a table")
        try:
            return QueueFeatures.from_mapping(table)
        except QueueConfigError as exc:
            raise QueueConfigError(f"{path}: [{where}]: {exc}") from exc

    default = features("default", data.get("default", {}))
    queues_table = data.get("queues", {})
    if not isinstance(queues_table, dict):
        raise QueueConfigError(f"{path}: [queues] must be a table of queue tables")
    queues = {str(q): features(f"queues.{q}", t) for q, t in queues_table.items()}
    return queues, default
