"""Joined prompts through the real switch (R-IVR-1, issue 5's set-up rate): the prompts
of one step are one ``play media`` of a prepared G.711 copy, and a caller's key still
interrupts them where the flow says so (barge-in).

Real SIP and rtpengine; the prompts are tones so the caller's RTP shows which one
plays. ``play media``/``stop media`` are counted by wrapping the switch's own ng client
(calls pass through to rtpengine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cti_server.switch.core import SwitchApp
from cti_server.switch.media.rtp import dominant_frequency, rms
from cti_server.switch.media.testing import Leg
from shared.ivr import Flow, parse_flow
from shared.protocol.switch import SwitchCallEventKind as K
from tests.cti_server.switch.core.conftest import PhoneFactory
from tests.cti_server.switch.core.core_support import RecordingDecider
from tests.cti_server.switch.core.features_support import (
    FeatureSwitch,
    feature_switch,  # noqa: F401  (fixture)
    fixed,
    hears_tone,
    until,
    write_tone,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

INTRO, OPTIONS, AFTER = 500.0, 900.0, 1300.0


def prompts(root: Path, language: str, intro: float = INTRO) -> Path:
    write_tone(root / language / "intro.wav", intro, 1.5)
    write_tone(root / language / "options.wav", OPTIONS, 3.0)
    write_tone(root / language / "after.wav", AFTER, 3.0)
    return root


def menu_flow(language: str = "en") -> Flow:
    return parse_flow(
        {
            "id": "joined",
            "entry": "menu",
            "language": language,
            "nodes": {
                "menu": {
                    "kind": "menu",
                    "prompts": ["intro", "options"],
                    "options": [{"digit": "1", "next": "q"}],
                    "timeout": 10,
                    "retries": 0,
                    "on_fail": "q",
                },
                "q": {"kind": "queue", "queue": "q_sales", "prompts": ["after"]},
            },
        }
    )


def collect_flow() -> Flow:
    return parse_flow(
        {
            "id": "collect",
            "entry": "account",
            "language": "en",
            "nodes": {
                "account": {
                    "kind": "collect",
                    "prompts": ["intro", "options"],
                    "variable": "account",
                    "max_length": 4,
                    "timeout": 10,
                    "inter_digit_timeout": 10,
                    "next": "bye",
                },
                "bye": {"kind": "hangup"},
            },
        }
    )


def count_media(app: SwitchApp, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(command, file) of every ``play media`` / ``stop media`` the switch sends."""
    ng = app.core.ng
    sent: list[tuple[str, str]] = []

    def spy(name: str, real: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(call_id: str, tag: str, *args: Any, **kwargs: Any) -> Any:
            sent.append((name, str(args[0]) if args else ""))
            return await real(call_id, tag, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(ng, "play_media", spy("play", ng.play_media))
    monkeypatch.setattr(ng, "stop_media", spy("stop", ng.stop_media))
    return sent


async def listen(leg: Leg, seconds: float) -> list[int]:
    leg.received.clear()
    await asyncio.sleep(seconds)
    return leg.pcmu_samples()


def tones_in(samples: list[int]) -> set[int]:
    """Dominant frequency (rounded to 100 Hz) of each loud 100 ms window."""
    found = set()
    for start in range(0, len(samples) - 800, 400):
        window = samples[start : start + 800]
        if rms(window) > 500:
            found.add(round(dominant_frequency(window, low=300, high=3000), -2))
    return {int(f) for f in found}


async def test_a_key_interrupts_the_joined_menu_prompts_and_the_next_prompt_plays(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The menu's two prompts (500 Hz then 900 Hz) are one ``play media`` of a joined
    µ-law copy; "1" during the first one cuts it short: the queue's prompt (1300 Hz)
    follows at once, the 900 Hz prompt is never heard and never counted as played; its
    ``play media`` replaced the menu's playback without a ``stop media``."""
    decider = RecordingDecider()
    app = await feature_switch(
        decider, flows=fixed(menu_flow()), prompts_dir=prompts(tmp_path / "prompts", "en")
    )
    sent = count_media(app, monkeypatch)
    caller = await make_phone("13900000011")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    arrived = await decider.wait_for(K.ARRIVED)
    await caller.leg.send_tone(440.0, 0.1)  # audio first: rtpengine then logs digits
    assert await hears_tone(caller.leg, INTRO, timeout=3)
    runner = app.core.runners[arrived.call_id]
    assert runner.prompts_played == ["intro"]
    playback = tmp_path / "switch" / "playback" / "en"
    assert sent == [("play", str(next(playback.glob("*-PCMU-*.wav"))))]

    await caller.leg.send(caller.leg.dtmf_packets("1"))
    await decider.wait_for(K.MENU_CHOICE)
    heard = tones_in(await listen(caller.leg, 1.5))
    assert AFTER in heard and OPTIONS not in heard, heard
    assert runner.prompts_played == ["intro", "after"]
    assert [name for name, _file in sent] == ["play", "play"]  # no stop media
    await decider.wait_for(K.QUEUE_ENTER, timeout=6)
    await caller.hang_up()
    await decider.wait_for(K.RELEASED)


async def test_a_key_stops_the_joined_prompts_when_the_flow_waits_for_more_keys(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Collecting an account number: the first key silences the joined prompts at once
    (``stop media``), the rest of the first and the whole second prompt are not heard."""
    decider = RecordingDecider()
    app = await feature_switch(
        decider, flows=fixed(collect_flow()), prompts_dir=prompts(tmp_path / "prompts", "en")
    )
    sent = count_media(app, monkeypatch)
    caller = await make_phone("13900000012")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    arrived = await decider.wait_for(K.ARRIVED)
    await caller.leg.send_tone(440.0, 0.1)
    assert await hears_tone(caller.leg, INTRO, timeout=3)
    await caller.leg.send(caller.leg.dtmf_packets("4"))
    await until(lambda: ("stop", "") in sent, 3, "stop media after the key")
    samples = await listen(caller.leg, 2.0)
    assert tones_in(samples) == set(), tones_in(samples)
    assert app.core.runners[arrived.call_id].prompts_played == ["intro"]
    await caller.hang_up()
    await decider.wait_for(K.RELEASED)


@pytest.mark.parametrize(("language", "intro"), [("zh", 650.0), ("en", 500.0)])
async def test_each_language_plays_its_own_prepared_prompts(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
    language: str,
    intro: float,
) -> None:
    root = prompts(tmp_path / "prompts", "zh", intro=650.0)
    prompts(root, "en", intro=500.0)
    decider = RecordingDecider()
    app = await feature_switch(decider, flows=fixed(menu_flow(language)), prompts_dir=root)
    caller = await make_phone("13900000013")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    await decider.wait_for(K.ARRIVED)
    assert await hears_tone(caller.leg, intro, timeout=3)
    folder = tmp_path / "switch" / "playback"
    assert [p.name for p in folder.iterdir() if p.name in ("zh", "en")] == [language]
    assert len(list((folder / language).glob("*-PCMU-*.wav"))) == 1
    await caller.hang_up()
    await decider.wait_for(K.RELEASED)
