"""Malformed input gets a typed error and the connection stays usable (docs/protocol.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.protocol.errors import ErrorCode
from shared.protocol.handshake import Pong
from shared.protocol.responses import Error, Result
from tests.cti_server.ws.ws_support import RawClient, RawFactory, ServerFactory


async def _ready(make_server: ServerFactory, make_raw: RawFactory, **config: Any) -> RawClient:
    server = await make_server(**config)
    raw = await make_raw(server)
    await raw.hello(rid=1)
    return raw


async def _still_usable(raw: RawClient, rid: int) -> None:
    await raw.send({"type": "ping", "id": rid})
    reply = await raw.recv()
    assert isinstance(reply, Pong) and reply.id == rid


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("frame", "code", "rid"),
    [
        ('{"type": "ping", "id": 5', ErrorCode.BAD_JSON, None),
        ("[1, 2, 3]", ErrorCode.BAD_FRAME, None),
        ('{"type": "call.teleport", "id": 5}', ErrorCode.UNKNOWN_TYPE, 5),
        ('{"type": "call.answer", "id": 5, "call_id": "has space"}', ErrorCode.INVALID_FIELD, 5),
        ('{"type": "call.answer", "id": 5}', ErrorCode.MISSING_FIELD, 5),
        (
            '{"type": "call.held", "seq": 1, "ts": 1, "call_id": "c", "agent_id": "a"}',
            ErrorCode.NOT_A_REQUEST,
            None,
        ),
        (
            '{"type": "switch.registration", "id": 5, "sip_user": "u", "registered": true}',
            ErrorCode.UNEXPECTED_TYPE,
            5,
        ),
    ],
)
async def test_bad_frames_get_typed_errors_and_the_connection_stays_open(
    make_server: ServerFactory, make_raw: RawFactory, frame: str, code: ErrorCode, rid: int | None
) -> None:
    raw = await _ready(make_server, make_raw)
    await raw.send(frame)
    reply = await raw.recv()
    assert isinstance(reply, Error)
    assert reply.code is code
    assert reply.id == rid
    await _still_usable(raw, 10)


@pytest.mark.asyncio
async def test_binary_frame_is_bad_frame_with_its_id(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    raw = await _ready(make_server, make_raw)
    await raw.send(json.dumps({"type": "ping", "id": 4}).encode())
    reply = await raw.recv()
    assert isinstance(reply, Error)
    assert reply.code is ErrorCode.BAD_FRAME and reply.id == 4
    await raw.send(b"\xff\xfe\x00")
    reply = await raw.recv()
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_FRAME and reply.id is None
    await _still_usable(raw, 10)


@pytest.mark.asyncio
async def test_oversize_frame_is_refused_before_parsing(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    raw = await _ready(make_server, make_raw, max_frame_bytes=1024)
    big = json.dumps({"type": "call.answer", "id": 7, "call_id": "c1", "pad": "x" * 2000})
    await raw.send(big)
    reply = await raw.recv()
    assert isinstance(reply, Error)
    assert reply.code is ErrorCode.FRAME_TOO_LARGE and reply.id == 7
    assert reply.detail["limit"] == 1024 and reply.detail["size"] == len(big)
    await _still_usable(raw, 8)


@pytest.mark.asyncio
async def test_frame_above_the_hard_limit_closes_with_1009(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    raw = await _ready(make_server, make_raw, max_frame_bytes=1024, ws_max_size=4096)
    await raw.send(json.dumps({"type": "ping", "id": 2, "pad": "x" * 5000}))
    await raw.ws.wait_closed()
    assert raw.ws.close_code == 1009


@pytest.mark.asyncio
async def test_out_of_order_and_duplicate_ids(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    raw = await _ready(make_server, make_raw)
    await raw.send({"type": "ping", "id": 10})
    assert isinstance(await raw.recv(), Pong)
    await raw.send({"type": "ping", "id": 10})
    dup = await raw.recv()
    assert isinstance(dup, Error) and dup.code is ErrorCode.DUPLICATE_ID and dup.id == 10
    await raw.send({"type": "ping", "id": 7})
    old = await raw.recv()
    assert isinstance(old, Error) and old.code is ErrorCode.OUT_OF_ORDER_ID
    assert old.detail == {"id": 7, "last_id": 10}
    await _still_usable(raw, 11)


@pytest.mark.asyncio
async def test_every_request_gets_exactly_one_response(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    """A burst of good and bad requests: one response per id, none missing, none doubled."""
    raw = await _ready(make_server, make_raw)
    frames = {
        2: {"type": "call.answer", "id": 2, "call_id": "c1"},
        3: {"type": "call.hold", "id": 3, "call_id": "c1"},
        4: {"type": "call.retrieve", "id": 4, "call_id": "c1"},
        5: {"type": "call.release", "id": 5, "call_id": "c1"},
        6: {"type": "ping", "id": 6},
        7: {"type": "call.answer", "id": 7, "call_id": ""},
    }
    for frame in frames.values():
        await raw.send(frame)
    seen: dict[int, str] = {}
    while len(seen) < len(frames):
        msg = await raw.recv()
        if isinstance(msg, Result | Error | Pong):
            assert msg.id not in seen
            assert msg.id is not None
            seen[msg.id] = msg.type_tag() if not isinstance(msg, Error) else msg.code.value
    assert seen == {
        2: "result",
        3: "invalid_state",
        4: "internal",
        5: "unexpected_type",
        6: "pong",
        7: "invalid_field",
    }
