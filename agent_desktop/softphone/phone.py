"""The agent's softphone: one SIP account on the switch, up to 4 calls, audio through a
pjsua2 ``AudioMediaPort`` bridged to an :class:`AudioBackend`.

Threads: every pjsua2 callback (registration, incoming call, call and media state) runs
on the GUI thread inside the 10 ms tick (see ``engine``); only the ``bridge.BridgePort``'s
frame callbacks run on the media clock thread and they only touch deques.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from agent_desktop.softphone import pcm
from agent_desktop.softphone.audio import AudioBackend, MediaBuffers, QtAudioBackend
from agent_desktop.softphone.bridge import BridgePort
from agent_desktop.softphone.engine import CLOCK_RATE, Engine, engine
from agent_desktop.softphone.types import (
    DTMF_DIGITS,
    MAX_CALLS,
    AudioDevices,
    DeviceCheck,
    SoftCall,
    SoftphoneConfig,
    SoftphoneError,
    TestCallResult,
    UnknownCallError,
)

log = logging.getLogger("softphone")

CALL_ID_HEADER = "x-opencc-call-id"
TICK_MS = 10
LEVEL_EVERY = 10  # ticks (100 ms)
MIC_TARGET = 4  # frames kept queued for the bridge
BACKOFF_FIRST = 2.0
BACKOFF_MAX = 60.0


def header_value(message: str, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive) in a raw SIP message."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    wanted = name.lower()
    for line in head.split("\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == wanted:
            return value.strip()
    return None


def remote_party(uri: str) -> str:
    """Display name, else the user part, else the URI itself."""
    text = uri.strip()
    if text.startswith('"') and '"' in text[1:]:
        name = text[1 : text.index('"', 1)].strip()
        if name:
            return name
    if "<" in text:
        before = text.split("<", 1)[0].strip()
        if before:
            return before
        text = text.split("<", 1)[1].split(">", 1)[0]
    text = text.split(";", 1)[0]
    if ":" in text:
        text = text.split(":", 1)[1]
    return text.split("@", 1)[0] or uri


def route_address(host: str, port: int) -> str:
    """The local address the OS would use to reach ``host`` (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))
            return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, phone: Softphone) -> None:
        super().__init__()
        self.phone: Softphone | None = phone

    # A Python exception must never cross back into pjsua (C frames): log it instead.

    def onRegState(self, prm: object) -> None:
        if self.phone is None:
            return
        try:
            self.phone._on_reg_state(
                int(prm.code),  # type: ignore[attr-defined]
                str(prm.reason),  # type: ignore[attr-defined]
                int(prm.expiration),  # type: ignore[attr-defined]
            )
        except Exception:
            log.exception("registration callback failed")

    def onIncomingCall(self, prm: object) -> None:
        if self.phone is None:
            return
        try:
            call_id = int(prm.callId)  # type: ignore[attr-defined]
            self.phone._on_incoming(self, call_id, str(prm.rdata.wholeMsg))  # type: ignore[attr-defined]
        except Exception:
            log.exception("incoming call callback failed")


class _Call(pj.Call):  # type: ignore[misc]
    def __init__(self, account: _Account, call_id: int, key: str) -> None:
        super().__init__(account, call_id)
        self.key = key
        self.phone: Softphone | None = account.phone
        self.state = "ringing"
        self.soft: SoftCall | None = None
        self.refused = False

    def onCallState(self, prm: object) -> None:
        if self.phone is None:
            return
        try:
            self.phone._on_call_state(self)
        except Exception:
            log.exception("call state callback failed")

    def onCallMediaState(self, prm: object) -> None:
        if self.phone is None:
            return
        try:
            self.phone._on_media_state(self)
        except Exception:
            log.exception("media state callback failed")


@dataclass
class _Session:
    """The pjsua2 objects of one started softphone (Qt-free so that the engine can
    release them at exit even after the QObject is gone)."""

    engine: Engine
    transport_id: int | None = None
    account: _Account | None = None
    port: BridgePort | None = None
    calls: dict[str, _Call] = field(default_factory=dict)

    def release(self) -> None:
        """Free calls, account, port and transport (in that order)."""
        for call in list(self.calls.values()):
            call.phone = None
            if call.isActive():
                try:
                    call.hangup(pj.CallOpParam(True))
                except pj.Error as exc:
                    log.info("hang-up at release failed: %s", exc.info())
        if self.calls:
            self.engine.pump_for(
                0.5, until=lambda: not any(c.isActive() for c in self.calls.values())
            )
        self.calls.clear()
        if self.account is not None:
            self.account.phone = None
            try:
                self.account.shutdown()
            except pj.Error as exc:
                log.info("account shutdown failed: %s", exc.info())
            self.account = None
        if self.port is not None:
            self.engine.give_back_port(self.port)
            self.port = None
        if self.transport_id is not None:
            try:
                self.engine.ep.transportClose(self.transport_id)
            except pj.Error as exc:
                log.info("transport close failed: %s", exc.info())
            self.transport_id = None


class Softphone(QObject):
    """The agent's SIP phone (see docs/desktop.md, "Softphone")."""

    registration_changed = Signal(bool, str)
    incoming = Signal(object)  # SoftCall
    call_changed = Signal(str, str)  # key, ringing | confirmed | held | disconnected
    levels = Signal(float, float)  # mic, speaker (0..1)

    def __init__(self, backend: AudioBackend | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.backend: AudioBackend = backend if backend is not None else QtAudioBackend()
        self._engine: Engine | None = None
        self._session: _Session | None = None
        self._buffers = MediaBuffers(CLOCK_RATE)
        self._config: SoftphoneConfig | None = None
        self._registered = False
        self._stopping = False
        self._unregister_answered = False
        self._muted = False
        self._failures = 0
        self._counter = 0
        self._ticks = 0
        self._mic_level = self._speaker_level = 0.0
        self._mic_peak: list[bytes] = []
        self._speaker_peak: list[bytes] = []
        self._partial = b""
        self._in_test = False
        self.gui_thread = threading.get_ident()
        self.backoff_first = BACKOFF_FIRST
        """First re-register delay after a failure (doubles up to ``BACKOFF_MAX``)."""
        self.off_thread_callbacks = 0
        """pjsua2 callbacks seen on another thread than the GUI thread (must stay 0)."""
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self._reregister)

    # --- properties ---------------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self._registered

    @property
    def muted(self) -> bool:
        return self._muted

    @property
    def started(self) -> bool:
        return self._session is not None and self._session.account is not None

    def calls(self) -> list[SoftCall]:
        """Live calls (ringing, answered or held), oldest first."""
        if self._session is None:
            return []
        return [c.soft for c in self._session.calls.values() if c.soft is not None]

    def call_state(self, key: str) -> str:
        return self._call(key).state

    # --- media --------------------------------------------------------------------

    def _ensure_media(self) -> _Session:
        if self._session is None:
            self._engine = engine()
            self._session = _Session(self._engine)
            self._engine.attach(id(self), self._session.release)
            self._session.port = self._engine.take_port(self._buffers)
            self._session.port.muted = self._muted
            self.backend.open(CLOCK_RATE)
            self._timer.start()
        return self._session

    def _tick(self) -> None:
        if self._engine is None:
            return
        self._engine.poll()
        self._move_audio()

    def _move_audio(self) -> None:
        buffers = self._buffers
        room = (MIC_TARGET - len(buffers.mic)) * buffers.frame_bytes
        if room > 0:
            data = self._partial + self.backend.read_mic(room)
            size = buffers.frame_bytes
            whole = len(data) - len(data) % size
            for start in range(0, whole, size):
                frame = data[start : start + size]
                buffers.mic.append(frame)
                self._mic_peak.append(frame)
            self._partial = data[whole:]
        while buffers.speaker:
            frame = buffers.speaker.popleft()
            self._speaker_peak.append(frame)
            self.backend.play(frame)
        self.backend.pump()
        self._ticks += 1
        if self._ticks % LEVEL_EVERY == 0:
            mic = 0.0 if self._muted else pcm.level(b"".join(self._mic_peak))
            speaker = pcm.level(b"".join(self._speaker_peak))
            self._mic_peak.clear()
            self._speaker_peak.clear()
            if (mic, speaker) != (self._mic_level, self._speaker_level):
                self._mic_level, self._speaker_level = mic, speaker
                self.levels.emit(mic, speaker)

    # --- registration -------------------------------------------------------------

    def start(self, config: SoftphoneConfig) -> None:
        """Create the SIP transport and account and register (retried with backoff)."""
        if self.started:
            raise SoftphoneError("the softphone is already started")
        session = self._ensure_media()
        self._config = config
        self._stopping = False
        local = config.local_host or route_address(config.registrar_host, config.registrar_port)
        transport = pj.TransportConfig()
        transport.port = config.local_port
        transport.publicAddress = local
        try:
            session.transport_id = session.engine.ep.transportCreate(
                pj.PJSIP_TRANSPORT_UDP, transport
            )
        except pj.Error as exc:
            raise SoftphoneError(f"cannot open SIP port {config.local_port}: {exc.info()}") from exc
        account_config = pj.AccountConfig()
        name = f'"{config.display_name}" ' if config.display_name else ""
        account_config.idUri = f"{name}<{config.aor}>"
        account_config.regConfig.registrarUri = config.registrar_uri
        account_config.regConfig.timeoutSec = config.expires
        account_config.regConfig.retryIntervalSec = 0  # our own backoff
        account_config.regConfig.firstRetryIntervalSec = 0
        account_config.regConfig.dropCallsOnFail = False
        account_config.regConfig.unregWaitMsec = 500
        account_config.sipConfig.transportId = session.transport_id
        account_config.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", config.realm or "*", config.user, 0, config.password)
        )
        account_config.natConfig.contactRewriteUse = 0
        account_config.natConfig.viaRewriteUse = 0
        account_config.natConfig.sdpNatRewriteUse = 0
        account_config.mediaConfig.transportConfig.publicAddress = local
        account = _Account(self)
        try:
            account.create(account_config)
        except pj.Error as exc:
            session.engine.ep.transportClose(session.transport_id)
            session.transport_id = None
            raise SoftphoneError(f"cannot create the SIP account: {exc.info()}") from exc
        session.account = account
        info = session.engine.ep.transportGetInfo(session.transport_id)
        log.info(
            "softphone %s registering at %s from %s",
            config.aor,
            config.registrar_uri,
            info.localName,
        )

    def _on_reg_state(self, code: int, reason: str, expiration: int) -> None:
        self._check_thread()
        if self._stopping:
            if code in (401, 407):  # the challenge of the un-REGISTER, answered by pjsip
                return
            self._unregister_answered = True
            log.info("unregistered: %d %s", code, reason)
            return
        ok = 200 <= code < 300 and expiration > 0
        detail = f"{code} {reason}".strip()
        self._registered = ok
        if ok:
            self._failures = 0
            self._retry.stop()
        else:
            self._failures += 1
            delay = min(BACKOFF_MAX, self.backoff_first * 2 ** (self._failures - 1))
            delay *= random.uniform(0.8, 1.2)
            log.warning("registration failed (%s): retry in %.1f s", detail, delay)
            self._retry.start(int(delay * 1000))
        self.registration_changed.emit(ok, detail)

    def _reregister(self) -> None:
        session = self._session
        if session is None or session.account is None or self._stopping:
            return
        try:
            session.account.setRegistration(True)
        except pj.Error as exc:
            self._on_reg_state(0, f"register failed: {exc.info()}", 0)

    # --- calls --------------------------------------------------------------------

    def _check_thread(self) -> None:
        if threading.get_ident() != self.gui_thread:
            self.off_thread_callbacks += 1

    def _on_incoming(self, account: _Account, call_id: int, whole_msg: str) -> None:
        self._check_thread()
        session = self._session
        if session is None:
            return
        self._counter += 1
        key = f"sip-{self._counter}"
        call = _Call(account, call_id, key)
        session.calls[key] = call  # kept until its DISCONNECTED callback
        live = [c for c in session.calls.values() if not c.refused and c is not call]
        if len(live) >= MAX_CALLS:
            call.refused = True
            log.warning(
                "refused a new call with 486 Busy Here: the softphone takes at most %d calls",
                MAX_CALLS,
            )
            self._respond(call, 486)
            return
        info = call.getInfo()
        cti_call_id = header_value(whole_msg, CALL_ID_HEADER)
        call.soft = SoftCall(key, cti_call_id, remote_party(info.remoteUri), info.remoteUri)
        self._respond(call, 180)
        log.info("incoming call %s from %s (CTI call %s)", key, info.remoteUri, cti_call_id)
        self.incoming.emit(call.soft)
        self.call_changed.emit(key, "ringing")
        self._update_ringer()

    @staticmethod
    def _respond(call: _Call, status: int) -> None:
        param = pj.CallOpParam(True)
        param.statusCode = status
        try:
            call.answer(param)
        except pj.Error as exc:
            log.warning("answering %s with %d failed: %s", call.key, status, exc.info())

    def _on_call_state(self, call: _Call) -> None:
        self._check_thread()
        info = call.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and call.state == "ringing":
            self._set_state(call, "confirmed")
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            log.info("call %s ended (%s %s)", call.key, info.lastStatusCode, info.lastReason)
            call.phone = None
            if self._session is not None:
                # drop pjsua2's Call here, in its DISCONNECTED callback (pjsua2 rule)
                self._session.calls.pop(call.key, None)
            if not call.refused:
                self._set_state(call, "disconnected")
        self._update_ringer()

    def _set_state(self, call: _Call, state: str) -> None:
        if call.state == state:
            return
        call.state = state
        self.call_changed.emit(call.key, state)

    def _on_media_state(self, call: _Call) -> None:
        self._check_thread()
        session = self._session
        if session is None or session.port is None:
            return
        info = call.getInfo()
        held = False
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            if media.status in (pj.PJSUA_CALL_MEDIA_LOCAL_HOLD, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                held = True
            if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                audio = call.getAudioMedia(index)
                audio.startTransmit(session.port)
                if not self._muted:
                    session.port.startTransmit(audio)
        if call.state in ("confirmed", "held"):
            self._set_state(call, "held" if held else "confirmed")

    def _update_ringer(self) -> None:
        session = self._session
        ringing = session is not None and any(
            c.state == "ringing" and not c.refused and c.soft is not None
            for c in session.calls.values()
        )
        self.backend.set_ringing(ringing)

    def _call(self, key: str) -> _Call:
        session = self._session
        call = session.calls.get(key) if session is not None else None
        if call is None or call.soft is None:
            raise UnknownCallError(key)
        return call

    def answer(self, key: str) -> None:
        """200 OK on a ringing call (the switch bridges when the agent leg answers)."""
        call = self._call(key)
        if call.state != "ringing":
            raise SoftphoneError(f"call {key} is not ringing ({call.state})")
        param = pj.CallOpParam(True)
        param.statusCode = 200
        try:
            call.answer(param)
        except pj.Error as exc:
            raise SoftphoneError(f"answer failed: {exc.info()}") from exc
        self.backend.set_ringing(False)

    def hangup(self, key: str) -> None:
        """Decline a ringing call (603) or end an answered one (BYE)."""
        call = self._call(key)
        param = pj.CallOpParam(True)
        if call.state == "ringing":
            param.statusCode = 603
        try:
            call.hangup(param)
        except pj.Error as exc:
            raise SoftphoneError(f"hang-up failed: {exc.info()}") from exc

    def set_mute(self, muted: bool) -> None:
        """Stop (or resume) feeding the microphone into every call; not a hold."""
        self._muted = muted
        session = self._session
        if session is None or session.port is None:
            return
        session.port.muted = muted
        self._buffers.mic.clear()
        for call in session.calls.values():
            if call.soft is None or call.state not in ("confirmed", "held"):
                continue
            info = call.getInfo()
            for index, media in enumerate(info.media):
                if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status not in (
                    pj.PJSUA_CALL_MEDIA_ACTIVE,
                    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
                ):
                    continue
                audio = call.getAudioMedia(index)
                if muted:
                    session.port.stopTransmit(audio)
                else:
                    session.port.startTransmit(audio)

    def send_dtmf(self, key: str, digits: str) -> None:
        """RFC 4733 digits on an answered call; only ``0-9 * # A-D`` (``ValueError``)."""
        if not digits or any(d not in DTMF_DIGITS for d in digits):
            raise ValueError(f"not DTMF digits: {digits!r} (allowed: 0-9 * # A-D)")
        call = self._call(key)
        if call.state not in ("confirmed", "held"):
            raise SoftphoneError(f"call {key} is not answered ({call.state})")
        param = pj.CallSendDtmfParam()
        param.method = pj.PJSUA_DTMF_METHOD_RFC2833
        param.digits = digits
        try:
            call.sendDtmf(param)
        except pj.Error as exc:
            raise SoftphoneError(f"DTMF failed: {exc.info()}") from exc

    # --- devices and the loop test -------------------------------------------------

    def devices(self) -> AudioDevices:
        return self.backend.devices()

    def set_devices(self, mic: str | None, speaker: str | None, ringer: str | None) -> None:
        """Choose devices by id or description (None: system default)."""
        self.backend.select(mic, speaker, ringer)

    def device_check(self) -> DeviceCheck:
        return self.backend.check()

    def test_call(self, seconds: float = 0.6, frequency: float = 1000.0) -> TestCallResult:
        """Local loop test (no SIP): a tone goes into the conference bridge through the
        softphone's port, loops back out of it to the speaker side (the agent hears it)
        and is measured. Blocks the caller for about ``seconds``."""
        session = self._ensure_media()
        devices = self.backend.check()
        if self._in_test:
            return TestCallResult(
                False, "busy", "a test is running", frequency, None, None, devices
            )
        if any(c.soft is not None for c in session.calls.values()):
            return TestCallResult(
                False, "busy", "a call is in progress", frequency, None, None, devices
            )
        port = session.port
        assert port is not None
        self._in_test = True
        rate = self._buffers.rate
        size = self._buffers.frame_bytes
        signal = pcm.tone(frequency, seconds, rate, amplitude=8000)
        frames = [signal[i : i + size] for i in range(0, len(signal) - size + 1, size)]
        heard = bytearray()
        first_sent: float | None = None
        first_heard: float | None = None
        was_muted = port.muted
        port.muted = False
        self._buffers.mic.clear()
        self._buffers.speaker.clear()
        port.startTransmit(port)
        try:
            deadline = time.monotonic() + seconds + 0.4
            while time.monotonic() < deadline:
                while frames and len(self._buffers.mic) < MIC_TARGET:
                    self._buffers.mic.append(frames.pop(0))
                    if first_sent is None:
                        first_sent = time.monotonic()
                session.engine.ep.libHandleEvents(5)
                while self._buffers.speaker:
                    frame = self._buffers.speaker.popleft()
                    self.backend.play(frame)
                    if first_heard is None and pcm.tone_amplitude(frame, frequency, rate) > 1000:
                        first_heard = time.monotonic()
                    if first_heard is not None:
                        heard += frame
                if not frames and first_heard is not None and len(heard) >= len(signal) // 2:
                    break
        finally:
            port.stopTransmit(port)
            port.muted = was_muted or self._muted
            self._in_test = False
        heard_hz = pcm.dominant_frequency(bytes(heard), rate) if len(heard) >= size * 5 else None
        delay = (
            (first_heard - first_sent) * 1000
            if first_heard is not None and first_sent is not None
            else None
        )
        ok = heard_hz is not None and abs(heard_hz - frequency) <= 10
        if not ok:
            code, detail = "no_tone", "the test tone did not come back through the audio bridge"
        elif devices.problems:
            code, detail = "no_device", "audio bridge works; " + "; ".join(devices.problems)
        else:
            code, detail = "ok", "audio bridge and devices work"
        log.info("test call: %s (heard %s Hz after %s ms)", detail, heard_hz, delay)
        return TestCallResult(ok, code, detail, frequency, heard_hz, delay, devices)

    # --- shutdown -----------------------------------------------------------------

    def shutdown(self) -> None:
        """Hang up every call, unregister, free the pjsua2 objects; idempotent."""
        session = self._session
        if session is None:
            return
        self._stopping = True
        self._retry.stop()
        for call in list(session.calls.values()):
            if call.isActive():
                try:
                    call.hangup(pj.CallOpParam(True))
                except pj.Error as exc:
                    log.info("hang-up at shutdown failed: %s", exc.info())
        session.engine.pump_for(1.0, until=lambda: not session.calls)
        if session.account is not None and self._registered:
            try:
                self._unregister_answered = False
                session.account.setRegistration(False)
                session.engine.pump_for(1.0, until=lambda: self._unregister_answered)
            except pj.Error as exc:
                log.info("unregister failed: %s", exc.info())
        was_registered = self._registered
        self._registered = False
        self._timer.stop()
        session.release()
        session.engine.detach(id(self))
        self.backend.set_ringing(False)
        self.backend.close()
        self._session = None
        self._engine = None
        self._buffers.mic.clear()
        self._buffers.speaker.clear()
        log.info("softphone stopped")
        if was_registered:
            self.registration_changed.emit(False, "unregistered")
