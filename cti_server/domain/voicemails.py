"""Voicemails from the switch's reports (R-IVR-4).

On a voicemail the switch reports ``recording_started`` (detail ``voicemail:<mailbox>``,
node = mailbox) and ``recording_stopped`` (detail ``voicemail:<file name>``, node =
mailbox) before the caller's ``released`` (docs/switch.md, "Voicemail"). The server
stores one ``voicemails`` row per stopped recording (state ``new``; the REST API lists
them and marks them ``heard`` / ``handled``); its length is the time between the two
reports when the server saw both. A recording that is not a voicemail (no
``voicemail:`` detail) is ignored here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from cti_server.store.calls import VoicemailStore, VoicemailView
from shared.protocol.switch import SwitchCallEvent, SwitchCallEventKind

log = logging.getLogger("cti_server.domain.voicemails")

PREFIX = "voicemail:"
_MAX_PENDING = 10_000


@dataclass(frozen=True, slots=True)
class _Started:
    mailbox: str
    at: float


def voicemail_detail(ev: SwitchCallEvent) -> str | None:
    """The text after ``voicemail:`` of a recording report, ``None`` for others."""
    if ev.kind not in (
        SwitchCallEventKind.RECORDING_STARTED,
        SwitchCallEventKind.RECORDING_STOPPED,
    ):
        return None
    detail = ev.detail or ""
    if not detail.startswith(PREFIX):
        return None
    return detail[len(PREFIX) :].strip() or None


class VoicemailBook:
    """Turns voicemail recording reports into stored voicemails."""

    def __init__(self, store: VoicemailStore) -> None:
        self.store = store
        self._started: dict[str, _Started] = {}
        self.saved = 0

    async def report(
        self, switch_id: str, ev: SwitchCallEvent, *, caller: str | None
    ) -> VoicemailView | None:
        """Handle a ``recording_started`` / ``recording_stopped`` report of a call
        (``caller``: its caller number when known); returns the voicemail stored by a
        ``recording_stopped``."""
        value = voicemail_detail(ev)
        if value is None:
            return None
        if ev.kind is SwitchCallEventKind.RECORDING_STARTED:
            if len(self._started) >= _MAX_PENDING:  # recordings never reported stopped
                self._started.pop(next(iter(self._started)))
            self._started[ev.call_id] = _Started(ev.node or value, ev.at)
            return None
        started = self._started.pop(ev.call_id, None)
        mailbox = ev.node or (started.mailbox if started is not None else "")
        seconds = max(0.0, ev.at - started.at) if started is not None else None
        view = await asyncio.to_thread(
            self.store.save,
            ev.call_id,
            value[:255],
            at=ev.at,
            switch_id=switch_id,
            caller_number=caller or "",
            mailbox=mailbox,
            seconds=seconds,
        )
        self.saved += 1
        log.info("%s: voicemail %s stored for mailbox %s", ev.call_id, value, mailbox or "-")
        return view
