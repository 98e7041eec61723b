"""Envelope base classes, constrained field types and the protocol version.

Every message is a frozen, keyword-only ``msgspec.Struct`` in a tagged union whose tag
field is ``type``. A message's own fields sit flat beside ``type`` (the "payload" is
the message itself): one decode pass validates the whole frame against one class.

Three kinds of message:

* :class:`Request` - client → server, carries ``id`` (strictly increasing per
  connection) and gets exactly one response (:class:`Response`).
* :class:`Response` - server → client, answers one request by its ``id``.
* :class:`Event` - server → client push, carries ``seq`` (per session, from 1) and
  ``ts`` (server UTC epoch seconds). Both are 0 until
  :class:`shared.protocol.session.EventSequencer` stamps the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import msgspec

# ---------------------------------------------------------------------------
# Constrained field types. Constraints are checked when decoding, not when a
# struct is built in Python. Patterns end in \Z, not $ (which would let a
# trailing newline through).

MAX_REQUEST_ID = 2**53 - 1
"""Largest request id / sequence number (exact in a JavaScript number too)."""

RequestId = Annotated[int, msgspec.Meta(ge=1, le=MAX_REQUEST_ID)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_REQUEST_ID)]
Count = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^\S+\Z")]
"""An identifier: 1-64 characters, no whitespace (agent, call, queue, tier, flow ids …)."""

AgentId = Name
CallId = Name
QueueId = Name
TierId = Name
SkillId = Name
FlowId = Name

PhoneNumber = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^\+?[0-9]+\Z")]
"""A dialled or presented number: digits with an optional leading ``+``, at most 32 chars."""

DtmfDigits = Annotated[str, msgspec.Meta(pattern=r"^[0-9*#A-Da-d]{1,64}\Z")]
"""DTMF digits: 0-9, ``*``, ``#``, A-D; 1-64 of them."""

ReasonCode = Annotated[
    str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+\Z")
]
"""A not-ready / logoff reason code: 1-32 of ``A-Z a-z 0-9 _ . : -``."""

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
"""Short human text shown in a UI (reason label, customer display name)."""

Text = Annotated[str, msgspec.Meta(max_length=1024)]
"""Free text (error messages, details, explanations), at most 1024 characters."""

SipUri = Annotated[str, msgspec.Meta(max_length=256, pattern=r"^sips?:\S+\Z")]
"""A SIP URI such as ``sip:1001@10.0.0.5:5060;transport=udp``."""

Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
"""A password or token. Structs holding one mask it in ``repr``."""

Timestamp = Annotated[float, msgspec.Meta(ge=0, le=1e11)]
"""UTC epoch seconds (bounded so that infinities and absurd values are rejected)."""

Seconds = Annotated[float, msgspec.Meta(ge=0, le=1e9)]
"""A duration in seconds."""

Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]


# ---------------------------------------------------------------------------
# Versions.


class ProtocolVersion(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """``major`` changes break compatibility; ``minor`` only adds optional things."""

    major: Annotated[int, msgspec.Meta(ge=0, le=999)]
    minor: Annotated[int, msgspec.Meta(ge=0, le=999)]

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


VERSION_1_0 = ProtocolVersion(major=1, minor=0)
"""The first version: everything not marked otherwise."""
VERSION_1_1 = ProtocolVersion(major=1, minor=1)
"""Adds switch look-ups, agent states for the switch, ``system.mode`` and consult actions."""
VERSION_1_2 = ProtocolVersion(major=1, minor=2)
"""Adds ``switch.flow_get`` (the switch fetches IVR flow versions from the server)."""
VERSION_1_3 = ProtocolVersion(major=1, minor=3)
"""Adds the agent desktop's requests (``web.token``, ``call.wrap_up``,
``desktop.directory``) and ``welcome.role``."""

PROTOCOL_VERSION = VERSION_1_3
"""The version this code speaks (it also speaks every lower minor of the same major)."""


# ---------------------------------------------------------------------------
# Message bases.


class WireMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every message; ``type`` is the tag (dotted names such as ``call.answer``)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_0
    """The protocol version that introduced this message type."""
    fields_introduced_in: ClassVar[Mapping[str, ProtocolVersion]] = {}
    """Optional fields added to this type by a later minor version, with that version.

    Such a field defaults to ``msgspec.UNSET``, which is left out when encoding: a
    sender clears it (:func:`shared.protocol.messages.for_version`) for a peer that
    negotiated an older minor, so that peer never sees it."""

    @classmethod
    def type_tag(cls) -> str:
        """The value of ``type`` for this class."""
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        return tag


class ResultBody(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Base of typed result bodies carried by ``result.body`` (tagged by ``kind``)."""

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_0
    """The protocol version that introduced this body kind."""
    fields_introduced_in: ClassVar[Mapping[str, ProtocolVersion]] = {}
    """Optional fields added to this body kind by a later minor version (as on
    :class:`WireMessage`): left out for a peer that negotiated an older minor."""


class Response(WireMessage, frozen=True, kw_only=True):
    """Server → client answer to exactly one request (welcome, pong, result, error)."""


class Request(WireMessage, frozen=True, kw_only=True):
    """Client → server message with an ``id``; answered by exactly one response."""

    id: RequestId

    response_type: ClassVar[str] = "result"
    """``type`` of the successful response (``welcome`` for hello, ``pong`` for ping)."""
    result_type: ClassVar[type[ResultBody] | None] = None
    """Class of ``result.body`` on success; ``None`` means a bare acknowledgement."""


class Event(WireMessage, frozen=True, kw_only=True):
    """Server → client push with ``seq`` (per session, from 1) and ``ts`` (server time)."""

    seq: Seq = 0
    ts: Timestamp = 0.0
