"""Runs one call's IVR flow: feeds :class:`shared.ivr.FlowRun` events, executes its actions.

* ``Play`` → rtpengine ``play media`` of ``<prompts_dir>/<language>/<id>.wav`` to the
  caller, one prompt after the other (the next starts when the reported duration
  has elapsed); when all are played, ``on_prompt_done``.
* ``StopPlayback`` (barge-in) → ``stop media``.
* ``CollectDigits`` / ``StartTimer`` → one asyncio timer per run → ``on_timeout``.
* ``Lookup`` → :meth:`Decider.lookup` → ``on_lookup_result``.
* DTMF (rtpengine's RFC 4733 events or SIP INFO) → ``on_dtmf``.
* ``RequestCallback`` → :meth:`IvrHost.callback_requested` (the flow goes on).
* Terminal actions (``Queue``, ``Transfer``, ``RecordVoicemail``, ``Hangup``) go to the
  core through :class:`IvrHost`; after the flow ended, :attr:`IvrRunner.digit_listener`
  (voicemail) gets the caller's keys.

Every event runs under the call's lock, so a flow sees its events one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Protocol

from cti_server.switch.core.calls import Call, Phase
from cti_server.switch.media.ng import NgClient, NgError
from cti_server.switch.media.playback import Piece, PlaybackCache, playback_codec
from cti_server.switch.ports import CallReport, Decider, DecisionUnavailable
from shared.ivr import CallContext, Flow, FlowRun
from shared.ivr.model import LANGUAGES, Language
from shared.ivr.run import (
    Action,
    CollectDigits,
    Hangup,
    Lookup,
    Play,
    Queue,
    RecordVoicemail,
    RequestCallback,
    StartTimer,
    StopPlayback,
    TerminalAction,
    Transfer,
    Waiting,
)
from shared.protocol.call import TrajectoryKind
from shared.protocol.switch import SwitchCallEventKind

log = logging.getLogger("switch.core.ivr")

_REPORTED_STEPS = {
    TrajectoryKind.IVR_NODE: SwitchCallEventKind.IVR_NODE,
    TrajectoryKind.MENU_CHOICE: SwitchCallEventKind.MENU_CHOICE,
}


class IvrHost(Protocol):
    """What the runner needs from the core."""

    def report(self, report: CallReport) -> None: ...

    def callback_requested(self, call: Call, action: RequestCallback) -> None:
        """The flow registered a callback (``RequestCallback``); the flow goes on."""
        ...

    async def ivr_finished(self, call: Call, action: TerminalAction) -> None:
        """The flow ended with ``action``; called with the call's lock held."""
        ...


class PromptLibrary:
    """Prompt files: ``<root>/<language>/<id>.wav`` (see docs/ivr.md).

    ``overlay`` (the switch's cache of prompts administrators uploaded, R-IVR-5; see
    :mod:`cti_server.switch.prompt_sync`) is searched before ``root`` for each language:
    an upload replaces the shipped prompt of the same language and id."""

    def __init__(self, root: Path, overlay: Path | None = None) -> None:
        self.root = root
        self.overlay = overlay
        self.playback = PlaybackCache(None)
        """Prepared copies (G.711, joined prompts) rtpengine opens cheaply; the core
        gives it a folder (:mod:`cti_server.switch.media.playback`). No folder: the
        prompt files themselves are played, one ``play media`` each."""

    def path(self, prompt_id: str, language: Language) -> Path | None:
        """The file for ``prompt_id``, falling back to the other language; None if absent."""
        roots = (self.root,) if self.overlay is None else (self.overlay, self.root)
        for lang in (language, *(other for other in LANGUAGES if other != language)):
            for root in roots:
                candidate = root / lang / f"{prompt_id}.wav"
                if candidate.is_file():
                    return candidate
        return None

    async def pieces(
        self,
        prompts: Sequence[str],
        language: Language,
        codec: str | None,
        *,
        call_id: str = "",
    ) -> tuple[Piece, ...]:
        """What to ``play media`` for ``prompts`` in a call whose playback codec is
        ``codec`` (PCMA/PCMU; None: other): consecutive prompts joined into one file
        where possible. A prompt without a file is left out (logged)."""
        sources: list[tuple[str, Path]] = []
        for prompt_id in prompts:
            path = self.path(prompt_id, language)
            if path is None:
                log.warning("%s: prompt %s (%s) has no file: skipped", call_id, prompt_id, language)
                continue
            sources.append((prompt_id, path))
        return await self.playback.pieces(sources, codec, group=language)


def _replaced(rest: Sequence[Action]) -> bool:
    """True when the actions after a ``StopPlayback`` start another prompt at once and
    do not end the flow (whose core then plays, or stops, something else)."""
    return (
        bool(rest)
        and isinstance(rest[0], Play)
        and not any(isinstance(a, Queue | Transfer | RecordVoicemail | Hangup) for a in rest)
    )


def wav_seconds(path: Path) -> float:
    """Duration of a WAV file (0 when it cannot be read)."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (OSError, wave.Error, ZeroDivisionError):
        return 0.0


class IvrRunner:
    """One call's flow run and the timers, playback and look-ups it asked for."""

    def __init__(
        self,
        call: Call,
        flow: Flow,
        *,
        ng: NgClient,
        prompts: PromptLibrary,
        decider: Decider,
        host: IvrHost,
        clock: Callable[[], float],
    ) -> None:
        self.call = call
        self.run = FlowRun(flow)
        self.ng = ng
        self.prompts = prompts
        self.decider = decider
        self.host = host
        self.clock = clock
        self._reported = 0
        self._play_task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.prompts_played: list[str] = []
        """Prompt ids in the order their playback started (for diagnostics and tests)."""
        self.digit_listener: Callable[[str], None] | None = None
        """After the flow ended: who takes the caller's keys (voicemail's ``#``)."""
        self._stop_owed = False
        """A barge-in's ``stop media`` was left to the ``play media`` that follows it
        (which replaces the playback anyway); sent if that play does not happen."""
        self._codec: tuple[str, str | None] = ("", None)

    # --- events -------------------------------------------------------------------

    async def start(self, context: CallContext) -> None:
        async with self.call.lock:
            if self.call.phase is not Phase.IVR:
                return
            await self._handle(self.run.start(context, now=self.clock()))

    async def on_dtmf(self, digit: str) -> None:
        if self.digit_listener is not None:
            self.digit_listener(digit)
            return
        await self._event(lambda now: self.run.on_dtmf(digit, now=now))

    async def _event(self, step: Callable[[float], list[Action]]) -> None:
        async with self.call.lock:
            if self.call.phase is not Phase.IVR or self.run.done:
                return
            if self.run.waiting is Waiting.NOT_STARTED:
                # A digit keyed before the flow started (slow media set-up): dropped,
                # as if pressed before the greeting.
                log.debug("%s: event before the flow started, dropped", self.call.call_id)
                return
            await self._handle(step(self.clock()))

    def caller_hung_up(self) -> None:
        """The caller left during the flow: stop everything (no action follows)."""
        if not self.run.done and self.run.waiting is not Waiting.NOT_STARTED:
            self.run.on_caller_hangup(now=self.clock())
            self._report_steps()
        self.stop()

    def stop(self) -> None:
        """Cancel playback, the timer and pending look-ups (not the running task)."""
        current = asyncio.current_task()
        if self._play_task is not None and self._play_task is not current:
            self._play_task.cancel()
        self._play_task = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    # --- actions ------------------------------------------------------------------

    async def _handle(self, actions: list[Action]) -> None:
        self._report_steps()
        for index, action in enumerate(actions):
            if isinstance(action, StopPlayback) and _replaced(actions[index + 1 :]):
                # barge-in straight into the next prompt: its play media replaces the
                # current playback, no stop media needed (one ng round trip less)
                self._cancel_play()
                self._stop_owed = True
                continue
            await self._execute(action)

    async def _execute(self, action: Action) -> None:
        call = self.call
        if isinstance(action, Play):
            self._cancel_play()
            self._play_task = self._spawn(
                self._play(action.play_id, action.prompts, action.language), "ivr-play"
            )
        elif isinstance(action, StopPlayback):
            self._cancel_play()
            self._stop_owed = False
            with contextlib.suppress(NgError):
                await self.ng.stop_media(call.call_id, call.caller_tag)
        elif isinstance(action, CollectDigits | StartTimer):
            seconds = action.timeout if isinstance(action, CollectDigits) else action.seconds
            self._arm_timer(action.timer_id, seconds)
        elif isinstance(action, Lookup):
            self._spawn(self._lookup(action), "ivr-lookup")
        elif isinstance(action, RequestCallback):
            self.host.callback_requested(call, action)
        elif isinstance(action, Queue | Transfer | RecordVoicemail | Hangup):
            self.stop()
            await self.host.ivr_finished(call, action)
        # SurveyAnswer is visible in the trajectory (IVR_NODE reports).

    def _cancel_play(self) -> None:
        if self._play_task is not None and self._play_task is not asyncio.current_task():
            self._play_task.cancel()
        self._play_task = None

    def _arm_timer(self, timer_id: int, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()

        def fire() -> None:
            self._timer = None
            self._spawn(
                self._event(lambda now: self.run.on_timeout(now=now, timer_id=timer_id)),
                "ivr-timeout",
            )

        self._timer = asyncio.get_running_loop().call_later(seconds, fire)

    def playback_codec(self) -> str | None:
        """PCMA/PCMU rtpengine plays to this caller (None: another codec)."""
        sdp = self.call.caller_sdp
        if self._codec[0] != sdp:
            self._codec = (sdp, playback_codec(sdp))
        return self._codec[1]

    async def _play(self, play_id: int, prompts: tuple[str, ...], language: Language) -> None:
        call = self.call
        pieces = await self.prompts.pieces(
            prompts, language, self.playback_codec(), call_id=call.call_id
        )
        loop = asyncio.get_running_loop()
        for piece in pieces:
            try:
                duration_ms = await self.ng.play_media(
                    call.call_id, call.caller_tag, str(piece.path)
                )
            except NgError as exc:
                log.warning("%s: cannot play %s: %s", call.call_id, piece.path, exc)
                continue
            self._stop_owed = False
            seconds = duration_ms / 1000 if duration_ms is not None else piece.seconds
            # prompts_played follows the joined prompts as each one starts
            start, offset = loop.time(), 0.0
            for prompt_id, part_seconds in piece.parts:
                if offset > 0:
                    await asyncio.sleep(max(0.0, start + offset - loop.time()))
                self.prompts_played.append(prompt_id)
                offset += part_seconds
            await asyncio.sleep(max(0.0, start + seconds - loop.time()))
        if self._stop_owed:  # nothing played after a barge-in: stop the old prompt now
            self._stop_owed = False
            with contextlib.suppress(NgError):
                await self.ng.stop_media(call.call_id, call.caller_tag)
        self._play_task = None
        self._spawn(
            self._event(lambda now: self.run.on_prompt_done(now=now, play_id=play_id)),
            "ivr-prompt-done",
        )

    async def _lookup(self, action: Lookup) -> None:
        try:
            result = await self.decider.lookup(self.call.call_id, action.service, action.args)
        except DecisionUnavailable as exc:
            error: str | None = f"unavailable: {exc}" if str(exc) else "unavailable"
            values = None
        else:
            error, values = result.error, (None if result.error else dict(result.values))
        await self._event(
            lambda now: self.run.on_lookup_result(
                now=now, values=values, error=error, request_id=action.request_id
            )
        )

    def _report_steps(self) -> None:
        steps = self.run.trajectory[self._reported :]
        self._reported = len(self.run.trajectory)
        for step in steps:
            kind = _REPORTED_STEPS.get(step.kind)
            if kind is not None:
                self.host.report(
                    CallReport(
                        call_id=self.call.call_id,
                        kind=kind,
                        at=step.at,
                        node=step.node,
                        detail=step.detail,
                    )
                )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{name}-{self.call.call_id}")
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed", t.get_name(), exc_info=t.exception())

        task.add_done_callback(done)
        return task
