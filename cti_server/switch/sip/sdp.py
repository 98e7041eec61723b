"""SDP (RFC 4566) parsing and generation, enough for a G.711 switch.

Handles origin, connection, media lines, rtpmap/fmtp, direction attributes
(RFC 3264 hold), and an offer/answer helper that picks PCMU/PCMA and
telephone-event (RFC 4733).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")

STATIC_CODECS: dict[str, tuple[str, int]] = {
    "0": ("PCMU", 8000),
    "8": ("PCMA", 8000),
    "9": ("G722", 8000),
    "18": ("G729", 8000),
}
TELEPHONE_EVENT = "telephone-event"


class SdpParseError(ValueError):
    """Raised for malformed SDP."""


@dataclass(frozen=True, slots=True)
class Origin:
    username: str
    session_id: str
    session_version: int
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    payload_type: str
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


@dataclass(frozen=True, slots=True)
class Media:
    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: Connection | None = None
    attributes: tuple[tuple[str, str | None], ...] = ()
    port_count: int | None = None

    def attribute(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [v for k, v in self.attributes if k == name and v is not None]

    @property
    def direction(self) -> Direction | None:
        for key, _ in self.attributes:
            if key in DIRECTIONS:
                return key
        return None

    @property
    def rtpmaps(self) -> dict[str, RtpMap]:
        """Payload type → codec, including static payload types with no rtpmap line."""
        maps: dict[str, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            pt, _, spec = value.partition(" ")
            pieces = spec.strip().split("/")
            if len(pieces) < 2 or not pieces[1].isdigit():
                raise SdpParseError(f"bad rtpmap {value!r}")
            channels = int(pieces[2]) if len(pieces) > 2 and pieces[2].isdigit() else None
            maps[pt] = RtpMap(pt, pieces[0], int(pieces[1]), channels)
        for pt in self.formats:
            if pt not in maps and pt in STATIC_CODECS:
                name, rate = STATIC_CODECS[pt]
                maps[pt] = RtpMap(pt, name, rate)
        return maps

    @property
    def fmtp(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for value in self.attribute_values("fmtp"):
            pt, _, params = value.partition(" ")
            out[pt] = params.strip()
        return out

    def with_direction(self, direction: Direction) -> Media:
        attrs = tuple((k, v) for k, v in self.attributes if k not in DIRECTIONS)
        return replace(self, attributes=(*attrs, (direction, None)))

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count else str(self.port)
        out = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        for key, value in self.attributes:
            out.append(f"a={key}" if value is None else f"a={key}:{value}")
        return out


@dataclass(frozen=True, slots=True)
class SessionDescription:
    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: str = "0 0"
    attributes: tuple[tuple[str, str | None], ...] = ()
    media: tuple[Media, ...] = ()
    version: int = 0
    other_lines: tuple[tuple[str, str], ...] = field(default=())

    @property
    def audio(self) -> Media | None:
        for media in self.media:
            if media.media == "audio":
                return media
        return None

    def media_connection(self, media: Media) -> Connection | None:
        return media.connection or self.connection

    def direction(self, media: Media) -> Direction:
        """Effective direction of a stream (media level, then session level, then sendrecv)."""
        if media.direction is not None:
            return media.direction
        for key, _ in self.attributes:
            if key in DIRECTIONS:
                return key
        return "sendrecv"

    def to_text(self) -> str:
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        lines.extend(f"{k}={v}" for k, v in self.other_lines)
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines.append(f"t={self.timing}")
        for key, value in self.attributes:
            lines.append(f"a={key}" if value is None else f"a={key}:{value}")
        for media in self.media:
            lines.extend(media.lines())
        return "\r\n".join(lines) + "\r\n"

    def to_bytes(self) -> bytes:
        return self.to_text().encode()


@dataclass(slots=True)
class _MediaBuilder:
    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None
    connection: Connection | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    def build(self) -> Media:
        return Media(
            media=self.media,
            port=self.port,
            proto=self.proto,
            formats=tuple(self.formats),
            connection=self.connection,
            attributes=tuple(self.attributes),
            port_count=self.port_count,
        )


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpParseError(f"bad c= line {value!r}")
    address = parts[2].split("/")[0]
    return Connection(address=address, nettype=parts[0], addrtype=parts[1])


def _parse_attribute(value: str) -> tuple[str, str | None]:
    name, colon, rest = value.partition(":")
    if not name:
        raise SdpParseError(f"bad a= line {value!r}")
    return name, (rest if colon else None)


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body. Raises :class:`SdpParseError` on malformed input."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise SdpParseError("SDP is not UTF-8") from exc
    origin: Origin | None = None
    session_name = "-"
    connection: Connection | None = None
    timing = "0 0"
    version = 0
    attributes: list[tuple[str, str | None]] = []
    other: list[tuple[str, str]] = []
    media: list[Media] = []
    current: _MediaBuilder | None = None

    def close_media() -> None:
        if current is not None:
            media.append(current.build())

    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpParseError("SDP must start with v=")
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise SdpParseError(f"bad SDP line {line!r}")
        kind, value = line[0], line[2:].strip()
        if kind == "v":
            if not value.isdigit():
                raise SdpParseError(f"bad version {value!r}")
            version = int(value)
        elif kind == "m":
            close_media()
            parts = value.split()
            if len(parts) < 3:
                raise SdpParseError(f"bad m= line {value!r}")
            port_text, _, count_text = parts[1].partition("/")
            if not port_text.isdigit() or int(port_text) > 65535:
                raise SdpParseError(f"bad media port {parts[1]!r}")
            if count_text and not count_text.isdigit():
                raise SdpParseError(f"bad port count {parts[1]!r}")
            current = _MediaBuilder(
                media=parts[0],
                port=int(port_text),
                proto=parts[2],
                formats=parts[3:],
                port_count=int(count_text) if count_text else None,
            )
        elif kind == "c":
            conn = _parse_connection(value)
            if current is not None:
                current.connection = conn
            else:
                connection = conn
        elif kind == "a":
            attr = _parse_attribute(value)
            if current is not None:
                current.attributes.append(attr)
            else:
                attributes.append(attr)
        elif current is not None:
            continue  # i=, b=, k= at media level are ignored
        elif kind == "o":
            parts = value.split()
            if len(parts) != 6 or not parts[2].isdigit():
                raise SdpParseError(f"bad o= line {value!r}")
            origin = Origin(parts[0], parts[1], int(parts[2]), parts[5], parts[3], parts[4])
        elif kind == "s":
            session_name = value or "-"
        elif kind == "t":
            timing = value
        else:
            other.append((kind, value))
    close_media()
    if origin is None:
        raise SdpParseError("missing o= line")
    sdp = SessionDescription(
        origin=origin,
        session_name=session_name,
        connection=connection,
        timing=timing,
        attributes=tuple(attributes),
        media=tuple(media),
        version=version,
        other_lines=tuple(other),
    )
    for m in sdp.media:
        m.rtpmaps  # noqa: B018  (validate rtpmap lines eagerly)
        if m.port != 0 and sdp.media_connection(m) is None:
            raise SdpParseError("media stream without a connection address")
    return sdp


def audio_offer(
    address: str,
    port: int,
    *,
    codecs: tuple[str, ...] = ("0", "8"),
    telephone_event: str | None = "101",
    direction: Direction = "sendrecv",
    session_id: str = "0",
    session_version: int = 0,
    username: str = "opencc",
    ptime: int = 20,
) -> SessionDescription:
    """An offer for one G.711 audio stream (+ telephone-event)."""
    addrtype = "IP6" if ":" in address else "IP4"
    formats = list(codecs)
    attrs: list[tuple[str, str | None]] = []
    for pt in codecs:
        name, rate = STATIC_CODECS.get(pt, ("PCMU", 8000))
        attrs.append(("rtpmap", f"{pt} {name}/{rate}"))
    if telephone_event is not None:
        formats.append(telephone_event)
        attrs.append(("rtpmap", f"{telephone_event} {TELEPHONE_EVENT}/8000"))
        attrs.append(("fmtp", f"{telephone_event} 0-16"))
    attrs.append(("ptime", str(ptime)))
    attrs.append((direction, None))
    return SessionDescription(
        origin=Origin(username, session_id, session_version, address, "IN", addrtype),
        connection=Connection(address, "IN", addrtype),
        media=(Media("audio", port, "RTP/AVP", tuple(formats), attributes=tuple(attrs)),),
    )


class NoCommonCodec(ValueError):
    """The offer has no audio codec the answerer supports (→ 488)."""


_ANSWER_DIRECTION: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


def audio_answer(
    offer: SessionDescription,
    address: str,
    port: int,
    *,
    supported: tuple[str, ...] = ("PCMU", "PCMA"),
    session_id: str = "0",
    session_version: int = 0,
    username: str = "opencc",
) -> SessionDescription:
    """RFC 3264 answer for the first audio stream: first offered codec we support,
    telephone-event if offered, mirrored direction (sendonly ↔ recvonly for hold)."""
    audio = offer.audio
    if audio is None or audio.port == 0:
        raise NoCommonCodec("offer has no active audio stream")
    maps = audio.rtpmaps
    wanted = {name.upper() for name in supported}
    chosen = [pt for pt in audio.formats if pt in maps and maps[pt].encoding.upper() in wanted]
    if not chosen:
        raise NoCommonCodec("no common audio codec")
    formats = [chosen[0]]
    attrs: list[tuple[str, str | None]] = [("rtpmap", str(maps[chosen[0]]))]
    events = [pt for pt in audio.formats if pt in maps and maps[pt].encoding == TELEPHONE_EVENT]
    if events:
        formats.append(events[0])
        attrs.append(("rtpmap", str(maps[events[0]])))
        attrs.append(("fmtp", f"{events[0]} {audio.fmtp.get(events[0], '0-16')}"))
    attrs.append((_ANSWER_DIRECTION[offer.direction(audio)], None))
    addrtype = "IP6" if ":" in address else "IP4"
    return SessionDescription(
        origin=Origin(username, session_id, session_version, address, "IN", addrtype),
        connection=Connection(address, "IN", addrtype),
        media=(Media("audio", port, audio.proto, tuple(formats), attributes=tuple(attrs)),),
    )


def with_direction(sdp: SessionDescription, direction: Direction) -> SessionDescription:
    """Same session with every stream set to ``direction`` and the version bumped
    (use ``sendonly`` to put the far end on hold, ``sendrecv`` to retrieve)."""
    origin = replace(sdp.origin, session_version=sdp.origin.session_version + 1)
    return replace(
        sdp,
        origin=origin,
        attributes=tuple((k, v) for k, v in sdp.attributes if k not in DIRECTIONS),
        media=tuple(m.with_direction(direction) for m in sdp.media),
    )
