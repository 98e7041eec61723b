"""The one object web panels talk to: ``opencc`` in a ``QWebChannel``.

Pages reach the desktop only through this bridge (they never open a CTI socket of
their own). The channel object registered as ``opencc`` offers one slot,
``command(json) -> json`` (typed commands of :mod:`agent_desktop.web.commands`), and
one signal, ``contextChanged(json)``, sent whenever the controller changes the call
context. The Python-side signals (``dial_requested`` …) live on :class:`DesktopBridge`
itself, which pages cannot see, so one page cannot listen to what another asked for.

Every panel page of the shared profile also gets ``resources/opencc-bridge.js``
(:func:`bridge_scripts`): ``window.opencc`` with ``ready``, ``command(obj) ->
Promise``, ``context()``, ``dial(number)``, ``openPanel(key, path)``,
``closeWork(callId, notes, category)`` and ``onContext(fn)``; it is injected by the
profile, so the server's pages (whose CSP allows only their own scripts) need no
``<script>`` of their own and keep working in a plain browser, where the wrapper is
absent.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QFile,
    QIODevice,
    QMetaMethod,
    QObject,
    Signal,
    SignalInstance,
    Slot,
)
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineScript

from agent_desktop.resources import resource
from agent_desktop.web.commands import (
    BridgeError,
    BridgeErrorCode,
    CallContext,
    CloseWork,
    Command,
    Context,
    Dial,
    OpenPanel,
    context_from,
    decode_command,
    encode_context,
    encode_error,
    encode_ok,
)

log = logging.getLogger(__name__)

CHANNEL_NAME = "opencc"
"""The name pages find the bridge under (``channel.objects.opencc``)."""
QWEBCHANNEL_JS = ":/qtwebchannel/qwebchannel.js"
"""Qt's client library of the web channel (also ``qrc:///qtwebchannel/qwebchannel.js``)."""


class PageApi(QObject):
    """What pages see as ``opencc``: the ``command`` slot and ``contextChanged``."""

    contextChanged = Signal(str)

    def __init__(self, bridge: DesktopBridge) -> None:
        super().__init__(bridge)
        self._bridge = bridge

    def event(self, event: QEvent) -> bool:
        # QWebChannel lets a page call ``deleteLater`` on a registered object: refuse it,
        # one page must not take the bridge away from all of them. (The bridge, its
        # parent, deletes it directly when it goes.)
        if event.type() == QEvent.Type.DeferredDelete:
            log.warning("a page tried to delete the page bridge; ignored")
            return True
        return super().event(event)

    @Slot(str, result=str)
    def command(self, text: str) -> str:
        """Run one JSON command; answers ``{"ok": true, …}`` or ``{"ok": false, "error": …}``."""
        return self._bridge.handle(text)


class DesktopBridge(QObject):
    """The page bridge: decodes page commands into signals for the controller."""

    dial_requested = Signal(str)
    """A page asked to dial this number (validated: digits, ``+*#``, at most 32)."""
    open_panel_requested = Signal(str, str)
    """A page asked to open panel ``key`` on ``path`` (a ``/ui/`` path)."""
    close_work_requested = Signal(str, str, str)
    """A page finished the after-call work: ``call_id``, ``notes``, ``category``."""
    context_changed = Signal(object)
    """The call context changed (:class:`CallContext` or ``None``), for Python listeners."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._context: CallContext | None = None
        self._api = PageApi(self)
        self._channel = QWebChannel(self)
        self._channel.registerObject(CHANNEL_NAME, self._api)

    @property
    def channel(self) -> QWebChannel:
        """The web channel to set on panel pages (:meth:`attach` does it)."""
        return self._channel

    @property
    def page_api(self) -> PageApi:
        """The object registered as ``opencc``."""
        return self._api

    @property
    def context(self) -> CallContext | None:
        return self._context

    def attach(self, page: QWebEnginePage) -> None:
        """Offer the bridge to ``page`` (in the page's main world, as ``opencc``)."""
        page.setWebChannel(self._channel, QWebEngineScript.ScriptWorldId.MainWorld)

    def set_context(self, context: CallContext | dict[str, Any] | None) -> None:
        """Set the current call (``call_id``, ``caller``, ``customer_id``, ``tier``,
        ``business_selection``) or ``None`` without a call; pages get ``contextChanged``.

        Raises :class:`BridgeError` for a malformed dict, keeping the old context.
        """
        new = context_from(context)
        if new == self._context:
            return
        self._context = new
        self._api.contextChanged.emit(encode_context(new))
        self.context_changed.emit(new)

    def handle(self, text: str) -> str:
        """Decode and run one command (what the ``command`` slot does)."""
        try:
            command = decode_command(text)
            return self._run(command)
        except BridgeError as error:
            log.info("page command refused: %s", error)
            return encode_error(error)
        except Exception:  # a broken listener must not reach the page as a traceback
            log.exception("page command failed")
            return encode_error(
                BridgeError(BridgeErrorCode.UNAVAILABLE, "the desktop could not do this")
            )

    def _run(self, command: Command) -> str:
        match command:
            case Dial(number=number):
                self._need_listener(self.dial_requested, "dialling")
                self.dial_requested.emit(number)
                return encode_ok()
            case Context():
                return encode_ok(context=self._context)
            case OpenPanel(key=key, path=path):
                self._need_listener(self.open_panel_requested, "opening panels")
                self.open_panel_requested.emit(key, path)
                return encode_ok()
            case CloseWork(call_id=call_id, notes=notes, category=category):
                self._need_listener(self.close_work_requested, "closing work")
                self.close_work_requested.emit(call_id, notes, category)
                return encode_ok()

    def _need_listener(self, signal: SignalInstance, what: str) -> None:
        if not self.isSignalConnected(QMetaMethod.fromSignal(signal)):
            raise BridgeError(BridgeErrorCode.UNAVAILABLE, f"{what} is not available here")


def bridge_scripts() -> list[QWebEngineScript]:
    """Qt's ``qwebchannel.js`` and the ``window.opencc`` wrapper, for a profile's scripts."""
    return [
        _script("qwebchannel", _read_qrc(QWEBCHANNEL_JS)),
        _script("opencc-bridge", _read_resource("opencc-bridge.js")),
    ]


def _script(name: str, source: str) -> QWebEngineScript:
    script = QWebEngineScript()
    script.setName(name)
    script.setSourceCode(source)
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    script.setRunsOnSubFrames(False)
    return script


def _read_qrc(path: str) -> str:
    file = QFile(path)
    if not file.open(QIODevice.OpenModeFlag.ReadOnly):
        raise FileNotFoundError(path)
    try:
        return bytes(file.readAll().data()).decode("utf-8")
    finally:
        file.close()


def _read_resource(name: str) -> str:
    return resource(name).read_text("utf-8")
