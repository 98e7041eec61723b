"""Authentication of CTI and switch-link clients against the store (argon2 hashes).

* Users (agents, team leads, administrators) log in with their agent id and password;
  the argon2 check runs in a worker thread so the event loop never waits on it.
  ``kind: supervisor`` needs the ``team_lead`` or ``admin`` role; back-office accounts
  (``dept_staff``, docs/web.md) are refused: they only use the web panels.
* Switches log in with ``settings.server.switch_token``. Their principal id is the
  hello's ``client_name`` (so several switches can share one token and still be told
  apart; each call belongs to the switch that reported it), or ``switch`` without one.
* Tools log in with a tool token when one is configured.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Mapping
from typing import Final

import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.store import auth as store_auth
from cti_server.store import session_factory
from cti_server.ws import SUPERVISOR_ROLES, Principal, Role
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, Hello, PasswordCredentials, TokenCredentials

_NAME = re.compile(r"^\S{1,64}\Z")
DEFAULT_SWITCH_NAME = "switch"

BACK_OFFICE_ROLE: Final = "dept_staff"
"""Department staff (work-order handlers) log in to the web panels only."""


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class StoreAuthenticator:
    """:class:`cti_server.ws.Authenticator` over the store's agents table."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        switch_token: str,
        tool_tokens: Mapping[str, str] | None = None,
        hasher: PasswordHasher = store_auth.DEFAULT_HASHER,
    ) -> None:
        if not switch_token:
            raise ValueError("a switch token is required")
        self._sessions = session_factory(engine)
        self._switch_token = switch_token
        self._tool_tokens = dict(tool_tokens or {})
        self._hasher = hasher

    async def authenticate(self, hello: Hello) -> Principal:
        creds = hello.credentials
        if isinstance(creds, TokenCredentials):
            return self._token(hello, creds)
        assert isinstance(creds, PasswordCredentials)
        if hello.kind is ClientKind.SWITCH:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "switches log in with a token")
        found = await asyncio.to_thread(self._check_password, creds.user_id, creds.password)
        if found is None:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "bad credentials")
        role = str(found.role)
        if role == BACK_OFFICE_ROLE:
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                "back-office accounts work in the web panels, not on the CTI link",
                detail={"role": role},
            )
        if hello.kind is ClientKind.SUPERVISOR and role not in SUPERVISOR_ROLES:
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"role `{role}` may not connect as a supervisor",
                detail={"role": role},
            )
        return Principal(found.agent_id, role, hello.kind)

    def _check_password(self, user_id: str, password: str) -> store_auth.Principal | None:
        with self._sessions.begin() as session:  # commits a rehash, if any
            return store_auth.authenticate(session, user_id, password, hasher=self._hasher)

    def _token(self, hello: Hello, creds: TokenCredentials) -> Principal:
        if hello.kind is ClientKind.SWITCH:
            if not _equal(self._switch_token, creds.token):
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "bad credentials")
            name = hello.client_name or DEFAULT_SWITCH_NAME
            if not _NAME.match(name):
                raise ProtocolError(
                    ErrorCode.INVALID_FIELD,
                    "a switch's client_name is its id: 1-64 characters, no whitespace",
                    detail={"path": "$.client_name"},
                )
            return Principal(name, Role.SWITCH, hello.kind)
        if hello.kind is ClientKind.TOOL:
            found: str | None = None
            for token, name in self._tool_tokens.items():  # no early exit on a match
                if _equal(token, creds.token):
                    found = name
            if found is None:
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "bad credentials")
            return Principal(found, Role.TOOL, hello.kind)
        raise ProtocolError(
            ErrorCode.NOT_AUTHENTICATED,
            f"`{hello.kind}` clients log in with a user id and password",
        )
