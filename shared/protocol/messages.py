"""The unions of every message, by link and direction, and the type registry.

Two links share the envelope and the handshake:

* the **CTI link** (desktop / supervisor / tool ↔ server): :data:`CtiClientMessage`
  and :data:`CtiServerMessage`;
* the **switch link** (switch ↔ server): :data:`SwitchClientMessage` and
  :data:`SwitchServerMessage`.

Each message type, result body kind and switch action kind has an ``introduced_in``
version; :func:`requires_version` and :func:`speaks` tell whether a message may go to a
peer that negotiated an older minor.
"""

from __future__ import annotations

from typing import Final, get_args

import msgspec

from shared.protocol.agent import AgentEvent, AgentRequest
from shared.protocol.base import ProtocolVersion, ResultBody, WireMessage
from shared.protocol.call import CallEvent, CallRequest
from shared.protocol.desktop import DesktopRequest
from shared.protocol.handshake import HandshakeRequest, Pong, Welcome
from shared.protocol.responses import Error, Result
from shared.protocol.supervisor import SupervisorEvent, SupervisorRequest
from shared.protocol.switch import SwitchCommand, SwitchEvent, SwitchRequest
from shared.protocol.system import SystemEvent

AnyResponse = Welcome | Pong | Result | Error
"""Every server → client answer to a request."""

CtiClientMessage = (
    HandshakeRequest | AgentRequest | CallRequest | SupervisorRequest | DesktopRequest
)
"""What a desktop, supervisor or tool may send."""
CtiEvent = AgentEvent | CallEvent | SupervisorEvent | SystemEvent
CtiServerMessage = AnyResponse | CtiEvent
"""What the server may send to a desktop, supervisor or tool."""

SwitchClientMessage = HandshakeRequest | SwitchRequest
"""What a switch may send."""
SwitchServerMessage = AnyResponse | SwitchEvent
"""What the server may send to a switch."""

AnyRequest = CtiClientMessage | SwitchRequest
AnyEvent = CtiEvent | SwitchEvent
Message = AnyRequest | AnyResponse | AnyEvent
"""Every message of the protocol."""


def _registry() -> dict[str, type[WireMessage]]:
    types: dict[str, type[WireMessage]] = {}
    for cls in get_args(Message):
        tag = cls.type_tag()
        if tag in types:  # pragma: no cover - caught at import time
            raise RuntimeError(f"duplicate message type {tag!r}")
        types[tag] = cls
    return dict(sorted(types.items()))


MESSAGE_TYPES: Final[dict[str, type[WireMessage]]] = _registry()
"""Every message type tag → its class (sorted by tag)."""


def requires_version(msg: WireMessage) -> ProtocolVersion:
    """The lowest protocol version that defines everything in ``msg``.

    That is the latest ``introduced_in`` of its type, its result body kind and its
    switch action kind, and of every later-added field it sets
    (``fields_introduced_in``).
    """
    needed = type(msg).introduced_in
    for name, since in type(msg).fields_introduced_in.items():
        if getattr(msg, name) is not msgspec.UNSET:
            needed = max(needed, since)
    if isinstance(msg, Result) and msg.body is not None:
        needed = max(needed, type(msg.body).introduced_in)
        for name, since in type(msg.body).fields_introduced_in.items():
            if getattr(msg.body, name) is not msgspec.UNSET:
                needed = max(needed, since)
    elif isinstance(msg, SwitchCommand):
        needed = max(needed, type(msg.action).introduced_in)
    return needed


def for_version[M: WireMessage](version: ProtocolVersion, msg: M) -> M:
    """``msg`` without the fields a peer that negotiated ``version`` does not define.

    Fields listed in ``fields_introduced_in`` with a later version are set to
    ``msgspec.UNSET`` (left out when encoding); everything else is unchanged. A sender
    still checks :func:`speaks` for the message's type and kinds.
    """
    drop = _later_fields(version, msg)
    if isinstance(msg, Result) and msg.body is not None:  # a result body's later fields too
        body_drop = _later_fields(version, msg.body)
        if body_drop:
            drop["body"] = msgspec.structs.replace(msg.body, **body_drop)
    return msgspec.structs.replace(msg, **drop) if drop else msg


def _later_fields(version: ProtocolVersion, struct: WireMessage | ResultBody) -> dict[str, object]:
    return {
        name: msgspec.UNSET
        for name, since in type(struct).fields_introduced_in.items()
        if not (since.major == version.major and since.minor <= version.minor)
        and getattr(struct, name) is not msgspec.UNSET
    }


def speaks(version: ProtocolVersion, msg: WireMessage) -> bool:
    """Whether a peer that negotiated ``version`` understands ``msg``.

    A server checks this before sending an event to a session (and refuses a request
    the session's version does not define with ``unexpected_type``).
    """
    needed = requires_version(msg)
    return needed.major == version.major and needed.minor <= version.minor
