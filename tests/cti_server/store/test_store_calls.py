"""Call records, call events and contact records (R-IN-4, R-IN-5)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from cti_server.store import CallEventKind, CallStore, InvalidData, NotFound, import_tiers

T0 = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_call_lifecycle_round_trips_with_summary_and_trajectory(engine: sa.Engine) -> None:
    """R-IN-5: every timestamp, the disposition and the trajectory are kept with the call."""
    store = CallStore(engine)
    store.record_event(
        "c1",
        "arrived",
        at(0),
        {"caller_number": "+86 138 0013 8000", "called_number": "95105", "switch_id": "sw1"},
    )
    store.record_event("c1", CallEventKind.IVR_NODE, at(1), {"flow_id": "main", "node": "menu"})
    store.record_event(
        "c1", "ivr_node", at(4), {"flow_id": "main", "node": "billing", "digits": "1"}
    )
    store.record_event("c1", "tier_identified", at(1), {"tier_id": "vip"})
    store.record_event(
        "c1", "queued", at(5), {"queue_id": "q_billing", "business_selection": "billing"}
    )
    store.record_event("c1", "routed", at(6), {"explanation": {"rule": "sl_gap", "gap": 0.12}})
    store.record_event("c1", "offered", at(6), {"agent_id": "1001"})
    store.record_event("c1", "answered", at(9), {"agent_id": "1001"})
    store.record_event("c1", "held", at(20))
    store.record_event("c1", "retrieved", at(50))
    store.record_event("c1", "held", at(60))
    store.record_event("c1", "retrieved", at(70))
    store.record_event(
        "c1", "transferred", at(80), {"from_agent": "1001", "to_agent": "1002", "mode": "blind"}
    )
    store.record_event("c1", "released", at(120), {"by": "caller"})
    store.record_event("c1", "acw_ended", at(135))
    store.close_call("c1", "resolved", at(136))

    call = store.call_with_events("c1")
    assert call is not None
    assert call.caller_number == "+86 138 0013 8000" and call.switch_id == "sw1"
    assert (call.arrived_at, call.ivr_started_at, call.queued_at) == (at(0), at(1), at(5))
    assert (call.offered_at, call.answered_at, call.transferred_at) == (at(6), at(9), at(80))
    assert (call.released_at, call.acw_ended_at) == (at(120), at(135))
    assert call.released_by == "caller" and call.disposition == "resolved"
    assert (call.hold_count, call.hold_seconds) == (2, 40.0)
    assert call.agent_id == "1002" and call.transfer_count == 1
    assert call.tier_id == "vip" and call.queue_id == "q_billing"
    assert call.business_selection == "billing"
    assert call.routing_explanation == {"rule": "sl_gap", "gap": 0.12}
    assert [e.seq for e in call.events] == list(range(1, 17))
    assert call.events[2].data == {"flow_id": "main", "node": "billing", "digits": "1"}
    assert [
        (s["kind"], s.get("node") or s.get("agent_id") or s.get("to_agent"))
        for s in call.trajectory
    ] == [
        ("arrived", None),
        ("ivr_node", "menu"),
        ("ivr_node", "billing"),
        ("tier_identified", None),
        ("queued", None),
        ("offered", "1001"),
        ("answered", "1001"),
        ("transferred", "1002"),
        ("released", None),
    ]
    assert call.events[0].at.tzinfo is not None


def test_events_are_idempotent_by_key_and_create_unknown_calls(engine: sa.Engine) -> None:
    """R-IN-3: a switch replaying what it did while the CTI link was down adds nothing twice."""
    store = CallStore(engine)
    first = store.record_event("c2", "queued", at(3), {"queue_id": "q"}, event_key="sw1:17")
    again = store.record_event("c2", "queued", at(3), {"queue_id": "q"}, event_key="sw1:17")
    assert first == again
    store.record_event("c2", "arrived", at(0))  # late arrival moves arrived_at earlier
    call = store.call_with_events("c2")
    assert call is not None and len(call.events) == 2 and call.arrived_at == at(0)


def test_released_never_answered_call_keeps_its_record(engine: sa.Engine) -> None:
    """R-IN-5: dropped calls leave a record; closing an unreleased call releases it."""
    store = CallStore(engine)
    store.record_event("c3", "arrived", 1_772_442_000.0)
    store.record_event("c3", "held", 1_772_442_010.0)
    store.close_call("c3", "dropped", 1_772_442_030.0)
    call = store.get_call("c3")
    assert call.disposition == "dropped" and call.released_by == "system"
    assert call.answered_at is None
    assert call.released_at == dt.datetime.fromtimestamp(1_772_442_030, dt.UTC)
    assert store.call_with_events("nope") is None
    with pytest.raises(NotFound):
        store.get_call("nope")


def test_bad_events_are_rejected_and_write_nothing(engine: sa.Engine) -> None:
    store = CallStore(engine)
    with pytest.raises(InvalidData, match="unknown event kind"):
        store.record_event("c4", "teleported", at(0))
    with pytest.raises(InvalidData, match="naive"):
        store.record_event("c4", "arrived", dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidData, match="empty"):
        store.close_call("c4", "", at(0))
    assert store.call_with_events("c4") is None


def test_concurrent_events_on_one_call_get_gap_free_sequence(engine: sa.Engine) -> None:
    """R-IN-4: concurrent writers never corrupt a call's history."""
    store = CallStore(engine)  # the call does not exist yet: the threads race to create it
    errors: list[BaseException] = []

    def walk_ivr(worker: int) -> None:
        try:
            for i in range(10):
                store.record_event("c5", "ivr_node", at(worker + i), {"node": f"{worker}-{i}"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=walk_ivr, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    call = store.call_with_events("c5")
    assert call is not None
    assert [e.seq for e in call.events] == list(range(1, 41))
    assert len(call.trajectory) == 40


def test_contact_records_round_trip_newest_first(tiers: sa.Engine) -> None:
    """R-IN-5: every call leaves a contact record; the desktop lists them per customer."""
    import_tiers(tiers, [{"customer_id": "C1", "numbers": "13800138000", "tier": "vip"}])
    store = CallStore(tiers)
    store.record_event("c6", "arrived", at(0))
    made = [
        store.add_contact_record(
            call_id="c6" if i == 0 else None,
            number="+86 138 0013 8000",
            agent_id="1001",
            started_at=at(i * 100),
            ended_at=at(i * 100 + 60),
            disposition="resolved",
            business_selection="billing",
            summary=f"第{i}次来电",
        )
        for i in range(3)
    ]
    assert all(c.customer_id == "C1" and c.number == "13800138000" for c in made)
    history = store.contacts_for_customer("C1", limit=2)
    assert [c.summary for c in history] == ["第2次来电", "第1次来电"]
    assert [c.summary for c in store.contacts_for_customer("C1", limit=2, offset=2)] == [
        "第0次来电"
    ]
    assert store.contacts_for_customer("C1")[-1].call_id == "c6"
    stranger = store.add_contact_record(number="13999999999", started_at=at(0))
    assert stranger.customer_id is None
    assert [c.contact_id for c in store.contacts_for_number("139-9999-9999")] == [
        stranger.contact_id
    ]
