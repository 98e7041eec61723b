"""Strict bencode codec used on the rtpengine ng control channel."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti_server.switch.media.bencode import BencodeError, BValue, decode, encode

values: st.SearchStrategy[BValue] = st.recursive(
    st.binary(max_size=20) | st.integers(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.binary(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


def test_media_bencode_known_wire_forms() -> None:
    """The ng ping exchange from rtpengine's documentation round-trips byte for byte."""
    assert encode({"command": "ping"}) == b"d7:command4:pinge"
    assert decode(b"d6:result4:ponge") == {b"result": b"pong"}
    assert encode([1, -2, b"", "é"]) == b"li1ei-2e0:2:\xc3\xa9e"
    assert decode(b"i0e") == 0


def test_media_bencode_encode_sorts_keys_decode_accepts_unsorted() -> None:
    """rtpengine does not sort its reply keys, so decode must not insist on order."""
    assert encode({"b": 1, "a": 2}) == b"d1:ai2e1:bi1ee"
    assert decode(b"d1:bi1e1:ai2ee") == {b"b": 1, b"a": 2}


@given(values)
def test_media_bencode_roundtrip(value: BValue) -> None:
    assert decode(encode(value)) == value


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"i",
        b"ie",
        b"i-0e",
        b"i01e",
        b"i1.5e",
        b"i 1e",
        b"3:ab",
        b"-1:a",
        b"01:a",
        b"l",
        b"d",
        b"d1:a",
        b"di1ei2ee",
        b"d1:ai1e1:ai2ee",
        b"i1ei2e",
        b"x",
        b"l" * 100 + b"e" * 100,
    ],
)
def test_media_bencode_malformed_raises_typed_error(data: bytes) -> None:
    with pytest.raises(BencodeError):
        decode(data)


@given(st.binary(max_size=64))
def test_media_bencode_fuzz_never_raises_anything_else(data: bytes) -> None:
    """Random bytes either decode or raise BencodeError — never another exception."""
    try:
        value = decode(data)
    except BencodeError:
        return
    assert encode(value) is not None


@given(values, st.binary(min_size=1, max_size=4))
def test_media_bencode_trailing_garbage_rejected(value: BValue, tail: bytes) -> None:
    with pytest.raises(BencodeError):
        decode(encode(value) + tail)


@pytest.mark.parametrize("bad", [True, 1.5, None, {1: b"x"}, {"a": 1, b"a": 2}])
def test_media_bencode_unencodable_raises_typed_error(bad: object) -> None:
    with pytest.raises(BencodeError):
        encode(bad)  # type: ignore[arg-type]
