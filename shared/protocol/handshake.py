"""Session set-up and upkeep: hello/welcome, heartbeats, logout and snapshots.

The first frame of every connection is ``hello`` (a request, ``id`` usually 1). It
lists the protocol versions the client speaks, says what kind of client it is,
carries the credentials and, on a reconnect, the session to resume. The server
answers ``welcome`` (chosen version, session id, heartbeat interval, whether the
session was resumed) or ``error`` (``unsupported_version``, ``not_authenticated``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar

import msgspec

from shared.protocol.agent import AgentSnapshot
from shared.protocol.base import (
    PROTOCOL_VERSION,
    VERSION_1_3,
    AgentId,
    Label,
    Name,
    ProtocolVersion,
    Request,
    RequestId,
    Response,
    ResultBody,
    Secret,
    Seq,
    Timestamp,
)
from shared.protocol.call import CallSnapshot
from shared.protocol.errors import ErrorCode, ProtocolError

SUPPORTED_VERSIONS: tuple[ProtocolVersion, ...] = (PROTOCOL_VERSION,)
"""The highest minor of every major this code speaks."""


class ClientKind(enum.StrEnum):
    DESKTOP = "desktop"
    SWITCH = "switch"
    SUPERVISOR = "supervisor"
    TOOL = "tool"
    """Scripts, load generators and admin tools."""


_MASK = "***"


class PasswordCredentials(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="password"
):
    """A user (agent or supervisor) id and password. ``repr`` masks the password."""

    user_id: AgentId
    password: Secret

    def __repr__(self) -> str:
        return f"PasswordCredentials(user_id={self.user_id!r}, password={_MASK!r})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("user_id", self.user_id), ("password", _MASK)]


class TokenCredentials(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="token"):
    """A shared token (switches, tools). ``repr`` masks it."""

    token: Secret

    def __repr__(self) -> str:
        return f"TokenCredentials(token={_MASK!r})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [("token", _MASK)]


Credentials = PasswordCredentials | TokenCredentials


class Resume(msgspec.Struct, frozen=True, kw_only=True):
    """Resume ``session_id``: replay the events after ``last_seq`` (0 = none seen yet)."""

    session_id: Name
    last_seq: Seq


class Welcome(Response, frozen=True, kw_only=True, tag="welcome"):
    """The answer to ``hello``."""

    fields_introduced_in: ClassVar[Mapping[str, ProtocolVersion]] = {"role": VERSION_1_3}

    id: RequestId
    session_id: Name
    version: ProtocolVersion
    principal: Name
    """The authenticated user id, or the switch / tool name."""
    heartbeat_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)]
    """Send ``ping`` at least this often; the server drops a session silent for 3x longer."""
    resumed: bool = False
    """True: the events after ``hello.resume.last_seq`` follow right after this frame.
    False: a fresh session; a client that had state must send ``snapshot``."""
    last_seq: Seq = 0
    """The session's latest event seq at the time of the welcome."""
    server_time: Timestamp
    role: Label | msgspec.UnsetType | None = msgspec.UNSET
    """(1.3) The principal's role as the server's accounts know it (``agent``,
    ``team_lead``, ``admin`` …); ``null`` for switches and tools. Absent on a session
    that negotiated 1.2 or lower (and from an older server): use :attr:`principal_role`."""

    @property
    def principal_role(self) -> str | None:
        """``role``, or ``None`` when the server did not send one (below 1.3)."""
        return self.role if isinstance(self.role, str) else None


class Hello(Request, frozen=True, kw_only=True, tag="hello"):
    response_type = "welcome"

    versions: Annotated[tuple[ProtocolVersion, ...], msgspec.Meta(min_length=1, max_length=16)]
    kind: ClientKind
    credentials: Credentials
    client_name: Label | None = None
    """Free-form client identification for logs (host name, switch name)."""
    client_version: Label | None = None
    resume: Resume | None = None


class Pong(Response, frozen=True, kw_only=True, tag="pong"):
    id: RequestId
    server_time: Timestamp


class Ping(Request, frozen=True, kw_only=True, tag="ping"):
    """Heartbeat; answered by ``pong``."""

    response_type = "pong"


class Logout(Request, frozen=True, kw_only=True, tag="logout"):
    """End the session (no resume possible); the server closes after the result."""


class Snapshot(ResultBody, frozen=True, kw_only=True, tag="snapshot"):
    """Full state as of event ``last_seq``: drop state, load this, continue after it."""

    last_seq: Seq
    agent: AgentSnapshot | None = None
    calls: Annotated[tuple[CallSnapshot, ...], msgspec.Meta(max_length=64)] = ()


class SnapshotRequest(Request, frozen=True, kw_only=True, tag="snapshot"):
    """Ask for the session's full state (after a gap, or when ``welcome.resumed`` is false)."""

    result_type = Snapshot


HandshakeRequest = Hello | Ping | Logout | SnapshotRequest


def negotiate_version(
    offered: Iterable[ProtocolVersion],
    supported: Iterable[ProtocolVersion] = SUPPORTED_VERSIONS,
) -> ProtocolVersion:
    """Pick the version both sides speak, or raise ``unsupported_version``.

    Each side lists the highest minor it speaks per major (a minor only adds optional
    things, so speaking 1.3 implies 1.0-1.2). The highest common major wins, at the
    lower of the two minors.
    """
    ours: dict[int, int] = {}
    for v in supported:
        ours[v.major] = max(ours.get(v.major, -1), v.minor)
    offered_list = list(offered)
    theirs: dict[int, int] = {}
    for v in offered_list:
        theirs[v.major] = max(theirs.get(v.major, -1), v.minor)
    common = sorted(set(ours) & set(theirs))
    if not common:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            "no common protocol version (offered "
            + ", ".join(str(v) for v in offered_list)
            + "; supported "
            + ", ".join(f"{major}.{minor}" for major, minor in sorted(ours.items()))
            + ")",
            detail={"supported": ",".join(f"{a}.{b}" for a, b in sorted(ours.items()))},
        )
    major = common[-1]
    return ProtocolVersion(major=major, minor=min(ours[major], theirs[major]))
