"""Pure helpers of the softphone: SIP header and party parsing, PCM conversions."""

from __future__ import annotations

from agent_desktop.softphone import pcm
from agent_desktop.softphone.phone import header_value, remote_party

INVITE = (
    "INVITE sip:1001@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
    "x-opencc-call-ID:  c-77 \r\n"
    "Content-Type: application/sdp\r\n"
    "\r\n"
    "X-OpenCC-Call-ID: in-the-body\r\n"
)


def test_header_value_is_case_insensitive_and_ignores_the_body() -> None:
    assert header_value(INVITE, "X-OpenCC-Call-ID") == "c-77"
    assert header_value(INVITE, "X-Other") is None
    body_only = INVITE.split("x-opencc", maxsplit=1)[0] + "\r\n\r\nX-OpenCC-Call-ID: b"
    assert header_value(body_only, "x-opencc-call-id") is None


def test_remote_party_prefers_display_name_then_user() -> None:
    assert remote_party('"Wang Fang" <sip:13800138000@10.0.0.1>') == "Wang Fang"
    assert remote_party("<sip:13800138000@10.0.0.1;user=phone>") == "13800138000"
    assert remote_party("sip:10086@switch") == "10086"


def test_resampling_keeps_the_tone() -> None:
    tone = pcm.tone(440.0, 0.5, 8000)
    up = pcm.resample(tone, 8000, 48000)
    assert len(up) == 6 * len(tone)
    back = pcm.resample(up, 48000, 8000)
    assert back == tone
    assert abs(pcm.dominant_frequency(up, 48000) - 440.0) <= 2
    assert pcm.level(b"") == 0.0 and pcm.level(bytes(320)) == 0.0
    assert 0.7 < pcm.level(tone) < 0.9  # 8000 peak ≈ -15 dBFS
