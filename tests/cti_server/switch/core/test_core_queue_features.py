"""Queue announcements and max wait → overflow on a real switch (R-IVR-1..4).

Prompts are distinctive tones (``features_support.tone_prompts``), so the caller's
own RTP leg proves what it heard: the announcement interrupts the music on hold,
then the music comes back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from pathlib import Path
from typing import Any, cast

import pytest

from cti_server.switch.core import StandaloneDecider
from cti_server.switch.core.calls import Phase
from cti_server.switch.core.queue import (
    OverflowTarget,
    QueueConfigError,
    QueueFeatures,
    QueueMonitor,
    announcement_prompts,
    load_queue_file,
)
from cti_server.switch.ports import LookupResult
from shared.ivr import Flow, Waiting, parse_flow
from shared.protocol.switch import LegRole, OfferToAgent, RouteStage, SwitchCallEventKind
from tests.cti_server.switch.core.conftest import PhoneFactory
from tests.cti_server.switch.core.core_support import RecordingDecider
from tests.cti_server.switch.core.features_support import (
    FeatureSwitch,
    LookupDecider,
    feature_switch,  # noqa: F401  (fixture)
    fixed,
    hears_tone,
    queue_flow,
    tone_prompts,
    until,
)
from tests.cti_server.switch.core.test_core_call_path import hears_moh

K = SwitchCallEventKind

ANNOUNCE_TONES = {
    "queue_position": (1700.0, 0.5),
    "num_1": (1100.0, 0.2),
    "num_2": (1300.0, 0.2),
    "queue_position_end": (1500.0, 0.2),
    "queue_wait": (1900.0, 0.2),
    "num_3": (2100.0, 0.2),
    "queue_minutes": (2300.0, 0.2),
}


# --- pure parts ---------------------------------------------------------------------


def test_core_announcement_prompts_in_both_languages() -> None:
    """R-IVR-1: position and expected wait read out with shared.ivr's number prompts."""
    assert announcement_prompts(2, 150, "en") == [
        "queue_position",
        "num_2",
        "queue_position_end",
        "queue_wait",
        "num_3",
        "queue_minutes",
    ]
    assert announcement_prompts(12, 30, "zh") == [
        "queue_position",
        "num_10",
        "num_2",
        "queue_position_end",
        "queue_wait_short",
    ]
    assert announcement_prompts(None, 60, "en") == ["queue_wait", "num_1", "queue_minute"]
    assert announcement_prompts(None, None, "en") == []


def test_core_queue_settings_parse_and_reject_bad_values() -> None:
    features = QueueFeatures.from_mapping(
        {"announce_every": 20, "max_wait": 90, "overflow": "ivr:normal:closed_menu"}
    )
    assert features.overflow == OverflowTarget("ivr", "normal", "closed_menu")
    assert str(features.overflow) == "ivr:normal:closed_menu"
    assert OverflowTarget.parse("voicemail") == OverflowTarget("voicemail")
    assert OverflowTarget.parse("queue:q_b").target == "q_b"
    for bad in (
        {"announce_every": 0.5},
        {"max_wait": -1},
        {"overflow": "queue"},
        {"overflow": "dial:123"},
        {"announce_evry": 10},
        {"max_wait": "soon"},
    ):
        with pytest.raises(QueueConfigError):
            QueueFeatures.from_mapping(bad)


def test_core_local_wait_estimate_is_recent_average_times_position() -> None:
    """R-IVR-1 standalone: expected wait = average of the recent answered waits × position;
    no history → no estimate (only the position is announced)."""
    monitor = QueueMonitor(cast(Any, None))
    assert monitor.local_estimate("q_sales", 3) is None
    monitor.recent_waits["q_sales"] = deque([40.0, 80.0])
    assert monitor.local_estimate("q_sales", 3) == 180.0
    assert monitor.local_estimate("q_other", 1) is None


def test_core_queue_file_loads_defaults_and_queues(tmp_path: Path) -> None:
    """``--queues FILE``: [default] and [queues.<id>] tables; mistakes name file and table."""
    good = tmp_path / "queues.toml"
    good.write_text(
        "[default]\nannounce_every = 45\n\n"
        '[queues.q_billing]\nmax_wait = 300\noverflow = "voicemail:billing"\n'
        "announce_wait = false\n",
        encoding="utf-8",
    )
    queues, default = load_queue_file(good)
    assert default == QueueFeatures(announce_every=45)
    assert queues["q_billing"].overflow == OverflowTarget("voicemail", "billing")
    assert (queues["q_billing"].max_wait, queues["q_billing"].announce_wait) == (300, False)
    bad = tmp_path / "bad.toml"
    bad.write_text('[queues.q_sales]\noverflow = "nowhere"\n', encoding="utf-8")
    with pytest.raises(QueueConfigError, match=r"bad.toml: \[queues.q_sales\]"):
        load_queue_file(bad)
    with pytest.raises(QueueConfigError, match="cannot read"):
        load_queue_file(tmp_path / "missing.toml")


# --- on a real switch ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.asyncio
async def test_core_queue_announces_position_and_wait_then_music_resumes(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-1: two callers wait; every 1.5 s each hears "you are number N in the queue,
    the expected wait is about 3 minutes" (the server's queue_wait look-up says 150 s)
    instead of the music, which resumes after; positions are 1 and 2, and 1 for the
    second caller once the first hung up."""
    decider = LookupDecider(
        lookup_answers={"queue_wait": LookupResult(values={"expected_wait_seconds": "150"})}
    )
    app = await feature_switch(
        decider,
        flows=fixed(queue_flow("q_sales")),
        prompts_dir=tone_prompts(tmp_path / "prompts", ANNOUNCE_TONES),
        queues={"q_sales": QueueFeatures(announce_every=1.5)},
    )
    first = await make_phone("13800000001")
    second = await make_phone("13800000002")
    assert first.leg is not None and second.leg is not None
    assert await first.call(app.sip_address) == 200
    first_id = (await decider.wait_for(K.QUEUE_ENTER)).call_id
    assert await second.call(app.sip_address) == 200
    await until(lambda: decider.kinds().count(K.QUEUE_ENTER) == 2, 5, "second caller queued")
    second_id = [r.call_id for r in decider.reports if r.kind is K.QUEUE_ENTER][1]

    assert await hears_tone(first.leg, 1700.0, timeout=6), "no announcement heard"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not await hears_moh(first.leg, 0.5):
        assert loop.time() < deadline, "music on hold did not come back"

    monitor = app.core.queue_monitor
    await until(
        lambda: {a.call_id for a in monitor.played} >= {first_id, second_id}, 6, "announcements"
    )
    last = {a.call_id: a for a in monitor.played}
    assert (last[first_id].position, last[second_id].position) == (1, 2)
    assert last[second_id].prompts == (
        "queue_position",
        "num_2",
        "queue_position_end",
        "queue_wait",
        "num_3",
        "queue_minutes",
    )
    assert last[second_id].wait_source == "server"
    assert ("queue_wait", {"queue_id": "q_sales"}) in [(s, a) for _, s, a in decider.lookups]

    await first.hang_up()
    seen = len(monitor.played)
    await until(
        lambda: any(a.call_id == second_id for a in list(monitor.played)[seen:]), 6, "re-announce"
    )
    latest = [a for a in list(monitor.played)[seen:] if a.call_id == second_id][-1]
    assert latest.position == 1
    assert app.core.calls[second_id].phase is Phase.QUEUED
    await second.hang_up()


@pytest.mark.asyncio
async def test_core_max_wait_overflows_to_another_queue(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-2: after max wait (1 s) in q_a the call leaves it (queue_leave "overflow
    queue:q_b"), enters q_b (queue_enter, route agent_needed for q_b) and keeps hearing
    the music."""
    decider = RecordingDecider()
    app = await feature_switch(
        decider,
        flows=fixed(queue_flow("q_a")),
        prompts_dir=tone_prompts(tmp_path / "prompts", {}),
        queues={
            "q_a": QueueFeatures(
                announce_every=0, max_wait=1.0, overflow=OverflowTarget.parse("queue:q_b")
            )
        },
    )
    caller = await make_phone("13800000003")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    entered = await decider.wait_for(K.QUEUE_ENTER)
    left = await decider.wait_for(K.QUEUE_LEAVE, timeout=6)
    assert (left.queue_id, left.detail) == ("q_a", "overflow queue:q_b")
    assert left.at - entered.at >= 0.9
    await until(lambda: decider.kinds().count(K.QUEUE_ENTER) == 2, 3, "queue_enter q_b")
    assert [r.queue_id for r in decider.reports if r.kind is K.QUEUE_ENTER] == ["q_a", "q_b"]
    needed = [q.queue_id for q in decider.queries if q.stage is RouteStage.AGENT_NEEDED]
    assert needed == ["q_a", "q_b"]
    call = app.core.calls[entered.call_id]
    assert (call.phase, call.queue_id) == (Phase.QUEUED, "q_b")
    assert await hears_moh(caller.leg)
    await caller.hang_up()
    abandoned = await decider.wait_for(K.RELEASED)
    assert abandoned.call_id == entered.call_id


@pytest.mark.asyncio
async def test_core_max_wait_waits_for_the_ringing_offer_to_fail(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-2: max wait passes while an agent rings: no overflow until the offer fails
    (ring-no-answer), then the call overflows."""
    decider = RecordingDecider()
    app = await feature_switch(
        decider,
        flows=fixed(queue_flow("q_a")),
        prompts_dir=tone_prompts(tmp_path / "prompts", {}),
        queues={
            "q_a": QueueFeatures(
                announce_every=0, max_wait=0.5, overflow=OverflowTarget.parse("queue:q_b")
            )
        },
    )
    sleepy = await make_phone("1002", answer_after=None)
    assert await sleepy.register(app.sip_address, "pw-1002") == 200
    caller = await make_phone("13800000004")
    assert await caller.call(app.sip_address) == 200
    call_id = (await decider.wait_for(K.QUEUE_ENTER)).call_id
    contact = app.core.registered_contacts()["1002"]
    await app.core.execute(
        call_id, OfferToAgent(agent_id="1002", sip_contact=contact, ring_timeout_seconds=1.5)
    )
    failed = await decider.wait_for(K.FAILED, LegRole.AGENT, timeout=5)
    left = await decider.wait_for(K.QUEUE_LEAVE, timeout=3)
    assert left.detail == "overflow queue:q_b"
    assert left.at >= failed.at
    await caller.hang_up()


@pytest.mark.asyncio
async def test_core_standalone_overflow_plays_busy_and_hangs_up(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-2 in standalone mode (no CTI server): no agent registered, max wait 1 s
    without a target → "all agents are busy" (a 900 Hz tone here), BYE; the
    StandaloneDecider's line is empty again."""
    decider = StandaloneDecider(ring_timeout=5)
    app = await feature_switch(
        decider,
        flows=fixed(queue_flow("q_sales")),
        prompts_dir=tone_prompts(
            tmp_path / "prompts", {"agents_busy": (900.0, 0.8), "call_again_later": (950.0, 0.2)}
        ),
        queues={"q_sales": QueueFeatures(announce_every=0, max_wait=1.0)},
    )
    decider.attach(app.core)
    caller = await make_phone("13800000005")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    await until(lambda: len(decider.waiting) == 1, 5, "call waiting in the standalone line")
    assert await hears_tone(caller.leg, 900.0, timeout=5), "busy prompt not heard"
    await asyncio.wait_for(caller.bye.wait(), 5)
    await until(lambda: any(r.kind is K.RELEASED for r in decider.reports), 3, "released")
    kinds = [(r.kind, r.detail) for r in decider.reports if r.leg is LegRole.CALLER]
    assert (K.QUEUE_LEAVE, "overflow hangup") in kinds
    assert (K.RELEASED, "queue overflow") in kinds
    assert len(decider.waiting) == 0
    await until(lambda: not app.core.calls, 3, "call gone")


@pytest.mark.asyncio
async def test_core_max_wait_overflows_to_an_ivr_node(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-2: overflow ``ivr:after:bye`` runs flow ``after`` from node ``bye`` (its
    prompt, a 1250 Hz tone here, then BYE); the music stops, the node is reported."""
    after = parse_flow(
        {
            "id": "after",
            "entry": "greet",
            "language": "en",
            "nodes": {
                "greet": {"kind": "prompt", "prompts": ["welcome"], "next": "bye"},
                "bye": {"kind": "hangup", "prompts": ["goodbye"], "reason": "closed"},
            },
        }
    )
    direct = queue_flow("q_a")

    def flows(flow_id: str | None, version: int | None) -> Flow:
        return after if flow_id == "after" else direct

    decider = RecordingDecider()
    app = await feature_switch(
        decider,
        flows=flows,
        prompts_dir=tone_prompts(tmp_path / "prompts", {"goodbye": (1250.0, 1.0)}),
        queues={
            "q_a": QueueFeatures(
                announce_every=0, max_wait=1.0, overflow=OverflowTarget.parse("ivr:after:bye")
            )
        },
    )
    caller = await make_phone("13800000006")
    assert caller.leg is not None
    assert await caller.call(app.sip_address) == 200
    left = await decider.wait_for(K.QUEUE_LEAVE, timeout=6)
    assert left.detail == "overflow ivr:after:bye"
    assert await hears_tone(caller.leg, 1250.0, timeout=4), "the node's prompt was not heard"
    await asyncio.wait_for(caller.bye.wait(), 5)
    nodes = [r.node for r in decider.reports if r.kind is K.IVR_NODE]
    assert "bye" in nodes and "greet" not in nodes
    released = await decider.wait_for(K.RELEASED)
    assert released.detail == "closed"


@pytest.mark.asyncio
async def test_core_max_wait_overflows_to_a_callback_request(
    feature_switch: FeatureSwitch,  # noqa: F811
    make_phone: PhoneFactory,
    tmp_path: Path,
) -> None:
    """R-IVR-2/4: overflow ``callback:q_billing``: "all agents are busy", the number read
    back; 1 confirms; the server gets the callback request for q_billing."""
    decider = LookupDecider(lookup_answers={"callback_request": LookupResult(values={})})
    app = await feature_switch(
        decider,
        flows=fixed(queue_flow("q_sales")),
        prompts_dir=tone_prompts(tmp_path / "prompts", {}),
        queues={
            "q_sales": QueueFeatures(
                announce_every=0, max_wait=1.0, overflow=OverflowTarget.parse("callback:q_billing")
            )
        },
    )
    caller = await make_phone("13800000007")
    assert caller.stack is not None
    assert await caller.call(app.sip_address) == 200
    call_id = (await decider.wait_for(K.QUEUE_LEAVE, timeout=6)).call_id
    await until(
        lambda: (
            call_id in app.core.runners and app.core.runners[call_id].run.waiting is Waiting.INPUT
        ),
        5,
        "the confirmation menu",
    )
    assert caller.dialog is not None
    response = await caller.stack.request(
        caller.dialog, "INFO", body=b"Signal=1\r\n", content_type="application/dtmf-relay"
    )
    assert response.status == 200
    await asyncio.wait_for(caller.bye.wait(), 5)
    await until(lambda: any(s == "callback_request" for _, s, _ in decider.lookups), 3, "lookup")
    args = next(a for _, s, a in decider.lookups if s == "callback_request")
    assert (args["number"], args["queue_id"]) == ("13800000007", "q_billing")
