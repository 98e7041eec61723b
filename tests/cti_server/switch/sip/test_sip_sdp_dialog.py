"""SDP offer/answer for G.711 + RFC 4733, hold directions, and dialog mechanics.

Issue 5: G.711 µ-law/A-law, DTMF by RFC 4733, hold/retrieve (R-IN-8), session
timers or RTP timeout to reap dead calls.
"""

from __future__ import annotations

import pytest

from cti_server.switch.sip.dialog import Dialog, Retransmit2xx, Role, SessionTimer
from cti_server.switch.sip.message import SipRequest, make_response, parse_message
from cti_server.switch.sip.sdp import (
    NoCommonCodec,
    SdpParseError,
    audio_answer,
    audio_offer,
    parse_sdp,
    with_direction,
)
from cti_server.switch.sip.transaction import TimerConfig
from tests.cti_server.switch.sip.sip_support import RFC_INVITE, FakeClock, RecordingChannel

SIPP_OFFER = (
    "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
    "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def test_sip_sdp_parses_offer_and_static_payloads() -> None:
    sdp = parse_sdp(SIPP_OFFER)
    audio = sdp.audio
    assert audio is not None and audio.port == 6000 and audio.formats == ("0",)
    assert audio.rtpmaps["0"].encoding == "PCMU" and audio.rtpmaps["0"].clock_rate == 8000
    assert sdp.media_connection(audio) is not None
    assert sdp.direction(audio) == "sendrecv"
    assert parse_sdp(sdp.to_text()) == sdp


def test_sip_sdp_answer_picks_first_common_codec_and_telephone_event() -> None:
    offer = audio_offer("192.0.2.10", 20_000, codecs=("8", "0"))
    answer = audio_answer(offer, "192.0.2.20", 30_000)
    audio = answer.audio
    assert audio is not None
    assert audio.formats == ("8", "101")
    assert audio.rtpmaps["8"].encoding == "PCMA"
    assert audio.rtpmaps["101"].encoding == "telephone-event"
    assert audio.fmtp["101"] == "0-16"
    assert answer.connection is not None and answer.connection.address == "192.0.2.20"


def test_sip_sdp_hold_directions_are_mirrored() -> None:
    offer = audio_offer("192.0.2.10", 20_000)
    held = with_direction(offer, "sendonly")
    assert held.origin.session_version == offer.origin.session_version + 1
    assert held.audio is not None and held.direction(held.audio) == "sendonly"
    answer = audio_answer(held, "192.0.2.20", 30_000)
    assert answer.audio is not None and answer.direction(answer.audio) == "recvonly"
    inactive = audio_answer(with_direction(offer, "inactive"), "192.0.2.20", 30_000)
    assert inactive.audio is not None and inactive.direction(inactive.audio) == "inactive"


def test_sip_sdp_no_common_codec_and_malformed() -> None:
    g729 = parse_sdp(
        SIPP_OFFER.replace("RTP/AVP 0", "RTP/AVP 18").replace(
            "a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000"
        )
    )
    with pytest.raises(NoCommonCodec):
        audio_answer(g729, "192.0.2.20", 30_000)
    for bad in (
        "",
        "o=x",
        "v=0\r\nm=audio x RTP/AVP 0\r\n",
        "v=0\r\nbogus\r\n",
        SIPP_OFFER.replace("o=user1 53655765 2353687637 IN IP4 127.0.0.1", "o=short"),
        SIPP_OFFER.replace("PCMU/8000", "PCMU"),
    ):
        with pytest.raises(SdpParseError):
            parse_sdp(bad)


def invite_with(record_routes: list[str]) -> SipRequest:
    msg = parse_message(RFC_INVITE)
    assert isinstance(msg, SipRequest)
    for rr in record_routes:
        msg.headers.add("Record-Route", rr)
    return msg


def test_sip_dialog_uas_loose_route_set_and_cseq() -> None:
    request = invite_with(["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"])
    response = make_response(
        request, 200, to_tag="local1", headers=[("Contact", "<sip:switch@10.0.0.1>")]
    )
    dialog = Dialog.as_uas(request, response)
    assert dialog.role is Role.UAS and dialog.id == (request.call_id, "local1", "1928301774")
    bye = dialog.create_request("BYE")
    assert str(bye.uri) == "sip:alice@pc33.atlanta.com"  # remote target (Contact)
    assert bye.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert bye.from_.tag == "local1" and bye.to.tag == "1928301774"
    assert bye.cseq.number == 1
    assert dialog.create_request("INFO").cseq.number == 2
    assert dialog.next_hop().host == "p1.example.com"
    # Remote CSeq must grow (12.2.2).
    later = invite_with([])
    later.headers.set("CSeq", "314160 INFO")
    later.method = "INFO"
    assert dialog.accept_remote_cseq(later)
    assert not dialog.accept_remote_cseq(later)


def test_sip_dialog_uac_reverses_route_set_and_handles_strict_router() -> None:
    request = invite_with([])
    response = make_response(
        request,
        200,
        to_tag="remote",
        headers=[
            ("Record-Route", "<sip:p2.example.com;lr>, <sip:p1.example.com>"),
            ("Contact", "<sip:bob@192.0.2.4>"),
        ],
    )
    dialog = Dialog.as_uac(request, response)
    assert [r.uri.host for r in dialog.route_set] == ["p1.example.com", "p2.example.com"]
    bye = dialog.create_request("BYE")
    # p1 is a strict router (no lr): it becomes the Request-URI, remote target goes last.
    assert bye.uri.host == "p1.example.com"
    assert bye.headers.get_all("Route") == ["<sip:p2.example.com;lr>", "<sip:bob@192.0.2.4>"]
    ack = dialog.create_ack()
    assert ack.cseq.number == request.cseq.number and ack.cseq.method == "ACK"


def test_sip_dialog_2xx_retransmitted_until_ack_or_timeout() -> None:
    clock = FakeClock()
    channel = RecordingChannel()
    timers = TimerConfig(t1=0.5, t2=4.0)
    request = invite_with([])
    ok = make_response(request, 200, to_tag="x")
    timed_out: list[bool] = []
    pending = Retransmit2xx(ok, channel, clock, timers, lambda: timed_out.append(True))
    pending.start()
    clock.advance(3.6)
    assert len(channel.sent) == 3  # 0.5, 1.5, 3.5
    pending.stop()
    clock.advance(40)
    assert len(channel.sent) == 3 and timed_out == []
    again = Retransmit2xx(ok, channel, clock, timers, lambda: timed_out.append(True))
    again.start()
    clock.advance(32.1)
    assert timed_out == [True]


def test_sip_dialog_session_timer_hook() -> None:
    clock = FakeClock()
    expired: list[bool] = []
    timer = SessionTimer(clock, 90, lambda: expired.append(True))
    timer.start()
    clock.advance(80)
    timer.refresh()  # re-INVITE / RTP seen
    clock.advance(80)
    assert expired == []
    clock.advance(11)
    assert expired == [True]
