"""Encode and decode frames. Pure functions, no I/O.

``decode*`` take one WebSocket text frame (``str``, or its UTF-8 ``bytes``) and
return a typed message or raise :class:`ProtocolError` - never anything else, whatever
the input. The size limit is checked before parsing. When a frame fails, the
request id is recovered on a best-effort basis so the error can be correlated.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Final

import msgspec

from shared.protocol.base import MAX_REQUEST_ID, Event, Request, WireMessage
from shared.protocol.errors import DetailValue, ErrorCode, ProtocolError
from shared.protocol.messages import (
    MESSAGE_TYPES,
    AnyEvent,
    AnyRequest,
    AnyResponse,
    CtiClientMessage,
    CtiServerMessage,
    Message,
    SwitchClientMessage,
    SwitchServerMessage,
)
from shared.protocol.responses import Error

DEFAULT_MAX_BYTES: Final = 64 * 1024
"""Default limit for frames a server accepts from a client (and for :func:`decode`)."""
DEFAULT_MAX_SERVER_BYTES: Final = 1024 * 1024
"""Default limit for frames a client accepts from the server (snapshots can be large)."""
DEFAULT_MAX_SWITCH_SERVER_BYTES: Final = 4 * 1024 * 1024
"""Default limit for frames a switch accepts from the server: a ``switch.agents_snapshot``
of 10,000 agents with every field at its maximum length fits."""

_MAX_MESSAGE_CHARS = 1024
_MAX_DETAIL_CHARS = 256


class Link(enum.StrEnum):
    """Which link a connection is: desktops/supervisors/tools, or a switch."""

    CTI = "cti"
    SWITCH = "switch"


class _Peek(msgspec.Struct):
    """Best-effort view of a frame that failed to decode."""

    id: object = None
    type: object = None


_ENCODER: Final = msgspec.json.Encoder()
_PEEK: Final = msgspec.json.Decoder(_Peek)
_ANY: Final = msgspec.json.Decoder(Message)
_CLIENT: Final[dict[Link, msgspec.json.Decoder[Any]]] = {
    Link.CTI: msgspec.json.Decoder(CtiClientMessage),
    Link.SWITCH: msgspec.json.Decoder(SwitchClientMessage),
}
_SERVER: Final[dict[Link, msgspec.json.Decoder[Any]]] = {
    Link.CTI: msgspec.json.Decoder(CtiServerMessage),
    Link.SWITCH: msgspec.json.Decoder(SwitchServerMessage),
}
_ID_HEAD = re.compile(rb'"id"\s*:\s*([0-9]{1,16})\b')


def encode(msg: WireMessage) -> bytes:
    """The JSON text of ``msg`` (UTF-8 bytes; send it as a text frame)."""
    return _ENCODER.encode(msg)


def decode(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Message:
    """Decode any message type, whatever its direction (tools, logs, tests)."""
    msg: Message = _decode(data, _ANY, max_bytes=max_bytes, side=None)
    return msg


def decode_client(
    data: bytes | str, *, link: Link = Link.CTI, max_bytes: int = DEFAULT_MAX_BYTES
) -> AnyRequest:
    """Decode a frame a client sent to the server: only requests of ``link`` are accepted.

    A server-only type (event, response) raises ``not_a_request``; a request of the
    other link raises ``unexpected_type``.
    """
    msg: AnyRequest = _decode(data, _CLIENT[link], max_bytes=max_bytes, side="client")
    return msg


def decode_server(
    data: bytes | str, *, link: Link = Link.CTI, max_bytes: int | None = None
) -> AnyResponse | AnyEvent:
    """Decode a frame the server sent: responses and the events of ``link``.

    ``max_bytes`` defaults to :data:`DEFAULT_MAX_SERVER_BYTES` on the CTI link and
    :data:`DEFAULT_MAX_SWITCH_SERVER_BYTES` on the switch link.
    """
    if max_bytes is None:
        max_bytes = (
            DEFAULT_MAX_SWITCH_SERVER_BYTES if link is Link.SWITCH else DEFAULT_MAX_SERVER_BYTES
        )
    msg: AnyResponse | AnyEvent = _decode(data, _SERVER[link], max_bytes=max_bytes, side="server")
    return msg


_DEFAULT_MESSAGES: Final[dict[ErrorCode, str]] = {
    ErrorCode.BAD_JSON: "the frame is not valid JSON",
    ErrorCode.BAD_FRAME: "the frame is not a JSON object in a UTF-8 text frame",
    ErrorCode.FRAME_TOO_LARGE: "the frame is too large",
    ErrorCode.UNKNOWN_TYPE: "unknown message type",
    ErrorCode.INVALID_FIELD: "a field is invalid",
    ErrorCode.MISSING_FIELD: "a required field is missing",
    ErrorCode.NOT_A_REQUEST: "this message type is sent by the server only",
    ErrorCode.UNEXPECTED_TYPE: "this message type is not valid here",
    ErrorCode.OUT_OF_ORDER_ID: "request ids must increase",
    ErrorCode.DUPLICATE_ID: "request id already used",
    ErrorCode.UNKNOWN_REQUEST_ID: "no request is waiting for this id",
    ErrorCode.SEQUENCE_GAP: "events were missed; a snapshot is needed",
    ErrorCode.UNSUPPORTED_VERSION: "no common protocol version",
    ErrorCode.NOT_AUTHENTICATED: "not authenticated",
    ErrorCode.ALREADY_AUTHENTICATED: "this connection already has a session",
    ErrorCode.FORBIDDEN: "not allowed",
    ErrorCode.UNKNOWN_SESSION: "unknown session",
    ErrorCode.INVALID_STATE: "not possible in the current state",
    ErrorCode.UNKNOWN_CALL: "unknown call",
    ErrorCode.UNKNOWN_AGENT: "unknown agent",
    ErrorCode.UNKNOWN_QUEUE: "unknown queue",
    ErrorCode.UNKNOWN_SUBSCRIPTION: "unknown subscription",
    ErrorCode.DESTINATION_UNAVAILABLE: "the destination cannot take the call",
    ErrorCode.RATE_LIMITED: "too many requests",
    ErrorCode.TIMEOUT: "timed out",
    ErrorCode.UNAVAILABLE: "temporarily unavailable",
    ErrorCode.INTERNAL: "internal error",
}


def error_for(
    problem: ProtocolError | ErrorCode | BaseException,
    request_id: int | None = None,
    *,
    message: str | None = None,
    detail: dict[str, DetailValue] | None = None,
) -> Error:
    """The ``error`` message for ``problem``.

    ``request_id`` overrides the id carried by a :class:`ProtocolError`. Any other
    exception becomes ``internal`` without its text (that belongs in the log, not on
    the wire).
    """
    if isinstance(problem, ProtocolError):
        code = problem.code
        text = message or problem.message
        merged: dict[str, DetailValue] = {**problem.detail, **(detail or {})}
        rid = request_id if request_id is not None else problem.request_id
    else:
        code = problem if isinstance(problem, ErrorCode) else ErrorCode.INTERNAL
        text = message or _DEFAULT_MESSAGES.get(code, str(code))
        merged = dict(detail or {})
        rid = request_id
    if rid is not None and not 1 <= rid <= MAX_REQUEST_ID:
        rid = None
    clean: dict[str, DetailValue] = {}
    for key, value in list(merged.items())[:16]:
        clean[key[:64]] = value[:_MAX_DETAIL_CHARS] if isinstance(value, str) else value
    return Error(id=rid, code=code, message=text[:_MAX_MESSAGE_CHARS], detail=clean)


# ---------------------------------------------------------------------------
# internals


def _decode[T](
    data: bytes | str,
    decoder: msgspec.json.Decoder[T],
    *,
    max_bytes: int,
    side: str | None,
) -> T:
    raw = _as_bytes(data)
    if len(raw) > max_bytes:
        raise ProtocolError(
            ErrorCode.FRAME_TOO_LARGE,
            f"frame of {len(raw)} bytes exceeds the limit of {max_bytes} bytes",
            detail={"size": len(raw), "limit": max_bytes},
            request_id=_id_from_head(raw),
        )
    try:
        msg = decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _classify(str(exc), raw, side) from None
    except msgspec.DecodeError as exc:
        raise _undecodable(raw, str(exc)) from None
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.BAD_FRAME, "the frame is not valid UTF-8 text") from None
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_JSON, "JSON nested too deeply") from None
    if isinstance(msg, Event) and msg.seq < 1:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            "events carry seq >= 1 - at `$.seq`",
            detail={"path": "$.seq", "expected": "int >= 1"},
        )
    return msg


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(
                    ErrorCode.BAD_FRAME, "the frame is not UTF-8 text (binary data?)"
                ) from None
        return raw
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError(
                ErrorCode.BAD_FRAME, "the frame contains unpaired surrogates"
            ) from None
    raise ProtocolError(ErrorCode.BAD_FRAME, f"a frame must be text, not {type(data).__name__}")


def _id_from_head(raw: bytes) -> int | None:
    """The request id if it appears near the start (encoders put ``type`` then ``id`` first)."""
    match = _ID_HEAD.search(raw, 0, 256)
    if match is None:
        return None
    value = int(match.group(1))
    return value if 1 <= value <= MAX_REQUEST_ID else None


def _peek(raw: bytes) -> _Peek | None:
    try:
        return _PEEK.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return None


def _peek_id(peek: _Peek | None) -> int | None:
    if peek is None or isinstance(peek.id, bool) or not isinstance(peek.id, int):
        return None
    return peek.id if 1 <= peek.id <= MAX_REQUEST_ID else None


def _undecodable(raw: bytes, reason: str) -> ProtocolError:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return ProtocolError(ErrorCode.BAD_FRAME, "the frame is not UTF-8 text (binary data?)")
    return ProtocolError(ErrorCode.BAD_JSON, reason[:_MAX_MESSAGE_CHARS])


_INVALID_TAG = re.compile(r"^Invalid value (?P<value>.*)$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")
_EXPECTED = re.compile(r"^Expected `(?P<expected>[^`]*)`(?P<rest>.*)$")
_GOT = re.compile(r"^, got `(?P<got>[^`]*)`$")
_KEY_PATH = re.compile(r"^key` in `(?P<path>.*)$")


def _classify(text: str, raw: bytes, side: str | None) -> ProtocolError:
    """Turn a msgspec ValidationError message into a typed error."""
    peek = _peek(raw)
    request_id = _peek_id(peek)
    reason, sep, tail = text.rpartition(" - at `")
    if sep and tail.endswith("`"):
        path = tail[:-1]
    else:
        reason, path = text, "$"
    key = _KEY_PATH.match(path)
    if key:  # a map key is invalid: report the map's path, say it was a key
        path = key["path"]
        text = f"a key: {reason} - at `{path}`"

    if path == "$.type" and _INVALID_TAG.match(reason):
        tag = peek.type if peek is not None else None
        if isinstance(tag, str) and tag in MESSAGE_TYPES:
            if side == "client" and not issubclass(MESSAGE_TYPES[tag], Request):
                return ProtocolError(
                    ErrorCode.NOT_A_REQUEST,
                    f"`{tag}` is sent by the server only",
                    detail={"type": tag},
                    request_id=request_id,
                )
            return ProtocolError(
                ErrorCode.UNEXPECTED_TYPE,
                f"`{tag}` is not valid on this link in this direction",
                detail={"type": tag},
                request_id=request_id,
            )
        shown = tag[:64] if isinstance(tag, str) else None
        return ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {shown!r}",
            detail={"type": shown},
            request_id=request_id,
        )

    missing = _MISSING.match(reason)
    if missing:
        field_path = f"{path}.{missing['field']}"
        return ProtocolError(
            ErrorCode.MISSING_FIELD,
            f"missing required field `{field_path}`",
            detail={"path": field_path},
            request_id=request_id,
        )

    if path == "$" and reason.startswith("Expected `object`"):
        return ProtocolError(
            ErrorCode.BAD_FRAME,
            f"a frame must be a JSON object ({reason})",
            detail={"expected": "object"},
            request_id=request_id,
        )

    detail: dict[str, DetailValue] = {"path": path}
    if key:
        detail["key"] = True
    expected = _EXPECTED.match(reason)
    if expected:
        got = _GOT.match(expected["rest"])
        if got:
            detail["expected"] = expected["expected"]
            detail["got"] = got["got"]
        else:
            detail["expected"] = (expected["expected"] + expected["rest"])[:_MAX_DETAIL_CHARS]
    return ProtocolError(
        ErrorCode.INVALID_FIELD, text[:_MAX_MESSAGE_CHARS], detail=detail, request_id=request_id
    )
