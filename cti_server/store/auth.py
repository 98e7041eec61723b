"""Agent authentication with argon2id hashes.

Hashes are rehashed on a successful login when the configured parameters
changed (stronger settings roll out as people log in). Unknown and inactive
agents cost the same argon2 verification as a wrong password, so response time
does not reveal which agent ids exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from .models import Agent, Role

DEFAULT_HASHER = PasswordHasher()
_DUMMY_HASHES: dict[int, str] = {}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is logged in and what they may do."""

    agent_id: str
    role: Role
    name: str = ""


def hash_password(password: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    if not isinstance(password, str) or not password:
        raise ValueError("password must be a non-empty string")
    return hasher.hash(password)


def verify_password(
    password_hash: str, password: str, *, hasher: PasswordHasher = DEFAULT_HASHER
) -> bool:
    """Whether ``password`` matches; a malformed hash counts as no match."""
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    try:
        return hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = id(hasher)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash("opencc-timing-equaliser")
    return _DUMMY_HASHES[key]


def authenticate(
    session: Session,
    agent_id: str,
    password: str,
    *,
    hasher: PasswordHasher = DEFAULT_HASHER,
) -> Principal | None:
    """The principal for valid credentials of an active agent, else ``None``.

    If the stored hash uses outdated parameters it is replaced in ``session``
    (flushed); the caller commits, e.g. ``with sessions.begin() as s:
    authenticate(s, ...)``.
    """
    agent = session.get(Agent, agent_id) if agent_id else None
    if agent is None:
        verify_password(_dummy_hash(hasher), password, hasher=hasher)
        return None
    ok = verify_password(agent.password_hash, password, hasher=hasher)
    if not ok or not agent.active:
        return None
    if needs_rehash(agent.password_hash, hasher=hasher):
        agent.password_hash = hasher.hash(password)
        session.flush()
    return Principal(agent_id=agent.id, role=Role(agent.role), name=agent.name)
