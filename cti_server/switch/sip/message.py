"""SIP message model, parser and serializer (RFC 3261 section 7, 19, 20, 25).

Pure functions and small classes with no I/O. Every malformed input raises
:class:`SipParseError` (a ``ValueError``) and nothing else, so a transport can
drop a bad datagram or close a bad stream without a traceback.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

SIP_VERSION = "SIP/2.0"
BRANCH_COOKIE = "z9hG4bK"

MAX_HEADER_BYTES = 65_536
MAX_BODY_BYTES = 1_048_576


class SipParseError(ValueError):
    """Raised for any malformed SIP/URI/header input."""


# ---------------------------------------------------------------------------
# header names

_COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "y": "Identity",
    "n": "Identity-Info",
}

_KNOWN = [
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Max-Forwards",
    "Min-Expires",
    "Min-SE",
    "MIME-Version",
    "Organization",
    "P-Asserted-Identity",
    "Path",
    "Priority",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Session-Expires",
    "Subject",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
]
_CANONICAL = {name.lower(): name for name in _KNOWN}

# Headers whose value is a comma-separated list (RFC 3261 7.3.1); the
# authentication headers are deliberately absent (commas inside their params).
_LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "In-Reply-To",
        "Path",
        "Proxy-Require",
        "Record-Route",
        "Require",
        "Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    )
)

_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")


def canonical_name(name: str) -> str:
    """Long, conventionally capitalised form of a header name (compact forms expanded)."""
    stripped = name.strip()
    lower = stripped.lower()
    if lower in _COMPACT:
        return _COMPACT[lower]
    return _CANONICAL.get(lower, stripped)


def _key(name: str) -> str:
    return canonical_name(name).lower()


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, honouring quotes and ``<…>``."""
    parts: list[str] = []
    buf: list[str] = []
    in_quote = False
    in_angle = False
    escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
            continue
        if in_quote:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
            buf.append(ch)
            continue
        if ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            part = "".join(buf).strip()
            if part:
                parts.append(part)
            buf = []
            continue
        buf.append(ch)
    if in_quote:
        raise SipParseError(f"unterminated quoted string in {value!r}")
    part = "".join(buf).strip()
    if part:
        parts.append(part)
    return parts


class Headers:
    """Ordered multi-map of SIP headers with case-insensitive, compact-aware names."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value.strip()))

    def prepend(self, name: str, value: str) -> None:
        """Insert before the first header of that name (or at the top)."""
        key = _key(name)
        for index, (other, _) in enumerate(self._items):
            if other.lower() == key:
                self._items.insert(index, (canonical_name(name), value.strip()))
                return
        self._items.insert(0, (canonical_name(name), value.strip()))

    def set(self, name: str, value: str) -> None:
        """Replace every header of that name with one value (kept at the first position)."""
        key = _key(name)
        for index, (other, _) in enumerate(self._items):
            if other.lower() == key:
                self._items[index] = (canonical_name(name), value.strip())
                self._items = [
                    item
                    for i, item in enumerate(self._items)
                    if i <= index or item[0].lower() != key
                ]
                return
        self.add(name, value)

    def remove(self, name: str) -> None:
        key = _key(name)
        self._items = [item for item in self._items if item[0].lower() != key]

    def get(self, name: str) -> str | None:
        """First raw value of the header, or ``None``."""
        key = _key(name)
        for other, value in self._items:
            if other.lower() == key:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every raw value, one per header line (not comma-split)."""
        key = _key(name)
        return [value for other, value in self._items if other.lower() == key]

    def values(self, name: str) -> list[str]:
        """Every value; list-valued headers (Via, Contact, Route …) are comma-split."""
        raw = self.get_all(name)
        if _key(name) not in _LIST_HEADERS:
            return raw
        out: list[str] = []
        for value in raw:
            out.extend(split_list(value))
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        clone = Headers()
        clone._items = list(self._items)
        return clone


# ---------------------------------------------------------------------------
# parameters, quoting


def quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        out: list[str] = []
        escaped = False
        for ch in value[1:-1]:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            else:
                out.append(ch)
        return "".join(out)
    if value.startswith('"'):
        raise SipParseError(f"unterminated quoted string {value!r}")
    return value


def _split_unquoted(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    in_quote = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
            buf.append(ch)
            continue
        if ch == "\\" and in_quote:
            escaped = True
        elif ch == '"':
            in_quote = not in_quote
        elif ch == sep and not in_quote:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    if in_quote:
        raise SipParseError(f"unterminated quoted string in {text!r}")
    parts.append("".join(buf))
    return parts


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ``;a=b;flag;c="q"`` (leading ``;`` optional). Names are lower-cased."""
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if text.startswith(";"):
        text = text[1:]
    for raw_chunk in _split_unquoted(text, ";"):
        chunk = raw_chunk.strip()
        if not chunk:
            raise SipParseError("empty parameter")
        name, eq, value = chunk.partition("=")
        name = name.strip()
        if not _TOKEN_RE.match(name):
            raise SipParseError(f"bad parameter name {name!r}")
        if eq:
            value = value.strip()
            if not value:
                raise SipParseError(f"empty value for parameter {name!r}")
            params[name.lower()] = unquote(value) if value.startswith('"') else value
        else:
            params[name.lower()] = None
    return params


def format_params(params: dict[str, str | None]) -> str:
    out: list[str] = []
    for name, value in params.items():
        if value is None:
            out.append(f";{name}")
        elif _TOKEN_RE.match(value) or _HOSTISH_RE.match(value):
            out.append(f";{name}={value}")
        else:
            out.append(f";{name}={quote(value)}")
    return "".join(out)


_HOSTISH_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~:\[\]/]+$")


# ---------------------------------------------------------------------------
# URIs

_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._]+)$")
_USER_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/%#]+$")
_URI_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]*$")
_TEL_RE = re.compile(r"^[0-9A-Fa-f*#+\-.()pPwW]+$")


@dataclass(frozen=True, slots=True)
class Uri:
    """A ``sip:``, ``sips:`` or ``tel:`` URI."""

    scheme: str
    host: str = ""
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def transport(self) -> str:
        value = self.params.get("transport")
        if value:
            return value.upper()
        return "TLS" if self.scheme == "sips" else "UDP"

    @property
    def host_port(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def aor(self) -> str:
        """Address of record: ``scheme:user@host`` with no port or params."""
        if self.scheme == "tel":
            return f"tel:{self.user}"
        return (
            f"{self.scheme}:{self.user}@{self.host}" if self.user else f"{self.scheme}:{self.host}"
        )

    def with_params(self, **params: str | None) -> Uri:
        merged = dict(self.params)
        merged.update(params)
        return replace(self, params=merged)

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user
            if self.password is not None:
                userinfo += f":{self.password}"
            userinfo += "@"
        text = f"{self.scheme}:{userinfo}{self.host_port}{format_params(self.params)}"
        if self.headers:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.headers.items())
        return text


def parse_uri(text: str) -> Uri:
    """Parse a sip:/sips:/tel: URI."""
    text = text.strip()
    scheme, colon, rest = text.partition(":")
    scheme = scheme.lower()
    if not colon or not rest:
        raise SipParseError(f"not a URI: {text!r}")
    if scheme == "tel":
        number, _, param_text = rest.partition(";")
        if not _TEL_RE.match(number):
            raise SipParseError(f"bad tel number {number!r}")
        return Uri(scheme="tel", user=number, params=parse_params(param_text))
    if scheme not in ("sip", "sips"):
        raise SipParseError(f"unsupported URI scheme {scheme!r}")
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.partition("@")
        if not userinfo:
            raise SipParseError(f"empty user part in {text!r}")
        user, pcolon, pw = userinfo.partition(":")
        if not user or not _USER_RE.match(user):
            raise SipParseError(f"bad user part {user!r}")
        if pcolon:
            if not _URI_TOKEN_RE.match(pw):
                raise SipParseError("bad password in URI")
            password = pw
    headers: dict[str, str] = {}
    rest, qmark, header_text = rest.partition("?")
    if qmark:
        for pair in header_text.split("&"):
            hname, heq, hvalue = pair.partition("=")
            if not hname or not heq or not _URI_TOKEN_RE.match(hname + hvalue):
                raise SipParseError(f"bad URI header {pair!r}")
            headers[hname] = hvalue
    hostport, _, param_text = rest.partition(";")
    params = parse_params(param_text)
    for value in params.values():
        if value is not None and not _URI_TOKEN_RE.match(value):
            raise SipParseError(f"bad URI parameter value {value!r}")
    host, port = _parse_hostport(hostport)
    return Uri(
        scheme=scheme,
        host=host,
        user=user,
        password=password,
        port=port,
        params=params,
        headers=headers,
    )


def _parse_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"bad IPv6 reference {text!r}")
        host, tail = text[: end + 1], text[end + 1 :]
        if tail and not tail.startswith(":"):
            raise SipParseError(f"bad host:port {text!r}")
        port_text = tail[1:] if tail else None
    else:
        host, colon, port_text_raw = text.partition(":")
        port_text = port_text_raw if colon else None
    if not host or not _HOST_RE.match(host):
        raise SipParseError(f"bad host {host!r}")
    port: int | None = None
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
            raise SipParseError(f"bad port {port_text!r}")
        port = int(port_text)
        if not 0 < port < 65536:
            raise SipParseError(f"port out of range {port}")
    return host.lower(), port


# ---------------------------------------------------------------------------
# name-addr (From, To, Contact, Route, Record-Route)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``"Display" <uri>;params`` — the value of From/To/Contact/Route."""

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        params = dict(self.params)
        params["tag"] = tag
        return replace(self, params=params)

    def __str__(self) -> str:
        display = f"{quote(self.display_name)} " if self.display_name else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(text: str) -> NameAddr:
    text = text.strip()
    if not text:
        raise SipParseError("empty address")
    if "<" in text:
        before, _, after = text.partition("<")
        uri_text, close, param_text = after.partition(">")
        if not close:
            raise SipParseError(f"missing '>' in {text!r}")
        display = before.strip()
        display_name = unquote(display) if display else None
        if display and not display.startswith('"') and '"' in display:
            raise SipParseError(f"bad display name {display!r}")
        param_text = param_text.strip()
        if param_text and not param_text.startswith(";"):
            raise SipParseError(f"junk after '>' in {text!r}")
        return NameAddr(
            uri=parse_uri(uri_text),
            display_name=display_name,
            params=parse_params(param_text),
        )
    uri_text, _, param_text = text.partition(";")
    if " " in uri_text.strip():
        raise SipParseError(f"bad address {text!r}")
    return NameAddr(uri=parse_uri(uri_text), params=parse_params(param_text))


# ---------------------------------------------------------------------------
# Via


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        if value is None or not value.isdigit():
            return None
        return int(value)

    @property
    def wants_rport(self) -> bool:
        return "rport" in self.params

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **params: str | None) -> Via:
        merged = dict(self.params)
        merged.update(params)
        return replace(self, params=merged)

    def __str__(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by}{format_params(self.params)}"


_VIA_RE = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-]+)\s+(.*)$", re.IGNORECASE | re.DOTALL)


def parse_via(text: str) -> Via:
    match = _VIA_RE.match(text.strip())
    if not match:
        raise SipParseError(f"bad Via {text!r}")
    transport, rest = match.group(1).upper(), match.group(2)
    sent_by, _, param_text = rest.partition(";")
    host, port = _parse_hostport(sent_by)
    params = parse_params(param_text)
    return Via(transport=transport, host=host, port=port, params=params)


# ---------------------------------------------------------------------------
# messages


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(text: str) -> CSeq:
    parts = text.split()
    if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
        raise SipParseError(f"bad CSeq {text!r}")
    number = int(parts[0])
    if number >= 2**31 or not _TOKEN_RE.match(parts[1]):
        raise SipParseError(f"bad CSeq {text!r}")
    return CSeq(number, parts[1].upper())


class SipMessage:
    """Common part of requests and responses."""

    __slots__ = ("body", "headers")

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body

    def _start_line(self) -> str:
        raise NotImplementedError

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self._required("CSeq"))

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self._required("From"))

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self._required("To"))

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.headers.values("Via")]

    @property
    def top_via(self) -> Via:
        values = self.headers.values("Via")
        if not values:
            raise SipParseError("missing Via header")
        return parse_via(values[0])

    @property
    def contacts(self) -> list[NameAddr]:
        return [parse_name_addr(v) for v in self.headers.values("Contact") if v.strip() != "*"]

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        return value.split(";")[0].strip().lower() if value else None

    def to_bytes(self) -> bytes:
        lines = [self._start_line()]
        for name, value in self.headers:
            if name == "Content-Length":
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


class SipRequest(SipMessage):
    __slots__ = ("method", "uri")

    def __init__(
        self, method: str, uri: Uri, headers: Headers | None = None, body: bytes = b""
    ) -> None:
        super().__init__(headers, body)
        self.method = method.upper()
        self.uri = uri

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def copy(self) -> SipRequest:
        return SipRequest(self.method, self.uri, self.headers.copy(), self.body)

    def __repr__(self) -> str:
        return f"<SipRequest {self.method} {self.uri}>"


class SipResponse(SipMessage):
    __slots__ = ("reason", "status")

    def __init__(
        self, status: int, reason: str = "", headers: Headers | None = None, body: bytes = b""
    ) -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason or REASONS.get(status, "Unknown")

    def _start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<SipResponse {self.status} {self.reason}>"


REASONS: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    600: "Busy Everywhere",
    603: "Decline",
}


# ---------------------------------------------------------------------------
# parsing

_METHOD_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


def _parse_head(head: bytes) -> tuple[str, Headers]:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("header section is not UTF-8") from exc
    raw_lines = text.replace("\r\n", "\n").split("\n")
    start = raw_lines[0].strip()
    if not start:
        raise SipParseError("empty start line")
    headers = Headers()
    current: list[str] | None = None
    for line in raw_lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            if current is None:
                raise SipParseError("continuation line before any header")
            current[1] += " " + line.strip()
            continue
        if current is not None:
            headers.add(current[0], current[1])
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or not _TOKEN_RE.match(name):
            raise SipParseError(f"bad header line {line[:80]!r}")
        current = [name, value.strip()]
    if current is not None:
        headers.add(current[0], current[1])
    return start, headers


def _build(start: str, headers: Headers, body: bytes) -> SipMessage:
    message: SipMessage
    if start.startswith("SIP/"):
        parts = start.split(" ", 2)
        if len(parts) < 2 or parts[0].upper() != SIP_VERSION:
            raise SipParseError(f"bad status line {start[:80]!r}")
        code = parts[1]
        if len(code) != 3 or not code.isascii() or not code.isdigit():
            raise SipParseError(f"bad status code {code!r}")
        status = int(code)
        if not 100 <= status <= 699:
            raise SipParseError(f"status code out of range {status}")
        message = SipResponse(status, parts[2].strip() if len(parts) > 2 else "", headers, body)
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2].upper() != SIP_VERSION:
            raise SipParseError(f"bad request line {start[:80]!r}")
        if not _METHOD_RE.match(parts[0]):
            raise SipParseError(f"bad method {parts[0]!r}")
        message = SipRequest(parts[0], parse_uri(parts[1]), headers, body)
    for name in _MANDATORY:
        if headers.get(name) is None:
            raise SipParseError(f"missing {name} header")
    # Validate the structured headers eagerly so later accessors cannot fail.
    cseq = message.cseq
    if isinstance(message, SipRequest) and cseq.method != message.method:
        raise SipParseError("CSeq method does not match the request method")
    message.vias  # noqa: B018
    message.from_  # noqa: B018
    message.to  # noqa: B018
    if not message.call_id.strip():
        raise SipParseError("empty Call-ID")
    if message.headers.values("Contact") != ["*"]:
        message.contacts  # noqa: B018
    return message


def _content_length(headers: Headers) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise SipParseError(f"bad Content-Length {value!r}")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise SipParseError("body too large")
    return length


def _split_head(data: bytes) -> tuple[bytes, bytes] | None:
    idx = data.find(b"\r\n\r\n")
    idx_lf = data.find(b"\n\n")
    if idx < 0 and idx_lf < 0:
        return None
    if idx >= 0 and (idx_lf < 0 or idx <= idx_lf):
        return data[:idx], data[idx + 4 :]
    return data[:idx_lf], data[idx_lf + 2 :]


def parse_message(data: bytes) -> SipMessage:
    """Parse one complete message (a UDP datagram).

    Without Content-Length the body is the rest of the datagram; with it, the
    body is truncated to that length, and a shorter datagram is an error.
    """
    try:
        data = data.lstrip(b"\r\n")
        split = _split_head(data)
        if split is None:
            # A message with no body may lack the blank line in a datagram.
            head, rest = data.rstrip(b"\r\n"), b""
        else:
            head, rest = split
        if len(head) > MAX_HEADER_BYTES:
            raise SipParseError("header section too large")
        start, headers = _parse_head(head)
        length = _content_length(headers)
        if length is None:
            body = rest
        else:
            if len(rest) < length:
                raise SipParseError("body shorter than Content-Length")
            body = rest[:length]
        return _build(start, headers, body)
    except SipParseError:
        raise
    except (ValueError, IndexError, TypeError) as exc:  # defensive: never leak other errors
        raise SipParseError(f"malformed message: {exc}") from exc


class StreamParser:
    """Frames messages out of a byte stream (TCP/TLS) using Content-Length."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[SipMessage]:
        """Add bytes; return every complete message. Raises on a broken stream."""
        self._buffer.extend(data)
        messages: list[SipMessage] = []
        while True:
            # Skip CRLF keep-alives (RFC 5626 section 3.5.1) between messages.
            while self._buffer[:2] == b"\r\n" or self._buffer[:1] == b"\n":
                del self._buffer[: 2 if self._buffer[:2] == b"\r\n" else 1]
            if not self._buffer:
                return messages
            split = _split_head(bytes(self._buffer))
            if split is None:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise SipParseError("header section too large")
                return messages
            head, rest = split
            try:
                start, headers = _parse_head(head)
                length = _content_length(headers)
            except SipParseError:
                raise
            except (ValueError, IndexError, TypeError) as exc:
                raise SipParseError(f"malformed message: {exc}") from exc
            if length is None:
                raise SipParseError("Content-Length is mandatory on stream transports")
            if len(rest) < length:
                return messages
            consumed = len(self._buffer) - len(rest) + length
            body = rest[:length]
            del self._buffer[:consumed]
            try:
                messages.append(_build(start, headers, body))
            except SipParseError:
                raise
            except (ValueError, IndexError, TypeError) as exc:
                raise SipParseError(f"malformed message: {exc}") from exc

    @property
    def pending(self) -> int:
        return len(self._buffer)


# ---------------------------------------------------------------------------
# building


def generate_branch() -> str:
    return BRANCH_COOKIE + secrets.token_hex(8)


def generate_tag() -> str:
    return secrets.token_hex(6)


def generate_call_id(host: str = "") -> str:
    token = secrets.token_hex(12)
    return f"{token}@{host}" if host else token


def make_response(
    request: SipRequest,
    status: int,
    reason: str = "",
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """Build a response copying Via, From, To, Call-ID, CSeq (RFC 3261 8.2.6.2)."""
    out = Headers()
    for value in request.headers.get_all("Via"):
        out.add("Via", value)
    out.add("From", request._required("From"))
    to_value = request._required("To")
    if status != 100 and request.to.tag is None:
        # RFC 3261 8.2.6.2: every response but 100 carries a To tag.
        to_value = str(request.to.with_tag(to_tag or generate_tag()))
    out.add("To", to_value)
    out.add("Call-ID", request.call_id)
    out.add("CSeq", request._required("CSeq"))
    if status == 100 and request.headers.get("Timestamp") is not None:
        out.add("Timestamp", request.headers.get("Timestamp") or "")
    for name, value in headers:
        out.add(name, value)
    return SipResponse(status, reason, out, body)


def replace_top_via(headers: Headers, via: Via) -> None:
    """Rewrite the topmost Via value in place (it may share a line with others)."""
    lines = headers.get_all("Via")
    if not lines:
        raise SipParseError("missing Via header")
    first = split_list(lines[0])
    first[0] = str(via)
    rebuilt = [", ".join(first), *lines[1:]]
    headers.remove("Via")
    # Via headers must stay on top of the message in their original order.
    for value in reversed(rebuilt):
        headers.prepend("Via", value)
