"""The typed WebSocket wire protocol between the desktop, the CTI server and the switch.

No I/O here: message classes (one module per family), a pure codec and pure session
helpers. See ``docs/protocol.md``.

Modules:

* :mod:`~shared.protocol.base` - envelope bases (``Request``, ``Response``, ``Event``),
  constrained field types, ``PROTOCOL_VERSION``;
* :mod:`~shared.protocol.errors` - ``ErrorCode``, ``ProtocolError``;
* families: :mod:`~shared.protocol.handshake` (hello/welcome, ping/pong, logout,
  snapshot), :mod:`~shared.protocol.agent`, :mod:`~shared.protocol.call`,
  :mod:`~shared.protocol.supervisor`, :mod:`~shared.protocol.switch`,
  :mod:`~shared.protocol.system` (``system.mode``, 1.1),
  :mod:`~shared.protocol.desktop` (``web.token``, ``desktop.directory``, 1.3),
  :mod:`~shared.protocol.responses` (result, error);
* :mod:`~shared.protocol.messages` - unions per link and direction, ``MESSAGE_TYPES``,
  ``requires_version`` / ``speaks`` (which minor a message needs);
* :mod:`~shared.protocol.codec` - ``encode``, ``decode*``, ``error_for``;
* :mod:`~shared.protocol.session` - ``RequestIdGuard``, ``EventSequencer``,
  ``EventTracker``, ``PendingRequests``.
"""

from shared.protocol.base import (
    PROTOCOL_VERSION,
    VERSION_1_0,
    VERSION_1_1,
    VERSION_1_2,
    VERSION_1_3,
    Event,
    ProtocolVersion,
    Request,
    Response,
)
from shared.protocol.codec import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_SERVER_BYTES,
    DEFAULT_MAX_SWITCH_SERVER_BYTES,
    Link,
    decode,
    decode_client,
    decode_server,
    encode,
    error_for,
)
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import SUPPORTED_VERSIONS, negotiate_version
from shared.protocol.messages import (
    MESSAGE_TYPES,
    AnyEvent,
    AnyRequest,
    AnyResponse,
    CtiClientMessage,
    CtiServerMessage,
    Message,
    SwitchClientMessage,
    SwitchServerMessage,
    for_version,
    requires_version,
    speaks,
)
from shared.protocol.session import (
    Completion,
    EventSequencer,
    EventTracker,
    PendingRequests,
    Replay,
    RequestIdGuard,
    Track,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_SERVER_BYTES",
    "DEFAULT_MAX_SWITCH_SERVER_BYTES",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "VERSION_1_0",
    "VERSION_1_1",
    "VERSION_1_2",
    "VERSION_1_3",
    "AnyEvent",
    "AnyRequest",
    "AnyResponse",
    "Completion",
    "CtiClientMessage",
    "CtiServerMessage",
    "ErrorCode",
    "Event",
    "EventSequencer",
    "EventTracker",
    "Link",
    "Message",
    "PendingRequests",
    "ProtocolError",
    "ProtocolVersion",
    "Replay",
    "Request",
    "RequestIdGuard",
    "Response",
    "SwitchClientMessage",
    "SwitchServerMessage",
    "Track",
    "decode",
    "decode_client",
    "decode_server",
    "encode",
    "error_for",
    "for_version",
    "negotiate_version",
    "requires_version",
    "speaks",
]
