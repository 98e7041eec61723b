"""The desktop's HTTP session with the CTI server's web side (Qt-free, stdlib only).

::

    web = WebSession("http://cti:8080")
    web.sso(WebSession.sso_path(token))              # token from the CTI request web.token
    pane = web.get_json("/ui/api/customers/C000001/pane")
    web.post_json("/ui/…", {"answer": "accept"}, csrf=pane["csrf"])

Blocking by design (``urllib``): the desktop calls it on the CTI link's loop through
``asyncio.to_thread`` (``link.run(lambda: asyncio.to_thread(web.get_json, path), …)``),
never on the GUI thread. The session cookie (``opencc_web``) lives in :attr:`cookies`;
several threads may use one session at once.

Errors are typed: :class:`WebAuthError` (401/403, or a redirect to the login page: the
session expired or was refused, so redeem a fresh SSO token and try again),
:class:`WebError` (any other HTTP error status, or a body that is not the JSON asked
for), :class:`WebTimeout` and :class:`WebUnreachable` (``status`` 0: no answer).
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import urllib.error
import urllib.request
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

SESSION_COOKIE: Final = "opencc_web"
LOGIN_PATH: Final = "/ui/login"
MAX_BODY_BYTES: Final = 16 * 1024 * 1024


class WebError(Exception):
    """An HTTP request to the web side failed: ``status`` (0 = no HTTP answer),
    ``reason`` (the JSON endpoints' ``error`` key such as ``csrf`` or ``bad_json``, else
    the status text or what went wrong), ``path`` (no query), ``message`` (the JSON
    endpoints' text in the user's language, else empty)."""

    def __init__(self, status: int, reason: str, *, path: str = "", message: str = "") -> None:
        super().__init__(f"{status} {reason} ({path})" if path else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.path = path
        self.message = message


class WebAuthError(WebError):
    """401/403 or the login page: not (or no longer) signed in, or not allowed. Re-SSO."""


class WebTimeout(WebError):
    """No (complete) answer within the session's timeout."""


class WebUnreachable(WebError):
    """The web side cannot be reached (refused, reset, name not found …)."""


class WebSession:
    """Cookie-keeping HTTP client of ``base_url`` (scheme, host, port; e.g.
    ``http://127.0.0.1:8080``). Paths are absolute (``/ui/…``)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # the CTI server is on the centre's network
            urllib.request.HTTPCookieProcessor(self.cookies),
        )

    # -- sign-on ------------------------------------------------------------------------

    @staticmethod
    def sso_path(token: str, next_path: str = "/ui/") -> str:
        """``/ui/sso?token=…&next=…`` for a one-time token (``web.token``)."""
        return "/ui/sso?" + urlencode({"token": token, "next": next_path})

    @property
    def signed_in(self) -> bool:
        """A session cookie is held (it may still have expired on the server)."""
        return any(c.name == SESSION_COOKIE for c in self.cookies)

    def sso(self, sso_path: str) -> str:
        """Redeem a one-time SSO path (``/ui/sso?token=…&next=…``, or the full URL) and
        keep the session cookie. Returns the path the server redirected to.
        :class:`WebAuthError` for a spent, expired or unknown token."""
        _status, final, _body, _type = self._send("GET", sso_path, None, {})
        if not self.signed_in:
            raise WebAuthError(403, "single sign-on gave no session", path=_url_path(sso_path))
        return final

    def sign_out(self) -> None:
        """Forget the session cookie (the server's session simply expires)."""
        self.cookies.clear()

    def session_cookie(self) -> str | None:
        """The session cookie's value (to share the session with the web windows)."""
        for cookie in self.cookies:
            if cookie.name == SESSION_COOKIE:
                return cookie.value
        return None

    def adopt_session(self, value: str) -> None:
        """Use the session cookie ``value`` (the web windows signed in again, or the
        agent unlocked a customer there): one web session for the whole desktop."""
        host = urlsplit(self.base_url).hostname or ""
        for old in [c for c in self.cookies if c.name == SESSION_COOKIE]:
            self.cookies.clear(old.domain, old.path, old.name)
        self.cookies.set_cookie(
            http.cookiejar.Cookie(
                version=0,
                name=SESSION_COOKIE,
                value=value,
                port=None,
                port_specified=False,
                domain=host,
                domain_specified=False,
                domain_initial_dot=False,
                path="/",
                path_specified=True,
                secure=self.base_url.startswith("https:"),
                expires=None,
                discard=True,
                comment=None,
                comment_url=None,
                rest={"HttpOnly": ""},
            )
        )

    # -- requests -----------------------------------------------------------------------

    def get_text(self, path: str) -> str:
        """A page's HTML (or any text)."""
        _status, _final, body, _type = self._send("GET", path, None, {"Accept": "text/html"})
        return body.decode("utf-8", errors="replace")

    def get_json(self, path: str) -> Any:
        """``GET path`` answered with JSON."""
        status, _final, body, _type = self._send("GET", path, None, {"Accept": "application/json"})
        return _json(body, status, path)

    def post_json(self, path: str, body: object, *, csrf: str) -> Any:
        """``POST path`` with a JSON body and the session's CSRF token in ``X-CSRF-Token``;
        the JSON answer (``None`` for an empty one)."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "X-CSRF-Token": csrf,
        }
        status, _final, answer, _type = self._send("POST", path, data, headers)
        return _json(answer, status, path) if answer.strip() else None

    def post_form(self, path: str, fields: dict[str, str], *, csrf: str) -> str:
        """``POST path`` as an HTML form would (``csrf`` field added), following the
        redirect the server answers with; the resulting page's text."""
        data = urlencode({**fields, "csrf": csrf}).encode("utf-8")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
        _status, _final, answer, _type = self._send("POST", path, data, headers)
        return answer.decode("utf-8", errors="replace")

    # -- internals ----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith("/") and not path.startswith("//"):
            return self.base_url + path
        if path.startswith(self.base_url + "/"):
            return path
        raise ValueError(f"not a path of {self.base_url}: {path!r}")

    def _send(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, bytes, str]:
        """(status, final path, body, content type); raises the typed errors."""
        url = self._url(path)
        shown = urlsplit(url).path  # no query: an SSO token must not end up in a log
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_BODY_BYTES + 1)
                status = int(response.status)
                final = _path_only(response.geturl())
                content_type = response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            reason, message = _error_body(exc)
            kind = WebAuthError if exc.code in (401, 403) else WebError
            raise kind(exc.code, reason, path=shown, message=message) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise WebTimeout(0, "timed out", path=shown) from None
            raise WebUnreachable(0, str(exc.reason), path=shown) from None
        except TimeoutError:
            raise WebTimeout(0, "timed out", path=shown) from None
        except (http.client.HTTPException, OSError) as exc:
            raise WebUnreachable(0, f"{type(exc).__name__}: {exc}", path=shown) from None
        if len(body) > MAX_BODY_BYTES:
            raise WebError(status, "answer too large", path=shown)
        if urlsplit(final).path == urlsplit(self.base_url).path + LOGIN_PATH:
            raise WebAuthError(401, "the session expired: the server asks to sign in", path=shown)
        return status, final, body, content_type


def _error_body(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """(reason, message): the ``error`` and ``message`` of a JSON error answer, else the
    status text and ''."""
    reason = str(exc.reason)
    try:
        if exc.headers.get_content_type() == "application/json":
            body = json.loads(exc.read(65536).decode("utf-8"))
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                message = body.get("message")
                return body["error"], message if isinstance(message, str) else ""
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    finally:
        exc.close()
    return reason, ""


def _path_only(url: str) -> str:
    """Path and query of ``url``."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _url_path(url: str) -> str:
    return urlsplit(url).path


def _json(body: bytes, status: int, path: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WebError(status, "the answer is not JSON", path=urlsplit(path).path) from None
