"""System notices for desktops and supervisors (CTI link, 1.1).

``system.mode`` tells every desktop and supervisor how a switch distributes calls:
``normal`` (routed by the CTI server) or ``fallback`` (the switch's own ACD, without
CTI: no screen pops, softphones ring directly). Desktops show a banner while any
switch is in ``fallback`` and, after reconciliation, that it is back to normal.
"""

from __future__ import annotations

import enum
from typing import ClassVar

from shared.protocol.base import VERSION_1_1, Event, Name, ProtocolVersion, Text, Timestamp


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


SystemEvent = SystemMode
