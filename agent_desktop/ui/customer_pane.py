"""The fixed native customer area (CS area) of the desktop.

:meth:`CustomerPaneWidget.show_call` fills what the call event knows (caller number,
name, tier, IVR trajectory, business selection, time waited); :meth:`show_customer`
adds the customer's pane from the web side (region, account status, balance or
"locked", services held and not held, recommendations with Accept / Decline, care
plans with overdue ones highlighted). A caller who is no customer shows the number
and "not a customer". Accept / Decline only emit
:attr:`CustomerPaneWidget.recommendation_answered`; the controller posts the answer
and reports back through :meth:`recommendation_result`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.model.customer import CustomerPane
from agent_desktop.model.state import CallView
from agent_desktop.ui.widgets_common import badge_style, format_duration, tier_colour
from shared.protocol.call import TrajectoryKind, TrajectoryStep

OVERDUE_STYLE = "color: #b71c1c; font-weight: bold;"
MAX_DECLINE_REASON = 2000
"""Longest decline reason the server accepts."""


def _clear_layout(layout: QLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            break
        widget = item.widget()
        if widget is not None:
            widget.setParent(None)
            widget.deleteLater()


class CustomerPaneWidget(QWidget):
    """Signals: ``recommendation_answered(customer_id, rule_id, answer, note)`` with
    answer ``"accepted"`` or ``"declined"`` (the JSON API's values; a decline carries
    the customer's reason in ``note``, which the server requires);
    ``verify_password_requested(customer_id)`` when the agent wants to unlock the
    balance (the controller opens the password panel)."""

    recommendation_answered = Signal(str, str, str, str)
    verify_password_requested = Signal(str)

    def __init__(self, language: str = "en", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("customer_pane")
        self._language = language
        self._call: CallView | None = None
        self._pane: CustomerPane | None = None
        self._looked_up = False
        self._answered: dict[str, tuple[str, bool]] = {}
        """rule id → (status text, recorded) of recommendations answered in this pane."""
        self.recommendation_buttons: dict[str, tuple[QPushButton, QPushButton]] = {}
        self.recommendation_status: dict[str, QLabel] = {}
        self.decline_forms: dict[str, tuple[QWidget, QLineEdit, QPushButton]] = {}

        self.number = QLabel(self)
        self.number.setObjectName("pane_number")
        self.number.setStyleSheet("font-size: 15pt; font-weight: bold;")
        self.number.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.name = QLabel(self)
        self.name.setObjectName("pane_name")
        self.name.setStyleSheet("font-size: 13pt;")
        self.tier = QLabel(self)
        self.tier.setObjectName("pane_tier")
        header = QHBoxLayout()
        header.addWidget(self.number)
        header.addWidget(self.tier)
        header.addStretch(1)

        self.region = QLabel(self)
        self.region.setObjectName("pane_region")
        self.account_status = QLabel(self)
        self.account_status.setObjectName("pane_account_status")
        self.balance = QLabel(self)
        self.balance.setObjectName("pane_balance")
        self.verify_button = QPushButton(self.tr("Verify service password"), self)
        self.verify_button.setObjectName("pane_verify")
        self.verify_button.clicked.connect(lambda _c=False: self._verify())
        balance_row = QHBoxLayout()
        balance_row.addWidget(self.balance, 1)
        balance_row.addWidget(self.verify_button)
        self.business = QLabel(self)
        self.business.setObjectName("pane_business")
        self.wait = QLabel(self)
        self.wait.setObjectName("pane_wait")
        self.trajectory = QLabel(self)
        self.trajectory.setObjectName("pane_trajectory")
        self.trajectory.setWordWrap(True)
        form = QFormLayout()
        form.addRow(self.tr("Region"), self.region)
        form.addRow(self.tr("Account"), self.account_status)
        form.addRow(self.tr("Balance"), balance_row)
        form.addRow(self.tr("Selected in IVR"), self.business)
        form.addRow(self.tr("Waited"), self.wait)
        form.addRow(self.tr("Path"), self.trajectory)

        self.subscribed_box = QGroupBox(self.tr("Services held"), self)
        self.subscribed_layout = QVBoxLayout(self.subscribed_box)
        self.recommend_box = QGroupBox(self.tr("Recommended"), self)
        self.recommend_layout = QVBoxLayout(self.recommend_box)
        self.available_box = QGroupBox(self.tr("Not subscribed"), self)
        self.available_layout = QVBoxLayout(self.available_box)
        self.care_box = QGroupBox(self.tr("Care plans"), self)
        self.care_layout = QVBoxLayout(self.care_box)

        body = QWidget(self)
        inner = QVBoxLayout(body)
        inner.addLayout(header)
        inner.addWidget(self.name)
        inner.addLayout(form)
        for box in (self.subscribed_box, self.recommend_box, self.available_box, self.care_box):
            inner.addWidget(box)
        inner.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.clear()

    # --- inputs ----------------------------------------------------------------------------

    @property
    def pane(self) -> CustomerPane | None:
        return self._pane

    def set_language(self, language: str) -> None:
        """``en`` or ``zh_CN``: which service names and reasons to show."""
        self._language = language
        self._render()

    def clear(self) -> None:
        """No call: an empty pane."""
        self._call = None
        self._pane = None
        self._looked_up = False
        self._answered = {}
        self._render()

    def show_call(self, call: CallView) -> None:
        """A (new) call: show what the call event knows; a different call clears the
        customer shown before."""
        if self._call is None or self._call.call_id != call.call_id:
            self._pane = None
            self._answered = {}
            self._looked_up = call.customer_ref is None  # no reference: nobody to look up
        self._call = call
        self._render()

    def show_customer(self, pane: CustomerPane | None) -> None:
        """The customer's pane, or ``None`` when the caller is not a customer."""
        old = self._pane.customer.customer_id if self._pane is not None else None
        if pane is None or pane.customer.customer_id != old:
            self._answered = {}
        self._pane = pane
        self._looked_up = True
        self._render()

    def recommendation_result(self, rule_id: str, ok: bool, error: str | None = None) -> None:
        """The answer to a recommendation was stored (or not: the buttons come back)."""
        buttons = self.recommendation_buttons.get(rule_id)
        status = self.recommendation_status.get(rule_id)
        if buttons is None or status is None:
            return
        if ok:
            self._answered[rule_id] = (self.tr("Recorded."), True)
            status.setText(self.tr("Recorded."))
            status.setStyleSheet("color: #2e7d32;")
        else:
            self._answered.pop(rule_id, None)
            for b in buttons:
                b.setEnabled(True)
            status.setText(self.tr("Not recorded: %1").replace("%1", error or "?"))
            status.setStyleSheet("color: #b71c1c;")

    # --- rendering ---------------------------------------------------------------------------

    def _zh(self) -> bool:
        return self._language.lower().startswith("zh")

    def _render(self) -> None:
        call, pane = self._call, self._pane
        customer = pane.customer if pane is not None else None
        self.number.setText((call.caller if call is not None else None) or "")
        if call is None and pane is None:
            self.name.setText(self.tr("No call"))
        elif customer is not None:
            self.name.setText(customer.name or customer.customer_id)
        elif self._looked_up:
            self.name.setText(self.tr("Not a customer"))
        else:
            loading = self.tr("Looking up the customer…")
            self.name.setText((call.customer_name if call is not None else None) or loading)
        tier = customer.tier if customer is not None else (call.tier if call else None)
        self.tier.setVisible(bool(tier))
        self.tier.setText(tier.upper() if tier else "")
        self.tier.setStyleSheet(badge_style(tier_colour(tier)))

        self.region.setText(customer.region if customer is not None else "—")
        self.account_status.setText(
            self._account_text(customer.account_status) if customer is not None else "—"
        )
        if customer is not None:
            self.account_status.setStyleSheet(
                OVERDUE_STYLE if customer.account_status == "blacklisted" else ""
            )
        locked = pane is not None and pane.balance_locked
        if pane is not None and pane.balance is not None:
            self.balance.setText(f"¥{pane.balance:,.2f}")
        elif locked:
            self.balance.setText(self.tr("Locked — verify the service password"))
        else:
            self.balance.setText("—")
        self.verify_button.setVisible(locked)
        self.business.setText((call.business_selection if call else None) or "—")
        self.wait.setText(format_duration(call.wait_seconds) if call is not None else "—")
        self.trajectory.setText(self.trajectory_text(call.trajectory) if call else "—")
        self._render_lists(pane)

    def _account_text(self, status: str) -> str:
        return {
            "active": self.tr("Active"),
            "no_service": self.tr("No active service"),
            "blacklisted": self.tr("Blacklisted"),
        }.get(status, status)

    def trajectory_text(self, steps: list[TrajectoryStep]) -> str:
        """One line for the IVR path and queues the call took (``—`` when empty)."""
        parts: list[str] = []
        for step in steps:
            what = step.node or step.detail or ""
            text = {
                TrajectoryKind.IVR_NODE: self.tr("IVR %1"),
                TrajectoryKind.MENU_CHOICE: self.tr("chose %1"),
                TrajectoryKind.QUEUE_ENTER: self.tr("queue %1"),
                TrajectoryKind.OVERFLOW: self.tr("overflow to %1"),
                TrajectoryKind.OFFER: self.tr("offered to %1"),
                TrajectoryKind.ANSWER: self.tr("answered by %1"),
                TrajectoryKind.HOLD: self.tr("held"),
                TrajectoryKind.RETRIEVE: self.tr("retrieved"),
                TrajectoryKind.TRANSFER: self.tr("transferred to %1"),
                TrajectoryKind.CONFERENCE: self.tr("conference"),
                TrajectoryKind.RELEASE: self.tr("released"),
            }[step.kind]
            if step.kind is TrajectoryKind.MENU_CHOICE and step.detail:
                what = step.detail
            parts.append(text.replace("%1", what).strip())
        return " → ".join(parts) if parts else "—"

    def _render_lists(self, pane: CustomerPane | None) -> None:
        for layout in (
            self.subscribed_layout,
            self.recommend_layout,
            self.available_layout,
            self.care_layout,
        ):
            _clear_layout(layout)
        self.recommendation_buttons = {}
        self.recommendation_status = {}
        self.decline_forms = {}
        for box in (self.subscribed_box, self.recommend_box, self.available_box, self.care_box):
            box.setVisible(pane is not None)
        if pane is None:
            return
        lang = "zh" if self._zh() else "en"
        for s in pane.subscribed:
            plan = f" · {s.plan_code}" if s.plan_code else ""
            self.subscribed_layout.addWidget(
                QLabel(f"{s.name(lang)}{plan} · ¥{s.monthly_fee:,.2f}", self.subscribed_box)
            )
        if not pane.subscribed:
            self.subscribed_layout.addWidget(QLabel(self.tr("None"), self.subscribed_box))
        for r in pane.recommendations:
            self.recommend_layout.addWidget(self._recommendation_row(pane, r.rule_id, lang))
        if not pane.recommendations:
            self.recommend_layout.addWidget(QLabel(self.tr("None"), self.recommend_box))
        for a in pane.not_subscribed:
            extra = " · " + self.tr("VIP only") if a.vip_only else ""
            self.available_layout.addWidget(
                QLabel(f"{a.name(lang)} · ¥{a.monthly_fee:,.2f}{extra}", self.available_box)
            )
        if not pane.not_subscribed:
            self.available_layout.addWidget(QLabel(self.tr("None"), self.available_box))
        for c in pane.care_plans:
            due = c.due_at.astimezone().strftime("%Y-%m-%d %H:%M")
            label = QLabel(self.tr("%1 (due %2)").replace("%1", c.title).replace("%2", due))
            label.setParent(self.care_box)
            label.setObjectName(f"care_{c.plan_id}")
            label.setWordWrap(True)
            if c.overdue:
                label.setText(label.text() + " · " + self.tr("OVERDUE"))
                label.setStyleSheet(OVERDUE_STYLE)
            if c.note:
                label.setToolTip(c.note)
            self.care_layout.addWidget(label)
        if not pane.care_plans:
            self.care_layout.addWidget(QLabel(self.tr("None"), self.care_box))

    def _recommendation_row(self, pane: CustomerPane, rule_id: str, lang: str) -> QWidget:
        r = next(x for x in pane.recommendations if x.rule_id == rule_id)
        row = QFrame(self.recommend_box)
        row.setObjectName(f"recommendation_{rule_id}")
        text = QLabel(f"<b>{_html(r.name(lang))}</b><br>{_html(r.reason(lang))}", row)
        text.setWordWrap(True)
        accept = QPushButton(self.tr("Accept"), row)
        accept.setObjectName(f"accept_{rule_id}")
        decline = QPushButton(self.tr("Decline"), row)
        decline.setObjectName(f"decline_{rule_id}")
        status = QLabel(row)
        # Declining needs the customer's reason (the server refuses a decline without one).
        why = QWidget(row)
        why.setObjectName(f"decline_form_{rule_id}")
        reason = QLineEdit(why)
        reason.setObjectName(f"decline_reason_{rule_id}")
        reason.setMaxLength(MAX_DECLINE_REASON)
        reason.setPlaceholderText(self.tr("Why does the customer decline?"))
        confirm = QPushButton(self.tr("Confirm decline"), why)
        confirm.setObjectName(f"decline_confirm_{rule_id}")
        confirm.setEnabled(False)
        reason.textChanged.connect(lambda t: confirm.setEnabled(bool(t.strip())))
        why_layout = QHBoxLayout(why)
        why_layout.setContentsMargins(0, 0, 0, 0)
        why_layout.addWidget(reason, 1)
        why_layout.addWidget(confirm)
        why.setVisible(False)

        customer_id = pane.customer.customer_id
        accept.clicked.connect(lambda _c=False: self._answer(customer_id, rule_id, "accepted", ""))
        decline.clicked.connect(lambda _c=False: self._open_decline(rule_id))
        confirm.clicked.connect(
            lambda _c=False: self._answer(customer_id, rule_id, "declined", reason.text().strip())
        )
        reason.returnPressed.connect(confirm.click)

        top = QHBoxLayout()
        top.addWidget(text, 1)
        top.addWidget(status)
        top.addWidget(accept)
        top.addWidget(decline)
        layout = QVBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(why)
        self.recommendation_buttons[rule_id] = (accept, decline)
        self.recommendation_status[rule_id] = status
        self.decline_forms[rule_id] = (why, reason, confirm)
        answered = self._answered.get(rule_id)
        if answered is not None:
            accept.setEnabled(False)
            decline.setEnabled(False)
            status.setText(answered[0])
        return row

    # --- intents -----------------------------------------------------------------------------

    def _open_decline(self, rule_id: str) -> None:
        form = self.decline_forms.get(rule_id)
        if form is not None:
            form[0].setVisible(True)
            form[1].setFocus()

    def _answer(self, customer_id: str, rule_id: str, answer: str, note: str) -> None:
        if answer == "declined" and not note:
            return
        for b in self.recommendation_buttons.get(rule_id, ()):
            b.setEnabled(False)  # one answer per recommendation
        form = self.decline_forms.get(rule_id)
        if form is not None:
            form[0].setVisible(False)
        text = self.tr("Accepted") if answer == "accepted" else self.tr("Declined")
        self._answered[rule_id] = (text, False)
        status = self.recommendation_status.get(rule_id)
        if status is not None:
            status.setText(text)
            status.setStyleSheet("")
        self.recommendation_answered.emit(customer_id, rule_id, answer, note)

    def _verify(self) -> None:
        if self._pane is not None:
            self.verify_password_requested.emit(self._pane.customer.customer_id)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
