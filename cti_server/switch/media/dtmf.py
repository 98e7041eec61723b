"""DTMF events from rtpengine's ``dtmf-log-dest`` UDP JSON feed.

rtpengine 10.5 sends one datagram per completed RFC 4733 event, e.g.::

    {"callid":"c1","source_tag":"ft","tags":["tt","ft"],"type":"DTMF",
     "timestamp":1795329589,"source_ip":"127.0.0.1","event":5,
     "duration":100,"volume":10}

``event`` is the RFC 4733 code (0-9, 10 ``*``, 11 ``#``, 12-15 ``A``-``D``),
``duration`` is in milliseconds and ``timestamp`` in whole seconds. The
parser is pure; :class:`DtmfListener` is the asyncio driver.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger("switch.media.dtmf")

DTMF_DIGITS: Final = "0123456789*#ABCD"


class DtmfParseError(ValueError):
    """A datagram on the DTMF port that is not a valid rtpengine DTMF event."""


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """One DTMF digit pressed by participant ``source_tag`` of ``call_id``."""

    call_id: str
    source_tag: str
    digit: str
    duration_ms: int
    timestamp: float
    source_ip: str = ""
    volume: int = 0

    @property
    def duration(self) -> int:
        """Alias of :attr:`duration_ms`."""
        return self.duration_ms


def _field[T](obj: dict[str, object], key: str, kind: type[T]) -> T:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DtmfParseError(f"DTMF event field {key!r} missing or not {kind.__name__}")
    return value


def parse_dtmf_event(data: bytes) -> DtmfEvent:
    """Parse one datagram; raises :class:`DtmfParseError` when malformed."""
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DtmfParseError(f"DTMF datagram is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise DtmfParseError("DTMF datagram is not a JSON object")
    kind = obj.get("type", "DTMF")
    if kind != "DTMF":
        raise DtmfParseError(f"not a DTMF event (type {kind!r})")
    event = _field(obj, "event", int)
    if not 0 <= event < len(DTMF_DIGITS):
        raise DtmfParseError(f"DTMF event code {event} out of range 0-15")
    raw_ts = obj.get("timestamp", 0)
    if not isinstance(raw_ts, int | float) or isinstance(raw_ts, bool):
        raise DtmfParseError("DTMF event field 'timestamp' is not a number")
    source_ip = obj.get("source_ip", "")
    volume = obj.get("volume", 0)
    return DtmfEvent(
        call_id=_field(obj, "callid", str),
        source_tag=_field(obj, "source_tag", str),
        digit=DTMF_DIGITS[event],
        duration_ms=_field(obj, "duration", int),
        timestamp=float(raw_ts),
        source_ip=source_ip if isinstance(source_ip, str) else "",
        volume=volume if isinstance(volume, int) and not isinstance(volume, bool) else 0,
    )


class _DtmfProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: DtmfListener) -> None:
        self._listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self._listener._on_datagram(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._listener._lost is not None and not self._listener._lost.done():
            self._listener._lost.set_result(None)


class DtmfListener:
    """Receives rtpengine DTMF events on a UDP port.

    Events go to ``callback`` if given, else to the :attr:`events` queue.
    Malformed datagrams are logged and counted in :attr:`malformed`.
    """

    def __init__(self, callback: Callable[[DtmfEvent], None] | None = None) -> None:
        self._callback = callback
        self.events: asyncio.Queue[DtmfEvent] = asyncio.Queue()
        self.malformed = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._lost: asyncio.Future[None] | None = None
        self.address: tuple[str, int] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Bind (``port=0`` picks a free one) and return the bound address."""
        if self._transport is not None:
            raise RuntimeError("DTMF listener already started")
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _DtmfProtocol(self), local_addr=(host, port)
        )
        self._transport = transport
        sockname = transport.get_extra_info("sockname")
        self.address = (str(sockname[0]), int(sockname[1]))
        return self.address

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> DtmfListener:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close and wait until the socket is really released."""
        self.close()
        if self._lost is not None:
            await self._lost

    def _on_datagram(self, data: bytes) -> None:
        try:
            event = parse_dtmf_event(data)
        except DtmfParseError as exc:
            self.malformed += 1
            log.warning("ignoring malformed DTMF datagram: %s", exc)
            return
        if self._callback is not None:
            try:
                self._callback(event)
            except Exception:
                log.exception("DTMF callback failed for %s", event)
        else:
            self.events.put_nowait(event)
