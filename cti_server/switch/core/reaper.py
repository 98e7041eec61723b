"""RTP-timeout reaper: hang up calls whose caller is gone without a BYE.

A caller whose phone lost power or network never sends BYE; without help the
call would sit in the queue (or bridged to an agent) for ever. Every
``interval`` seconds the reaper asks rtpengine (ng ``query``) how many RTP
packets each answered call's caller has sent; a caller whose count has not moved
for ``timeout`` seconds is hung up: the agent leg gets BYE, the caller gets a
BYE (sent in the background: nobody may answer it), the call is reported
``released`` with cause ``failed`` and detail ``no RTP from the caller for N s``
(and ``queue_leave`` when it was waiting). A call rtpengine no longer knows (its
own ``--timeout`` dropped it, default 60 s) is reaped the same way with detail
``media gone``.

Hold: a caller keeps sending RTP while *the switch* holds it (music on hold is
played *to* it) and usually while it holds the call itself with ``sendonly``.
A caller whose last SDP says it will not send (``a=inactive`` / ``a=recvonly``,
or port 0) is skipped: RFC 4028 session timers cover such calls instead. The
daemon's own timeout (``RtpEngineConfig.rtp_timeout``) should stay above ours so
the reaper, which reports cleanly, acts first.

Progress is measured with our monotonic clock on packet counts, not rtpengine's
``last packet`` (whole seconds of rtpengine's wall clock), so short test timeouts
work and clock steps do not reap calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cti_server.switch.core.calls import Call, Phase
from cti_server.switch.media.ng import CallNotFoundError, NgError

if TYPE_CHECKING:
    from cti_server.switch.core.b2bua import SwitchCore

log = logging.getLogger("switch.core.reaper")

_NOT_SENDING = re.compile(r"^a=(inactive|recvonly)\s*$", re.MULTILINE)
_PORT_ZERO = re.compile(r"^m=audio 0 ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ReaperConfig:
    """How often to look and how long a caller may stay silent."""

    interval: float = 10.0
    """Seconds between two sweeps over the active calls."""
    timeout: float = 60.0
    """A caller that sent no RTP for this long is hung up."""
    concurrency: int = 16
    """ng ``query`` requests in flight at once during a sweep."""

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("reaper interval and timeout must be positive")
        if self.concurrency < 1:
            raise ValueError("reaper concurrency must be at least 1")


def caller_will_not_send(sdp: str) -> bool:
    """True when the caller's SDP says it sends no audio (inactive, recvonly, port 0)."""
    return bool(_NOT_SENDING.search(sdp) or _PORT_ZERO.search(sdp))


@dataclass(slots=True)
class _Seen:
    packets: int
    since: float


class RtpReaper:
    """Periodic sweep over :attr:`SwitchCore.calls` (see the module docstring)."""

    def __init__(
        self,
        core: SwitchCore,
        config: ReaperConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.config = config or ReaperConfig()
        self.clock = clock
        self._seen: dict[str, _Seen] = {}
        self._task: asyncio.Task[None] | None = None
        self.reaped: list[str] = []
        """Call ids hung up so far (newest last)."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="rtp-reaper")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("RTP reaper sweep failed")

    async def sweep(self) -> list[str]:
        """Check every answered call once; returns the ids of the calls hung up."""
        calls = list(self.core.calls.values())
        live = {c.call_id for c in calls}
        for gone in [cid for cid in self._seen if cid not in live]:
            del self._seen[gone]
        limit = asyncio.Semaphore(self.config.concurrency)

        async def check(call: Call) -> str | None:
            async with limit:
                return await self._check(call)

        results = await asyncio.gather(*(check(c) for c in calls))
        reaped = [cid for cid in results if cid is not None]
        self.reaped.extend(reaped)
        return reaped

    async def _check(self, call: Call) -> str | None:
        if call.ended or call.dialog is None or call.phase in (Phase.ANSWERING, Phase.ENDED):
            return None  # not answered yet (no media expected) or already gone
        now = self.clock()
        if caller_will_not_send(call.caller_sdp):
            self._seen.pop(call.call_id, None)  # counts restart when it sends again
            return None
        try:
            info = await self.core.ng.query(call.call_id)
        except CallNotFoundError:
            return await self._reap(call, "media gone (rtpengine dropped the call)")
        except NgError as exc:
            log.info("%s: reaper query failed: %s", call.call_id, exc)
            return None
        participant = info.participants.get(call.caller_tag)
        packets = participant.rtp_packets if participant is not None else 0
        seen = self._seen.get(call.call_id)
        if seen is None or packets != seen.packets:
            self._seen[call.call_id] = _Seen(packets, now)
            return None
        silent = now - seen.since
        if silent < self.config.timeout:
            return None
        return await self._reap(call, f"no RTP from the caller for {silent:.0f} s")

    async def _reap(self, call: Call, detail: str) -> str | None:
        async with call.lock:
            if call.ended:
                return None
            log.warning("%s: reaping the call: %s", call.call_id, detail)
            await self.core.caller_lost(call, detail)
        self._seen.pop(call.call_id, None)
        return call.call_id


__all__ = ["ReaperConfig", "RtpReaper", "caller_will_not_send"]
