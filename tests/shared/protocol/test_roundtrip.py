"""Every message type survives encode → decode, with the documented envelope shape."""

from __future__ import annotations

import json

import msgspec
import pytest

from shared.protocol import (
    MESSAGE_TYPES,
    Event,
    Link,
    Request,
    Response,
    decode,
    decode_client,
    decode_server,
    encode,
)
from shared.protocol.base import WireMessage
from shared.protocol.handshake import Hello, PasswordCredentials, TokenCredentials
from tests.shared.protocol.examples import EXAMPLES, PASSWORD, VARIANTS

ALL_EXAMPLES: list[WireMessage] = [*EXAMPLES.values(), *VARIANTS]


def _id(msg: WireMessage) -> str:
    return msg.type_tag()


def test_the_catalogue_has_an_example_of_every_message_type() -> None:
    """Adding a message type without an example here fails this test."""
    assert set(EXAMPLES) == set(MESSAGE_TYPES)
    for tag, example in EXAMPLES.items():
        assert type(example) is MESSAGE_TYPES[tag], tag


def test_every_message_kind_is_exactly_one_of_request_response_event() -> None:
    for tag, cls in MESSAGE_TYPES.items():
        kinds = [issubclass(cls, base) for base in (Request, Response, Event)]
        assert kinds.count(True) == 1, tag
        assert msgspec.structs.fields(cls)  # every type has at least one field
        assert cls.__struct_config__.frozen


@pytest.mark.parametrize("msg", ALL_EXAMPLES, ids=_id)
def test_encode_then_decode_gives_the_same_message(msg: WireMessage) -> None:
    data = encode(msg)
    assert decode(data) == msg
    assert decode(data.decode()) == msg  # text frames arrive as str
    assert encode(decode(data)) == data


@pytest.mark.parametrize("msg", ALL_EXAMPLES, ids=_id)
def test_the_envelope_is_a_flat_object_with_type_first(msg: WireMessage) -> None:
    obj = json.loads(encode(msg))
    assert isinstance(obj, dict)
    assert next(iter(obj)) == "type"
    assert obj["type"] == msg.type_tag()
    if isinstance(msg, Request):
        assert isinstance(obj["id"], int) and obj["id"] >= 1
        assert "seq" not in obj
    elif isinstance(msg, Event):
        assert isinstance(obj["seq"], int) and obj["seq"] >= 1
        assert isinstance(obj["ts"], float)
        assert "id" not in obj
    else:
        assert "id" in obj and "seq" not in obj


@pytest.mark.parametrize("msg", ALL_EXAMPLES, ids=_id)
def test_each_side_accepts_what_the_other_may_send(msg: WireMessage) -> None:
    data = encode(msg)
    tag = msg.type_tag()
    link = Link.SWITCH if tag.startswith("switch.") else Link.CTI
    if isinstance(msg, Request):
        assert decode_client(data, link=link) == msg
        if tag in {"hello", "ping", "logout", "snapshot"}:  # the handshake is on both links
            assert decode_client(data, link=Link.SWITCH) == msg
    else:
        assert decode_server(data, link=link) == msg
        if isinstance(msg, Response):
            assert decode_server(data, link=Link.SWITCH) == msg


def test_unknown_extra_fields_are_ignored_for_forward_compatibility() -> None:
    obj = json.loads(encode(EXAMPLES["call.delivered"]))
    obj["added_in_1_1"] = {"anything": [1, 2, 3]}
    obj["trajectory"][0]["new_step_field"] = "x"
    assert decode_server(json.dumps(obj)) == EXAMPLES["call.delivered"]


def test_credentials_never_appear_in_repr_or_str() -> None:
    hello = EXAMPLES["hello"]
    assert isinstance(hello, Hello)
    assert isinstance(hello.credentials, PasswordCredentials)
    for text in (repr(hello), str(hello), repr(hello.credentials), str(hello.credentials)):
        assert PASSWORD not in text
        assert "a1001" in text  # the user id stays visible for logs
    token = TokenCredentials(token="sw-token-0123456789")
    assert "sw-token" not in repr(token)
    assert "sw-token" not in repr(Hello(**{**msgspec.structs.asdict(hello), "credentials": token}))
    rich = dict(hello.credentials.__rich_repr__())
    assert PASSWORD not in str(rich)


def test_credentials_still_go_on_the_wire() -> None:
    """Masking is for logs only: the server must receive the real password."""
    decoded = decode_client(encode(EXAMPLES["hello"]))
    assert isinstance(decoded, Hello)
    assert isinstance(decoded.credentials, PasswordCredentials)
    assert decoded.credentials.password == PASSWORD
