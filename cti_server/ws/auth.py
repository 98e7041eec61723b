"""Who is connecting: the principal, the authenticator interface and a static one.

The real authenticator (argon2 hashes from the store) is wired by the composition
root; :class:`StaticAuthenticator` serves tests, tools, benchmarks and demos.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, Hello, PasswordCredentials, TokenCredentials


class Role(enum.StrEnum):
    """Well-known roles (``Principal.role`` is a plain string; these compare equal to it)."""

    AGENT = "agent"
    TEAM_LEAD = "team_lead"
    """A supervisor: may use ``supervisor.*`` requests and the supervisor client kind."""
    ADMIN = "admin"
    SWITCH = "switch"
    TOOL = "tool"


SUPERVISOR_ROLES: frozenset[str] = frozenset({Role.TEAM_LEAD, Role.ADMIN})
"""Roles allowed to connect with ``kind: supervisor``."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated client: user or switch id, its role and the client kind it used."""

    principal_id: str
    role: str
    kind: ClientKind


class Authenticator(Protocol):
    """Checks a ``hello``'s credentials.

    Returns the principal, or raises :class:`ProtocolError` with ``not_authenticated``
    (bad credentials) or ``forbidden`` (valid credentials, but not for this client kind).
    """

    async def authenticate(self, hello: Hello) -> Principal: ...


def _bad_credentials() -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_AUTHENTICATED, "bad credentials")


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class StaticAuthenticator:
    """Users and tokens from dictionaries (tests, tools, demos).

    * ``users``: user id → (password, role). Users connect with password credentials
      as ``desktop`` or ``tool``; ``supervisor`` needs a role in ``supervisor_roles``.
    * ``switch_tokens``: token → switch name; only for ``kind: switch``.
    * ``tool_tokens``: token → tool name; only for ``kind: tool``.
    """

    def __init__(
        self,
        users: Mapping[str, tuple[str, str]] | None = None,
        *,
        switch_tokens: Mapping[str, str] | None = None,
        tool_tokens: Mapping[str, str] | None = None,
        supervisor_roles: Iterable[str] = SUPERVISOR_ROLES,
    ) -> None:
        self._users = dict(users or {})
        self._switch_tokens = dict(switch_tokens or {})
        self._tool_tokens = dict(tool_tokens or {})
        self._supervisor_roles = frozenset(supervisor_roles)

    async def authenticate(self, hello: Hello) -> Principal:
        creds = hello.credentials
        if isinstance(creds, TokenCredentials):
            table: dict[ClientKind, tuple[dict[str, str], str]] = {
                ClientKind.SWITCH: (self._switch_tokens, Role.SWITCH),
                ClientKind.TOOL: (self._tool_tokens, Role.TOOL),
            }
            if hello.kind not in table:
                raise ProtocolError(
                    ErrorCode.NOT_AUTHENTICATED,
                    f"`{hello.kind}` clients log in with a user id and password",
                )
            tokens, token_role = table[hello.kind]
            name = self._match_token(tokens, creds.token)
            if name is None:
                raise _bad_credentials()
            return Principal(name, token_role, hello.kind)
        assert isinstance(creds, PasswordCredentials)
        if hello.kind is ClientKind.SWITCH:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "switches log in with a token")
        entry = self._users.get(creds.user_id)
        if entry is None or not _equal(entry[0], creds.password):
            raise _bad_credentials()
        role = entry[1]
        if hello.kind is ClientKind.SUPERVISOR and role not in self._supervisor_roles:
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"role `{role}` may not connect as a supervisor",
                detail={"role": role},
            )
        return Principal(creds.user_id, role, hello.kind)

    @staticmethod
    def _match_token(tokens: Mapping[str, str], token: str) -> str | None:
        found: str | None = None
        for known, name in tokens.items():  # compare all: no early exit on a match
            if _equal(known, token):
                found = name
        return found
