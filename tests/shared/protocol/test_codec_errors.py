"""Malformed input gets a typed error naming the problem, never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.protocol import (
    ErrorCode,
    Link,
    ProtocolError,
    decode,
    decode_client,
    decode_server,
    encode,
    error_for,
)
from shared.protocol.call import CallAnswer
from shared.protocol.responses import Error
from tests.shared.protocol.examples import EXAMPLES


def _fails(data: bytes | str, **kwargs: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode_client(data, **kwargs)
    return info.value


def _obj(tag: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(encode(EXAMPLES[tag]))
    return result


@pytest.mark.parametrize(
    "frame", [b"{", b'{"type": "ping", "id": 1', b"hello", b"", b'{"type":"ping","id":1} x']
)
def test_invalid_json_is_bad_json(frame: bytes) -> None:
    assert _fails(frame).code is ErrorCode.BAD_JSON


@pytest.mark.parametrize("frame", ["[]", '[{"type": "ping", "id": 1}]', "42", '"ping"', "null"])
def test_json_that_is_not_an_object_is_bad_frame(frame: str) -> None:
    assert _fails(frame).code is ErrorCode.BAD_FRAME


@pytest.mark.parametrize(
    "frame", [b"\xff\xfe\x00\x01binary", b'{"type": "ping", "id": 1, "x": "\xc3\x28"}']
)
def test_binary_garbage_is_bad_frame(frame: bytes) -> None:
    assert _fails(frame).code is ErrorCode.BAD_FRAME


def test_a_str_with_lone_surrogates_is_bad_frame() -> None:
    assert _fails('{"type": "ping", "id": 1, "x": "\ud800"}').code is ErrorCode.BAD_FRAME


def test_deeply_nested_json_is_a_typed_error() -> None:
    frame = '{"type": "ping", "id": 1, "x": ' + "[" * 20_000 + "]" * 20_000 + "}"
    assert _fails(frame).code is ErrorCode.BAD_JSON


def test_missing_type_names_the_field() -> None:
    err = _fails('{"id": 3, "call_id": "c1"}')
    assert err.code is ErrorCode.MISSING_FIELD
    assert err.detail["path"] == "$.type"
    assert err.request_id == 3


def test_unknown_type_is_named_and_correlated() -> None:
    err = _fails('{"type": "call.teleport", "id": 12, "call_id": "c1"}')
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert err.detail["type"] == "call.teleport"
    assert "call.teleport" in err.message
    assert err.request_id == 12


def test_wrong_field_type_names_the_path_and_expected_type() -> None:
    err = _fails('{"type": "call.answer", "id": "7", "call_id": "c1"}')
    assert err.code is ErrorCode.INVALID_FIELD
    assert err.detail == {"path": "$.id", "expected": "int", "got": "str"}
    assert "$.id" in err.message


def test_nested_wrong_field_type_names_the_nested_path() -> None:
    obj = _obj("call.single_step_transfer")
    obj["destination"]["queue_id"] = 17
    err = _fails(json.dumps(obj))
    assert err.code is ErrorCode.INVALID_FIELD
    assert err.detail["path"] == "$.destination.queue_id"
    assert err.request_id == obj["id"]


def test_booleans_are_not_integers() -> None:
    err = _fails('{"type": "ping", "id": true}')
    assert err.code is ErrorCode.INVALID_FIELD
    assert err.detail["got"] == "bool"


def test_missing_required_field_names_it() -> None:
    err = _fails('{"type": "call.answer", "id": 5}')
    assert err.code is ErrorCode.MISSING_FIELD
    assert err.detail == {"path": "$.call_id"}
    assert err.request_id == 5


def test_missing_nested_field_names_the_full_path() -> None:
    obj = _obj("call.consult")
    del obj["destination"]["agent_id"]
    err = _fails(json.dumps(obj))
    assert err.code is ErrorCode.MISSING_FIELD
    assert err.detail["path"] == "$.destination.agent_id"


@pytest.mark.parametrize("digits", ["12x", "", "1" * 65, "E", " 1"])
def test_bad_dtmf_digits_are_rejected(digits: str) -> None:
    """R-IN-8: DTMF is limited to 0-9 * # A-D."""
    obj = _obj("call.send_dtmf")
    obj["digits"] = digits
    err = _fails(json.dumps(obj))
    assert err.code is ErrorCode.INVALID_FIELD
    assert err.detail["path"] == "$.digits"


@pytest.mark.parametrize("code", ["x" * 33, "", "has space", "break\n"])
def test_bad_reason_codes_are_rejected(code: str) -> None:
    obj = _obj("agent.set_not_ready")
    obj["reason_code"] = code
    err = _fails(json.dumps(obj))
    assert err.code is ErrorCode.INVALID_FIELD
    assert err.detail["path"] == "$.reason_code"


@pytest.mark.parametrize(
    ("tag", "field", "value"),
    [
        ("call.answer", "id", 0),
        ("call.answer", "id", 2**53),
        ("call.answer", "call_id", ""),
        ("switch.route_request", "caller", "+86 138"),
        ("switch.route_request", "caller", "1" * 33),
        ("switch.route_request", "stage", "teleport"),
        ("switch.registration", "contact", "http://example.com"),
        ("hello", "versions", []),
        ("supervisor.monitor", "mode", "spy"),
    ],
)
def test_constraint_violations_are_invalid_field(tag: str, field: str, value: Any) -> None:
    obj = _obj(tag)
    obj[field] = value
    link = Link.SWITCH if tag.startswith("switch.") else Link.CTI
    err = _fails(json.dumps(obj), link=link)
    assert err.code is ErrorCode.INVALID_FIELD
    assert err.detail["path"] == f"$.{field}"


def test_unknown_nested_tag_is_an_invalid_field_not_an_unknown_type() -> None:
    obj = _obj("call.consult")
    obj["destination"] = {"kind": "moon", "agent_id": "a1"}
    err = _fails(json.dumps(obj))
    assert err.code is ErrorCode.INVALID_FIELD
    assert err.detail["path"] == "$.destination.kind"


def test_oversize_frames_are_rejected_before_parsing() -> None:
    """An oversize frame is refused on its length alone: even invalid JSON gets frame_too_large."""
    frame = b'{"type":"call.answer","id":77,' + b"x" * 70_000
    err = _fails(frame)
    assert err.code is ErrorCode.FRAME_TOO_LARGE
    assert err.detail == {"size": len(frame), "limit": 64 * 1024}
    assert err.request_id == 77  # best effort, from the head of the frame


def test_the_size_limit_is_configurable_and_counts_utf8_bytes() -> None:
    frame = encode(EXAMPLES["call.answer"])
    assert decode_client(frame, max_bytes=len(frame)) == EXAMPLES["call.answer"]
    assert _fails(frame, max_bytes=len(frame) - 1).code is ErrorCode.FRAME_TOO_LARGE
    text = '{"type": "agent.set_not_ready", "id": 1, "reason_code": "休息"}'
    assert len(text) < 63 < len(text.encode())
    assert _fails(text, max_bytes=63).code is ErrorCode.FRAME_TOO_LARGE


@pytest.mark.parametrize("tag", ["call.delivered", "agent.ready", "result", "error", "welcome"])
def test_a_client_cannot_send_server_messages(tag: str) -> None:
    err = _fails(encode(EXAMPLES[tag]))
    assert err.code is ErrorCode.NOT_A_REQUEST
    assert err.detail["type"] == tag


def test_a_desktop_cannot_send_switch_requests_nor_a_switch_desktop_requests() -> None:
    err = _fails(encode(EXAMPLES["switch.route_request"]))
    assert err.code is ErrorCode.UNEXPECTED_TYPE
    assert err.request_id == 30
    err = _fails(encode(EXAMPLES["call.answer"]), link=Link.SWITCH)
    assert err.code is ErrorCode.UNEXPECTED_TYPE


def test_a_switch_command_is_not_accepted_on_the_desktop_link() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_server(encode(EXAMPLES["switch.command"]), link=Link.CTI)
    assert info.value.code is ErrorCode.UNEXPECTED_TYPE


def test_a_server_cannot_send_requests_to_a_client() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_server(encode(EXAMPLES["call.answer"]))
    assert info.value.code is ErrorCode.UNEXPECTED_TYPE


def test_events_without_a_sequence_number_are_rejected() -> None:
    obj = _obj("call.established")
    del obj["seq"]
    for decoder in (decode, decode_server):
        with pytest.raises(ProtocolError) as info:
            decoder(json.dumps(obj))
        assert info.value.code is ErrorCode.INVALID_FIELD
        assert info.value.detail["path"] == "$.seq"


def test_non_text_input_is_bad_frame() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_client(123)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.BAD_FRAME


def test_error_for_builds_a_correlated_error_message() -> None:
    err = _fails('{"type": "call.answer", "id": 5}')
    msg = error_for(err)
    assert msg == Error(
        id=5,
        code=ErrorCode.MISSING_FIELD,
        message="missing required field `$.call_id`",
        detail={"path": "$.call_id"},
    )
    assert decode_server(encode(msg)) == msg


def test_error_for_a_code_uses_a_standard_message() -> None:
    msg = error_for(ErrorCode.INVALID_STATE, 9)
    assert (msg.id, msg.code, msg.message) == (
        9,
        ErrorCode.INVALID_STATE,
        "not possible in the current state",
    )
    assert error_for(ErrorCode.UNKNOWN_CALL, 3, message="no call c1").message == "no call c1"


def test_error_for_an_unexpected_exception_hides_its_text() -> None:
    msg = error_for(KeyError("secret internals"), 4)
    assert msg.code is ErrorCode.INTERNAL
    assert "secret" not in encode(msg).decode()


def test_error_for_truncates_what_would_not_fit_the_message_limits() -> None:
    big = ProtocolError(ErrorCode.INVALID_FIELD, "x" * 5000, detail={"path": "y" * 5000})
    msg = error_for(big, 2**60)  # an id outside the wire range is dropped
    assert msg.id is None
    assert decode_server(encode(msg)) == msg


def test_a_valid_request_still_decodes_after_errors() -> None:
    """The codec keeps no state: one bad frame does not affect the next."""
    _fails(b"{")
    assert decode_client(encode(CallAnswer(id=1, call_id="c1"))) == CallAnswer(id=1, call_id="c1")
