"""SIP message parsing and serialization (RFC 3261 sections 7, 19, 20, 25).

Issue 5: the switch accepts INVITEs from gateways and phones; malformed input
must never crash it (typed SipParseError only).
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti_server.switch.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamParser,
    make_response,
    parse_message,
    parse_name_addr,
    parse_uri,
    parse_via,
    replace_top_via,
)
from tests.cti_server.switch.sip.sip_support import RFC_INVITE

COMPACT = (
    b"INVITE sip:bob@biloxi.com;transport=udp SIP/2.0\r\n"
    b"v: SIP/2.0/UDP proxy.example.com:5062;branch=z9hG4bKp1, "
    b"SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKa1;received=10.0.0.1\r\n"
    b"Via: SIP/2.0/TCP third.example.com;branch=z9hG4bKt1\r\n"
    b'f: "Alice, A." <sip:alice@atlanta.com>;tag=88\r\n'
    b"t: sip:bob@biloxi.com\r\n"
    b"i: abc@host\r\n"
    b"CSeq: 2\r\n INVITE\r\n"
    b"m: <sip:alice@10.0.0.1:5070>;expires=60, <sip:alice@10.0.0.2>\r\n"
    b"k: replaces, timer\r\n"
    b"Subject: folded\r\n"
    b"\tover two lines\r\n"
    b"c: application/sdp\r\n"
    b"l: 3\r\n"
    b"\r\n"
    b"abcEXTRA"
)


def test_sip_message_parses_rfc3261_invite() -> None:
    msg = parse_message(RFC_INVITE)
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE"
    assert msg.uri.user == "bob" and msg.uri.host == "biloxi.com"
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.com"
    assert msg.cseq.number == 314159 and msg.cseq.method == "INVITE"
    assert msg.from_.tag == "1928301774" and msg.from_.display_name == "Alice"
    assert msg.to.tag is None
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert msg.body == b"v=0\n"


def test_sip_message_compact_forms_folding_multi_values_and_length() -> None:
    msg = parse_message(COMPACT)
    assert isinstance(msg, SipRequest)
    vias = msg.vias
    assert [v.host for v in vias] == ["proxy.example.com", "pc33.atlanta.com", "third.example.com"]
    assert vias[0].port == 5062 and vias[1].received == "10.0.0.1"
    assert vias[2].transport == "TCP"
    assert msg.from_.display_name == "Alice, A."
    assert msg.to.uri.user == "bob"
    assert msg.cseq.number == 2
    assert msg.headers.get("SUBJECT") == "folded over two lines"
    assert [c.uri.host for c in msg.contacts] == ["10.0.0.1", "10.0.0.2"]
    assert msg.contacts[0].params["expires"] == "60"
    assert msg.headers.values("Supported") == ["replaces", "timer"]
    assert msg.content_type == "application/sdp"
    assert msg.body == b"abc"  # UDP datagram: extra bytes past Content-Length are dropped


def test_sip_message_round_trip_uses_long_names_and_recomputes_length() -> None:
    msg = parse_message(COMPACT)
    data = msg.to_bytes()
    assert b"\r\nCall-ID: abc@host\r\n" in data
    assert b"Content-Length: 3\r\n\r\nabc" in data
    again = parse_message(data)
    assert again.to_bytes() == data
    assert [v.branch for v in again.vias] == [v.branch for v in msg.vias]


def test_sip_message_response_and_make_response() -> None:
    request = parse_message(RFC_INVITE)
    assert isinstance(request, SipRequest)
    response = make_response(request, 180, to_tag="xyz")
    parsed = parse_message(response.to_bytes())
    assert isinstance(parsed, SipResponse)
    assert parsed.status == 180 and parsed.reason == "Ringing"
    assert parsed.to.tag == "xyz"
    assert parsed.headers.get_all("Via") == request.headers.get_all("Via")
    assert parsed.cseq == request.cseq
    trying = make_response(request, 100)
    assert trying.to.tag is None
    busy = make_response(request, 486)
    assert busy.to.tag  # every final response carries a To tag


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:alice@atlanta.com", ("sip", "alice", "atlanta.com", None, {})),
        (
            "sips:bob:pw@[2001:db8::1]:5061;transport=tcp",
            ("sips", "bob", "[2001:db8::1]", 5061, {"transport": "tcp"}),
        ),
        ("sip:10.0.0.1:5070;lr", ("sip", None, "10.0.0.1", 5070, {"lr": None})),
        (
            "sip:+8613800138000@gw.example.cn;user=phone",
            ("sip", "+8613800138000", "gw.example.cn", None, {"user": "phone"}),
        ),
        (
            "tel:+1-201-555-0123;phone-context=example.com",
            ("tel", "+1-201-555-0123", "", None, {"phone-context": "example.com"}),
        ),
    ],
)
def test_sip_message_uri_parsing(
    text: str, expected: tuple[str, str | None, str, int | None, dict[str, str | None]]
) -> None:
    uri = parse_uri(text)
    assert (uri.scheme, uri.user, uri.host, uri.port, uri.params) == expected
    assert parse_uri(str(uri)) == uri


def test_sip_message_uri_headers_and_aor() -> None:
    uri = parse_uri("sip:agent@switch.local:5080;transport=TCP?Subject=hi&Priority=urgent")
    assert uri.headers == {"Subject": "hi", "Priority": "urgent"}
    assert uri.transport == "TCP"
    assert uri.aor == "sip:agent@switch.local"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip:",
        "http://x",
        "sip:@host",
        "sip:a@",
        "sip:a@host:99999",
        "sip:a@host:x",
        "sip:a@ho st",
        "sip:a@host;=x",
        "tel:xyz",
    ],
)
def test_sip_message_bad_uris_raise(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(text)


def test_sip_message_name_addr_forms() -> None:
    plain = parse_name_addr("sip:bob@biloxi.com;tag=12")
    assert plain.tag == "12" and plain.uri.params == {}
    angle = parse_name_addr('"Bob \\"B\\"" <sip:bob@biloxi.com;transport=tcp>;tag=9')
    assert angle.display_name == 'Bob "B"' and angle.uri.transport == "TCP"
    assert parse_name_addr(str(angle)) == angle
    token = parse_name_addr("Bob <sip:bob@b.com>")
    assert token.display_name == "Bob"
    for bad in ("<sip:bob@b.com", '"open <sip:a@b>', "<sip:a@b> junk"):
        with pytest.raises(SipParseError):
            parse_name_addr(bad)


def test_sip_message_via_params() -> None:
    via = parse_via("SIP / 2.0 / UDP 192.0.2.4:5066 ;branch=z9hG4bKx;rport;received=1.2.3.4")
    assert via.transport == "UDP" and via.port == 5066
    assert via.wants_rport and via.rport is None and via.received == "1.2.3.4"
    assert parse_via(str(via)) == via


def test_sip_message_replace_top_via_keeps_the_others() -> None:
    msg = parse_message(COMPACT)
    replace_top_via(msg.headers, msg.top_via.with_params(received="9.9.9.9"))
    assert [v.host for v in msg.vias] == [
        "proxy.example.com",
        "pc33.atlanta.com",
        "third.example.com",
    ]
    assert msg.top_via.received == "9.9.9.9"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"INVITE sip:bob@b.com SIP/3.0\r\n\r\n",
        b"INVITE sip:bob@b.com\r\n\r\n",
        RFC_INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: x INVITE"),
        RFC_INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 1 BYE"),
        RFC_INVITE.replace(b"Call-ID", b"X-Call-ID"),
        RFC_INVITE.replace(b"Content-Length: 4", b"Content-Length: 40"),
        RFC_INVITE.replace(b"Content-Length: 4", b"Content-Length: -1"),
        RFC_INVITE.replace(b"Via: SIP/2.0/UDP", b"Via: SIP/2.0 UDP"),
        RFC_INVITE.replace(b"Max-Forwards: 70", b"Max Forwards 70"),
        RFC_INVITE.replace(b"Bob <sip", b"Bob sip"),
        b"SIP/2.0 999 Odd\r\n\r\n",
        b"SIP/2.0 20 OK\r\n\r\n",
        b"\xff\xfe INVITE",
    ],
)
def test_sip_message_malformed_raises_typed_error(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)


def test_sip_message_stream_framing_across_chunks_and_keepalives() -> None:
    """TCP: messages split at any byte boundary, glued together, CRLF keep-alives between."""
    one = parse_message(RFC_INVITE).to_bytes()
    stream = b"\r\n\r\n" + one + b"\r\n" + one
    for size in (1, 7, 100, len(stream)):
        parser = StreamParser()
        got = []
        for i in range(0, len(stream), size):
            got.extend(parser.feed(stream[i : i + size]))
        assert len(got) == 2
        assert all(m.body == b"v=0\n" for m in got)
        assert parser.pending == 0


def test_sip_message_stream_requires_content_length() -> None:
    data = RFC_INVITE.replace(b"Content-Length: 4\r\n", b"")
    with pytest.raises(SipParseError):
        StreamParser().feed(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=600))
def test_sip_message_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)
    with contextlib.suppress(SipParseError):
        StreamParser().feed(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.integers(min_value=0, max_value=len(COMPACT)),
    st.integers(min_value=0, max_value=40),
    st.binary(max_size=12)
    | st.sampled_from(
        [b":", b";", b"<", b">", b'"', b",", b"\r\n", b"\r\n ", b"@", b"[", b"%", b"\x00", b"="]
    ),
)
def test_sip_message_fuzz_mutated_valid_message(pos: int, cut: int, insert: bytes) -> None:
    """Mutations of a valid message either parse (and re-serialize) or raise SipParseError."""
    data = COMPACT[:pos] + insert + COMPACT[pos + cut :]
    try:
        msg = parse_message(data)
    except SipParseError:
        return
    again = parse_message(msg.to_bytes())
    assert again.to_bytes() == msg.to_bytes()
    for name, _ in msg.headers:
        # Other headers are parsed lazily: still only the typed error.
        with contextlib.suppress(SipParseError):
            msg.headers.values(name)
