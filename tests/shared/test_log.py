"""Structured logging: every line tagged with component, connection and call."""

from __future__ import annotations

import io
import json
import logging

from shared.log import log_context, setup_logging


def _capture(json_lines: bool) -> io.StringIO:
    stream = io.StringIO()
    setup_logging("cti-server", json_lines=json_lines, stream=stream, level="DEBUG")
    return stream


def teardown_function() -> None:
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_opencc", False)]:
        root.removeHandler(h)


def test_human_lines_carry_component_conn_call_and_extras() -> None:
    stream = _capture(json_lines=False)
    log = logging.getLogger("cti_server.test")
    with log_context(conn="c7"), log_context(call="CALL1"):
        log.info("offered to %s", "1001", extra={"queue": "billing"})
    log.warning("outside")
    first, second = stream.getvalue().splitlines()
    assert "INFO" in first and "cti-server" in first
    assert "conn=c7" in first and "call=CALL1" in first
    assert "offered to 1001" in first and "queue=billing" in first
    assert "conn=" not in second and "call=" not in second


def test_json_lines_are_parseable_objects() -> None:
    stream = _capture(json_lines=True)
    log = logging.getLogger("cti_server.test")
    with log_context(conn="c9", call="CALL2"):
        log.error("route failed", extra={"tier": "vip"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("crashed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["component"] == "cti-server"
    assert lines[0]["conn"] == "c9" and lines[0]["call"] == "CALL2"
    assert lines[0]["msg"] == "route failed" and lines[0]["tier"] == "vip"
    assert lines[0]["level"] == "ERROR" and lines[0]["ts"].endswith("Z")
    assert lines[1]["conn"] is None and "RuntimeError: boom" in lines[1]["exc"]


def test_setup_twice_replaces_its_handler() -> None:
    _capture(json_lines=False)
    stream = _capture(json_lines=True)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_opencc", False)]
    assert len(ours) == 1
    logging.getLogger("x").info("once")
    assert len(stream.getvalue().splitlines()) == 1
