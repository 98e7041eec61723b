"""Signed session cookies and CSRF tokens of the web panels.

The cookie holds ``agent_id``, the issue time and the session's CSRF token, signed
with HMAC-SHA256 under the configured secret (it is not encrypted: nothing in it is
secret from its owner). The account is re-read on every request, so deactivating an
agent or changing a role takes effect at once. Every POST form carries the CSRF token
of its session (login forms: a token in a separate short-lived cookie, double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "opencc_web"
LOGIN_CSRF_COOKIE = "opencc_login_csrf"
LANG_COOKIE = "lang"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class WebSession:
    agent_id: str
    issued_at: float
    csrf: str


class SessionSigner:
    def __init__(
        self, secret: bytes, *, max_age: float, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the web session secret needs at least 16 bytes")
        self._key = hashlib.sha256(b"opencc-web-session\x00" + secret).digest()
        self.max_age = max_age
        self._clock = clock

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def issue(self, agent_id: str) -> tuple[str, WebSession]:
        session = WebSession(agent_id, self._clock(), secrets.token_urlsafe(24))
        body = json.dumps(
            {"a": session.agent_id, "t": session.issued_at, "c": session.csrf},
            separators=(",", ":"),
        )
        payload = _b64(body.encode("utf-8"))
        return f"{payload}.{self._sign(payload)}", session

    def read(self, cookie: str | None) -> WebSession | None:
        if not cookie or len(cookie) > 4096:
            return None
        payload, _, signature = cookie.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = WebSession(str(data["a"]), float(data["t"]), str(data["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        age = self._clock() - session.issued_at
        if age < -60 or age > self.max_age:
            return None
        return session


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
