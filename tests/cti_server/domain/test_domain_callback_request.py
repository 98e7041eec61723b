"""The ``callback_request`` look-up: the CTI server stores a flow's callback request
(R-IVR-4). A real server on port 0, a fake switch over the real protocol."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cti_server.store.calls import CallStore
from shared.protocol.switch import LookupResult, RouteStage, SwitchLookup
from tests.cti_server.domain.domain_support import Clients, route

pytestmark = pytest.mark.asyncio


async def _lookup(clients: Clients, call_id: str, **args: str) -> LookupResult:
    switch = clients.switches[0] if clients.switches else await clients.switch()
    body = await switch.client.request(
        SwitchLookup(id=0, call_id=call_id, service="callback_request", args=args)
    )
    assert isinstance(body, LookupResult)
    return body


async def test_callback_request_is_stored_on_the_call(clients: Clients, db: sa.Engine) -> None:
    """R-IVR-4: the switch's callback_request look-up is kept as a call event with the
    number (normalised), queue, business selection and tier."""
    switch = await clients.switch()
    await route(switch, "CB-1", RouteStage.ARRIVAL, caller="13900139000")
    stored = await _lookup(
        clients, "CB-1", number="13800138000", queue_id="q_billing", business_selection="callback"
    )
    assert stored.error is None
    assert stored.values["stored"] == "true"
    assert stored.values["queue_id"] == "q_billing"
    view = CallStore(db).call_with_events("CB-1")
    assert view is not None
    [event] = [e for e in view.events if e.data.get("node") == "callback_request"]
    assert event.kind == "ivr_node"
    assert event.data["callback"]["number"] == stored.values["number"]
    assert "13800138000" in stored.values["number"]
    assert event.data["callback"]["queue_id"] == "q_billing"
    assert event.data["callback"]["business_selection"] == "callback"

    by_caller = await _lookup(clients, "CB-1")  # default: the caller's number
    assert by_caller.error is None and "13900139000" in by_caller.values["number"]


async def test_callback_request_bad_input_is_an_error_result(clients: Clients) -> None:
    """A bad number, an unknown queue or an unknown call: an error the switch falls back
    on (it keeps the request itself); nothing stored."""
    switch = await clients.switch()
    await route(switch, "CB-2", RouteStage.ARRIVAL, caller="13900139001")
    bad_number = await _lookup(clients, "CB-2", number="call-me")
    assert bad_number.error is not None and "`number`" in bad_number.error
    bad_queue = await _lookup(clients, "CB-2", queue_id="q_nowhere")
    assert bad_queue.error is not None and "`queue_id`" in bad_queue.error
    unknown = await _lookup(clients, "CB-NOPE", number="13800138000")
    assert unknown.error is not None and "call" in unknown.error
