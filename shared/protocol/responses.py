"""``result`` and ``error``: the generic answers to requests."""

from __future__ import annotations

from typing import Annotated

import msgspec

from shared.protocol.base import RequestId, Response, Text
from shared.protocol.call import ConsultResult, WrapUpResult
from shared.protocol.desktop import DesktopDirectory, WebTokenResult
from shared.protocol.errors import DetailValue, ErrorCode
from shared.protocol.handshake import Snapshot
from shared.protocol.supervisor import MonitorResult, SubscriptionResult
from shared.protocol.switch import (
    AgentsSnapshot,
    FlowDocument,
    LookupResult,
    PromptChunk,
    PromptIndex,
    RecordingReceipt,
    RouteResponse,
)

AnyResultBody = (
    Snapshot
    | ConsultResult
    | SubscriptionResult
    | MonitorResult
    | RouteResponse
    | LookupResult
    | AgentsSnapshot
    | FlowDocument
    | PromptIndex
    | PromptChunk
    | WrapUpResult
    | WebTokenResult
    | DesktopDirectory
    | RecordingReceipt
)
"""Every typed result body (tagged by ``kind``)."""

ErrorDetail = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=64)], DetailValue],
    msgspec.Meta(max_length=16),
]


class Result(Response, frozen=True, kw_only=True, tag="result"):
    """Success. ``body`` is ``null`` for a bare acknowledgement, else a typed body."""

    id: RequestId
    body: AnyResultBody | None = None


class Error(Response, frozen=True, kw_only=True, tag="error"):
    """Failure. ``id`` is ``null`` when the failing frame's id could not be read."""

    id: RequestId | None
    code: ErrorCode
    message: Text
    detail: ErrorDetail = msgspec.field(default_factory=dict)
