"""Transport counters, exposed later by the HTTP ``/metrics`` endpoint."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class TransportStats:
    """Plain counters; the transport only ever increments them (gauges go up and down)."""

    connections_open: int = 0
    connections_total: int = 0
    sessions_live: int = 0
    """Sessions with a connection attached."""
    sessions_detached: int = 0
    """Sessions in their grace period (no connection)."""
    sessions_started: int = 0
    sessions_resumed: int = 0
    sessions_expired: int = 0
    takeovers: int = 0
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    requests_handled: int = 0
    errors_by_code: Counter[str] = field(default_factory=Counter)
    """``error`` responses sent, by ``code``."""
    slow_consumer_drops: int = 0
    heartbeat_timeouts: int = 0
    hello_timeouts: int = 0
    handler_exceptions: int = 0
    """Unexpected exceptions in handlers or hooks (each answered ``internal`` or logged)."""

    @property
    def sessions(self) -> int:
        return self.sessions_live + self.sessions_detached

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        """A JSON-friendly copy (for ``/metrics`` and logs)."""
        out: dict[str, int | dict[str, int]] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = dict(value) if isinstance(value, Counter) else value
        out["sessions"] = self.sessions
        return out
