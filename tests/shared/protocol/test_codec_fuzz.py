"""Property-based tests: whatever arrives, decode returns a message or a typed error.

For every input, each decoder either returns a message that re-encodes and
re-decodes identically, or raises ProtocolError with an ErrorCode - never any other
exception (which would escape to the transport and drop the connection).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.protocol import (
    MESSAGE_TYPES,
    ErrorCode,
    Link,
    ProtocolError,
    decode,
    decode_client,
    decode_server,
    encode,
    error_for,
)
from shared.protocol.base import WireMessage
from tests.shared.protocol.examples import EXAMPLES, VARIANTS

Decoder = Callable[[bytes | str], WireMessage]

DECODERS: dict[str, Decoder] = {
    "any": decode,
    "client/cti": decode_client,
    "client/switch": partial(decode_client, link=Link.SWITCH),
    "server/cti": decode_server,
    "server/switch": partial(decode_server, link=Link.SWITCH),
}
RAW = "\u0000raw\u0000"
RAW_TOKENS = [
    "1e400",
    "-1e400",
    "1E2",
    "-0",
    "-0.0",
    "9007199254740993",
    "18446744073709551616",
    "-9223372036854775809",
    '"\\ud800"',
    '"x\\udc80"',
    '"\\u0000"',
    '"a\\nb"',
    '"\\u2028"',
    "true",
    "[]",
    "{}",
]
SEEDS: list[dict[str, Any]] = [json.loads(encode(m)) for m in (*EXAMPLES.values(), *VARIANTS)]
TAGS = sorted(MESSAGE_TYPES)

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "1", "a1001", "+8613800138000", "123#", "sip:1@h", "gold"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def check(data: bytes | str) -> None:
    """The contract of every decoder, for one input."""
    for name, decoder in DECODERS.items():
        error: ProtocolError | None = None
        try:
            msg = decoder(data)
        except ProtocolError as exc:
            error = exc
        if error is not None:
            assert isinstance(error.code, ErrorCode), name
            assert error.message, name
            reply = error_for(error)
            assert decode_server(encode(reply)) == reply, name
        else:
            again = decode(encode(msg), max_bytes=1 << 20)
            assert again == msg, name
            assert encode(again) == encode(msg), name


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            paths.append((*prefix, key))
            paths.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths.append((*prefix, index))
            paths.extend(_paths(child, (*prefix, index)))
    return paths


def _parent(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        obj = obj[step]
    return obj


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(json_values)
def test_arbitrary_json_values(value: Any) -> None:
    check(json.dumps(value))
    check(json.dumps(value, ensure_ascii=False).encode())


@FUZZ
@given(
    st.sampled_from(TAGS),
    st.dictionaries(
        st.sampled_from(["id", "seq", "ts", "call_id", "agent_id", "code", "body", "x"]),
        json_values,
        max_size=6,
    ),
)
def test_objects_with_a_real_type_and_random_fields(tag: str, fields: dict[str, Any]) -> None:
    check(json.dumps({"type": tag, **fields}))


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_valid_messages_with_one_field_mutated(seed: dict[str, Any], data: st.DataObject) -> None:
    obj = copy.deepcopy(seed)
    path = data.draw(st.sampled_from(_paths(obj)))
    parent = _parent(obj, path)
    operation = data.draw(st.sampled_from(["replace", "raw", "delete", "retag"]))
    if operation == "replace":
        parent[path[-1]] = data.draw(json_values)
    elif operation == "raw":  # tokens json.dumps cannot produce: huge numbers, lone surrogates
        parent[path[-1]] = RAW
    elif operation == "delete":
        del parent[path[-1]]
    else:
        obj["type"] = data.draw(st.sampled_from(TAGS) | st.text(max_size=20))
    text = json.dumps(obj)
    if operation == "raw":
        text = text.replace(json.dumps(RAW), data.draw(st.sampled_from(RAW_TOKENS)))
    check(text)


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_valid_messages_cut_or_corrupted_at_a_random_byte(
    seed: dict[str, Any], data: st.DataObject
) -> None:
    raw = json.dumps(seed, ensure_ascii=False).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    check(raw[:cut])
    byte = data.draw(st.integers(min_value=0, max_value=255))
    check(raw[:cut] + bytes([byte]) + raw[cut + 1 :])


def test_every_seed_is_valid_to_begin_with() -> None:
    for seed in SEEDS:
        assert (
            encode(decode(json.dumps(seed)))
            == json.dumps(seed, separators=(",", ":"), ensure_ascii=False).encode()
        )
