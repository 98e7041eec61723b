"""Voicemail and callback requests: what a flow's ``voicemail`` / ``callback`` nodes do.

**Voicemail** (``RecordVoicemail``, from a flow or a queue overflow). The flow has
played its prompts (ending with ``beep``); then the switch side of the rtpengine
call, which points at the core's media sink during the IVR, is re-answered with
the SDP of a **recorder socket** of its own (the same re-negotiation that moves it
to an agent's phone when one answers). rtpengine then sends exactly the caller's
audio of this call there, already G.711: the recorder decodes PCMU/PCMA and writes
``<voicemail_dir>/<call id>.wav`` (8 kHz mono 16-bit) plus ``<call id>.json``
(mailbox, caller, times, length). Why not rtpengine's own recording: it writes
pcap files with both directions mixed into one file per call under its own
naming, only after the call ends; the tap gives the caller's direction alone, at
once, with no pcap parsing and no extra packages.

Recording ends on ``#`` (rtpengine's DTMF log, SIP INFO or an RFC 4733 packet on
the tap), after ``max_seconds``, or when the caller hangs up. Reports:
``recording_started`` (detail ``voicemail:<mailbox>``, node = mailbox) and
``recording_stopped`` (detail ``voicemail:<file name>``, node = mailbox) before
the caller's ``released``. Unless the caller hung up, ``message_saved`` is played
and the switch hangs up.

**Callback requests** (``RequestCallback``): a ``switch.lookup`` of service
``callback_request`` (args ``number``, ``queue_id``, ``business_selection``,
``tier``, ``caller``) asks the CTI server to store the request; when the server
cannot be asked (standalone mode, link down, error) the request is appended to
``<voicemail_dir>/callbacks.jsonl`` so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cti_server.switch.core.calls import Call
from cti_server.switch.core.ivr_runner import wav_seconds
from cti_server.switch.media.ng import NgError
from cti_server.switch.media.rtp import DTMF_CODES, RtpError, RtpPacket, ulaw_decode
from cti_server.switch.ports import CallReport, Decider, DecisionUnavailable
from cti_server.switch.sip import audio_answer, parse_sdp
from cti_server.switch.sip.sdp import NoCommonCodec, SdpParseError
from shared.ivr.model import Language
from shared.ivr.run import RecordVoicemail, RequestCallback
from shared.protocol.call import ClearCause
from shared.protocol.switch import SwitchCallEventKind

if TYPE_CHECKING:
    from cti_server.switch.core.b2bua import SwitchCore

log = logging.getLogger("switch.core.voicemail")

SAMPLE_RATE: Final = 8000
SAVED_PROMPT: Final = "message_saved"
CALLBACK_SERVICE: Final = "callback_request"
CALLBACK_LOOKUP_TIMEOUT: Final = 5.0
CALLBACKS_FILE: Final = "callbacks.jsonl"
POLL_SECONDS: Final = 0.05
"""How often a recording checks for its end (``#``, hang-up, maximum length)."""


# --- G.711 --------------------------------------------------------------------------


def _alaw_decode_byte(byte: int) -> int:
    byte ^= 0x55
    exponent = (byte & 0x70) >> 4
    mantissa = byte & 0x0F
    base = (mantissa << 4) + (8 if exponent == 0 else 0x108)
    magnitude = base if exponent == 0 else base << (exponent - 1)
    return magnitude if byte & 0x80 else -magnitude


_ALAW = tuple(_alaw_decode_byte(b) for b in range(256))


def alaw_decode(data: bytes) -> list[int]:
    """PCMA bytes → 16-bit linear samples (ITU-T G.711)."""
    return [_ALAW[b] for b in data]


def write_wav(path: Path, samples: list[int]) -> Path:
    """8 kHz mono 16-bit WAV (written to a temporary name, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    tmp.replace(path)
    return path


# --- the tap ------------------------------------------------------------------------


class _Tap(asyncio.DatagramProtocol):
    """Receives the caller's RTP that rtpengine relays to the switch side."""

    def __init__(
        self,
        decoders: Mapping[int, Callable[[bytes], list[int]]],
        event_pt: int | None,
        on_digit: Callable[[str], None],
        max_samples: int,
    ) -> None:
        self.decoders = decoders
        self.event_pt = event_pt
        self.on_digit = on_digit
        self.max_samples = max_samples
        self.samples: list[int] = []
        self.packets = 0
        self._last_event: tuple[int, int] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        self.packets += 1
        decode = self.decoders.get(packet.payload_type)
        if decode is not None:
            room = self.max_samples - len(self.samples)
            if room > 0:
                self.samples.extend(decode(packet.payload)[:room])
        elif packet.payload_type == self.event_pt and len(packet.payload) >= 4:
            code, flags = packet.payload[0], packet.payload[1]
            key = (packet.ssrc, packet.timestamp)
            if flags & 0x80 and code < len(DTMF_CODES) and key != self._last_event:
                self._last_event = key  # the end packet is sent three times
                self.on_digit(DTMF_CODES[code])


_DECODERS: Final[dict[str, Callable[[bytes], list[int]]]] = {
    "PCMU": ulaw_decode,
    "PCMA": alaw_decode,
}


@dataclass(slots=True, eq=False)
class _Session:
    call: Call
    mailbox: str
    max_seconds: float
    business_selection: str | None
    path: Path
    started: float
    transport: asyncio.DatagramTransport
    tap: _Tap
    done: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""
    finished: bool = False


class VoicemailBox:
    """Records voicemail for the core's calls and keeps callback requests (module doc)."""

    def __init__(self, core: SwitchCore, folder: Path | None) -> None:
        self.core = core
        self.folder = folder
        self.sessions: dict[str, _Session] = {}
        self.saved: list[Path] = []
        """WAV files written (diagnostics, tests)."""

    # --- voicemail ----------------------------------------------------------------------

    async def start(self, call: Call, action: RecordVoicemail) -> None:
        """The flow's terminal ``RecordVoicemail`` (lock held): tap the caller's audio."""
        core = self.core
        if self.folder is None:
            detail = "voicemail is not configured (no voicemail folder)"
            core.emit(call, SwitchCallEventKind.FAILED, cause=ClearCause.FAILED, detail=detail)
            await core.hang_up(call, ClearCause.FAILED, detail=detail)
            return
        loop = asyncio.get_running_loop()
        session: _Session | None = None

        def digit(key: str) -> None:
            if key == "#" and session is not None:
                session.reason = "caller pressed #"
                session.done.set()

        try:
            offer = parse_sdp(call.agent_side_offer)
            host = core.sink_address[0]
            transport, tap = await loop.create_datagram_endpoint(
                lambda: _Tap({}, None, digit, round(action.max_seconds * SAMPLE_RATE)),
                local_addr=(host, 0),
            )
            port = int(transport.get_extra_info("sockname")[1])
            answer = audio_answer(offer, host, port)
            media = answer.audio
            assert media is not None
            maps = media.rtpmaps
            codecs = {pt: maps[pt].encoding.upper() for pt in media.formats if pt in maps}
            tap.decoders = {
                int(pt): _DECODERS[name] for pt, name in codecs.items() if name in _DECODERS
            }
            tap.event_pt = next(
                (int(pt) for pt, name in codecs.items() if name == "TELEPHONE-EVENT"), None
            )
            sdp = answer.to_text()
            session = _Session(
                call=call,
                mailbox=action.mailbox,
                max_seconds=action.max_seconds,
                business_selection=action.business_selection,
                path=self.folder / f"{call.call_id}.wav",
                started=time.time(),
                transport=transport,
                tap=tap,
            )
            await core.ng.answer(sdp, call.call_id, call.caller_tag, call.b_tag, core.config.media)
            call.b_side_sdp = sdp
        except (NgError, NoCommonCodec, SdpParseError, OSError) as exc:
            if session is not None:
                session.transport.close()
            detail = f"voicemail failed: {exc}"
            log.warning("%s: %s", call.call_id, detail)
            core.emit(call, SwitchCallEventKind.FAILED, cause=ClearCause.FAILED, detail=detail)
            await core.hang_up(call, ClearCause.FAILED, detail=detail)
            return
        self.sessions[call.call_id] = session
        runner = core.runners.get(call.call_id)
        if runner is not None:
            runner.digit_listener = digit
        self._report(session, SwitchCallEventKind.RECORDING_STARTED, f"voicemail:{action.mailbox}")
        log.info("%s: recording voicemail for %s to %s", call.call_id, action.mailbox, session.path)
        core.spawn(self._run(session), f"voicemail-{call.call_id}")

    async def _run(self, session: _Session) -> None:
        call = session.call
        loop = asyncio.get_running_loop()
        deadline = loop.time() + session.max_seconds
        while not (session.done.is_set() or call.ended) and loop.time() < deadline:
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - loop.time())))
        async with call.lock:
            if session.finished or call.ended:
                self.finish(call, "caller hung up")
                return
            self.finish(call, session.reason or "maximum length reached")
        path = self.core.prompts.path(SAVED_PROMPT, self._language(call))
        if path is not None:
            with contextlib.suppress(NgError):
                ms = await self.core.ng.play_media(call.call_id, call.caller_tag, str(path))
                await asyncio.sleep(ms / 1000 if ms is not None else wav_seconds(path))
        async with call.lock:
            await self.core.hang_up(call, ClearCause.NORMAL, detail="voicemail recorded")

    def _language(self, call: Call) -> Language:
        runner = self.core.runners.get(call.call_id)
        return runner.run.language if runner is not None else "zh"

    def finish(self, call: Call, reason: str) -> Path | None:
        """Stop the call's recording (if any), write the WAV and report it. Synchronous,
        so the core can call it before reporting the caller's ``released``."""
        session = self.sessions.pop(call.call_id, None)
        if session is None or session.finished:
            return None
        session.finished = True
        session.reason = session.reason or reason
        session.done.set()
        session.transport.close()
        samples = session.tap.samples
        try:
            write_wav(session.path, samples)
            meta = {
                "call_id": call.call_id,
                "mailbox": session.mailbox,
                "caller": call.caller,
                "called": call.called,
                "tier": call.tier,
                "business_selection": session.business_selection,
                "started_at": session.started,
                "seconds": round(len(samples) / SAMPLE_RATE, 2),
                "ended_by": session.reason,
                "file": session.path.name,
            }
            session.path.with_suffix(".json").write_text(
                json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
            )
        except OSError as exc:
            log.error("%s: cannot write voicemail %s: %s", call.call_id, session.path, exc)
            self._report(session, SwitchCallEventKind.FAILED, f"voicemail not saved: {exc}")
            return None
        self.saved.append(session.path)
        log.info(
            "%s: voicemail %s saved (%.1f s, %s)",
            call.call_id,
            session.path.name,
            len(samples) / SAMPLE_RATE,
            session.reason,
        )
        self._report(
            session, SwitchCallEventKind.RECORDING_STOPPED, f"voicemail:{session.path.name}"
        )
        return session.path

    def _report(self, session: _Session, kind: SwitchCallEventKind, detail: str) -> None:
        self.core.report(
            CallReport(
                call_id=session.call.call_id,
                kind=kind,
                at=self.core.clock(),
                node=session.mailbox,
                detail=detail,
            )
        )

    def caller_left(self, call: Call) -> None:
        """The caller hung up (before ``released`` is reported): keep what was said."""
        if call.call_id in self.sessions:
            self.finish(call, "caller hung up")

    # --- callback requests --------------------------------------------------------------

    async def request_callback(self, decider: Decider, call: Call, action: RequestCallback) -> str:
        """Pass the request to the CTI server (``callback_request`` look-up), else keep it
        in ``callbacks.jsonl``. Returns ``server``, ``local`` or ``lost``."""
        args = {
            key: value[:256]
            for key, value in {
                "number": action.number,
                "queue_id": action.queue_id,
                "business_selection": action.business_selection,
                "tier": action.tier,
                "caller": call.caller,
            }.items()
            if value
        }
        error: str
        try:
            result = await asyncio.wait_for(
                decider.lookup(call.call_id, CALLBACK_SERVICE, args), CALLBACK_LOOKUP_TIMEOUT
            )
        except (DecisionUnavailable, TimeoutError) as exc:
            error = f"unavailable: {exc}" if str(exc) else "unavailable"
        else:
            if result.error is None:
                log.info("%s: callback request to %s stored by the server", call.call_id, args)
                return "server"
            error = result.error
        if self.folder is None:
            log.error("%s: callback request %s lost: %s", call.call_id, args, error)
            return "lost"
        record = {"call_id": call.call_id, "at": self.core.clock(), "server_error": error, **args}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with (self.folder / CALLBACKS_FILE).open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.error("%s: callback request %s lost: %s", call.call_id, args, exc)
            return "lost"
        log.warning(
            "%s: callback request kept in %s (server: %s)", call.call_id, CALLBACKS_FILE, error
        )
        return "local"


def read_callbacks(folder: Path) -> list[dict[str, object]]:
    """The callback requests kept in ``folder/callbacks.jsonl`` (oldest first)."""
    path = folder / CALLBACKS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


__all__ = [
    "CALLBACK_SERVICE",
    "VoicemailBox",
    "alaw_decode",
    "read_callbacks",
    "write_wav",
]
