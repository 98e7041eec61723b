"""System notices for desktops and supervisors (CTI link, 1.1 and 1.2).

``system.mode`` tells every desktop and supervisor how a switch distributes calls:
``normal`` (routed by the CTI server) or ``fallback`` (the switch's own ACD, without
CTI: no screen pops, softphones ring directly). Desktops show a banner while any
switch is in ``fallback`` and, after reconciliation, that it is back to normal.

``system.notice`` (1.2) carries a notice (通知通告) published in the web panels, e.g. a
major-outage broadcast (R-BIZ-5), to the desktops and supervisors it concerns.
"""

from __future__ import annotations

import enum
from typing import ClassVar

from shared.protocol.base import (
    VERSION_1_1,
    VERSION_1_2,
    AgentId,
    Event,
    Label,
    Name,
    ProtocolVersion,
    Text,
    Timestamp,
)


class SwitchMode(enum.StrEnum):
    NORMAL = "normal"
    """The CTI server routes the switch's calls."""
    FALLBACK = "fallback"
    """The switch distributes calls by itself (no CTI: no screen pop, no CTI control)."""


class SystemMode(Event, frozen=True, kw_only=True, tag="system.mode"):
    """The operating mode of one switch, since ``since`` (server → desktop / supervisor).

    Sent on every change and, to a 1.1 session, for every switch the server knows right
    after each ``snapshot`` result (the snapshot does not carry modes).
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_1

    switch_id: Name
    mode: SwitchMode
    since: Timestamp
    detail: Text | None = None
    """Human text for the banner or the log (outage times, calls reconciled …)."""


class NoticeSeverity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    MAJOR_OUTAGE = "major_outage"
    """A major outage: desktops show it prominently until it is acknowledged."""


class SystemNotice(Event, frozen=True, kw_only=True, tag="system.notice"):
    """A notice published for agents (server → desktop / supervisor, 1.2).

    Sent once when it is published, to the sessions of its ``region`` (all sessions when
    ``region`` is absent); the full list is a web page (``/ui/notices``).
    """

    introduced_in: ClassVar[ProtocolVersion] = VERSION_1_2

    notice_id: Name
    title: Label
    body: Text | None = None
    severity: NoticeSeverity = NoticeSeverity.INFO
    region: Label | None = None
    created_by: AgentId | None = None
    created_at: Timestamp


SystemEvent = SystemMode | SystemNotice
