"""Helpers of the queue-feature and voicemail tests: tone prompts, a switch with options."""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest_asyncio

from cti_server.switch.core import SwitchApp, SwitchAppConfig
from cti_server.switch.core.b2bua import FlowSource
from cti_server.switch.core.queue import QueueFeatures
from cti_server.switch.media.process import RtpEngineConfig
from cti_server.switch.media.rtp import dominant_frequency
from cti_server.switch.media.testing import Leg
from cti_server.switch.ports import LookupResult
from shared.ivr import Flow, parse_flow
from tests.cti_server.switch.core.conftest import _credentials
from tests.cti_server.switch.core.core_support import FAST, RecordingDecider


def write_tone(path: Path, frequency: float, seconds: float, amplitude: int = 9000) -> Path:
    """An 8 kHz mono 16-bit WAV of a sine tone (a distinctive "prompt")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = round(seconds * 8000)
    samples = [
        round(amplitude * math.sin(2 * math.pi * frequency * i / 8000)) for i in range(count)
    ]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(struct.pack(f"<{count}h", *samples))
    return path


def tone_prompts(root: Path, tones: Mapping[str, tuple[float, float]]) -> Path:
    """``root/en/<id>.wav`` for every ``id → (frequency, seconds)``; returns ``root``."""
    for prompt_id, (frequency, seconds) in tones.items():
        write_tone(root / "en" / f"{prompt_id}.wav", frequency, seconds)
    (root / "zh").mkdir(parents=True, exist_ok=True)
    return root


def queue_flow(queue_id: str = "q_sales") -> Flow:
    return parse_flow(
        {
            "id": "direct",
            "entry": "q",
            "language": "en",
            "nodes": {"q": {"kind": "queue", "queue": queue_id}},
        }
    )


def fixed(flow: Flow) -> FlowSource:
    def source(flow_id: str | None, version: int | None) -> Flow:
        return flow

    return source


@dataclass
class LookupDecider(RecordingDecider):
    """RecordingDecider whose look-ups answer from a table (service → result)."""

    lookup_answers: dict[str, LookupResult] = field(default_factory=dict)
    lookups: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def lookup(self, call_id: str, service: str, args: Mapping[str, str]) -> LookupResult:
        self.lookups.append((call_id, service, dict(args)))
        return self.lookup_answers.get(service, LookupResult(error="not in this test"))


FeatureSwitch = Callable[..., Awaitable[SwitchApp]]


@pytest_asyncio.fixture
async def feature_switch(rtpengine_binary: str, tmp_path: Path) -> AsyncIterator[FeatureSwitch]:
    """``await feature_switch(decider, flows=…, prompts_dir=…, queues=…)``."""
    apps: list[SwitchApp] = []

    async def factory(
        decider: RecordingDecider | object,
        *,
        flows: FlowSource,
        prompts_dir: Path,
        queues: Mapping[str, QueueFeatures] | None = None,
        queue_default: QueueFeatures | None = None,
        ring_timeout: float = 5.0,
    ) -> SwitchApp:
        config = SwitchAppConfig(
            prompts_dir=prompts_dir,
            moh_file=tmp_path / "moh" / "default.wav",
            sip_host="127.0.0.1",
            sip_port=0,
            rtpengine=RtpEngineConfig(binary=rtpengine_binary, rtp_port_count=60, num_threads=2),
            recordings_dir=tmp_path / "recordings",
            sip_timers=FAST,
            ring_timeout=ring_timeout,
            queues=dict(queues or {}),
            queue_default=queue_default or QueueFeatures(announce_every=0),
        )
        app = SwitchApp(config, decider, _credentials, flows=flows)  # type: ignore[arg-type]
        await app.start()
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.stop()


async def hears_tone(leg: Leg, frequency: float, timeout: float, tolerance: float = 15) -> bool:
    """True once a 100 ms window the leg receives has ``frequency`` as its strongest tone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        leg.received.clear()
        await asyncio.sleep(0.3)
        samples = leg.pcmu_samples()
        for start in range(0, len(samples) - 800, 400):
            window = samples[start : start + 800]
            if abs(dominant_frequency(window, low=300, high=3000) - frequency) <= tolerance:
                return True
    return False


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
