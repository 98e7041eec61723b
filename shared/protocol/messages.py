"""The unions of every message, by link and direction, and the type registry.

Two links share the envelope and the handshake:

* the **CTI link** (desktop / supervisor / tool ↔ server): :data:`CtiClientMessage`
  and :data:`CtiServerMessage`;
* the **switch link** (switch ↔ server): :data:`SwitchClientMessage` and
  :data:`SwitchServerMessage`.
"""

from __future__ import annotations

from typing import Final, get_args

from shared.protocol.agent import AgentEvent, AgentRequest
from shared.protocol.base import WireMessage
from shared.protocol.call import CallEvent, CallRequest
from shared.protocol.handshake import HandshakeRequest, Pong, Welcome
from shared.protocol.responses import Error, Result
from shared.protocol.supervisor import SupervisorEvent, SupervisorRequest
from shared.protocol.switch import SwitchEvent, SwitchRequest

AnyResponse = Welcome | Pong | Result | Error
"""Every server → client answer to a request."""

CtiClientMessage = HandshakeRequest | AgentRequest | CallRequest | SupervisorRequest
"""What a desktop, supervisor or tool may send."""
CtiEvent = AgentEvent | CallEvent | SupervisorEvent
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
