"""Strict bencode codec for rtpengine's ng control protocol (pure, no I/O).

Values: ``bytes``, ``int``, ``list`` and ``dict`` with ``bytes`` keys. ``str``
is accepted on encode (UTF-8) for convenience; decode always yields ``bytes``.
Decoding is strict: no leading zeros, no ``-0``, no trailing data, bounded
nesting depth. Dictionary key order is *not* enforced on decode because
rtpengine itself does not emit keys in sorted order; encode always sorts.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

type BValue = bytes | int | list[BValue] | dict[bytes, BValue]
"""A decoded bencode value."""

type BEncodable = (
    bytes | str | int | Sequence[BEncodable] | Mapping[str, BEncodable] | Mapping[bytes, BEncodable]
)
"""Anything :func:`encode` accepts."""

MAX_DEPTH = 64


class BencodeError(ValueError):
    """Malformed bencode input, or a value that cannot be encoded."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} at byte {position}")
        self.position = position


def encode(value: BEncodable) -> bytes:
    """Encode ``value``; raises :class:`BencodeError` for unsupported types."""
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _key(key: bytes | str) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    raise BencodeError(f"dictionary key must be bytes or str, not {type(key).__name__}")


def _encode(value: BEncodable, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BencodeError("value nested too deeply")
    if isinstance(value, bool):
        raise BencodeError("bool is not a bencode type; use an int or b'yes'/b'no'")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, str):
        raw = value.encode()
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, Mapping):
        items = sorted((_key(k), v) for k, v in value.items())
        for (a, _), (b, _) in itertools.pairwise(items):
            if a == b:
                raise BencodeError(f"duplicate dictionary key {a!r}")
        out.append(b"d")
        for k, v in items:
            out.append(b"%d:" % len(k))
            out.append(k)
            _encode(v, out, depth + 1)
        out.append(b"e")
    elif isinstance(value, Sequence):
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode {type(value).__name__}")


def decode(data: bytes) -> BValue:
    """Decode exactly one value from ``data``; trailing bytes are an error."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BencodeError(f"expected bytes, not {type(data).__name__}")
    raw = bytes(data)
    value, end = _decode(raw, 0, 0)
    if end != len(raw):
        raise BencodeError("trailing data after value", end)
    return value


def _decode_int(data: bytes, pos: int, terminator: int) -> tuple[int, int]:
    """Parse a canonical decimal integer starting at ``pos`` up to ``terminator``."""
    end = data.find(terminator, pos)
    if end < 0:
        raise BencodeError("unterminated integer", pos)
    digits = data[pos:end]
    body = digits[1:] if digits[:1] == b"-" else digits
    if not body or not body.isdigit() or not body.isascii():
        raise BencodeError(f"invalid integer {digits!r}", pos)
    if len(body) > 1 and body[:1] == b"0":
        raise BencodeError(f"integer with leading zero {digits!r}", pos)
    if digits == b"-0":
        raise BencodeError("negative zero", pos)
    return int(digits), end + 1


def _decode_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    if not data[pos : pos + 1].isdigit():
        raise BencodeError("expected string length", pos)
    length, start = _decode_int(data, pos, ord(":"))
    if data[pos : pos + 1] == b"-":
        raise BencodeError("negative string length", pos)
    end = start + length
    if end > len(data):
        raise BencodeError("string runs past end of input", pos)
    return data[start:end], end


def _decode(data: bytes, pos: int, depth: int) -> tuple[BValue, int]:
    if depth > MAX_DEPTH:
        raise BencodeError("input nested too deeply", pos)
    if pos >= len(data):
        raise BencodeError("unexpected end of input", pos)
    lead = data[pos]
    if lead == ord("i"):
        return _decode_int(data, pos + 1, ord("e"))
    if lead == ord("l"):
        items: list[BValue] = []
        pos += 1
        while True:
            if pos >= len(data):
                raise BencodeError("unterminated list", pos)
            if data[pos] == ord("e"):
                return items, pos + 1
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
    if lead == ord("d"):
        result: dict[bytes, BValue] = {}
        pos += 1
        while True:
            if pos >= len(data):
                raise BencodeError("unterminated dictionary", pos)
            if data[pos] == ord("e"):
                return result, pos + 1
            key, pos = _decode_bytes(data, pos)
            if key in result:
                raise BencodeError(f"duplicate dictionary key {key!r}", pos)
            result[key], pos = _decode(data, pos, depth + 1)
    if ord("0") <= lead <= ord("9"):
        return _decode_bytes(data, pos)
    raise BencodeError(f"unexpected byte {bytes([lead])!r}", pos)
