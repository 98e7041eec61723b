"""Client for rtpengine's ng control protocol (bencode over UDP).

Wire format: ``<cookie> <bencoded dict>``; the reply carries the same cookie.
rtpengine caches its reply per cookie, so a request is retransmitted with the
*same* cookie until a reply arrives or the deadline passes.

Message building and reply parsing are pure functions (``build_*``,
:func:`encode_message`, :func:`parse_message`, :func:`check_reply`);
:class:`NgClient` is the thin asyncio driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from cti_server.switch.media.bencode import BEncodable, BencodeError, BValue, decode, encode

log = logging.getLogger("switch.media.ng")

type NgRequest = dict[str, BEncodable]
type NgReply = dict[bytes, BValue]

MAX_DATAGRAM: Final = 65535
_CALL_GONE_REASONS: Final = ("unknown call-id", "call-id not found")  # compared lowercased


# --- errors --------------------------------------------------------------------


class NgError(Exception):
    """Base class of every ng client error."""


class NgTimeoutError(NgError):
    """No reply within the deadline (rtpengine down, wrong port, or overloaded)."""


class NgProtocolError(NgError):
    """A reply that is not a valid ng message (bad cookie, bencode, or shape)."""


class NgCommandError(NgError):
    """rtpengine answered ``result: error``."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"rtpengine rejected {command!r}: {reason}")
        self.command = command
        self.reason = reason


class CallNotFoundError(NgCommandError):
    """The call id (or tag) is unknown to rtpengine."""


# --- options -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodecOptions:
    """rtpengine ``codec`` dictionary: strip/mask/transcode/accept/offer lists."""

    strip: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()
    transcode: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    offer: tuple[str, ...] = ()

    def to_ng(self) -> dict[str, BEncodable]:
        lists = {
            "strip": self.strip,
            "mask": self.mask,
            "transcode": self.transcode,
            "accept": self.accept,
            "offer": self.offer,
        }
        return {k: list(v) for k, v in lists.items() if v}


@dataclass(frozen=True, slots=True)
class MediaOptions:
    """Options shared by ``offer``, ``answer`` and ``subscribe request``.

    Defaults suit a B2BUA on a plain RTP network: ICE stripped, origin and
    session connection rewritten, plain RTP/AVP on both sides.
    """

    ice: Literal["remove", "force", "default", "optional"] | None = "remove"
    replace_origin: bool = True
    replace_session_connection: bool = True
    transport_protocol: str | None = "RTP/AVP"
    codec: CodecOptions = field(default_factory=CodecOptions)
    record_call: bool = False
    inject_dtmf: bool = False
    """Needed (in offer *and* answer) before ``play DTMF`` works; forces transcoding path."""
    dtmf_log_dest: tuple[str, int] | None = None
    """Per-call override of the daemon's ``--dtmf-log-dest``."""
    label: str | None = None
    flags: tuple[str, ...] = ()
    extra: Mapping[str, BEncodable] = field(default_factory=dict)
    """Any other ng keys, passed through verbatim (wins over the fields above)."""
    sdes: tuple[str, ...] = ()
    """rtpengine ``SDES`` flags for SDES-SRTP (RFC 4568 ``a=crypto``), e.g.
    ``("no-AES_CM_128_HMAC_SHA1_32",)`` or ``("off",)``. Towards a side the SDP says is
    ``RTP/SAVP`` rtpengine offers/answers its own ``a=crypto`` keys and bridges
    SRTP to plain RTP on the other side (``transport_protocol``)."""
    force_answer_protocol: bool = False
    """``answer`` normally leaves out ``transport protocol``: rtpengine then answers the
    offerer in its own protocol (an ``RTP/SAVP`` caller gets ``RTP/SAVP`` + ``a=crypto``
    back while the other side stays ``RTP/AVP``). True also rewrites answers."""

    def to_ng(self) -> dict[str, BEncodable]:
        msg: dict[str, BEncodable] = {}
        flags = list(self.flags)
        if self.inject_dtmf:
            flags.append("inject DTMF")
        if flags:
            msg["flags"] = flags
        replace = []
        if self.replace_origin:
            replace.append("origin")
        if self.replace_session_connection:
            replace.append("session connection")
        if replace:
            msg["replace"] = replace
        if self.ice is not None:
            msg["ICE"] = self.ice
        if self.transport_protocol is not None:
            msg["transport protocol"] = self.transport_protocol
        codec = self.codec.to_ng()
        if codec:
            msg["codec"] = codec
        if self.record_call:
            msg["record call"] = "yes"
        if self.dtmf_log_dest is not None:
            host, port = self.dtmf_log_dest
            msg["DTMF-log-dest"] = f"{host}:{port}"
        if self.label is not None:
            msg["label"] = self.label
        if self.sdes:
            msg["SDES"] = list(self.sdes)
        msg.update(self.extra)
        return msg


DEFAULT_MEDIA_OPTIONS: Final = MediaOptions()


# --- typed replies -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SdpReply:
    """Reply of ``offer``/``answer``: the rewritten SDP to put in the SIP message."""

    sdp: str
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class SubscribeReply:
    """Reply of ``subscribe request``: a sendonly offer for the listener's leg."""

    sdp: str
    to_tag: str
    from_tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One packet stream (RTP or RTCP) of a participant's media."""

    local_port: int | None
    endpoint: tuple[str, int] | None
    packets: int
    bytes: int
    errors: int
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    """One call participant (monologue) as reported by ``query``."""

    tag: str
    label: str | None
    streams: tuple[StreamInfo, ...]

    @property
    def rtp_packets(self) -> int:
        """Packets received *from* this participant (RTP streams only)."""
        return sum(s.packets for s in self.streams if "RTP" in s.flags)


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Reply of ``query``."""

    call_id: str
    created: int
    participants: dict[str, ParticipantInfo]
    rtp_packets: int
    raw: NgReply


# --- pure helpers ----------------------------------------------------------------


def new_cookie() -> bytes:
    """A random cookie (hex, no spaces) unique enough across restarts."""
    return secrets.token_hex(8).encode()


def encode_message(cookie: bytes, request: Mapping[str, BEncodable]) -> bytes:
    """``cookie SP bencode(request)``."""
    if not cookie or b" " in cookie:
        raise ValueError("cookie must be non-empty and contain no space")
    if "command" not in request:
        raise ValueError("ng request needs a 'command' key")
    return cookie + b" " + encode(request)


def parse_message(data: bytes) -> tuple[bytes, NgReply]:
    """Split a datagram into cookie and dictionary; raises :class:`NgProtocolError`."""
    cookie, sep, body = data.partition(b" ")
    if not sep or not cookie:
        raise NgProtocolError("ng message has no cookie separator")
    try:
        value = decode(body)
    except BencodeError as exc:
        raise NgProtocolError(f"ng message body is not valid bencode: {exc}") from exc
    if not isinstance(value, dict):
        raise NgProtocolError(f"ng message body is a {type(value).__name__}, not a dictionary")
    return cookie, value


def _text(reply: NgReply, key: bytes, default: str | None = None) -> str | None:
    value = reply.get(key)
    if value is None:
        return default
    if not isinstance(value, bytes):
        raise NgProtocolError(f"{key.decode()!r} should be a string, got {type(value).__name__}")
    return value.decode(errors="replace")


def _required_text(reply: NgReply, key: bytes) -> str:
    value = _text(reply, key)
    if value is None:
        raise NgProtocolError(f"reply lacks {key.decode()!r}")
    return value


def _int(value: BValue | None, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def check_reply(command: str, reply: NgReply) -> NgReply:
    """Raise the typed error an ``error`` reply stands for; return ``reply`` otherwise."""
    result = _text(reply, b"result")
    if result is None:
        raise NgProtocolError(f"reply to {command!r} has no 'result'")
    if result == "error":
        reason = _text(reply, b"error-reason", "(no error-reason)") or ""
        if any(reason.lower().startswith(r) for r in _CALL_GONE_REASONS):
            raise CallNotFoundError(command, reason)
        raise NgCommandError(command, reason)
    expected = ("pong",) if command == "ping" else ("ok",)
    if result not in expected:
        raise NgProtocolError(f"unexpected result {result!r} for {command!r}")
    return reply


def build_offer(
    sdp: str, call_id: str, from_tag: str, options: MediaOptions = DEFAULT_MEDIA_OPTIONS
) -> NgRequest:
    return {
        **options.to_ng(),
        "command": "offer",
        "sdp": sdp,
        "call-id": call_id,
        "from-tag": from_tag,
    }


def build_answer(
    sdp: str,
    call_id: str,
    from_tag: str,
    to_tag: str,
    options: MediaOptions = DEFAULT_MEDIA_OPTIONS,
) -> NgRequest:
    ng = options.to_ng()
    if not options.force_answer_protocol and "transport protocol" not in options.extra:
        ng.pop("transport protocol", None)  # answer the offerer in its own protocol (SRTP)
    return {
        **ng,
        "command": "answer",
        "sdp": sdp,
        "call-id": call_id,
        "from-tag": from_tag,
        "to-tag": to_tag,
    }


def build_delete(
    call_id: str, from_tag: str | None = None, *, delete_delay: int = 0, fatal: bool = True
) -> NgRequest:
    msg: NgRequest = {"command": "delete", "call-id": call_id, "delete delay": delete_delay}
    if from_tag is not None:
        msg["from-tag"] = from_tag
    if fatal:
        msg["flags"] = ["fatal"]
    return msg


def build_participant_command(
    command: str, call_id: str, from_tag: str | None, **extra: BEncodable
) -> NgRequest:
    """A command addressed to one participant (``from-tag``) or, without one, the whole call."""
    msg: NgRequest = {"command": command, "call-id": call_id}
    if from_tag is not None:
        msg["from-tag"] = from_tag
    msg.update({k.replace("_", "-"): v for k, v in extra.items()})
    return msg


def parse_call_info(call_id: str, reply: NgReply) -> CallInfo:
    tags = reply.get(b"tags")
    if not isinstance(tags, dict):
        raise NgProtocolError("query reply lacks a 'tags' dictionary")
    participants: dict[str, ParticipantInfo] = {}
    for tag_key, entry in tags.items():
        if not isinstance(entry, dict):
            raise NgProtocolError("query reply tag entry is not a dictionary")
        streams: list[StreamInfo] = []
        medias = entry.get(b"medias", [])
        for media in medias if isinstance(medias, list) else []:
            raw_streams = media.get(b"streams", []) if isinstance(media, dict) else []
            for st in raw_streams if isinstance(raw_streams, list) else []:
                if not isinstance(st, dict):
                    continue
                stats = st.get(b"stats")
                stats = stats if isinstance(stats, dict) else {}
                ep = st.get(b"endpoint")
                endpoint = None
                if isinstance(ep, dict) and isinstance(ep.get(b"address"), bytes):
                    addr = ep[b"address"]
                    assert isinstance(addr, bytes)
                    endpoint = (addr.decode(), _int(ep.get(b"port")))
                flags = st.get(b"flags")
                lp = st.get(b"local port")
                streams.append(
                    StreamInfo(
                        local_port=lp if isinstance(lp, int) else None,
                        endpoint=endpoint,
                        packets=_int(stats.get(b"packets")),
                        bytes=_int(stats.get(b"bytes")),
                        errors=_int(stats.get(b"errors")),
                        flags=tuple(
                            f.decode()
                            for f in (flags if isinstance(flags, list) else [])
                            if isinstance(f, bytes)
                        ),
                    )
                )
        tag = tag_key.decode(errors="replace")
        participants[tag] = ParticipantInfo(tag, _text(entry, b"label"), tuple(streams))
    totals = reply.get(b"totals")
    rtp = totals.get(b"RTP") if isinstance(totals, dict) else None
    rtp_packets = _int(rtp.get(b"packets")) if isinstance(rtp, dict) else 0
    return CallInfo(call_id, _int(reply.get(b"created")), participants, rtp_packets, reply)


# --- asyncio driver ----------------------------------------------------------------


class _NgProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.client: NgClient | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_error: Exception | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        if self.client is not None:
            self.client._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on loopback when rtpengine is not listening.
        self.last_error = exc

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            self.client._on_closed()
        if not self.lost.done():
            self.lost.set_result(None)


class NgClient:
    """asyncio UDP client for one rtpengine ng listener.

    Use :meth:`connect`; every method raises :class:`NgTimeoutError`,
    :class:`NgProtocolError`, :class:`NgCommandError` (or its subclass
    :class:`CallNotFoundError`).
    """

    def __init__(
        self,
        transport: asyncio.DatagramTransport,
        protocol: _NgProtocol,
        address: tuple[str, int],
        *,
        timeout: float,
        retransmit_interval: float,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        protocol.client = self
        self.address = address
        self.timeout = timeout
        self.retransmit_interval = retransmit_interval
        self._pending: dict[bytes, asyncio.Future[bytes]] = {}
        self._closed = False
        self._seq = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self.protocol_errors = 0
        """Unparseable or unsolicited datagrams seen (not raised: no request to blame)."""

    @classmethod
    async def connect(
        cls,
        host: str = "127.0.0.1",
        port: int = 2223,
        *,
        timeout: float = 2.0,
        retransmit_interval: float = 0.25,
    ) -> NgClient:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _NgProtocol, remote_addr=(host, port)
        )
        return cls(
            transport,
            protocol,
            (host, port),
            timeout=timeout,
            retransmit_interval=retransmit_interval,
        )

    async def __aenter__(self) -> NgClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close and wait until the socket is really released."""
        self.close()
        await self._protocol.lost

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.close()
            self._on_closed()

    def _on_closed(self) -> None:
        self._closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(NgError("ng client closed"))
        self._pending.clear()

    def _next_cookie(self) -> bytes:
        return f"{self._prefix}_{next(self._seq)}".encode()

    def _on_datagram(self, data: bytes) -> None:
        cookie, sep, _ = data.partition(b" ")
        fut = self._pending.get(cookie) if sep else None
        if fut is None:
            self.protocol_errors += 1
            log.warning("ng: dropping unsolicited or cookieless datagram (%d bytes)", len(data))
            return
        if not fut.done():
            fut.set_result(data)

    async def request(
        self, request: Mapping[str, BEncodable], *, timeout: float | None = None
    ) -> NgReply:
        """Send ``request``; retransmit with the same cookie until answered.

        Returns the reply dictionary after :func:`check_reply`.
        """
        if self._closed:
            raise NgError("ng client closed")
        command = str(request.get("command", "?"))
        cookie = self._next_cookie()
        datagram = encode_message(cookie, request)
        if len(datagram) > MAX_DATAGRAM:
            raise NgError(f"{command!r} request is {len(datagram)} bytes, too big for UDP")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()
        self._pending[cookie] = fut
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        self._protocol.last_error = None
        attempts = 0
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    err = self._protocol.last_error
                    hint = f" (last socket error: {err})" if err else ""
                    raise NgTimeoutError(
                        f"no reply to {command!r} from rtpengine at "
                        f"{self.address[0]}:{self.address[1]} after {attempts} attempt(s){hint}"
                    )
                self._transport.sendto(datagram)
                attempts += 1
                with contextlib.suppress(TimeoutError):
                    data = await asyncio.wait_for(
                        asyncio.shield(fut), min(self.retransmit_interval, remaining)
                    )
                    break
        finally:
            self._pending.pop(cookie, None)
            if not fut.done():
                fut.cancel()
        _, reply = parse_message(data)
        return check_reply(command, reply)

    # --- commands ----------------------------------------------------------------

    async def ping(self, *, timeout: float | None = None) -> None:
        await self.request({"command": "ping"}, timeout=timeout)

    async def offer(
        self,
        sdp: str,
        call_id: str,
        from_tag: str,
        options: MediaOptions = DEFAULT_MEDIA_OPTIONS,
    ) -> SdpReply:
        reply = await self.request(build_offer(sdp, call_id, from_tag, options))
        return SdpReply(_required_text(reply, b"sdp"), _text(reply, b"warning"))

    async def answer(
        self,
        sdp: str,
        call_id: str,
        from_tag: str,
        to_tag: str,
        options: MediaOptions = DEFAULT_MEDIA_OPTIONS,
    ) -> SdpReply:
        reply = await self.request(build_answer(sdp, call_id, from_tag, to_tag, options))
        return SdpReply(_required_text(reply, b"sdp"), _text(reply, b"warning"))

    async def delete(
        self, call_id: str, from_tag: str | None = None, *, delete_delay: int = 0
    ) -> NgReply:
        """Delete the call (or one branch when ``from_tag`` is given) at once.

        ``delete_delay=0`` overrides rtpengine's 30 s default; an unknown call
        raises :class:`CallNotFoundError` (the ``fatal`` flag is always sent).
        """
        return await self.request(build_delete(call_id, from_tag, delete_delay=delete_delay))

    async def query(self, call_id: str) -> CallInfo:
        reply = await self.request({"command": "query", "call-id": call_id})
        return parse_call_info(call_id, reply)

    async def list_calls(self, limit: int = 32) -> list[str]:
        reply = await self.request({"command": "list", "limit": limit})
        calls = reply.get(b"calls", [])
        if not isinstance(calls, list):
            raise NgProtocolError("list reply 'calls' is not a list")
        return [c.decode(errors="replace") for c in calls if isinstance(c, bytes)]

    async def statistics(self) -> dict[bytes, BValue]:
        reply = await self.request({"command": "statistics"})
        stats = reply.get(b"statistics")
        if not isinstance(stats, dict):
            raise NgProtocolError("statistics reply lacks a 'statistics' dictionary")
        return stats

    async def play_media(
        self,
        call_id: str,
        from_tag: str,
        file: str,
        *,
        repeat_times: int = 1,
        start_pos: int | None = None,
    ) -> int | None:
        """Play ``file`` (any ffmpeg format) *to* participant ``from_tag``.

        Returns the duration in ms when rtpengine reports it.
        """
        extra: dict[str, BEncodable] = {"file": file, "repeat-times": repeat_times}
        if start_pos is not None:
            extra["start-pos"] = start_pos
        reply = await self.request(
            build_participant_command("play media", call_id, from_tag, **extra)
        )
        duration = reply.get(b"duration")
        return duration if isinstance(duration, int) else None

    async def stop_media(self, call_id: str, from_tag: str) -> int | None:
        """Stop playback; returns the last frame position when reported."""
        reply = await self.request(build_participant_command("stop media", call_id, from_tag))
        pos = reply.get(b"last-frame-pos")
        return pos if isinstance(pos, int) else None

    async def play_dtmf(
        self,
        call_id: str,
        from_tag: str,
        digit: str,
        *,
        duration_ms: int = 250,
        volume_db: int = 8,
        pause_ms: int = 100,
    ) -> None:
        """Inject a DTMF event *as if sent by* ``from_tag`` (needs ``inject_dtmf``)."""
        await self.request(
            build_participant_command(
                "play DTMF",
                call_id,
                from_tag,
                code=digit,
                duration=duration_ms,
                volume=volume_db,
                pause=pause_ms,
            )
        )

    async def block_dtmf(self, call_id: str, from_tag: str | None = None) -> None:
        await self.request(build_participant_command("block DTMF", call_id, from_tag))

    async def unblock_dtmf(self, call_id: str, from_tag: str | None = None) -> None:
        await self.request(build_participant_command("unblock DTMF", call_id, from_tag))

    async def block_media(self, call_id: str, from_tag: str | None = None) -> None:
        """Stop relaying media sent by ``from_tag`` (whole call without it); DTMF still passes."""
        await self.request(build_participant_command("block media", call_id, from_tag))

    async def unblock_media(self, call_id: str, from_tag: str | None = None) -> None:
        await self.request(build_participant_command("unblock media", call_id, from_tag))

    async def silence_media(self, call_id: str, from_tag: str | None = None) -> None:
        """Replace ``from_tag``'s audio by silence (G.711/G.722 only); keeps RTP flowing."""
        await self.request(build_participant_command("silence media", call_id, from_tag))

    async def unsilence_media(self, call_id: str, from_tag: str | None = None) -> None:
        await self.request(build_participant_command("unsilence media", call_id, from_tag))

    async def start_recording(self, call_id: str) -> None:
        await self.request({"command": "start recording", "call-id": call_id})

    async def stop_recording(self, call_id: str) -> None:
        await self.request({"command": "stop recording", "call-id": call_id})

    async def subscribe_request(
        self,
        call_id: str,
        from_tags: Sequence[str],
        *,
        to_tag: str | None = None,
        options: MediaOptions | None = None,
    ) -> SubscribeReply:
        """Fork the media of ``from_tags`` to a new participant (listen-in).

        The reply's SDP is a sendonly offer with one m-line per source; send it
        to the listener and pass its answer to :meth:`subscribe_answer`.
        """
        if not from_tags:
            raise ValueError("subscribe request needs at least one from-tag")
        msg: NgRequest = {"command": "subscribe request", "call-id": call_id}
        if options is not None:
            msg.update(options.to_ng())
        msg["from-tags"] = list(from_tags)
        if to_tag is not None:
            msg["to-tag"] = to_tag
        reply = await self.request(msg)
        raw_tags = reply.get(b"from-tags", [])
        return SubscribeReply(
            sdp=_required_text(reply, b"sdp"),
            to_tag=_required_text(reply, b"to-tag"),
            from_tags=tuple(
                t.decode()
                for t in (raw_tags if isinstance(raw_tags, list) else [])
                if isinstance(t, bytes)
            ),
        )

    async def subscribe_answer(
        self, call_id: str, to_tag: str, sdp: str, *, allow_transcoding: bool = False
    ) -> None:
        msg: NgRequest = {
            "command": "subscribe answer",
            "call-id": call_id,
            "to-tag": to_tag,
            "sdp": sdp,
        }
        if allow_transcoding:
            msg["flags"] = ["allow transcoding"]
        await self.request(msg)

    async def unsubscribe(self, call_id: str, to_tag: str) -> None:
        await self.request({"command": "unsubscribe", "call-id": call_id, "to-tag": to_tag})
