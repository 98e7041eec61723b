"""Errors handlers raise, and the close codes the transport uses."""

from __future__ import annotations

import enum

from shared.protocol.errors import DetailValue, ErrorCode


class DomainError(Exception):
    """A handler refuses a request for a domain reason (``invalid_state``, ``unknown_call`` …).

    The router turns it into an ``error`` response with this code, message and detail.
    The domain layer maps the routing engine's errors onto it.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str = "",
        detail: dict[str, DetailValue] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else str(code))
        self.code = code
        self.message = message
        self.detail: dict[str, DetailValue] = dict(detail or {})

    def __repr__(self) -> str:
        return f"DomainError(code={self.code.value!r}, message={self.message!r})"


class CloseCode(enum.IntEnum):
    """WebSocket close codes sent by the CTI server (with the reason texts below)."""

    NORMAL = 1000
    """``logged out``."""
    GOING_AWAY = 1001
    """``server shutting down``."""
    POLICY_VIOLATION = 1008
    """``no hello`` (hello timeout) or ``too many bad frames``."""
    MESSAGE_TOO_BIG = 1009
    """Sent by websockets itself for a frame above ``ws_max_size``."""
    SLOW_CONSUMER = 4000
    """``slow consumer``: the outbox overflowed; the session is kept and may resume."""
    TAKEN_OVER = 4001
    """``taken over``: the principal logged in again elsewhere; this session ended."""
    HEARTBEAT_TIMEOUT = 4002
    """``heartbeat timeout``: nothing received for 3 heartbeat intervals; session kept."""
    REPLACED = 4003
    """``session resumed elsewhere``: another connection resumed this session."""


class CloseReason(enum.StrEnum):
    LOGGED_OUT = "logged out"
    SHUTDOWN = "server shutting down"
    NO_HELLO = "no hello"
    BAD_FRAMES = "too many bad frames"
    SLOW_CONSUMER = "slow consumer"
    TAKEN_OVER = "taken over"
    HEARTBEAT_TIMEOUT = "heartbeat timeout"
    REPLACED = "session resumed elsewhere"
