"""One-time tokens that open a web-panel session without a password (``/ui/sso``).

The CTI side issues a token for an agent whose desktop is logged in
(:func:`issue_web_token`); the desktop opens ``/ui/sso?token=...`` in its web window
and the web side exchanges the token for a session cookie (:func:`redeem_web_token`).
Only a SHA-256 of the token is stored; a token works once and only until it expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from .db import session_factory
from .errors import InvalidData, NotFound
from .models import Agent, WebToken, utcnow

DEFAULT_TTL = 60.0
"""Seconds a token can be redeemed after it was issued."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _factory(sessions: sa.Engine | sessionmaker[Session]) -> sessionmaker[Session]:
    return session_factory(sessions) if isinstance(sessions, sa.Engine) else sessions


def issue_web_token(
    sessions: sa.Engine | sessionmaker[Session], agent_id: str, *, ttl: float = DEFAULT_TTL
) -> str:
    """A fresh one-time token for an active agent (``NotFound`` otherwise)."""
    if ttl <= 0:
        raise InvalidData("web_token", "ttl", "must be positive")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with _factory(sessions).begin() as session:
        agent = session.get(Agent, agent_id)
        if agent is None or not agent.active:
            raise NotFound("agent", agent_id)
        # expired tokens of this agent are of no use to anyone
        session.execute(
            sa.delete(WebToken).where(WebToken.agent_id == agent_id, WebToken.expires_at < now)
        )
        session.add(
            WebToken(
                token_hash=_hash(token),
                agent_id=agent_id,
                expires_at=now + dt.timedelta(seconds=ttl),
                used_at=None,
            )
        )
    return token


def redeem_web_token(sessions: sa.Engine | sessionmaker[Session], token: str) -> str | None:
    """The agent id of a valid, unused token, marking it used; ``None`` otherwise."""
    if not token or len(token) > 200:
        return None
    digest = _hash(token)
    now = utcnow()
    with _factory(sessions).begin() as session:
        claimed = session.execute(
            sa.update(WebToken)
            .where(
                WebToken.token_hash == digest,
                WebToken.used_at.is_(None),
                WebToken.expires_at > now,
            )
            .values(used_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return session.scalar(sa.select(WebToken.agent_id).where(WebToken.token_hash == digest))
