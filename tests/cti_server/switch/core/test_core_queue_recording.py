"""A queue's recording switch on a real switch core (R-SUP-3, issue 8): the route
response at ``agent_needed`` says ``record: false`` for a queue whose recording an
administrator turned off — the switch then records nothing of that call; a queue left
on (the field absent, as from an older server) records as before. The field is a 1.3
field-level addition a 1.2 switch never sees."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from cti_server.switch.core.calls import Phase
from cti_server.switch.ports import CommandFailed
from shared.ivr import Flow, parse_flow
from shared.protocol import (
    VERSION_1_0,
    VERSION_1_2,
    VERSION_1_3,
    Link,
    decode_server,
    encode,
    for_version,
    requires_version,
)
from shared.protocol.call import ClearCause
from shared.protocol.errors import ErrorCode
from shared.protocol.responses import Result
from shared.protocol.switch import (
    RecordStart,
    RecordStop,
    RoutedAgent,
    RouteResponse,
    RouteStage,
    SwitchCallEventKind,
)
from tests.cti_server.switch.core.conftest import PhoneFactory, SwitchFactory
from tests.cti_server.switch.core.core_support import RecordingDecider, media_calls_gone

K = SwitchCallEventKind

TO_QUEUE = parse_flow(
    {"id": "direct", "entry": "q", "nodes": {"q": {"kind": "queue", "queue": "q_billing"}}}
)


def direct(flow_id: str | None, version: int | None) -> Flow:
    return TO_QUEUE


async def _bridged_call(
    make_switch: SwitchFactory, make_phone: PhoneFactory, *, record: bool | None
) -> tuple[object, str, RecordingDecider, object]:
    decider = RecordingDecider()
    app = await make_switch(decider, flows=direct)
    agent = await make_phone("1001")
    assert await agent.register(app.sip_address, "pw-1001") == 200
    contact = app.core.registered_contacts()["1001"]
    routed = RoutedAgent(agent_id="1001", sip_contact=contact)
    flag: bool | msgspec.UnsetType = msgspec.UNSET if record is None else record
    decider.answers[RouteStage.AGENT_NEEDED] = lambda q: RouteResponse(
        queue_id=q.queue_id, agent=routed, record=flag
    )
    caller = await make_phone("13800000009")
    assert await caller.call(app.sip_address) == 200
    bridged = await decider.wait_for(K.BRIDGED)
    return app, bridged.call_id, decider, caller


@pytest.mark.asyncio
async def test_a_call_of_a_queue_with_recording_off_is_not_recorded(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    app, call_id, decider, caller = await _bridged_call(make_switch, make_phone, record=False)
    core = app.core  # type: ignore[attr-defined]
    assert core.calls[call_id].phase is Phase.BRIDGED and core.calls[call_id].record is False

    with pytest.raises(CommandFailed) as refused:
        await core.execute(call_id, RecordStart(recording_id="rec-off"))
    assert refused.value.code is ErrorCode.INVALID_STATE
    assert "not recorded" in str(refused.value)
    assert core.calls[call_id].recording is None
    await asyncio.sleep(0.1)
    assert K.RECORDING_STARTED not in decider.kinds()

    await caller.hang_up()  # type: ignore[attr-defined]
    assert (await decider.wait_for(K.RELEASED)).cause is ClearCause.NORMAL
    assert await media_calls_gone(app.engine.client)  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_a_queue_left_on_records_as_before(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    app, call_id, decider, caller = await _bridged_call(make_switch, make_phone, record=None)
    core = app.core  # type: ignore[attr-defined]
    assert core.calls[call_id].record is True
    await core.execute(call_id, RecordStart(recording_id="rec-on"))
    assert (await decider.wait_for(K.RECORDING_STARTED)).detail == "rec-on"
    await core.execute(call_id, RecordStop(recording_id="rec-on"))
    assert (await decider.wait_for(K.RECORDING_STOPPED)).detail == "rec-on"
    await caller.hang_up()  # type: ignore[attr-defined]
    await decider.wait_for(K.RELEASED)


def test_record_is_a_1_3_field_a_1_2_switch_never_sees() -> None:
    off = Result(id=7, body=RouteResponse(queue_id="q_billing", record=False))
    on = Result(id=8, body=RouteResponse(queue_id="q_billing"))
    assert requires_version(off) == VERSION_1_3
    assert requires_version(on) == VERSION_1_0
    assert b'"record":false' in encode(off)
    assert b"record" not in encode(on)
    assert decode_server(encode(off), link=Link.SWITCH) == off
    older = for_version(VERSION_1_2, off)
    assert isinstance(older.body, RouteResponse) and older.body.record is msgspec.UNSET
    assert b"record" not in encode(older)
    assert for_version(VERSION_1_3, off) == off
    assert for_version(VERSION_1_2, on) is on
