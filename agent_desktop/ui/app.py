"""The desktop's controller: the one place that connects the widgets to the CTI link,
the softphone and the web side.

* CTI events fold into the Qt-free models (agent and calls, wallboard, banners); the
  widgets observe the models. User intents arrive as widget signals and leave as typed
  CTI requests; a refused request is shown in the status bar, nothing else changes.
* The softphone is the agent's SIP endpoint: **Answer** answers the ringing SIP call
  whose ``X-OpenCC-Call-ID`` is the offered CTI call (the switch bridges when the agent
  leg answers). While the CTI link is down the softphone still rings and answers
  (basic ACD mode, R-IN-3): answer and hang up act on the SIP call directly.
* One web session for the whole desktop: it is opened once with a ``web.token`` from
  the CTI link and shared (session cookie) by the native pane's JSON requests and every
  web window, so the agent never signs in twice, and a customer unlocked with the
  service password in a web window shows its balance in the pane too.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from PySide6.QtCore import QByteArray, QEvent, QObject, QTimer, QUrl, Signal
from PySide6.QtNetwork import QNetworkCookie
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from agent_desktop.cti.link import CtiLink
from agent_desktop.model.banners import BannerModel
from agent_desktop.model.customer import CustomerPane, PaneFormatError
from agent_desktop.model.prefs import Prefs
from agent_desktop.model.screenpop import panels_for_call
from agent_desktop.model.state import CallPhase, Change, DesktopModel
from agent_desktop.model.wallboard import WallboardModel
from agent_desktop.softphone import Softphone, SoftphoneConfig
from agent_desktop.softphone.audio import AudioBackend
from agent_desktop.softphone.types import SoftCall
from agent_desktop.ui import i18n
from agent_desktop.ui.login import LoginCredentials, LoginDialog
from agent_desktop.ui.main_window import MainWindow
from agent_desktop.ui.transfer_dialog import TransferDirectory
from agent_desktop.ui.widgets_common import Clock, wall_clock
from agent_desktop.web.bridge import DesktopBridge
from agent_desktop.web.bs_area import LayoutError
from agent_desktop.web.profile import PanelLoader, SsoDone, create_panel_profile
from agent_desktop.web.session import SESSION_COOKIE, WebAuthError, WebError, WebSession
from shared.config import DesktopSettings
from shared.protocol import agent as pa
from shared.protocol import call as pc
from shared.protocol import supervisor as ps
from shared.protocol.base import Request
from shared.protocol.desktop import (
    DesktopDirectory,
    DesktopDirectoryRequest,
    WebTokenRequest,
    WebTokenResult,
)
from shared.protocol.errors import ProtocolError
from shared.protocol.handshake import ClientKind, PasswordCredentials, Snapshot, Welcome
from shared.protocol.system import SystemMode, SystemNotice

log = logging.getLogger("desktop")

LEAD_ROLES = frozenset({"team_lead", "admin"})
AUTO_ANSWER_DELAY_MS = 600
"""Auto-answer waits this long so the agent sees who is calling first."""
MONITOR_ANSWER_WINDOW = 15.0
"""A team lead's softphone answers the switch's call at once this long after the lead
asked to listen, whisper or barge (the monitor leg is that call)."""


@dataclasses.dataclass
class _WebJob:
    run: Callable[[WebSession], Any]
    done: Callable[[Any, Exception | None], None]
    retried: bool = False


class DesktopController(QObject):
    """One logged-in agent's desktop: models, link, softphone, web, main window."""

    login_failed = Signal(str)
    """The server refused the credentials (the login dialog shows the text)."""
    logged_out = Signal()

    def __init__(
        self,
        prefs: Prefs,
        password: str,
        *,
        softphone: Softphone | None = None,
        audio_backend: AudioBackend | None = None,
        web_storage: Path | None = None,
        clock: Clock = wall_clock,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.prefs = prefs
        self._password = password
        self._clock = clock
        self.agent_id = prefs.agent_id
        self.role: str | None = None
        self.model = DesktopModel(prefs.agent_id)
        self.banners = BannerModel()
        self.wallboard = WallboardModel()
        self.directory: DesktopDirectory | None = None
        self.link = CtiLink(self)
        self.softphone = softphone or Softphone(backend=audio_backend, parent=self)
        self.web = WebSession(prefs.web_url)
        self.bridge = DesktopBridge(self)
        self.profile = create_panel_profile(web_storage, language=prefs.language, parent=self)
        self.loader = PanelLoader(self.profile, prefs.web_url, self._sso_path, parent=self)
        self.window = MainWindow(
            model=self.model,
            banners=self.banners,
            wallboard=self.wallboard,
            loader=self.loader,
            bridge=self.bridge,
            language=prefs.language,
            auto_answer=prefs.auto_answer,
            clock=clock,
        )
        self.auto_answer = prefs.auto_answer
        self._sip_calls: dict[str, str] = {}
        """CTI call id (or the SIP key when the INVITE had none) → softphone call key."""
        self._answer_pending: str | None = None
        self._monitor_until = 0.0
        self._popped: set[str] = set()
        self._pane_for: str | None = None
        self._subscription: str | None = None
        self._web_busy = False
        self._web_queue: list[_WebJob] = []
        self._stopped = False
        if prefs.panels:
            try:  # where the agent left the web windows last time
                self.window.bs_area.restore_layout(json.loads(prefs.panels))
            except (ValueError, LayoutError) as exc:
                log.warning("saved web-window arrangement ignored: %s", exc)
        self.problems: collections.deque[str] = collections.deque(maxlen=50)
        """What the status bar told the agent went wrong, newest last (for support)."""
        self._wire()

    # --- wiring ---------------------------------------------------------------------------

    def _wire(self) -> None:
        w = self.window
        self.link.connected.connect(self._on_connected)
        self.link.disconnected.connect(self._on_disconnected)
        self.link.event.connect(self._on_event)
        self.link.resynced.connect(self._on_resynced)
        self.link.state_changed.connect(self._on_link_state)
        self.link.login_failed.connect(self._on_login_failed)
        self.model.subscribe(self._on_model_change)

        self.softphone.registration_changed.connect(w.set_sip_state)
        self.softphone.incoming.connect(self._on_incoming)
        self.softphone.call_changed.connect(self._on_sip_call_changed)

        bar = w.call_bar
        bar.answer_requested.connect(self.answer)
        bar.release_requested.connect(self.release)
        bar.hold_requested.connect(lambda cid: self._send(pc.CallHold(id=0, call_id=cid)))
        bar.retrieve_requested.connect(lambda cid: self._send(pc.CallRetrieve(id=0, call_id=cid)))
        bar.transfer_requested.connect(self.transfer)
        bar.complete_transfer_requested.connect(
            lambda held, consult: self._send(
                pc.CallTransfer(id=0, call_id=held, consult_call_id=consult)
            )
        )
        bar.conference_requested.connect(
            lambda held, consult: self._send(
                pc.CallConference(id=0, call_id=held, consult_call_id=consult)
            )
        )
        bar.reconnect_requested.connect(
            lambda held, consult: self._send(
                pc.CallReconnect(id=0, call_id=held, consult_call_id=consult)
            )
        )
        bar.mute_toggled.connect(self.softphone.set_mute)
        bar.dtmf_requested.connect(self.send_dtmf)
        w.toast.answer_requested.connect(self.answer)
        w.toast.reject_requested.connect(self.release)

        state = w.state_bar
        state.ready_requested.connect(lambda: self._send(pa.AgentSetReady(id=0)))
        state.not_ready_requested.connect(
            lambda code: self._send(pa.AgentSetNotReady(id=0, reason_code=code))
        )
        state.end_acw_requested.connect(lambda: self._send(pa.AgentEndAfterCallWork(id=0)))
        w.wrap_up.wrap_up_requested.connect(self.wrap_up)

        w.pane.recommendation_answered.connect(self.answer_recommendation)
        w.pane.verify_password_requested.connect(
            lambda cid: self.open_panel("unlock", f"/ui/pay/customers/{quote(cid)}/unlock")
        )
        w.banner_bar.acknowledged.connect(lambda _id: w.banner_bar.refresh())

        self.bridge.dial_requested.connect(self.dial)
        self.bridge.open_panel_requested.connect(self.open_panel)
        self.bridge.close_work_requested.connect(self._close_work)

        lead = w.team_lead
        lead.monitor_requested.connect(self.monitor)
        lead.monitor_stop_requested.connect(self.monitor_stop)
        lead.force_state_requested.connect(
            lambda agent, st, reason: self._send(
                ps.SupervisorForceState(id=0, agent_id=agent, state=st, reason_code=reason)
            )
        )
        lead.force_logout_requested.connect(
            lambda agent: self._send(ps.SupervisorForceLogout(id=0, agent_id=agent))
        )

        w.standard_panel_requested.connect(self.open_panel)
        w.auto_answer_toggled.connect(self._set_auto_answer)
        w.test_devices_requested.connect(self.test_devices)
        w.logout_requested.connect(self.logout)
        w.closing.connect(self.shutdown)

        self.profile.cookieStore().cookieAdded.connect(self._on_profile_cookie)

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect to the CTI server and register the softphone (independently: the
        phone works without the CTI link)."""
        self.link.start(
            self.prefs.server_url,
            PasswordCredentials(user_id=self.agent_id, password=self._password),
            kind=ClientKind.DESKTOP,
            client_name=f"agent-desktop {self.agent_id}",
        )
        host, _, port = self.prefs.sip_registrar.rpartition(":")
        try:
            config = SoftphoneConfig(
                registrar_host=host or self.prefs.sip_registrar,
                registrar_port=int(port) if host else 5060,
                user=self.agent_id,
                password=self._password,
            )
        except ValueError as exc:
            self.window.set_sip_state(False, str(exc))
            log.error("softphone not started: %s", exc)
            return
        self.softphone.set_devices(self.prefs.mic, self.prefs.speaker, self.prefs.ringer)
        self.softphone.start(config)

    def logout(self) -> None:
        if self.model.active_calls():
            self.window.show_message(self.tr("Finish the call before logging out."))
            return
        self.shutdown()
        self.logged_out.emit()

    def shutdown(self) -> None:
        """Log out of the CTI server, unregister the phone, remember the window layout."""
        if self._stopped:
            return
        self._stopped = True
        self.prefs = dataclasses.replace(
            self.prefs,
            auto_answer=self.auto_answer,
            geometry=bytes(self.window.saveGeometry().toBase64().data()).decode("ascii"),
            panels=json.dumps(self.window.bs_area.layout_state(), ensure_ascii=False),
        )
        self.link.stop()
        self.softphone.shutdown()
        self.window.toast.dismiss()
        # Web pages go before their profile (QtWebEngine warns, and may crash, otherwise).
        self.window.bs_area.close_all()
        self.window.hide()
        self.profile.setParent(None)
        self.profile.deleteLater()

    # --- CTI link -------------------------------------------------------------------------

    def _on_link_state(self, state: str) -> None:
        self.window.set_link_state(state)

    def _on_connected(self, welcome: Welcome) -> None:
        was_down = self.banners.link_is_down
        self.banners.link_up(self._clock())
        self.window.banner_bar.refresh()
        self.window.call_bar.set_offline(False)
        if was_down:
            log.info("CTI link back (%s)", "resumed" if welcome.resumed else "new session")
        self.role = welcome.principal_role
        lead = self.role in LEAD_ROLES
        self.window.set_team_lead(lead)
        if welcome.resumed:
            return
        self.link.request(DesktopDirectoryRequest(id=0), self._on_directory)
        if lead:
            self.wallboard.reset()
            self.link.request(ps.SupervisorSubscribe(id=0), self._on_subscribed)

    def _on_resynced(self, snapshot: Snapshot) -> None:
        log.info(
            "state from the server: agent %s, %d call(s)",
            snapshot.agent.state if snapshot.agent is not None else "not logged on",
            len(snapshot.calls),
        )
        self.model.load_snapshot(snapshot)
        if snapshot.agent is None or snapshot.agent.state is pa.AgentState.LOGGED_OFF:
            # A fresh session (first login, or the server restarted): log the agent on
            # with the softphone's extension.
            self.link.request(
                pa.AgentLogin(id=0, extension=self.agent_id, initial_state="not_ready"),
                self._on_agent_login,
            )

    def _on_agent_login(self, _result: object, error: Exception | None) -> None:
        log.info("agent %s logged on%s", self.agent_id, f": {error}" if error else "")
        self._refused(error)

    def _on_disconnected(self, reason: str) -> None:
        if self._stopped:
            return
        self.banners.link_down(self._clock())
        self.window.banner_bar.refresh()
        self.window.call_bar.set_offline(True)
        for call in self.softphone.calls():  # a call in progress goes on without the CTI
            self.window.call_bar.set_local_call(
                call.key, self.softphone.call_state(call.key), call.remote
            )
        log.warning("CTI link down: %s", reason)

    def _on_login_failed(self, error: object) -> None:
        text = error.message if isinstance(error, ProtocolError) else str(error)
        self.shutdown()
        self.login_failed.emit(text)

    def _on_directory(self, result: object, error: Exception | None) -> None:
        if error is not None or not isinstance(result, DesktopDirectory):
            log.warning("no directory from the server: %s", error)
            return
        self.directory = result
        reasons = [(r.code, r.label) for r in result.reason_codes]
        self.window.state_bar.set_reason_codes(reasons)
        self.window.call_bar.set_directory(TransferDirectory.from_directory(result))
        names = {a.agent_id: a.display_name for a in result.agents}
        self.window.team_lead.set_agent_names(names)
        self.window.team_lead.set_reason_codes(reasons)

    def _on_subscribed(self, result: object, error: Exception | None) -> None:
        if error is not None:
            self._refused(error)
            return
        self._subscription = getattr(result, "subscription_id", None)

    def _on_event(self, event: object) -> None:
        # Every event goes through the agent model, which follows the session's seq (it
        # ignores what is not about this agent's state and calls).
        self.model.apply(event)  # type: ignore[arg-type]
        if isinstance(event, SystemMode | SystemNotice):
            self.banners.apply(event, now=self._clock())
            self.window.banner_bar.refresh()
        elif isinstance(event, ps.SupervisorEvent):
            self.window.team_lead.apply(event)

    # --- calls ------------------------------------------------------------------------------

    def _on_model_change(self, change: Change) -> None:
        if change.what in ("snapshot", "resync"):
            return
        if change.what != "call" or change.call_id is None:
            return
        view = self.model.calls.get(change.call_id)
        if view is None:
            self.window.bs_area.close_call_panels(change.call_id)
            self._popped.discard(change.call_id)
            return
        if view.phase is CallPhase.OFFERED and self._pane_for != view.call_id:
            self._show_customer(view.call_id)
            if self.auto_answer:
                QTimer.singleShot(AUTO_ANSWER_DELAY_MS, lambda: self.answer(view.call_id))
        if view.phase is CallPhase.ESTABLISHED and view.call_id not in self._popped:
            if self._pane_for != view.call_id:
                self._show_customer(view.call_id)
            self._screen_pop(view.call_id)
        self.bridge.set_context(
            {
                "call_id": view.call_id,
                "caller": view.caller or "",
                "customer_id": view.customer_ref or "",
                "tier": view.tier or "",
                "business_selection": view.business_selection or "",
            }
            if view.phase is not CallPhase.CLEARED
            else None
        )

    def _show_customer(self, call_id: str) -> None:
        view = self.model.calls[call_id]
        self._pane_for = call_id
        self.window.pane.show_call(view)
        if not view.customer_ref:
            self.window.pane.show_customer(None)
            return
        self.refresh_pane(view.customer_ref)

    def refresh_pane(self, customer_id: str) -> None:
        path = f"/ui/api/customers/{quote(customer_id)}/pane"

        def done(data: Any, error: Exception | None) -> None:
            if error is not None:
                log.warning("pane of %s: %s", customer_id, error)
                if isinstance(error, WebError) and error.reason == "region":
                    self._problem(
                        self.tr("This customer belongs to another region: details not shown.")
                    )
                else:
                    self._problem(
                        self.tr("Customer data unavailable: %1").replace("%1", str(error))
                    )
                return
            try:
                self.window.pane.show_customer(CustomerPane.from_json(data))
            except PaneFormatError as exc:
                log.error("bad pane JSON for %s: %s", customer_id, exc)
                self._problem(self.tr("Customer data unreadable: %1").replace("%1", str(exc)))

        self._web(lambda web: web.get_json(path), done)

    def _screen_pop(self, call_id: str) -> None:
        """Open the call's web windows by intent (R-IN-5)."""
        view = self.model.calls[call_id]
        self._popped.add(call_id)
        for spec in panels_for_call(view, view.customer_ref):
            self.window.bs_area.open_panel(spec)

    def _sip_key(self, call_id: str) -> str | None:
        key = self._sip_calls.get(call_id)
        if key is None and call_id in {c.key for c in self.softphone.calls()}:
            return call_id  # offline mode: the bar names SIP calls by their key
        return key

    def answer(self, call_id: str) -> None:
        """Answer on the softphone (the switch bridges when the agent leg answers)."""
        key = self._sip_key(call_id)
        if key is None:
            self._answer_pending = call_id  # the INVITE is on its way
            return
        if self.softphone.call_state(key) == "ringing":
            self.softphone.answer(key)

    def release(self, call_id: str) -> None:
        if self.link.state == "online" and call_id in self.model.calls:
            self._send(pc.CallRelease(id=0, call_id=call_id))
            return
        key = self._sip_key(call_id)
        if key is not None:
            self.softphone.hangup(key)

    def send_dtmf(self, call_id: str, digits: str) -> None:
        if self.link.state == "online" and call_id in self.model.calls:
            self._send(pc.CallSendDtmf(id=0, call_id=call_id, digits=digits))
            return
        key = self._sip_key(call_id)
        if key is not None:
            self.softphone.send_dtmf(key, digits)

    def transfer(self, call_id: str, destination: object, consult: bool) -> None:
        if consult:
            self._send(pc.CallConsult(id=0, call_id=call_id, destination=destination))  # type: ignore[arg-type]
        else:
            self._send(
                pc.CallSingleStepTransfer(id=0, call_id=call_id, destination=destination)  # type: ignore[arg-type]
            )

    def dial(self, number: str) -> None:
        """Click-to-dial from a page: a consultation call to ``number`` from the call in
        progress (the caller is held). Dialling out while idle comes with outbound."""
        talking = [c for c in self.model.active_calls() if c.phase is CallPhase.ESTABLISHED]
        if not talking:
            self.window.show_message(self.tr("Click-to-dial needs a call in progress."))
            return
        self.transfer(talking[0].call_id, pc.NumberDestination(number=number), True)

    def wrap_up(self, call_id: str, notes: str, category: str) -> None:
        def done(_result: object, error: Exception | None) -> None:
            self.window.wrap_up.show_result(error is None, None if error is None else str(error))

        self.link.request(
            pc.CallWrapUp(id=0, call_id=call_id, notes=notes, category=category or None), done
        )

    def _close_work(self, call_id: str, notes: str, category: str) -> None:
        """A page's ``close_work``: save the notes, then end after-call work."""

        def done(_result: object, error: Exception | None) -> None:
            if error is not None:
                self._refused(error)
                return
            if self.model.agent.state is pa.AgentState.WORK_NOT_READY:
                self._send(pa.AgentEndAfterCallWork(id=0))

        self.link.request(
            pc.CallWrapUp(id=0, call_id=call_id, notes=notes, category=category or None), done
        )

    # --- softphone --------------------------------------------------------------------------

    def _on_incoming(self, call: SoftCall) -> None:
        self._sip_calls[call.cti_call_id or call.key] = call.key
        if time.monotonic() < self._monitor_until and self.role in LEAD_ROLES:
            self._monitor_until = 0.0
            self.softphone.answer(call.key)  # the monitor leg of listen/whisper/barge
            return
        if self.link.state != "online":
            self.window.call_bar.set_local_call(call.key, "ringing", call.remote)
            self.window.toast.show_offer(
                call.key,
                caller=call.remote,
                name=None,
                tier=None,
                queue=None,
                business_selection=None,
            )
        if self._answer_pending is not None and self._answer_pending == call.cti_call_id:
            self._answer_pending = None
            self.softphone.answer(call.key)
        elif self.auto_answer and self.link.state != "online":
            QTimer.singleShot(AUTO_ANSWER_DELAY_MS, lambda: self.answer(call.key))

    def _on_sip_call_changed(self, key: str, state: str) -> None:
        if self.link.state != "online":
            self.window.call_bar.set_local_call(key, state)
        if state == "disconnected":
            for cid, k in list(self._sip_calls.items()):
                if k == key:
                    del self._sip_calls[cid]
            if self.window.toast.call_id == key:
                self.window.toast.dismiss()

    def _set_auto_answer(self, on: bool) -> None:
        self.auto_answer = on

    def test_devices(self) -> None:
        result = self.softphone.test_call()
        outcome = {
            "ok": self.tr("the audio path works"),
            "no_device": self.tr("the audio path works, but no microphone or speaker was found"),
            "no_tone": self.tr("the test tone did not come back"),
            "busy": self.tr("not possible during a call"),
        }.get(result.code, result.code)
        log.info("audio test: %s (%s)", result.code, result.detail)
        self.window.show_message(self.tr("Audio test: %1").replace("%1", outcome))

    # --- team lead --------------------------------------------------------------------------

    def monitor(self, agent_id: str, mode: str) -> None:
        self._monitor_until = time.monotonic() + MONITOR_ANSWER_WINDOW

        def done(result: object, error: Exception | None) -> None:
            if error is not None or not isinstance(result, ps.MonitorResult):
                self._monitor_until = 0.0
                self._refused(error)
                return
            self.window.team_lead.monitor_started(agent_id, result.monitor_id, mode, result.call_id)

        self.link.request(
            ps.SupervisorMonitor(id=0, agent_id=agent_id, mode=ps.MonitorMode(mode)), done
        )

    def monitor_stop(self, monitor_id: str) -> None:
        def done(_result: object, error: Exception | None) -> None:
            if error is not None:
                self._refused(error)
                return
            self.window.team_lead.monitor_ended(monitor_id)

        self.link.request(ps.SupervisorMonitorStop(id=0, monitor_id=monitor_id), done)

    # --- web side ---------------------------------------------------------------------------

    def open_panel(self, key: str, path: str) -> None:
        call = self.window.call_bar.current_call_id
        self.window.bs_area.open_path(key, path, call)

    def answer_recommendation(self, customer_id: str, rule_id: str, answer: str, note: str) -> None:
        pane = self.window.pane.pane
        csrf = pane.csrf if pane is not None else None
        path = f"/ui/api/customers/{quote(customer_id)}/recommendations/{quote(rule_id)}"
        body: dict[str, str] = {"answer": answer}
        if note:
            body["note"] = note
        if self._pane_for:
            body["call_id"] = self._pane_for

        def done(_data: Any, error: Exception | None) -> None:
            message = None
            if isinstance(error, WebError):
                message = error.message or error.reason
            elif error is not None:
                message = str(error)
            self.window.pane.recommendation_result(rule_id, error is None, message)

        self._web(lambda web: web.post_json(path, body, csrf=csrf or ""), done)

    def _sso_path(self, next_path: str, done: SsoDone) -> None:
        """For the web windows: a one-time sign-on path from the CTI link."""

        def got(result: object, error: Exception | None) -> None:
            done(result.sso_path if isinstance(result, WebTokenResult) else None)
            if error is not None:
                log.warning("no web token: %s", error)

        self.link.request(WebTokenRequest(id=0, next_path=next_path), got)

    def _web(
        self, run: Callable[[WebSession], Any], done: Callable[[Any, Exception | None], None]
    ) -> None:
        """Run ``run(web)`` off the GUI thread, signed in first (once, through SSO) and
        signed in again once if the session expired; ``done`` on the GUI thread."""
        self._web_queue.append(_WebJob(run, done))
        self._web_next()

    def _web_next(self) -> None:
        if self._web_busy or not self._web_queue:
            return
        job = self._web_queue[0]
        if not self.web.signed_in:
            self._web_busy = True
            self._web_sign_in()
            return
        self._web_busy = True

        def finished(result: Any, error: Exception | None) -> None:
            self._web_busy = False
            if isinstance(error, WebAuthError) and not job.retried:
                job.retried = True
                self.web.sign_out()
                self._web_next()
                return
            self._web_queue.pop(0)
            job.done(result, error)
            self._web_next()

        web = self.web
        self.link.run(lambda: asyncio.to_thread(job.run, web), finished)

    def _web_sign_in(self) -> None:
        def signed(_final: Any, error: Exception | None) -> None:
            self._web_busy = False
            if error is not None:
                self._fail_web_jobs(error)
                return
            self._share_session_with_windows()
            self._web_next()

        def got(result: object, error: Exception | None) -> None:
            if error is not None or not isinstance(result, WebTokenResult):
                self._web_busy = False
                self._fail_web_jobs(error or RuntimeError("no web token"))
                return
            web, path = self.web, result.sso_path
            self.link.run(lambda: asyncio.to_thread(web.sso, path), signed)

        self.link.request(WebTokenRequest(id=0, next_path="/ui/"), got)

    def _fail_web_jobs(self, error: Exception) -> None:
        jobs, self._web_queue = self._web_queue, []
        for job in jobs:
            job.done(None, error)

    def _share_session_with_windows(self) -> None:
        value = self.web.session_cookie()
        if value is None:
            return
        cookie = QNetworkCookie(SESSION_COOKIE.encode(), value.encode())
        cookie.setPath("/")
        cookie.setHttpOnly(True)
        self.profile.cookieStore().setCookie(cookie, QUrl(self.prefs.web_url))
        self.loader.set_signed_in(True)

    def _on_profile_cookie(self, cookie: QNetworkCookie) -> None:
        if bytes(cookie.name().data()).decode() != SESSION_COOKIE:
            return
        value = bytes(cookie.value().data()).decode()
        if value and value != self.web.session_cookie():
            self.web.adopt_session(value)

    # --- helpers ----------------------------------------------------------------------------

    def _send(self, message: Request) -> None:
        self.link.request(message, lambda _r, error: self._refused(error))

    def _refused(self, error: Exception | None) -> None:
        if error is None:
            return
        text = error.message if isinstance(error, ProtocolError) else str(error)
        log.warning("request refused: %s", text)
        self._problem(self.tr("Refused: %1").replace("%1", text))

    def _problem(self, text: str) -> None:
        self.problems.append(text)
        self.window.show_message(text)


# --- the application -------------------------------------------------------------------------


def _language(code: str) -> Literal["en", "zh_CN"]:
    if code not in i18n.LANGUAGES:
        raise i18n.UnknownLanguage(code)
    return "zh_CN" if code == "zh_CN" else "en"


def _prefs_from(prefs: Prefs, creds: LoginCredentials) -> Prefs:
    return dataclasses.replace(
        prefs,
        server_url=creds.server_url,
        agent_id=creds.agent_id,
        language=_language(creds.language),
        auto_answer=creds.auto_answer,
        mic=creds.mic,
        speaker=creds.speaker,
        ringer=creds.ringer,
        web_url=creds.web_url or prefs.web_url,
        sip_registrar=creds.sip_registrar or prefs.sip_registrar,
    )


def _login(prefs: Prefs, phone: Softphone, error: str | None) -> LoginCredentials | None:
    """Show the login dialog; ``None`` when the agent cancelled."""
    devices = phone.devices()
    dialog = LoginDialog(
        prefs,
        microphones=[d.description for d in devices.mics],
        speakers=[d.description for d in devices.speakers],
        ringers=[d.description for d in devices.ringers],
    )

    def test_devices(*_: str) -> None:
        result = phone.test_call()
        dialog.show_device_test_result(result.ok, result.detail)

    dialog.test_devices_requested.connect(test_devices)
    if error:
        dialog.show_error(error)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.credentials()


def _work(
    app: QApplication, prefs: Prefs, password: str, phone: Softphone
) -> tuple[int, Prefs, str | None]:
    """One logged-in session until the window closes (``None``), the agent logs out
    (``""``) or the server refuses the login (its message)."""
    controller = DesktopController(prefs, password, softphone=phone)
    outcome: list[str] = []

    def finish(text: str) -> None:
        outcome.append(text)
        app.quit()

    controller.login_failed.connect(finish)
    controller.logged_out.connect(lambda: finish(""))
    if prefs.geometry:
        controller.window.restoreGeometry(QByteArray.fromBase64(prefs.geometry.encode()))
    controller.start()
    controller.window.show()
    code = app.exec()
    controller.shutdown()
    controller.window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # pages before profile
    return code, controller.prefs, outcome[0] if outcome else None


def run_desktop(settings: DesktopSettings, *, prefs_path: Path | None, language: str | None) -> int:
    """The login dialog, then the main window, until the agent quits."""
    import PySide6.QtWebEngineWidgets  # noqa: F401  (before the QApplication exists)

    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("OpenCC agent desktop")
    app.setOrganizationName("OpenCC")
    i18n.apply_font(app)
    path = prefs_path or Prefs.default_path()
    prefs = Prefs.load(path, defaults=Prefs.from_settings(settings))
    if language is not None:
        prefs = dataclasses.replace(prefs, language=_language(language))
    i18n.install(app, prefs.language)
    error: str | None = None
    while True:
        phone = Softphone()
        creds = _login(prefs, phone, error)
        if creds is None:
            phone.shutdown()
            return 0
        prefs = _prefs_from(prefs, creds)
        i18n.install(app, prefs.language)
        prefs.save(path)
        code, prefs, ended = _work(app, prefs, creds.password, phone)
        prefs.save(path)
        if ended is None:
            return code  # the window was closed: quit
        error = ended or None
        if error is not None:
            QMessageBox.warning(None, "OpenCC", error)
