"""Parsing rtpengine's dtmf-log-dest JSON into typed DTMF events (R-IVR-4 input path)."""

from __future__ import annotations

import pytest

from cti_server.switch.media.dtmf import DtmfEvent, DtmfParseError, parse_dtmf_event

# A datagram exactly as rtpengine 10.5 sent it on this machine.
SAMPLE = (
    b'{"callid":"c13653","source_tag":"ft","tags":["tt","ft"],"type":"DTMF",'
    b'"timestamp":1795329589,"source_ip":"127.0.0.1","event":5,"duration":100,"volume":10}'
)


def test_media_dtmf_parse_real_sample() -> None:
    assert parse_dtmf_event(SAMPLE) == DtmfEvent(
        call_id="c13653",
        source_tag="ft",
        digit="5",
        duration_ms=100,
        timestamp=1795329589.0,
        source_ip="127.0.0.1",
        volume=10,
    )


@pytest.mark.parametrize(("code", "digit"), [(0, "0"), (10, "*"), (11, "#"), (15, "D")])
def test_media_dtmf_event_codes_map_to_digits(code: int, digit: str) -> None:
    data = SAMPLE.replace(b'"event":5', b'"event":%d' % code)
    assert parse_dtmf_event(data).digit == digit


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b"not json",
        SAMPLE.replace(b'"event":5', b'"event":16'),
        SAMPLE.replace(b'"event":5', b'"event":"5"'),
        SAMPLE.replace(b'"callid":"c13653"', b'"callid":1'),
        SAMPLE.replace(b'"source_tag":"ft",', b""),
        SAMPLE.replace(b'"type":"DTMF"', b'"type":"other"'),
        SAMPLE.replace(b'"duration":100', b'"duration":true'),
    ],
)
def test_media_dtmf_parse_rejects_malformed(data: bytes) -> None:
    with pytest.raises(DtmfParseError):
        parse_dtmf_event(data)
