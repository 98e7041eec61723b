"""HTTP authentication and role checks (R-SEC-1).

Clients send the agent id and password of an agent account, either as HTTP Basic
(``Authorization: Basic base64(id:password)``) or as a bearer token
(``Authorization: Bearer id:password``). Passwords are argon2 hashes in the store;
the verification runs in a worker thread. Successful verifications are kept in a
small TTL cache keyed by an HMAC of id and password (the password itself is never
kept), so a busy admin UI does not cost an argon2 hash per request. Failures are
never cached. Concurrent requests with the same credentials share one verification.

Access levels (:class:`Access`):

* ``read``: team leads and administrators may read configuration;
* ``write``: only administrators change configuration;
* ``import``: team leads and administrators run tier imports;
* ``audit``: only administrators read the audit log;
* ``public``: no credentials (health, metrics, the API description).

Agents have no access to the admin API (403).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import StrEnum

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import Principal, Role, authenticate, session_factory
from cti_server.store.auth import DEFAULT_HASHER

from .errors import ApiError, unauthorized

Verifier = Callable[[str, str], Principal | None]
"""Checks ``(agent_id, password)``; blocking (runs in a thread); ``None`` = bad credentials."""


class Access(StrEnum):
    PUBLIC = "public"
    READ = "read"
    WRITE = "write"
    IMPORT = "import"
    AUDIT = "audit"
    SUPERVISE = "supervise"
    """Team leads' work on calls (e.g. voicemails): team leads and administrators."""


ALLOWED_ROLES: dict[Access, frozenset[str]] = {
    Access.PUBLIC: frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN}),
    Access.READ: frozenset({Role.TEAM_LEAD, Role.ADMIN}),
    Access.WRITE: frozenset({Role.ADMIN}),
    Access.IMPORT: frozenset({Role.TEAM_LEAD, Role.ADMIN}),
    Access.AUDIT: frozenset({Role.ADMIN}),
    Access.SUPERVISE: frozenset({Role.TEAM_LEAD, Role.ADMIN}),
}


def store_verifier(
    sessions: sa.Engine | sessionmaker[Session], *, hasher: PasswordHasher = DEFAULT_HASHER
) -> Verifier:
    """A :data:`Verifier` over the store's agents (commits a rehash when one is due)."""
    factory = session_factory(sessions) if isinstance(sessions, sa.Engine) else sessions

    def verify(agent_id: str, password: str) -> Principal | None:
        with factory.begin() as session:
            return authenticate(session, agent_id, password, hasher=hasher)

    return verify


def parse_credentials(header: str | None) -> tuple[str, str]:
    """``(agent_id, password)`` from an ``Authorization`` header, or a 401 :class:`ApiError`."""
    if not header:
        raise unauthorized()
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized("malformed Basic credentials") from None
    elif scheme == "bearer":
        decoded = value
    else:
        raise unauthorized(f"unsupported authorization scheme {scheme!r}: use Basic or Bearer")
    agent_id, sep, password = decoded.partition(":")
    if not sep or not agent_id or not password:
        raise unauthorized("credentials must be agent_id:password")
    return agent_id, password


class CredentialCache:
    """Verifies credentials through ``verifier`` and remembers successes for ``ttl`` seconds."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        ttl: float = 60.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verifier = verifier
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future[Principal | None]] = {}
        self.verifications = 0
        """Calls of the verifier (for tests and metrics)."""

    def _digest(self, agent_id: str, password: str) -> bytes:
        message = agent_id.encode("utf-8") + b"\x00" + password.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    async def authenticate(self, agent_id: str, password: str) -> Principal | None:
        key = self._digest(agent_id, password)
        entry = self._cache.get(key)
        if entry is not None:
            if entry[0] > self._clock():
                self._cache.move_to_end(key)
                return entry[1]
            del self._cache[key]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self.verifications += 1
            principal = await asyncio.to_thread(self._verifier, agent_id, password)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(principal)
        if principal is not None and self._ttl > 0:
            self._cache[key] = (self._clock() + self._ttl, principal)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return principal

    def forget(self, agent_id: str) -> None:
        """Drop every cached success of ``agent_id`` (password, role or status changed)."""
        for key in [k for k, (_exp, p) in self._cache.items() if p.agent_id == agent_id]:
            del self._cache[key]

    def clear(self) -> None:
        self._cache.clear()


async def require(cache: CredentialCache, header: str | None, access: Access) -> Principal:
    """The authenticated principal allowed ``access``; 401 or 403 :class:`ApiError` otherwise."""
    agent_id, password = parse_credentials(header)
    principal = await cache.authenticate(agent_id, password)
    if principal is None:
        raise unauthorized("bad credentials")
    if str(principal.role) not in ALLOWED_ROLES[access]:
        raise ApiError(
            403,
            "forbidden",
            f"role {principal.role!s} may not {access.value} here",
            {"role": str(principal.role), "access": access.value},
        )
    return principal
