"""Typed protocol errors.

Every problem a peer can cause on the wire has an :class:`ErrorCode`. The codec and
the session helpers raise only :class:`ProtocolError`; an adapter turns it into an
``error`` message with :func:`shared.protocol.codec.error_for` and keeps the
connection open (except where the code says the connection cannot continue).
"""

from __future__ import annotations

import enum

DetailValue = str | int | bool | None
"""Values allowed in an error's ``detail`` map (no floats: they would not round-trip)."""


class ErrorCode(enum.StrEnum):
    """Every error code the protocol defines (``error.code`` on the wire)."""

    # Frame level: the frame could not be turned into a message.
    BAD_JSON = "bad_json"
    """The frame is not valid JSON (or is nested too deeply)."""
    BAD_FRAME = "bad_frame"
    """Valid JSON but not an object, or a binary / non-UTF-8 frame where text was expected."""
    FRAME_TOO_LARGE = "frame_too_large"
    """The frame exceeds the size limit; rejected before parsing."""
    UNKNOWN_TYPE = "unknown_type"
    """``type`` names no message this protocol version defines."""
    INVALID_FIELD = "invalid_field"
    """A field has the wrong JSON type or violates a constraint; ``detail.path`` names it."""
    MISSING_FIELD = "missing_field"
    """A required field is absent; ``detail.path`` names it."""
    # Direction and sequencing.
    NOT_A_REQUEST = "not_a_request"
    """A client sent a type only the server may send (an event or a response)."""
    UNEXPECTED_TYPE = "unexpected_type"
    """A known type that is not valid here (wrong link, or a request sent to a client)."""
    OUT_OF_ORDER_ID = "out_of_order_id"
    """A request id not greater than the previous one on this connection."""
    DUPLICATE_ID = "duplicate_id"
    """A request id already used on this connection."""
    UNKNOWN_REQUEST_ID = "unknown_request_id"
    """A response for a request id the client is not waiting for."""
    SEQUENCE_GAP = "sequence_gap"
    """Events were missed; the client must ask for a snapshot."""
    # Session.
    UNSUPPORTED_VERSION = "unsupported_version"
    """No protocol version in ``hello.versions`` is spoken by the server."""
    NOT_AUTHENTICATED = "not_authenticated"
    """Bad credentials, or a request before a successful ``hello``."""
    ALREADY_AUTHENTICATED = "already_authenticated"
    """A second ``hello`` on a connection that already has a session."""
    FORBIDDEN = "forbidden"
    """The authenticated principal may not do this (role or client kind)."""
    UNKNOWN_SESSION = "unknown_session"
    """``hello.resume`` names a session the server does not know (a fresh one is started)."""
    # Domain (used by the server's handlers).
    INVALID_STATE = "invalid_state"
    """The request does not fit the current state (answer when not ringing, …)."""
    UNKNOWN_CALL = "unknown_call"
    UNKNOWN_AGENT = "unknown_agent"
    UNKNOWN_QUEUE = "unknown_queue"
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"
    DESTINATION_UNAVAILABLE = "destination_unavailable"
    """A transfer / consult / route target cannot take the call now."""
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    """The operation did not complete in time (e.g. the switch did not acknowledge)."""
    UNAVAILABLE = "unavailable"
    """A component the request needs is down (e.g. no switch link)."""
    INTERNAL = "internal"
    """A bug or unexpected failure on the answering side; details are in its log."""


class ProtocolError(Exception):
    """A typed protocol error: code, human message, structured detail, request id if known."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        detail: dict[str, DetailValue] | None = None,
        request_id: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail: dict[str, DetailValue] = dict(detail or {})
        self.request_id = request_id

    def with_request_id(self, request_id: int | None) -> ProtocolError:
        """The same error correlated with ``request_id`` (a new object)."""
        return ProtocolError(self.code, self.message, detail=self.detail, request_id=request_id)

    def __repr__(self) -> str:
        return (
            f"ProtocolError(code={self.code.value!r}, message={self.message!r}, "
            f"detail={self.detail!r}, request_id={self.request_id!r})"
        )
