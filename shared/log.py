"""Structured logging for every process.

Each line carries the component (``cti-server``, ``switch``, ``desktop`` …)
and, when known, the connection id and call id, taken from context variables
so that code deep in a call path need not pass them along::

    with log_context(conn="c12", call="01J…"):
        log.info("offered", extra={"agent": "1001"})

Human format (default)::

    2026-11-22T05:40:01.123Z INFO  cti-server conn=c12 call=01J… offered agent=1001

JSON format (``--log-json``): one object per line with ``ts``, ``level``,
``component``, ``logger``, ``msg``, ``conn``, ``call`` and the extra fields.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO

_conn: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_conn", default=None)
_call: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_call", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "component",
    "conn",
    "call",
    "taskName",
}


@contextlib.contextmanager
def log_context(*, conn: str | None = None, call: str | None = None) -> Iterator[None]:
    """Tag every log line inside the block with this connection and/or call id."""
    tokens = []
    if conn is not None:
        tokens.append((_conn, _conn.set(conn)))
    if call is not None:
        tokens.append((_call, _call.set(call)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_conn(conn: str | None) -> None:
    """Tag the current context (e.g. a connection's task) with a connection id."""
    _conn.set(conn)


class _ContextFilter(logging.Filter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def filter(self, record: logging.LogRecord) -> bool:
        record.component = self.component
        if not hasattr(record, "conn"):
            record.conn = _conn.get()
        if not hasattr(record, "call"):
            record.call = _call.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = _dt.datetime.fromtimestamp(record.created, _dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), f"{record.levelname:<5}", getattr(record, "component", "-")]
        conn = getattr(record, "conn", None)
        call = getattr(record, "call", None)
        if conn:
            parts.append(f"conn={conn}")
        if call:
            parts.append(f"call={call}")
        parts.append(record.getMessage())
        parts.extend(f"{k}={v}" for k, v in _extras(record).items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "component": getattr(record, "component", None),
            "logger": record.name,
            "msg": record.getMessage(),
            "conn": getattr(record, "conn", None),
            "call": getattr(record, "call", None),
        }
        for key, value in _extras(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(
    component: str, *, level: str = "INFO", json_lines: bool = False, stream: TextIO | None = None
) -> logging.Handler:
    """Configure the root logger for one process; returns the installed handler.

    Calling it again replaces the handler it installed before (tests do this).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_opencc", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._opencc = True  # type: ignore[attr-defined]
    handler.addFilter(_ContextFilter(component))
    handler.setFormatter(JsonFormatter() if json_lines else HumanFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party libraries that are chatty at INFO.
    for noisy in ("websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler
