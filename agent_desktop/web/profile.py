"""The shared QtWebEngine profile of the web panels and how a panel opens a page.

All panels share one :class:`QWebEngineProfile` (:func:`create_panel_profile`), hence
one cookie jar and one web session. A panel's first page goes through the CTI server's
SSO (``/ui/sso?token=…&next=<path>``, the token from the CTI link's ``web.token``), so
the agent never signs in twice; once one SSO load succeeded, later panels load their
path directly. A page that lands on ``/ui/login``, or on the server's "please sign in
first" refusal (the session expired), is opened through SSO again - once; a network
error is reported to the window, which shows an error page with Retry.

The SSO path comes from a callable in the async-callback style the CTI link uses::

    def get_sso_path(next_path: str, done: Callable[[str | None], None]) -> None:
        link.request(WebToken(next=next_path),
                     on_done=lambda result, error: done(result.sso_path if result else None))

``done`` may be called at once or later (on the GUI thread); ``None`` means no token.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import shiboken6
from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtWebEngineCore import (
    QWebEngineLoadingInfo,
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineProfileBuilder,
    QWebEngineScript,
    QWebEngineSettings,
)

from agent_desktop.web.bridge import bridge_scripts
from agent_desktop.web.commands import is_panel_path

log = logging.getLogger(__name__)

PROFILE_NAME = "opencc-panels"
"""Storage name of the shared profile when it keeps data on disk."""

SsoDone = Callable[[str | None], None]
SsoPathProvider = Callable[[str, SsoDone], None]
"""``get_sso_path(next_path, done)``: calls ``done("/ui/sso?token=…&next=…")`` or ``done(None)``."""

_ERR_ABORTED = -3  # Chromium: a load replaced by another one, or stopped


def create_panel_profile(
    storage_dir: Path | None = None,
    *,
    language: str | None = None,
    parent: QObject | None = None,
) -> QWebEngineProfile:
    """The one profile of all panels, with the page bridge scripts installed.

    ``storage_dir=None`` keeps everything in memory (nothing written to disk);
    otherwise a profile named :data:`PROFILE_NAME` keeps its storage (not its
    cookies: sessions never outlive the process) under ``storage_dir``.
    ``language`` (``"zh"``/``"en"``) becomes the ``Accept-Language`` the pages see.
    """
    builder = QWebEngineProfileBuilder()
    builder.setHttpCacheType(QWebEngineProfile.HttpCacheType.MemoryHttpCache)
    if storage_dir is None:
        profile = builder.createOffTheRecordProfile(parent)
    else:
        storage_dir.mkdir(parents=True, exist_ok=True)
        builder.setPersistentStoragePath(str(storage_dir))
        builder.setCachePath(str(storage_dir / "cache"))
        builder.setPersistentCookiesPolicy(
            QWebEngineProfile.PersistentCookiesPolicy.NoPersistentCookies
        )
        profile = builder.createProfile(PROFILE_NAME, parent)
    if language:
        profile.setHttpAcceptLanguage(
            "zh-CN,zh;q=0.9,en;q=0.5" if language.startswith("zh") else "en,zh;q=0.5"
        )
    settings = profile.settings()
    settings.setAttribute(QWebEngineSettings.WebAttribute.JavascriptCanOpenWindows, False)
    settings.setAttribute(QWebEngineSettings.WebAttribute.ErrorPageEnabled, False)
    for script in bridge_scripts():
        profile.scripts().insert(script)
    return profile


class PanelPage(QWebEnginePage):
    """A panel's page; notes a sign-out the user asked for (no automatic SSO then)."""

    def __init__(self, profile: QWebEngineProfile, parent: QObject | None = None) -> None:
        super().__init__(profile, parent)
        self.signed_out = False

    def acceptNavigationRequest(
        self,
        url: QUrl | str,
        type: QWebEnginePage.NavigationType,
        isMainFrame: bool,
    ) -> bool:
        path = QUrl(url).path()
        if (
            isMainFrame
            and type == QWebEnginePage.NavigationType.NavigationTypeFormSubmitted
            and path.endswith("/ui/logout")
        ):
            self.signed_out = True
        return super().acceptNavigationRequest(url, type, isMainFrame)


class LoadState(enum.StrEnum):
    IDLE = "idle"
    SIGNING_IN = "signing_in"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


class FailureKind(enum.StrEnum):
    NETWORK = "network"
    """The server could not be reached (connection refused, DNS, timeout …)."""
    SSO = "sso"
    """No SSO token, or the server refused it."""
    EXPIRED = "expired"
    """The session expired and signing in again (once) did not help."""


class PanelLoader(QObject):
    """Opens panel paths in pages of the shared profile, through SSO when needed."""

    signed_in_changed = Signal(bool)

    def __init__(
        self,
        profile: QWebEngineProfile,
        web_url: str,
        get_sso_path: SsoPathProvider,
        *,
        sso_timeout: float = 15.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        parts = urlsplit(web_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"web URL must be http(s)://host[:port], not {web_url!r}")
        self._profile = profile
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = parts.path.rstrip("/")
        self._get_sso_path = get_sso_path
        self._sso_timeout_ms = int(sso_timeout * 1000)
        self._signed_in = False
        self.sso_requests = 0
        """How many SSO tokens were asked for (each is one sign-in)."""

    @property
    def profile(self) -> QWebEngineProfile:
        return self._profile

    @property
    def signed_in(self) -> bool:
        """Whether the shared profile holds a web session (as far as the loader knows)."""
        return self._signed_in

    def set_signed_in(self, value: bool) -> None:
        """Record the web session's state (``False`` after the desktop logged out)."""
        if value != self._signed_in:
            self._signed_in = value
            self.signed_in_changed.emit(value)

    def url_for(self, path: str) -> QUrl:
        """The absolute URL of a ``/ui/…`` path on the web side."""
        return QUrl(f"{self._origin}{self._prefix}{path}")

    def panel_path(self, url: QUrl) -> str | None:
        """The ``/ui/…`` path (with query) of a URL of the web side, else ``None``."""
        text = url.toString()
        head = f"{self._origin}{self._prefix}"
        if not text.startswith(head + "/"):
            return None
        rest = text[len(head) :].split("#", 1)[0]
        return rest if rest.startswith("/ui/") else None

    def new_page(self, parent: QObject | None = None) -> tuple[PanelPage, PanelNavigator]:
        """A page of the shared profile and the navigator that loads panel paths in it."""
        page = PanelPage(self._profile, parent)
        return page, PanelNavigator(self, page)

    def request_sso(self, next_path: str, done: SsoDone) -> None:
        """Ask for an SSO path to ``next_path``; ``done`` gets it (or ``None``) once."""
        self.sso_requests += 1
        answered = False

        def once(value: str | None) -> None:
            nonlocal answered
            if not answered:
                answered = True
                done(value)

        QTimer.singleShot(self._sso_timeout_ms, self, lambda: once(None))
        try:
            self._get_sso_path(next_path, once)
        except Exception:
            log.exception("asking for an SSO token failed")
            once(None)


class PanelNavigator(QObject):
    """Loads panel paths into one page and watches where its loads end.

    ``loaded(url)`` after every page that shows content (also after the user followed
    a link); ``failed(kind, message)`` (:class:`FailureKind`) when the window should
    show its error page; :meth:`retry` opens the last path again.
    """

    loaded = Signal(str)
    failed = Signal(str, str)
    state_changed = Signal(str)

    def __init__(self, loader: PanelLoader, page: PanelPage) -> None:
        super().__init__(page)
        self._loader = loader
        self._page = page
        self._path = ""
        self._state = LoadState.IDLE
        self._generation = 0
        self._via_sso = False
        self._resso_left = 1
        self._failure: tuple[FailureKind, str] | None = None
        page.loadingChanged.connect(self._on_loading)

    @property
    def page(self) -> PanelPage:
        return self._page

    @property
    def path(self) -> str:
        """The panel path last opened (or followed to)."""
        return self._path

    @property
    def state(self) -> LoadState:
        return self._state

    @property
    def failure(self) -> tuple[FailureKind, str] | None:
        """Why the last load failed (``None`` while all is well)."""
        return self._failure

    def open(self, path: str) -> None:
        """Load ``path`` (``/ui/…``), through SSO if the profile has no session yet."""
        if not is_panel_path(path):
            raise ValueError(f"not a path of the web panels: {path!r}")
        self._path = path
        self._resso_left = 1
        self._go(path)

    def retry(self) -> None:
        """Open the last path again (after an error)."""
        if self._path:
            self.open(self._path)

    # --- internals ---------------------------------------------------------------------

    def _go(self, path: str) -> None:
        self._generation += 1
        self._failure = None
        if self._loader.signed_in:
            self._load(self._loader.url_for(path), via_sso=False)
            return
        self._set_state(LoadState.SIGNING_IN)
        generation = self._generation
        self._loader.request_sso(path, lambda sso: self._on_sso_path(generation, sso))

    def _alive(self, generation: int | None = None) -> bool:
        if not shiboken6.isValid(self) or not shiboken6.isValid(self._page):
            return False
        return generation is None or generation == self._generation

    def _on_sso_path(self, generation: int, sso_path: str | None) -> None:
        if not self._alive(generation):
            return  # the window closed or opened something else meanwhile
        if not sso_path or not sso_path.startswith("/ui/sso?"):
            self._fail(FailureKind.SSO, self.tr("Could not sign in to the web panels."))
            return
        self._load(self._loader.url_for(sso_path), via_sso=True)

    def _load(self, url: QUrl, *, via_sso: bool) -> None:
        self._via_sso = via_sso
        self._page.signed_out = False
        self._set_state(LoadState.LOADING)
        self._page.load(url)

    def _on_loading(self, info: QWebEngineLoadingInfo) -> None:
        if not self._alive():
            return
        status = info.status()
        Status = QWebEngineLoadingInfo.LoadStatus
        if status == Status.LoadStartedStatus:
            if self._state != LoadState.LOADING:
                self._generation += 1  # the user followed a link: pending SSO answers are void
                self._set_state(LoadState.LOADING)
            return
        if status == Status.LoadStoppedStatus:
            return
        url = info.url()
        if status == Status.LoadSucceededStatus:
            if self._is_login(url):
                self._expired(url)
            else:
                self._shown(url)
            return
        # LoadFailedStatus
        if info.errorDomain() == QWebEngineLoadingInfo.ErrorDomain.HttpStatusCodeDomain:
            if info.errorCode() in (401, 403):
                generation = self._generation
                self._page.runJavaScript(
                    "(function(){var e=document.querySelector('[data-reason]');"
                    "return e?e.getAttribute('data-reason'):'';})()",
                    QWebEngineScript.ScriptWorldId.ApplicationWorld,
                    lambda reason: self._on_refusal(generation, url, reason),
                )
            else:
                self._shown(url)  # the server's own 404/500 page is what the user should see
            return
        if info.errorCode() == _ERR_ABORTED:
            return
        self._fail(FailureKind.NETWORK, info.errorString() or self.tr("The page could not load."))

    def _on_refusal(self, generation: int, url: QUrl, reason: object) -> None:
        if not self._alive(generation):
            return
        if reason == "login":
            self._expired(url)
        elif reason == "sso":
            self._loader.set_signed_in(False)
            self._fail(FailureKind.SSO, self.tr("The web panels refused the sign-in token."))
        else:
            self._shown(url)  # role/region refusals: the page explains itself

    def _is_login(self, url: QUrl) -> bool:
        path = self._loader.panel_path(url)
        return path is not None and urlsplit(path).path == "/ui/login"

    def _shown(self, url: QUrl) -> None:
        if self._via_sso:
            self._loader.set_signed_in(True)
        self._via_sso = False
        self._resso_left = 1
        path = self._loader.panel_path(url)
        if path is not None:
            self._path = path
        self._set_state(LoadState.LOADED)
        self.loaded.emit(url.toString())

    def _expired(self, url: QUrl) -> None:
        self._loader.set_signed_in(False)
        self._via_sso = False
        if self._page.signed_out:  # the user signed out on purpose: leave the login page
            self._page.signed_out = False
            self._set_state(LoadState.LOADED)
            self.loaded.emit(url.toString())
            return
        if self._resso_left <= 0:
            self._fail(
                FailureKind.EXPIRED,
                self.tr("The web session expired and signing in again did not work."),
            )
            return
        self._resso_left -= 1
        target = self._next_after_login(url)
        self._path = target
        log.info("web session expired at %s; signing in again for %s", url.toString(), target)
        self._go(target)

    def _next_after_login(self, url: QUrl) -> str:
        path = self._loader.panel_path(url) or ""
        parts = urlsplit(path)
        if parts.path == "/ui/login":
            wanted = parse_qs(parts.query).get("next", [""])[0]
            return wanted if is_panel_path(wanted) else (self._path or "/ui/")
        return path if is_panel_path(path) else (self._path or "/ui/")

    def _fail(self, kind: FailureKind, message: str) -> None:
        self._via_sso = False
        self._failure = (kind, message)
        self._set_state(LoadState.FAILED)
        self.failed.emit(str(kind), message)

    def _set_state(self, state: LoadState) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(str(state))
