"""``switch.flow_get`` on the server (R-IVR-5): route responses name the published flow
version and a 1.2 switch fetches exactly that document; a 1.1 switch may not ask."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cti_server.store import ConfigStore
from cti_server.store.flows import save_flow, seed_shipped_flows
from shared.ivr import load_shipped_flow, parse_flow
from shared.protocol.base import VERSION_1_1
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import FlowDocument, RouteStage, SwitchFlowGet
from tests.cti_server.domain.domain_support import Clients, route

pytestmark = pytest.mark.asyncio

CLOSED = {"entry": "bye", "description": "closed", "nodes": {"bye": {"kind": "hangup"}}}


async def test_route_names_the_published_version_and_the_switch_fetches_it(
    clients: Clients, db: sa.Engine
) -> None:
    store = ConfigStore(db)
    await asyncio.to_thread(seed_shipped_flows, store)
    switch = await clients.switch()
    first = await route(switch, "FG-1", RouteStage.ARRIVAL, caller="13900000011")
    assert first.flow_id == "default" and first.flow_version is not None
    body = await switch.client.request(
        SwitchFlowGet(id=0, flow_id="default", version=first.flow_version)
    )
    assert isinstance(body, FlowDocument)
    assert (body.flow_id, body.version, body.published) == ("default", first.flow_version, True)
    assert parse_flow(body.document).nodes == load_shipped_flow("default").nodes

    saved = await asyncio.to_thread(save_flow, store, "9901", "default", CLOSED, publish=True)
    second = await route(switch, "FG-2", RouteStage.ARRIVAL, caller="13900000012")
    assert second.flow_version == saved.version
    latest = await switch.client.request(SwitchFlowGet(id=0, flow_id="default"))
    assert isinstance(latest, FlowDocument)
    assert (latest.version, latest.document["description"]) == (saved.version, "closed")
    older = await switch.client.request(
        SwitchFlowGet(id=0, flow_id="default", version=first.flow_version)
    )
    assert isinstance(older, FlowDocument) and not older.published

    with pytest.raises(ProtocolError) as unknown:
        await switch.client.request(SwitchFlowGet(id=0, flow_id="default", version=999))
    assert unknown.value.code is ErrorCode.INVALID_FIELD
    assert unknown.value.detail["field"] == "version"


async def test_a_11_switch_cannot_fetch_flows(clients: Clients) -> None:
    old = await clients.switch("sw-11", versions=[VERSION_1_1])
    with pytest.raises(ProtocolError) as refused:
        await old.client.request(SwitchFlowGet(id=0, flow_id="default"))
    assert refused.value.code is ErrorCode.UNEXPECTED_TYPE
