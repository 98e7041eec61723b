"""Server-side gaps of the switch issue (docs/switch.md "Known gaps", "Not yet"):
a media failure while bridging is a failed call, not an abandon; the reconciliation
notice reaches desktops that connect after the switch's fallback report (R-IN-3);
voicemails are stored from the switch's recording reports (R-IVR-4); ``queue_wait``
gives an expected wait (R-IVR-2).

A real server on port 0 with real WebSocket clients and a fake switch."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
import sqlalchemy as sa

from cti_server.app import CtiApp
from cti_server.domain.lookups import expected_wait
from cti_server.store import CallEventKind, CallStore
from cti_server.store.calls import VoicemailStore
from shared.protocol.agent import AgentLogin, AgentReady
from shared.protocol.call import (
    CallDelivered,
    CallDiverted,
    CallEstablished,
    ClearCause,
    DivertReason,
)
from shared.protocol.handshake import SnapshotRequest
from shared.protocol.switch import (
    FallbackCall,
    FallbackOutcome,
    LegRole,
    LookupResult,
    RouteStage,
    SwitchCallEvent,
    SwitchCallEventKind,
    SwitchFallbackReport,
    SwitchLookup,
)
from shared.protocol.system import SwitchMode, SystemMode
from tests.cti_server.domain.domain_support import (
    VIP_CALLER,
    Clients,
    FakeSwitch,
    expect,
    ready_agent,
    report,
    route,
    until,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind
NORMAL_CALLER = "13700137000"
"""Not a demo customer: tier ``normal`` (served by the ``general`` group)."""
MEDIA_FAILURE = "media failure while bridging: rtpengine has no such call"


async def event(switch: FakeSwitch, call_id: str, kind: K, at: float, **fields: object) -> None:
    await switch.client.request(SwitchCallEvent(id=0, call_id=call_id, kind=kind, at=at, **fields))


async def lookup(switch: FakeSwitch, call_id: str, **args: str) -> LookupResult:
    body = await switch.client.request(
        SwitchLookup(id=0, call_id=call_id, service="queue_wait", args=args)
    )
    assert isinstance(body, LookupResult)
    return body


# -- a media failure while bridging ----------------------------------------------------------


async def test_media_failure_while_bridging_is_a_failed_call_not_an_abandon(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """The switch ends a call whose media failed while bridging (``released``, cause
    ``failed``): the server records it ``failed`` (not ``abandoned``, no abandon in the
    service level), the ringing agent is told ``rerouted`` and is ready for the next
    call."""
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    call_id = "MF-1"
    await route(switch, call_id, RouteStage.ARRIVAL)
    routed = await route(switch, call_id, RouteStage.AGENT_NEEDED, business_selection="billing")
    assert routed.agent is not None and routed.agent.agent_id == "1001"
    assert (await expect(desk, CallDelivered)).call_id == call_id

    await report(
        switch,
        call_id,
        K.RELEASED,
        leg=LegRole.AGENT,
        agent_id="1001",
        cause=ClearCause.FAILED,
        detail=MEDIA_FAILURE,
    )
    diverted = await expect(desk, CallDiverted)
    assert (diverted.call_id, diverted.reason) == (call_id, DivertReason.REROUTED)
    await expect(desk, AgentReady)
    # the caller leg's release follows: acknowledged (the call is closed already)
    await report(switch, call_id, K.RELEASED, cause=ClearCause.FAILED, detail=MEDIA_FAILURE)

    store = CallStore(db)
    view = await asyncio.to_thread(store.call_with_events, call_id)
    assert view is not None and view.disposition == "failed"
    released = [e for e in view.events if e.kind == CallEventKind.RELEASED]
    assert [e.data.get("detail") for e in released] == [MEDIA_FAILURE]
    contacts = await asyncio.to_thread(store.contacts_for_number, VIP_CALLER, 50)
    assert [c.disposition for c in contacts if c.call_id == call_id] == ["failed"]
    assert app.centre.queue_stats("q_billing").service_level.abandoned == 0

    # 1001 is free: the next call is offered to them
    await route(switch, "MF-2", RouteStage.ARRIVAL)
    again = await route(switch, "MF-2", RouteStage.AGENT_NEEDED, business_selection="billing")
    assert again.agent is not None and again.agent.agent_id == "1001"


async def test_a_caller_hanging_up_while_offered_is_still_abandoned(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """Only the switch's failure is ``failed``: a caller leaving is ``abandoned``."""
    switch = await clients.switch()
    await switch.register("1001")
    desk = await ready_agent(clients, "1001")
    await route(switch, "AB-1", RouteStage.ARRIVAL)
    await route(switch, "AB-1", RouteStage.AGENT_NEEDED, business_selection="billing")
    await expect(desk, CallDelivered)
    await report(switch, "AB-1", K.RELEASED, cause=ClearCause.CALLER_ABANDONED)
    diverted = await expect(desk, CallDiverted)
    assert diverted.reason is DivertReason.CALLER_ABANDONED
    view = await asyncio.to_thread(CallStore(db).get_call, "AB-1")
    assert view.disposition == "abandoned"
    assert app.centre.queue_stats("q_billing").service_level.abandoned == 1


# -- the reconciliation notice for desktops that connect later -------------------------------


async def test_a_desktop_connecting_after_the_fallback_report_is_told_of_the_outage(
    app: CtiApp, clients: Clients
) -> None:
    """R-IN-3: a desktop whose snapshot comes after the switch's fallback report (e.g. it
    connects to a restarted server later) gets ``system.mode normal`` with the outage
    and the calls reconciled; not once the notice window is over, nor after a newer
    outage of that switch."""
    switch = await clients.switch("sw-late")
    modes = app.centre.modes

    async def fallback_report(call_id: str) -> float:
        down_at, up_at = time.time() - 300, time.time() - 2
        await switch.client.request(
            SwitchFallbackReport(
                id=0,
                link_down_at=down_at,
                link_up_at=up_at,
                calls=(
                    FallbackCall(
                        call_id=call_id,
                        outcome=FallbackOutcome.ABANDONED,
                        arrived_at=down_at + 10,
                        caller=VIP_CALLER,
                        released_at=down_at + 20,
                    ),
                ),
            )
        )
        return up_at

    async def after_snapshot(user: str) -> SystemMode | None:
        desk = await clients.desktop(user)
        await desk.request(SnapshotRequest(id=0))
        try:
            return await expect(desk, SystemMode, timeout=0.5)
        except TimeoutError:
            return None

    up_at = await fallback_report("FB-LATE-1")
    notice = await after_snapshot("1006")
    assert notice is not None
    assert (notice.switch_id, notice.mode) == ("sw-late", SwitchMode.NORMAL)
    assert notice.since == pytest.approx(up_at)
    assert notice.detail is not None and "1 call(s) reconciled" in notice.detail

    modes.notice_seconds = 0.0  # the window is over
    assert await after_snapshot("1007") is None

    modes.notice_seconds = 600.0
    await fallback_report("FB-LATE-2")
    assert await after_snapshot("1008") is not None
    await switch.client.disconnect()  # a newer outage: the old notice is stale
    await until(
        lambda: (entry := modes.get("sw-late")) is not None and entry.mode is SwitchMode.FALLBACK
    )
    await switch.client.reconnect()
    await until(
        lambda: (entry := modes.get("sw-late")) is not None and entry.mode is SwitchMode.NORMAL
    )
    assert await after_snapshot("1009") is None


# -- voicemails ------------------------------------------------------------------------------


async def test_voicemail_reports_are_stored_once(clients: Clients, db: sa.Engine) -> None:
    """R-IVR-4: ``recording_started`` / ``recording_stopped`` of a voicemail store it
    (caller, mailbox, file, length, state ``new``); a repeated report adds nothing; a
    recording that is not a voicemail stores nothing."""
    switch = await clients.switch()
    call_id = "VM-1"
    await route(switch, call_id, RouteStage.ARRIVAL)
    start = time.time() - 20
    await event(switch, call_id, K.RECORDING_STARTED, start, node="sales", detail="voicemail:sales")
    stopped = {"node": "sales", "detail": f"voicemail:{call_id}.wav"}
    await event(switch, call_id, K.RECORDING_STOPPED, start + 12.5, **stopped)
    await event(switch, call_id, K.RECORDING_STOPPED, start + 12.5, **stopped)  # re-sent
    await event(switch, call_id, K.RELEASED, start + 13)
    await route(switch, "VM-2", RouteStage.ARRIVAL)
    await event(switch, "VM-2", K.RECORDING_STOPPED, start, detail="call recording 7")

    store = VoicemailStore(db)
    items, total = await asyncio.to_thread(store.page, call_id=call_id)
    assert total == 1
    vm = items[0]
    assert (vm.mailbox, vm.file_name, vm.caller_number, vm.state) == (
        "sales",
        f"{call_id}.wav",
        VIP_CALLER,
        "new",
    )
    assert vm.seconds == pytest.approx(12.5, abs=0.01)
    assert vm.created_at == dt.datetime.fromtimestamp(start + 12.5, dt.UTC).replace(
        microsecond=vm.created_at.microsecond
    )
    assert (await asyncio.to_thread(store.page, call_id="VM-2"))[1] == 0


# -- expected wait ----------------------------------------------------------------------------


async def test_expected_wait_formula() -> None:
    """Callers the ready agents take wait nothing; the others wait for one of the
    serving agents to finish a call; nobody serving: no number."""
    assert expected_wait(1, ready=1, serving=3, handle_seconds=200) == 0.0
    assert expected_wait(3, ready=1, serving=2, handle_seconds=200) == 200.0
    assert expected_wait(2, ready=0, serving=1, handle_seconds=215) == 430.0
    assert expected_wait(1, ready=0, serving=0, handle_seconds=200) is None


async def test_queue_wait_gives_an_expected_wait_from_live_state_and_history(
    app: CtiApp, clients: Clients, db: sa.Engine
) -> None:
    """R-IVR-2: ``expected_wait_seconds`` = callers ahead of the ready agents × the
    queue's recent handle time (mean talk time of its latest answered calls + its
    after-call work) / its serving agents."""
    store = CallStore(db)
    now = time.time()
    for n, talk in enumerate((100.0, 200.0, 300.0)):  # q_sales history: mean talk 200 s
        cid = f"EW-H{n}"
        start = now - 1000 + n
        store.record_event(cid, CallEventKind.QUEUED, start, {"queue_id": "q_sales"})
        store.record_event(cid, CallEventKind.ANSWERED, start + 10, {"agent_id": "1007"})
        store.record_event(cid, CallEventKind.RELEASED, start + 10 + talk, {"by": "caller"})
    switch = await clients.switch()
    nobody = await lookup(switch, "EW-0", queue_id="q_sales")
    assert nobody.error is None and nobody.values["serving_agents"] == "0"
    assert "expected_wait_seconds" not in nobody.values  # nobody will come: no number
    await switch.register("1007")
    desk = await clients.desktop("1007")
    await desk.request(AgentLogin(id=0, extension="1007", initial_state="ready"))
    await expect(desk, AgentReady)

    nobody_busy = await lookup(switch, "EW-X", queue_id="q_sales")
    assert nobody_busy.values["expected_wait_seconds"] == "0"  # 1007 is ready

    for call_id in ("EW-1", "EW-2", "EW-3"):
        await route(switch, call_id, RouteStage.ARRIVAL, caller=NORMAL_CALLER)
        await route(
            switch, call_id, RouteStage.AGENT_NEEDED, caller=NORMAL_CALLER, queue_id="q_sales"
        )
    await report(switch, "EW-1", K.ANSWERED, leg=LegRole.AGENT, agent_id="1007")
    await expect(desk, CallEstablished)
    await until(lambda: app.centre.queue_stats("q_sales").waiting == 2)

    third = await lookup(switch, "EW-3")
    assert third.error is None
    assert third.values["position"] == "2"
    assert third.values["handle_seconds"] == "215"  # 200 s talk + 15 s after-call work
    assert third.values["serving_agents"] == "1"
    assert third.values["expected_wait_seconds"] == "430"
    second = await lookup(switch, "EW-2")
    assert second.values["expected_wait_seconds"] == "215"
    joining = await lookup(switch, "EW-Y", queue_id="q_sales")  # behind both
    assert joining.values["expected_wait_seconds"] == "645"
