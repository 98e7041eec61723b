"""Audio backends of the softphone: where the conference bridge's audio comes from and
goes to.

The pjsua2 bridge runs on the null sound device; its clock thread exchanges 20 ms frames
with :class:`MediaBuffers` (two ``collections.deque``s, the only thing shared between
threads). On the GUI thread, the softphone's 10 ms tick moves frames between those
buffers and an :class:`AudioBackend`:

* :class:`QtAudioBackend`: microphone (``QAudioSource``), speaker and ringer
  (``QAudioSink``) from QtMultimedia, chosen by id from ``QMediaDevices``. Without
  devices it reports ``no device`` and the calls go on (nothing is heard).
* :class:`BufferBackend`: in memory — PCM fed to send, PCM captured as received (tests
  and the loop test).
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Protocol

from PySide6.QtCore import QIODevice
from PySide6.QtMultimedia import QAudioDevice, QAudioFormat, QAudioSink, QAudioSource, QMediaDevices

from agent_desktop.softphone import pcm
from agent_desktop.softphone.types import NO_DEVICE, AudioDevice, AudioDevices, DeviceCheck

log = logging.getLogger("softphone.audio")

MIC_QUEUE = 10  # frames (200 ms) waiting for the bridge; older ones are dropped
SPEAKER_QUEUE = 25


class MediaBuffers:
    """Frames between the bridge's clock thread and the GUI thread (deques only)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.frame_bytes = pcm.frame_bytes(rate)
        self.mic: collections.deque[bytes] = collections.deque(maxlen=MIC_QUEUE)
        self.speaker: collections.deque[bytes] = collections.deque(maxlen=SPEAKER_QUEUE)


class AudioBackend(Protocol):
    """What the softphone needs from the sound hardware (or its stand-in)."""

    def open(self, rate: int) -> None:
        """Start capturing/playing 16-bit mono PCM at ``rate``."""

    def close(self) -> None: ...

    def read_mic(self, max_bytes: int) -> bytes:
        """Microphone PCM captured since the last call (at most ``max_bytes``)."""

    def play(self, data: bytes) -> None:
        """PCM for the speaker."""

    def set_ringing(self, on: bool) -> None: ...

    def pump(self) -> None:
        """Called every tick on the GUI thread (refill the ringer …)."""

    def devices(self) -> AudioDevices: ...

    def select(self, mic: str | None, speaker: str | None, ringer: str | None) -> None:
        """Choose devices by id (None: the system default); ``ValueError`` if unknown."""

    def check(self) -> DeviceCheck: ...


class BufferBackend:
    """In-memory audio: :meth:`send` queues PCM for the microphone side (delivered in
    real time, 20 ms per frame), :attr:`received` collects what the speaker would play,
    :attr:`ring_changes` records the ringer switching on/off."""

    def __init__(self) -> None:
        self.rate = 8000
        self.pending = bytearray()
        self.received = bytearray()
        self.ringing = False
        self.ring_changes: list[bool] = []
        self.opened = False
        self._last_read: float | None = None

    def open(self, rate: int) -> None:
        self.rate = rate
        self.opened = True

    def close(self) -> None:
        self.opened = False

    def send(self, data: bytes) -> None:
        """Queue PCM (16-bit mono at the bridge rate) to be 'spoken' into the call."""
        self.pending += data

    def clear(self) -> None:
        self.pending.clear()
        self.received.clear()

    def read_mic(self, max_bytes: int) -> bytes:
        now = time.monotonic()
        last = self._last_read if self._last_read is not None else now - 0.02
        self._last_read = now
        # real time: as many bytes as elapsed since the last read, within the room left
        due = min(max_bytes, int((now - last) * self.rate) * 2 + pcm.frame_bytes(self.rate))
        due -= due % 2
        chunk = bytes(self.pending[:due])
        del self.pending[:due]
        return chunk

    def play(self, data: bytes) -> None:
        self.received += data

    def set_ringing(self, on: bool) -> None:
        if on != self.ringing:
            self.ringing = on
            self.ring_changes.append(on)

    def pump(self) -> None:
        return None

    def devices(self) -> AudioDevices:
        memory = (AudioDevice("memory", "In-memory buffer", True),)
        return AudioDevices(memory, memory, memory)

    def select(self, mic: str | None, speaker: str | None, ringer: str | None) -> None:
        for choice in (mic, speaker, ringer):
            if choice not in (None, "memory"):
                raise ValueError(f"unknown audio device {choice!r}")

    def check(self) -> DeviceCheck:
        return DeviceCheck("In-memory buffer", "In-memory buffer", "In-memory buffer")


class QtAudioBackend:
    """QtMultimedia devices: mic (``QAudioSource``), speaker and ringer (``QAudioSink``),
    push mode, polled from the softphone's tick. Any device missing or failing to open
    is reported by :meth:`check` and skipped."""

    RATES = (8000, 16000, 48000)

    def __init__(self) -> None:
        self.rate = 8000
        self._wanted: dict[str, str | None] = {"mic": None, "speaker": None, "ringer": None}
        self._source: QAudioSource | None = None
        self._source_io: QIODevice | None = None
        self._sink: QAudioSink | None = None
        self._sink_io: QIODevice | None = None
        self._ring_sink: QAudioSink | None = None
        self._ring_io: QIODevice | None = None
        self._device_rates: dict[str, int] = {}
        self._problems: list[str] = []
        self._names = {"mic": NO_DEVICE, "speaker": NO_DEVICE, "ringer": NO_DEVICE}
        self._ringing = False
        self._ring_data = b""
        self._ring_pos = 0
        self._opened = False

    # --- devices ------------------------------------------------------------------

    @staticmethod
    def _id(device: QAudioDevice) -> str:
        return bytes(device.id().data()).decode(errors="replace")

    def _listing(
        self, devices: list[QAudioDevice], default: QAudioDevice
    ) -> tuple[AudioDevice, ...]:
        default_id = None if default.isNull() else self._id(default)
        return tuple(
            AudioDevice(self._id(d), d.description(), self._id(d) == default_id) for d in devices
        )

    def devices(self) -> AudioDevices:
        inputs = self._listing(QMediaDevices.audioInputs(), QMediaDevices.defaultAudioInput())
        outputs = self._listing(QMediaDevices.audioOutputs(), QMediaDevices.defaultAudioOutput())
        return AudioDevices(inputs, outputs, outputs)

    def _find(self, role: str) -> QAudioDevice | None:
        if role == "mic":
            devices, default = QMediaDevices.audioInputs(), QMediaDevices.defaultAudioInput()
        else:
            devices, default = QMediaDevices.audioOutputs(), QMediaDevices.defaultAudioOutput()
        wanted = self._wanted[role]
        if wanted is None:
            return None if default.isNull() else default
        for device in devices:
            if wanted in (self._id(device), device.description()):
                return device
        return None

    def select(self, mic: str | None, speaker: str | None, ringer: str | None) -> None:
        listing = self.devices()
        for choice, options, what in (
            (mic, listing.mics, "microphone"),
            (speaker, listing.speakers, "speaker"),
            (ringer, listing.ringers, "ringer"),
        ):
            if choice is not None and not any(choice in (d.id, d.description) for d in options):
                raise ValueError(f"unknown {what} {choice!r}")
        self._wanted = {"mic": mic, "speaker": speaker, "ringer": ringer}
        if self._opened:
            ringing = self._ringing
            self.close()
            self.open(self.rate)
            self.set_ringing(ringing)

    # --- open / close -------------------------------------------------------------

    def _format(self, device: QAudioDevice) -> QAudioFormat | None:
        for rate in self.RATES:
            fmt = QAudioFormat()
            fmt.setSampleRate(rate)
            fmt.setChannelCount(1)
            fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
            if device.isFormatSupported(fmt):
                return fmt
        return None

    def open(self, rate: int) -> None:
        self.rate = rate
        self._opened = True
        self._ringing = False
        self._problems = []
        self._names = {"mic": NO_DEVICE, "speaker": NO_DEVICE, "ringer": NO_DEVICE}
        for role in ("mic", "speaker", "ringer"):
            device = self._find(role)
            if device is None:
                self._problems.append(f"{role}: {NO_DEVICE}")
                continue
            fmt = self._format(device)
            if fmt is None:
                self._problems.append(f"{role}: no 16-bit mono format")
                continue
            self._names[role] = device.description()
            self._device_rates[role] = fmt.sampleRate()
            if role == "mic":
                self._source = QAudioSource(device, fmt)
                self._source_io = self._source.start()
            elif role == "speaker":
                self._sink = QAudioSink(device, fmt)
                self._sink_io = self._sink.start()
            else:
                self._ring_sink = QAudioSink(device, fmt)
                self._ring_data = pcm.ring_pattern(fmt.sampleRate())
        for problem in self._problems:
            log.warning("audio %s", problem)

    def close(self) -> None:
        for device in (self._source, self._sink, self._ring_sink):
            if device is not None:
                device.stop()
        self._source = None
        self._sink = self._ring_sink = None
        self._source_io = self._sink_io = self._ring_io = None
        self._opened = False

    def check(self) -> DeviceCheck:
        if self._opened:
            names, problems = dict(self._names), tuple(self._problems)
        else:
            names = {}
            for role in ("mic", "speaker", "ringer"):
                device = self._find(role)
                names[role] = device.description() if device is not None else NO_DEVICE
            problems = tuple(f"{r}: {NO_DEVICE}" for r, n in names.items() if n == NO_DEVICE)
        return DeviceCheck(names["mic"], names["speaker"], names["ringer"], problems)

    # --- audio --------------------------------------------------------------------

    def read_mic(self, max_bytes: int) -> bytes:
        if self._source_io is None:
            return b""
        data = bytes(self._source_io.readAll().data())
        return pcm.resample(data, self._device_rates.get("mic", self.rate), self.rate)

    def play(self, data: bytes) -> None:
        if self._sink_io is None:
            return
        out = pcm.resample(data, self.rate, self._device_rates.get("speaker", self.rate))
        self._sink_io.write(out)

    def set_ringing(self, on: bool) -> None:
        if on == self._ringing:
            return
        self._ringing = on
        if self._ring_sink is None:
            return
        if on:
            self._ring_pos = 0
            self._ring_io = self._ring_sink.start()
        else:
            self._ring_sink.stop()
            self._ring_io = None

    def pump(self) -> None:
        if self._ring_io is None or self._ring_sink is None or not self._ring_data:
            return
        free = int(self._ring_sink.bytesFree())
        while free > 1:
            chunk = self._ring_data[self._ring_pos : self._ring_pos + free]
            chunk = chunk[: len(chunk) - len(chunk) % 2]
            if not chunk:
                break
            written = int(self._ring_io.write(chunk))
            if written <= 0:
                break
            free -= written
            self._ring_pos = (self._ring_pos + written) % len(self._ring_data)
