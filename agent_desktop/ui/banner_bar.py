"""Coloured strips for :meth:`BannerModel.visible`: CTI offline / back, switch in
fallback / back, and notices (a major outage has an "Acknowledge" button)."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from agent_desktop.model.banners import Banner, BannerModel, BannerSeverity
from agent_desktop.ui.widgets_common import Clock, wall_clock

SEVERITY_COLOURS = {
    BannerSeverity.MAJOR_OUTAGE: ("#b71c1c", "white"),
    BannerSeverity.ERROR: ("#e65100", "white"),
    BannerSeverity.WARNING: ("#ffb300", "black"),
    BannerSeverity.INFO: ("#1565c0", "white"),
    BannerSeverity.OK: ("#2e7d32", "white"),
}


class BannerBar(QWidget):
    """Shows the banners; emits ``acknowledged(banner_id)`` after the agent
    acknowledged one (the model is already updated). Call :meth:`refresh` after
    changing the model; a 1 s timer drops expired banners by itself."""

    acknowledged = Signal(str)

    def __init__(
        self, model: BannerModel, *, clock: Clock = wall_clock, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("banner_bar")
        self._model = model
        self._clock = clock
        self._shown: list[Banner] | None = None
        self.strips: dict[str, QFrame] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(1)
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self.refresh)
        self._ticker.start()
        self.refresh()

    @property
    def model(self) -> BannerModel:
        return self._model

    def texts(self) -> list[str]:
        """The texts shown, top to bottom."""
        return [self.text_for(b) for b in self._shown or ()]

    def text_for(self, banner: Banner) -> str:
        detail = f" — {banner.detail}" if banner.detail else ""
        match banner.text_key:
            case "cti_offline":
                return self.tr("CTI offline: basic ACD mode, calls still arrive") + detail
            case "cti_back":
                return self.tr("CTI link is back") + detail
            case "switch_fallback":
                text = self.tr("Switch %1 in fallback mode: calls are distributed without CTI")
                return text.replace("%1", banner.title or "") + detail
            case "switch_back":
                text = self.tr("Switch %1 is back to normal")
                return text.replace("%1", banner.title or "") + detail
            case _:
                prefix = (
                    self.tr("MAJOR OUTAGE")
                    if banner.severity is BannerSeverity.MAJOR_OUTAGE
                    else self.tr("Notice")
                )
                return f"{prefix}: {banner.title or ''}{detail}"

    def refresh(self) -> None:
        banners = self._model.visible(self._clock())
        if banners == self._shown:
            return
        self._shown = banners
        for strip in self.strips.values():
            self._layout.removeWidget(strip)
            strip.deleteLater()
        self.strips = {}
        for banner in banners:
            strip = self._strip(banner)
            self.strips[banner.banner_id] = strip
            self._layout.addWidget(strip)
        self.setVisible(bool(banners))

    def _strip(self, banner: Banner) -> QFrame:
        background, foreground = SEVERITY_COLOURS[banner.severity]
        strip = QFrame(self)
        strip.setObjectName(f"banner_{banner.banner_id}")
        strip.setStyleSheet(
            f"QFrame {{ background: {background}; }} QLabel {{ color: {foreground}; }}"
        )
        row = QHBoxLayout(strip)
        row.setContentsMargins(8, 4, 8, 4)
        label = QLabel(self.text_for(banner), strip)
        label.setObjectName("banner_text")
        label.setWordWrap(True)
        row.addWidget(label, 1)
        if banner.needs_ack:
            button = QPushButton(self.tr("Acknowledge"), strip)
            button.setObjectName("banner_ack")
            button.clicked.connect(lambda _c=False, bid=banner.banner_id: self.acknowledge(bid))
            row.addWidget(button)
        return strip

    def acknowledge(self, banner_id: str) -> None:
        if self._model.acknowledge(banner_id):
            self.refresh()
            self.acknowledged.emit(banner_id)
