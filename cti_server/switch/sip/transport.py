"""asyncio UDP and TCP transports (RFC 3261 section 18, RFC 3581).

A transport turns bytes into :class:`SipMessage` objects and hands each one to
a callback together with a :class:`Channel` — the way back to the sender.
Requests get their top Via stamped with ``received``/``rport``; responses are
sent where RFC 3261 18.2.2 and RFC 3581 say (the source port when the client
asked for ``rport``; the same TCP connection while it is open).

TLS (RFC 3261 section 26, ``sips:`` / ``transport=tls``): :class:`TlsConfig`
builds the server and client ``ssl.SSLContext`` (certificate chain, key, CA,
peer verification); a :class:`TcpTransport` given them calls itself ``TLS``
(Via ``SIP/2.0/TLS``, default port 5061) and reuses connections like TCP. A
refused handshake raises :class:`TlsHandshakeError`; unusable certificate
files raise :class:`TlsConfigError`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cti_server.switch.sip.message import (
    SipMessage,
    SipParseError,
    SipRequest,
    StreamParser,
    Uri,
    Via,
    parse_message,
    replace_top_via,
)

log = logging.getLogger("switch.sip.transport")

Address = tuple[str, int]
DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}


class TransportError(OSError):
    """A message could not be sent (connection gone, unreachable)."""


class TlsError(TransportError):
    """TLS could not be set up (see the subclasses)."""


class TlsConfigError(TlsError):
    """The certificate, key or CA file is missing, unreadable or does not match."""


class TlsHandshakeError(TlsError):
    """The TLS handshake failed: the peer's certificate is not trusted (unknown CA,
    wrong host name, expired) or the peer refused ours."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Certificates and verification of SIP over TLS (RFC 3261 section 26).

    ``cert``/``key``: this side's PEM certificate chain and private key (needed to
    listen; also presented as a client certificate when given). ``ca``: PEM bundle
    of the CAs trusted for peers (``None``: the system's). ``verify``: check the
    server's certificate and host name when we connect (off only for lab set-ups).
    ``require_client_cert``: mutual TLS for peers connecting to us (verified with
    ``ca``).
    """

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    verify: bool = True
    require_client_cert: bool = False

    def _load_chain(self, context: ssl.SSLContext) -> None:
        if self.cert is None:
            return
        try:
            context.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(
                f"cannot load TLS certificate {self.cert} / key {self.key}: {exc}"
            ) from exc

    def _load_ca(self, context: ssl.SSLContext) -> None:
        try:
            if self.ca is not None:
                context.load_verify_locations(cafile=str(self.ca))
            else:
                context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"cannot load TLS CA bundle {self.ca}: {exc}") from exc

    def server_context(self) -> ssl.SSLContext:
        """Context of the TLS listener (needs ``cert`` and ``key``)."""
        if self.cert is None or self.key is None:
            raise TlsConfigError("a TLS listener needs a certificate and a private key")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load_chain(context)
        if self.require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self._load_ca(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Context of connections we open."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.verify:
            self._load_ca(context)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._load_chain(context)
        return context


class Channel(Protocol):
    """One path to a peer: send messages and know whether retransmissions are needed."""

    @property
    def transport_name(self) -> str: ...

    @property
    def reliable(self) -> bool: ...

    @property
    def remote(self) -> Address: ...

    def send(self, message: SipMessage) -> None: ...


MessageCallback = Callable[[SipMessage, Channel], None]


def stamp_via(request: SipRequest, source: Address) -> None:
    """RFC 3261 18.2.1 ``received`` and RFC 3581 ``rport`` on the top Via."""
    via = request.top_via
    params: dict[str, str | None] = {}
    if via.host.strip("[]") != source[0]:
        params["received"] = source[0]
    if via.wants_rport:
        params["received"] = source[0]
        params["rport"] = str(source[1])
    if params:
        replace_top_via(request.headers, via.with_params(**params))


def response_address(via: Via, source: Address | None) -> Address:
    """Where a UDP response goes (RFC 3261 18.2.2, RFC 3581 section 4)."""
    maddr = via.params.get("maddr")
    if maddr:
        return maddr, via.port or DEFAULT_PORTS["UDP"]
    host = via.received or via.host.strip("[]")
    if via.rport is not None:
        return host, via.rport
    if via.wants_rport and source is not None:
        return source
    return host, via.port or DEFAULT_PORTS.get(via.transport, 5060)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int) -> Address:
    """Resolve a host name (A/AAAA only; no NAPTR/SRV yet) to an address."""
    host = host.strip("[]")
    if _is_ip(host):
        return host, port
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise TransportError(f"cannot resolve {host!r}: {exc}") from exc
    if not infos:
        raise TransportError(f"cannot resolve {host!r}")
    address = infos[0][4]
    return str(address[0]), int(address[1])


def uri_target(uri: Uri) -> tuple[str, str, int]:
    """(transport name, host, port) to reach ``uri`` (RFC 3263 without DNS SRV)."""
    transport = uri.transport
    host = uri.params.get("maddr") or uri.host
    return transport, host, uri.port or DEFAULT_PORTS.get(transport, 5060)


# ---------------------------------------------------------------------------
# UDP


@dataclass(frozen=True, slots=True)
class UdpChannel:
    transport: UdpTransport
    remote: Address

    @property
    def transport_name(self) -> str:
        return "UDP"

    @property
    def reliable(self) -> bool:
        return False

    def send(self, message: SipMessage) -> None:
        self.transport.send_bytes(message.to_bytes(), self.remote)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.owner._received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class UdpTransport:
    """SIP over UDP on one socket."""

    name = "UDP"
    reliable = False

    def __init__(self, on_message: MessageCallback, host: str = "127.0.0.1", port: int = 0):
        self._on_message = on_message
        self._host = host
        self._port = port
        self._transport: asyncio.DatagramTransport | None = None
        self.parse_errors = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self._host, self._port)
        )
        self._transport = transport

    @property
    def local_address(self) -> Address:
        if self._transport is None:
            raise TransportError("UDP transport not started")
        sockname = self._transport.get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    def channel(self, remote: Address) -> UdpChannel:
        return UdpChannel(self, remote)

    def send_bytes(self, data: bytes, remote: Address) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError("UDP transport closed")
        self._transport.sendto(data, remote)

    def _received(self, data: bytes, source: Address) -> None:
        if not data.strip(b"\r\n\x00"):
            return  # keep-alive
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.parse_errors += 1
            log.info("dropped malformed datagram from %s:%d: %s", *source, exc)
            return
        channel: Channel
        if isinstance(message, SipRequest):
            try:
                stamp_via(message, source)
                channel = self.channel(response_address(message.top_via, source))
            except SipParseError as exc:
                self.parse_errors += 1
                log.info("dropped request with a bad Via from %s:%d: %s", *source, exc)
                return
        else:
            channel = self.channel(source)
        self._on_message(message, channel)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


# ---------------------------------------------------------------------------
# TCP / TLS


class _TcpConnection(asyncio.Protocol):
    def __init__(self, owner: TcpTransport) -> None:
        self.owner = owner
        self.parser = StreamParser()
        self.transport: asyncio.Transport | None = None
        self.remote: Address = ("", 0)
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote = (str(peer[0]), int(peer[1]))
        self.owner._connections[self.remote] = self

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.parser.feed(data)
        except SipParseError as exc:
            self.owner.parse_errors += 1
            log.info("closing TCP connection from %s:%d: %s", *self.remote, exc)
            if self.transport is not None:
                self.transport.close()
            return
        for message in messages:
            self.owner._received(message, self)

    def connection_lost(self, exc: Exception | None) -> None:
        for key in [k for k, c in self.owner._connections.items() if c is self]:
            del self.owner._connections[key]
        if not self.closed.done():
            self.closed.set_result(None)

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.is_open or self.transport is None:
            raise TransportError(f"connection to {self.remote} is closed")
        self.transport.write(data)


@dataclass(frozen=True, slots=True)
class TcpChannel:
    transport: TcpTransport
    remote: Address
    connection: _TcpConnection | None = None
    fallback: Address | None = None

    @property
    def transport_name(self) -> str:
        return self.transport.name

    @property
    def reliable(self) -> bool:
        return True

    def send(self, message: SipMessage) -> None:
        data = message.to_bytes()
        conn = self.connection
        if conn is None or not conn.is_open:
            conn = self.transport._connections.get(self.remote)
        if conn is not None and conn.is_open:
            conn.write(data)
            return
        target = self.fallback or self.remote
        # RFC 3261 18.2.2: connection gone, open a new one to the Via address.
        self.transport._spawn_send(target, data)


class TcpTransport:
    """SIP over TCP (or TLS with ``server_ssl``/``client_ssl``) with connection reuse."""

    reliable = True

    def __init__(
        self,
        on_message: MessageCallback,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self._on_message = on_message
        self._host = host
        self._port = port
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._connect_timeout = connect_timeout
        self._server: asyncio.Server | None = None
        self._connections: dict[Address, _TcpConnection] = {}
        self._connecting: dict[Address, asyncio.Future[_TcpConnection]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.name = "TLS" if server_ssl is not None or client_ssl is not None else "TCP"
        self.parse_errors = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _TcpConnection(self), self._host, self._port, ssl=self._server_ssl
        )

    @property
    def local_address(self) -> Address:
        if self._server is None or not self._server.sockets:
            raise TransportError("TCP transport not started")
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    @property
    def connection_count(self) -> int:
        """Open connections (one connection may be indexed under several addresses)."""
        return len({id(c) for c in self._connections.values() if c.is_open})

    async def connect(self, remote: Address, server_hostname: str | None = None) -> TcpChannel:
        """A channel over an open connection to ``remote`` (reused when one exists).

        Over TLS the peer's certificate is checked against ``server_hostname``
        (default: the address); a failed handshake raises :class:`TlsHandshakeError`."""
        conn = self._connections.get(remote)
        if conn is not None and conn.is_open:
            return TcpChannel(self, remote, conn)
        pending = self._connecting.get(remote)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = loop.create_future()
            self._connecting[remote] = pending
            try:
                _, proto = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _TcpConnection(self),
                        remote[0],
                        remote[1],
                        ssl=self._client_ssl,
                        server_hostname=(server_hostname or remote[0])
                        if self._client_ssl is not None
                        else None,
                    ),
                    self._connect_timeout,
                )
            except (OSError, TimeoutError) as exc:
                error: TransportError
                if isinstance(exc, ssl.SSLError | ssl.CertificateError):
                    reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
                    error = TlsHandshakeError(
                        f"TLS handshake with {server_hostname or remote[0]} "
                        f"({remote[0]}:{remote[1]}) failed: {reason}"
                    )
                elif isinstance(exc, ConnectionResetError) and self._client_ssl is not None:
                    error = TlsHandshakeError(
                        f"TLS handshake with {remote[0]}:{remote[1]} failed: "
                        f"the peer closed the connection ({exc})"
                    )
                else:
                    error = TransportError(f"cannot connect to {remote[0]}:{remote[1]}: {exc}")
                pending.set_exception(error)
                pending.exception()  # mark retrieved
                del self._connecting[remote]
                raise error from exc
            del self._connecting[remote]
            # Index by the address we dialled, not only by the peer name.
            self._connections[remote] = proto
            pending.set_result(proto)
            return TcpChannel(self, remote, proto)
        conn = await asyncio.shield(pending)
        return TcpChannel(self, remote, conn)

    def _spawn_send(self, remote: Address, data: bytes) -> None:
        async def run() -> None:
            try:
                channel = await self.connect(remote)
                assert channel.connection is not None
                channel.connection.write(data)
            except TransportError as exc:
                log.info("TCP send to %s:%d failed: %s", *remote, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _received(self, message: SipMessage, conn: _TcpConnection) -> None:
        fallback: Address | None = None
        if isinstance(message, SipRequest):
            try:
                stamp_via(message, conn.remote)
                via = message.top_via
            except SipParseError as exc:
                self.parse_errors += 1
                log.info("dropped request with a bad Via from %s:%d: %s", *conn.remote, exc)
                return
            fallback = (
                via.received or via.host.strip("[]"),
                via.port or DEFAULT_PORTS.get(self.name, 5060),
            )
            # Connection reuse (in the spirit of RFC 5923): requests towards the
            # peer's advertised sent-by go over this connection while it is open.
            # Only when the Via host is the connection's own IP, so a peer cannot
            # claim somebody else's address.
            if via.host.strip("[]") == conn.remote[0] and via.port is not None:
                alias = (conn.remote[0], via.port)
                current = self._connections.get(alias)
                if current is None or not current.is_open:
                    self._connections[alias] = conn
        self._on_message(message, TcpChannel(self, conn.remote, conn, fallback))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        conns = list(self._connections.values())
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
        for conn in conns:
            await conn.closed
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
