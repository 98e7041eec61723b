"""Tunables of the WebSocket transport (one frozen object, built from the server settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.config import ServerSettings
from shared.protocol.codec import DEFAULT_MAX_BYTES
from shared.protocol.handshake import ClientKind


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportConfig:
    """Everything the transport needs to know; times are seconds."""

    heartbeat_interval: float = 15.0
    """Announced in ``welcome.heartbeat_seconds``; a connection silent for 3x this is dropped."""
    disconnect_grace: float = 30.0
    """How long a session outlives its connection (so the client can resume)."""
    max_frame_bytes: int = DEFAULT_MAX_BYTES
    """Client frames above this get a typed ``frame_too_large`` error (connection stays)."""
    ws_max_size: int | None = None
    """websockets' own hard limit; a frame above it closes the connection with 1009.
    ``None`` = 4 x ``max_frame_bytes`` (at least 64 KiB more)."""
    outbox_limit: int = 1000
    """Frames waiting for one client before it counts as a slow consumer and is dropped."""
    replay_buffer: int = 2000
    """Events kept per session for replay on resume."""
    hello_timeout: float = 10.0
    """A connection without a successful ``hello`` after this long is closed."""
    max_bad_frames_before_hello: int = 5
    """A connection that sends this many rejected frames before a successful hello is closed."""
    max_inflight_requests: int = 64
    """Requests of one connection being handled at once; more are refused with ``rate_limited``."""
    close_timeout: float = 5.0
    """How long a close handshake may take before the TCP connection is aborted."""
    keepalive_ping_interval: float | None = 20.0
    """websockets' protocol-level pings (independent of the ``ping``/``pong`` messages)."""
    compression: bool = True
    """Offer permessage-deflate (the client decides whether it is used)."""
    exclusive_kinds: frozenset[ClientKind] = field(
        default_factory=lambda: frozenset({ClientKind.DESKTOP, ClientKind.SWITCH})
    )
    """Client kinds whose principal may hold only one session: a new login takes over."""
    housekeeping_interval: float | None = None
    """How often heartbeats, hello timeouts and grace periods are checked.
    ``None`` = a quarter of the shortest of those periods, between 10 ms and 1 s."""

    def __post_init__(self) -> None:
        for name in ("heartbeat_interval", "disconnect_grace", "hello_timeout", "close_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if self.heartbeat_interval > 3600:
            raise ValueError("heartbeat_interval must be <= 3600 (protocol limit)")
        for name in (
            "max_frame_bytes",
            "outbox_limit",
            "replay_buffer",
            "max_bad_frames_before_hello",
            "max_inflight_requests",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.ws_max_size is not None and self.ws_max_size < self.max_frame_bytes:
            raise ValueError("ws_max_size must be >= max_frame_bytes")

    @property
    def hard_frame_limit(self) -> int:
        """The ``max_size`` given to websockets."""
        if self.ws_max_size is not None:
            return self.ws_max_size
        return max(4 * self.max_frame_bytes, self.max_frame_bytes + 64 * 1024)

    @property
    def heartbeat_timeout(self) -> float:
        return 3 * self.heartbeat_interval

    @property
    def tick(self) -> float:
        if self.housekeeping_interval is not None:
            return self.housekeeping_interval
        shortest = min(self.heartbeat_timeout, self.disconnect_grace, self.hello_timeout)
        return min(1.0, max(0.01, shortest / 4))

    @classmethod
    def from_settings(cls, server: ServerSettings, **overrides: object) -> TransportConfig:
        """The transport part of ``[server]`` settings; ``overrides`` win."""
        values: dict[str, object] = {
            "heartbeat_interval": server.heartbeat_interval,
            "disconnect_grace": server.disconnect_grace,
            "max_frame_bytes": server.max_frame_bytes,
            "outbox_limit": server.outbox_limit,
            "replay_buffer": server.replay_buffer,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
