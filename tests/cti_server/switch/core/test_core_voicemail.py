"""Voicemail and callback requests on a real switch (R-IVR-3, R-IVR-4).

The caller's RTP leg sends a tone after the beep; the voicemail WAV the switch
writes must contain that tone (Goertzel), and the reports name the file.
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import pytest

from cti_server.switch.core.b2bua import SwitchCore
from cti_server.switch.core.queue import OverflowTarget, QueueFeatures
from cti_server.switch.core.voicemail import alaw_decode, read_callbacks
from cti_server.switch.media.rtp import dominant_frequency, ulaw_decode
from cti_server.switch.ports import LookupResult
from shared.ivr import Flow, Waiting, parse_flow
from shared.ivr.library import callback_confirm_flow
from shared.protocol.switch import SwitchCallEventKind
from tests.cti_server.switch.core.conftest import PhoneFactory
from tests.cti_server.switch.core.core_support import Phone, RecordingDecider
from tests.cti_server.switch.core.features_support import (
    FeatureSwitch,
    LookupDecider,
    feature_switch,  # noqa: F401  (fixture)
    fixed,
    queue_flow,
    tone_prompts,
    until,
)

K = SwitchCallEventKind
VM_TONES = {"leave_message": (500.0, 0.3), "beep": (1000.0, 0.25), "message_saved": (1200.0, 0.3)}


def voicemail_flow(max_seconds: float = 20) -> Flow:
    return parse_flow(
        {
            "id": "vm",
            "entry": "vm",
            "language": "en",
            "nodes": {
                "vm": {
                    "kind": "voicemail",
                    "mailbox": "sales",
                    "prompts": ["leave_message", "beep"],
                    "max_seconds": max_seconds,
                }
            },
        }
    )


def wav_samples(path: Path) -> list[int]:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        data = w.readframes(w.getnframes())
    return [int.from_bytes(data[i : i + 2], "little", signed=True) for i in range(0, len(data), 2)]


def assert_holds_tone(path: Path, frequency: float, min_seconds: float) -> list[int]:
    samples = wav_samples(path)
    assert len(samples) >= min_seconds * 8000, f"only {len(samples) / 8000:.2f} s recorded"
    loud = [s for s in samples if abs(s) > 200]
    assert len(loud) > 0.5 * min_seconds * 8000, "the recording is silent"
    middle = samples[len(samples) // 2 - 1600 : len(samples) // 2 + 1600]
    assert abs(dominant_frequency(middle) - frequency) <= 5
    return samples


async def info_key(phone: Phone, key: str) -> None:
    assert phone.stack is not None and phone.dialog is not None
    response = await phone.stack.request(
        phone.dialog,
        "INFO",
        body=f"Signal={key}\r\nDuration=160\r\n".encode(),
        content_type="application/dtmf-relay",
    )
    assert response.status == 200


def test_core_g711_a_law_decoder_matches_known_values() -> None:
    # ITU-T G.711 A-law: 0xD5 → +8, 0x55 → -8, 0xAA → +32256, 0x2A → -32256
    assert alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])) == [8, -8, 32256, -32256]
    assert ulaw_decode(bytes([0xFF, 0x80]))[0] == 0


@pytest.mark.asyncio
async def test_core_voicemail_from_flow_records_the_caller_until_hash(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-3: prompt + beep, then the caller's 700 Hz tone lands in
    recordings/voicemail/<call id>.wav; '#' (RFC 4733) ends it, "message saved" is
    played and the switch hangs up; recording_started/stopped name mailbox and file."""
    decider = RecordingDecider()
    app = await feature_switch(
        decider,
        flows=fixed(voicemail_flow()),
        prompts_dir=tone_prompts(tmp_path / "prompts", VM_TONES),
    )
    caller = await make_phone("13900000001")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    started = await decider.wait_for(K.RECORDING_STARTED, timeout=6)
    assert (started.detail, started.node) == ("voicemail:sales", "sales")
    runner = app.core.runners[started.call_id]
    assert runner.prompts_played == ["leave_message", "beep"]
    await caller.leg.send(caller.leg.tone_packets(700.0, 1.5), interval=0.02)
    await caller.leg.send(caller.leg.dtmf_packets("#"))
    stopped = await decider.wait_for(K.RECORDING_STOPPED, timeout=5)
    assert stopped.detail == f"voicemail:{started.call_id}.wav"
    await asyncio.wait_for(caller.bye.wait(), 5)
    path = tmp_path / "recordings" / "voicemail" / f"{started.call_id}.wav"
    assert_holds_tone(path, 700.0, 1.2)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert (meta["mailbox"], meta["caller"], meta["ended_by"]) == (
        "sales",
        "13900000001",
        "caller pressed #",
    )
    released = await decider.wait_for(K.RELEASED)
    assert released.detail == "voicemail recorded"


@pytest.mark.asyncio
async def test_core_queue_overflow_to_voicemail_caller_hangs_up(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-2/3: max wait (1 s) → overflow to voicemail: "all agents are busy", leave a
    message, beep; the caller speaks (650 Hz) and hangs up; the WAV is reported before
    the caller's release."""
    decider = RecordingDecider()
    app = await feature_switch(
        decider,
        flows=fixed(queue_flow("q_sales")),
        prompts_dir=tone_prompts(tmp_path / "prompts", {**VM_TONES, "agents_busy": (900.0, 0.2)}),
        queues={
            "q_sales": QueueFeatures(
                announce_every=0,
                max_wait=1.0,
                overflow=OverflowTarget.parse("voicemail:after_hours"),
            )
        },
    )
    caller = await make_phone("13900000002")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    left = await decider.wait_for(K.QUEUE_LEAVE, timeout=6)
    assert left.detail == "overflow voicemail:after_hours"
    started = await decider.wait_for(K.RECORDING_STARTED, timeout=6)
    assert started.node == "after_hours"
    assert app.core.runners[started.call_id].prompts_played == [
        "agents_busy",
        "leave_message",
        "beep",
    ]
    await caller.leg.send(caller.leg.tone_packets(650.0, 1.5), interval=0.02)
    await caller.hang_up()
    await decider.wait_for(K.RELEASED)
    kinds = decider.kinds()
    assert kinds.index(K.RECORDING_STOPPED) < kinds.index(K.RELEASED)
    stopped = decider.find(K.RECORDING_STOPPED)
    assert stopped is not None and stopped.detail == f"voicemail:{started.call_id}.wav"
    assert_holds_tone(tmp_path / "recordings" / "voicemail" / f"{started.call_id}.wav", 650.0, 1.2)


@pytest.mark.asyncio
async def test_core_voicemail_stops_at_max_length(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-3: a 1 s mailbox keeps 1 s of a 2.5 s message, then hangs up."""
    decider = RecordingDecider()
    app = await feature_switch(
        decider,
        flows=fixed(voicemail_flow(max_seconds=1.0)),
        prompts_dir=tone_prompts(tmp_path / "prompts", {}),
    )
    caller = await make_phone("13900000003")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    started = await decider.wait_for(K.RECORDING_STARTED, timeout=6)
    sending = asyncio.ensure_future(
        caller.leg.send(caller.leg.tone_packets(800.0, 2.5), interval=0.02)
    )
    await asyncio.wait_for(caller.bye.wait(), 6)
    await sending
    path = tmp_path / "recordings" / "voicemail" / f"{started.call_id}.wav"
    samples = wav_samples(path)
    assert 0.5 * 8000 <= len(samples) <= 8000
    assert json.loads(path.with_suffix(".json").read_text())["ended_by"] == "maximum length reached"


async def _wait_menu(decider: RecordingDecider, core: SwitchCore, call_id: str, n: int) -> None:
    """Until the run waits for a key and ``n`` ivr_node reports of cb_menu were made."""
    await until(
        lambda: (
            len([r for r in decider.reports if r.kind is K.IVR_NODE and r.node == "cb_menu"]) >= n
            and core.runners[call_id].run.waiting is Waiting.INPUT
        ),
        5,
        f"menu report {n}",
    )


@pytest.mark.asyncio
async def test_core_callback_confirm_other_number_is_sent_to_the_server(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-4: the number is read back, 2 = another number, keyed 13800138000#; the
    switch asks the server (look-up callback_request) with that number and the queue,
    plays the confirmation and hangs up."""
    decider = LookupDecider(lookup_answers={"callback_request": LookupResult(values={"id": "7"})})
    app = await feature_switch(
        decider,
        flows=fixed(callback_confirm_flow("q_billing", "en")),
        prompts_dir=tone_prompts(tmp_path / "prompts", {}),
    )
    caller = await make_phone("13912345678")
    assert await caller.call(app.sip_address) == 200
    call_id = (await decider.wait_for(K.ARRIVED)).call_id
    await _wait_menu(decider, app.core, call_id, 1)
    assert app.core.runners[call_id].prompts_played == []  # no prompt files in this test
    await info_key(caller, "2")
    await until(lambda: app.core.runners[call_id].run.waiting is Waiting.INPUT, 5, "collect")
    for key in "13800138000#":
        await info_key(caller, key)
    await asyncio.wait_for(caller.bye.wait(), 5)
    await until(lambda: any(s == "callback_request" for _, s, _ in decider.lookups), 3, "lookup")
    (_, _, args) = next(entry for entry in decider.lookups if entry[1] == "callback_request")
    assert args == {
        "number": "13800138000",
        "queue_id": "q_billing",
        "business_selection": "callback",
        "caller": "13912345678",
    }
    details = [r.detail for r in decider.reports if r.kind is K.IVR_NODE]
    assert "callback to 13800138000" in details
    assert read_callbacks(tmp_path / "recordings" / "voicemail") == []


@pytest.mark.asyncio
async def test_core_callback_confirm_bad_keys_default_to_the_caller_kept_locally(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-4: three invalid keys (7, 9, *) → two retries, then the caller's own number;
    the server cannot take it (look-up error) → kept in voicemail/callbacks.jsonl."""
    decider = RecordingDecider()  # its look-ups fail
    app = await feature_switch(
        decider,
        flows=fixed(callback_confirm_flow("q_billing", "en")),
        prompts_dir=tone_prompts(tmp_path / "prompts", {}),
    )
    caller = await make_phone("13912345679")
    assert await caller.call(app.sip_address) == 200
    call_id = (await decider.wait_for(K.ARRIVED)).call_id
    for n, key in enumerate("79*", start=1):
        await _wait_menu(decider, app.core, call_id, n)
        await info_key(caller, key)
    await asyncio.wait_for(caller.bye.wait(), 5)
    folder = tmp_path / "recordings" / "voicemail"
    await until(lambda: bool(read_callbacks(folder)), 6, "callbacks.jsonl")
    [kept] = read_callbacks(folder)
    assert (kept["number"], kept["queue_id"], kept["call_id"]) == (
        "13912345679",
        "q_billing",
        call_id,
    )
    details = [r.detail for r in decider.reports if r.kind is K.IVR_NODE and r.node == "cb_menu"]
    assert "invalid, retry 1" in details and "invalid, retry 2" in details
    assert any(d and d.startswith("failed") for d in details)
    await until(lambda: call_id not in app.core.calls, 3, "call ended")
