"""Routing-engine errors → protocol ``DomainError`` (one mapping for every handler)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cti_server.routing import RoutingError
from cti_server.ws import DomainError
from shared.protocol.errors import ErrorCode

_CODES: dict[str, ErrorCode] = {
    "unknown_agent": ErrorCode.UNKNOWN_AGENT,
    "unknown_call": ErrorCode.UNKNOWN_CALL,
    "unknown_queue": ErrorCode.UNKNOWN_QUEUE,
    "invalid_transition": ErrorCode.INVALID_STATE,
    "not_offered": ErrorCode.INVALID_STATE,
    "agent_busy": ErrorCode.INVALID_STATE,
    "duplicate_call": ErrorCode.INVALID_STATE,
    "duplicate_id": ErrorCode.INVALID_STATE,
}


def domain_error(exc: RoutingError) -> DomainError:
    """The protocol error for a routing-engine refusal (``internal`` for config bugs)."""
    code = _CODES.get(exc.code, ErrorCode.INTERNAL)
    if code is ErrorCode.INTERNAL:
        return DomainError(code, "routing configuration error")
    return DomainError(code, str(exc), {"reason": exc.code})


@contextmanager
def engine_errors() -> Iterator[None]:
    """Raise :class:`DomainError` instead of the engine's :class:`RoutingError`."""
    try:
        yield
    except RoutingError as exc:
        raise domain_error(exc) from exc


def invalid_state(message: str, **detail: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_STATE, message, dict(detail))
