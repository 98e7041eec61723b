"""Banners across the top of the desktop: CTI link, switch fallback and notices.

* CTI link down → ``cti_offline`` ("basic ACD mode: calls still arrive") until the
  link is back; then ``cti_back`` for :data:`BACK_SECONDS`.
* A switch in ``fallback`` (``system.mode``) → ``switch_fallback`` until that switch
  reports ``normal``; then ``switch_back`` for :data:`BACK_SECONDS`.
* A ``system.notice``: a major outage stays until the agent acknowledges it; other
  notices expire after :data:`NOTICE_SECONDS`.

Times are the desktop's clock (``now`` arguments, epoch seconds). :meth:`BannerModel.apply`
takes the receive time as ``now``; without it the event's own timestamp is used.
Qt-free; the UI translates :attr:`Banner.text_key`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from shared.protocol.system import NoticeSeverity, SwitchMode, SystemMode, SystemNotice

BACK_SECONDS = 10.0
"""How long a "back to normal" banner (CTI link, switch) stays."""
NOTICE_SECONDS = 30.0
"""How long an info or warning notice stays."""

CTI_BANNER_ID = "cti"


class BannerKind(enum.StrEnum):
    CTI = "cti"
    SWITCH = "switch"
    NOTICE = "notice"


class BannerSeverity(enum.StrEnum):
    """Most urgent first in :data:`_ORDER`; the UI picks a colour per severity."""

    MAJOR_OUTAGE = "major_outage"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    OK = "ok"


_ORDER = {s: i for i, s in enumerate(BannerSeverity)}


@dataclass(frozen=True, slots=True)
class Banner:
    banner_id: str
    kind: BannerKind
    severity: BannerSeverity
    text_key: str
    """``cti_offline``, ``cti_back``, ``switch_fallback``, ``switch_back`` or ``notice``."""
    detail: str | None
    since: float
    expires_at: float | None = None
    """When it disappears by itself; ``None`` = until its condition ends or it is acknowledged."""
    title: str | None = None
    """A notice's title; the switch id for switch banners."""
    needs_ack: bool = False
    """Shown until :meth:`BannerModel.acknowledge` (major outages)."""


class BannerModel:
    """Which banners the desktop shows now."""

    def __init__(self) -> None:
        self._banners: dict[str, Banner] = {}
        self._acknowledged: set[str] = set()

    # --- CTI link ----------------------------------------------------------------------

    def link_down(self, now: float) -> None:
        current = self._banners.get(CTI_BANNER_ID)
        if current is not None and current.text_key == "cti_offline":
            return  # still down since the first report
        self._banners[CTI_BANNER_ID] = Banner(
            CTI_BANNER_ID, BannerKind.CTI, BannerSeverity.ERROR, "cti_offline", None, now
        )

    def link_up(self, now: float) -> None:
        current = self._banners.get(CTI_BANNER_ID)
        if current is None or current.text_key != "cti_offline":
            return  # the first connection (or a repeat): nothing to announce
        self._banners[CTI_BANNER_ID] = Banner(
            CTI_BANNER_ID,
            BannerKind.CTI,
            BannerSeverity.OK,
            "cti_back",
            None,
            now,
            expires_at=now + BACK_SECONDS,
        )

    @property
    def link_is_down(self) -> bool:
        current = self._banners.get(CTI_BANNER_ID)
        return current is not None and current.text_key == "cti_offline"

    # --- server events -------------------------------------------------------------------

    def apply(self, event: SystemMode | SystemNotice, now: float | None = None) -> None:
        if isinstance(event, SystemMode):
            self._apply_mode(event, event.since if now is None else now)
        else:
            self._apply_notice(event, event.created_at if now is None else now)

    def _apply_mode(self, event: SystemMode, now: float) -> None:
        banner_id = f"switch:{event.switch_id}"
        current = self._banners.get(banner_id)
        if event.mode is SwitchMode.FALLBACK:
            if current is not None and current.text_key == "switch_fallback":
                if event.detail and event.detail != current.detail:
                    self._banners[banner_id] = replace(current, detail=event.detail)
                return
            self._banners[banner_id] = Banner(
                banner_id,
                BannerKind.SWITCH,
                BannerSeverity.WARNING,
                "switch_fallback",
                event.detail,
                now,
                title=event.switch_id,
            )
        elif current is not None and current.text_key == "switch_fallback":
            self._banners[banner_id] = Banner(
                banner_id,
                BannerKind.SWITCH,
                BannerSeverity.OK,
                "switch_back",
                event.detail,
                now,
                expires_at=now + BACK_SECONDS,
                title=event.switch_id,
            )

    def _apply_notice(self, event: SystemNotice, now: float) -> None:
        banner_id = f"notice:{event.notice_id}"
        if banner_id in self._banners or banner_id in self._acknowledged:
            return  # a repeat (after a resume) must not re-show or extend it
        major = event.severity is NoticeSeverity.MAJOR_OUTAGE
        self._banners[banner_id] = Banner(
            banner_id,
            BannerKind.NOTICE,
            {
                NoticeSeverity.MAJOR_OUTAGE: BannerSeverity.MAJOR_OUTAGE,
                NoticeSeverity.WARNING: BannerSeverity.WARNING,
                NoticeSeverity.INFO: BannerSeverity.INFO,
            }[event.severity],
            "notice",
            event.body,
            now,
            expires_at=None if major else now + NOTICE_SECONDS,
            title=event.title,
            needs_ack=major,
        )

    # --- the agent -----------------------------------------------------------------------

    def acknowledge(self, banner_id: str) -> bool:
        """Dismiss a banner that waits for acknowledgement; False if there is none."""
        current = self._banners.get(banner_id)
        if current is None or not current.needs_ack:
            return False
        del self._banners[banner_id]
        self._acknowledged.add(banner_id)
        return True

    def visible(self, now: float) -> list[Banner]:
        """The banners to show at ``now``, most urgent first (expired ones are dropped)."""
        for banner_id, banner in list(self._banners.items()):
            if banner.expires_at is not None and now >= banner.expires_at:
                del self._banners[banner_id]
        return sorted(self._banners.values(), key=lambda b: (_ORDER[b.severity], b.since))
