"""Helpers shared by the WebSocket transport tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from websockets.asyncio.client import ClientConnection

from cti_server.ws import (
    CtiServer,
    DomainError,
    RequestContext,
    Role,
    Router,
    Session,
    SessionHooks,
    StaticAuthenticator,
)
from shared.cti_client import CtiClient
from shared.protocol.base import PROTOCOL_VERSION, Request
from shared.protocol.call import (
    CallAnswer,
    CallConsult,
    CallEstablished,
    CallHold,
    CallRetrieve,
    CallSendDtmf,
    ConsultResult,
)
from shared.protocol.codec import Link, decode_server
from shared.protocol.errors import ErrorCode
from shared.protocol.handshake import (
    ClientKind,
    PasswordCredentials,
    Snapshot,
    SnapshotRequest,
)
from shared.protocol.messages import AnyEvent, AnyResponse
from shared.protocol.supervisor import (
    SubscriptionResult,
    SupervisorForceLogout,
    SupervisorSubscribe,
)
from shared.protocol.switch import SwitchRegistration

USERS = {
    "1001": ("pw1001", Role.AGENT),
    "1002": ("pw1002", Role.AGENT),
    "lead": ("pwlead", Role.TEAM_LEAD),
}
SWITCH_TOKEN = "switch-token-1"
TOOL_TOKEN = "tool-token-1"


def authenticator() -> StaticAuthenticator:
    return StaticAuthenticator(
        USERS, switch_tokens={SWITCH_TOKEN: "sw1"}, tool_tokens={TOOL_TOKEN: "bench"}
    )


def creds(user: str) -> PasswordCredentials:
    return PasswordCredentials(user_id=user, password=USERS[user][0])


def make_router(*, without: Iterable[type[Request]] = ()) -> Router:
    """A small domain: enough handlers to exercise every outcome of a request.

    ``without`` leaves some request types out (a test then registers its own).
    """
    full = _full_router()
    router = Router()
    skip = set(without)
    for route in full.routes:
        if route.request_type not in skip:
            router.add(route.request_type, route.handler, kinds=route.kinds, roles=route.roles)
    return router


def _full_router() -> Router:
    router = Router()

    @router.handles(CallAnswer)
    async def answer(ctx: RequestContext, msg: CallAnswer) -> None:
        ctx.push(CallEstablished(call_id=msg.call_id, agent_id=ctx.principal.principal_id))

    @router.handles(CallConsult)
    async def consult(ctx: RequestContext, msg: CallConsult) -> ConsultResult:
        return ConsultResult(consult_call_id=f"consult-{msg.call_id}")

    @router.handles(CallHold)
    async def hold(ctx: RequestContext, msg: CallHold) -> None:
        raise DomainError(ErrorCode.INVALID_STATE, "the call is not established", {"call": 1})

    @router.handles(CallRetrieve)
    async def retrieve(ctx: RequestContext, msg: CallRetrieve) -> None:
        raise RuntimeError("secret internals: db password is hunter2")

    @router.handles(CallSendDtmf)
    async def dtmf(ctx: RequestContext, msg: CallSendDtmf) -> ConsultResult:
        return ConsultResult(consult_call_id="wrong body for this request")

    @router.handles(SupervisorForceLogout, roles={Role.TEAM_LEAD, Role.ADMIN})
    async def force_logout(ctx: RequestContext, msg: SupervisorForceLogout) -> None:
        return None

    @router.handles(SupervisorSubscribe, kinds={ClientKind.SUPERVISOR})
    async def subscribe(ctx: RequestContext, msg: SupervisorSubscribe) -> SubscriptionResult:
        return SubscriptionResult(subscription_id="sub-1")

    @router.handles(SwitchRegistration, kinds={ClientKind.SWITCH})
    async def registration(ctx: RequestContext, msg: SwitchRegistration) -> None:
        return None

    @router.handles(SnapshotRequest)
    async def snapshot(ctx: RequestContext, msg: SnapshotRequest) -> Snapshot:
        return Snapshot(last_seq=ctx.session.last_seq)

    return router


class RecordingHooks(SessionHooks):
    """Records every hook call as (name, session ids) and wakes waiters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.changed = asyncio.Event()
        self.on_takeover_push: Callable[[Session, Session], object] | None = None
        self.on_disconnect: Callable[[Session], object] | None = None

    def _record(self, name: str, *sessions: Session) -> None:
        self.calls.append((name, tuple(s.session_id for s in sessions)))
        self.changed.set()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def wait_for(self, name: str, timeout: float = 3.0) -> tuple[str, ...]:
        async with asyncio.timeout(timeout):
            while True:
                for called, ids in self.calls:
                    if called == name:
                        return ids
                self.changed.clear()
                await self.changed.wait()

    def on_session_started(self, session: Session) -> None:
        self._record("started", session)

    def on_session_resumed(self, session: Session) -> None:
        self._record("resumed", session)

    def on_disconnected(self, session: Session) -> None:
        self._record("disconnected", session)
        if self.on_disconnect is not None:
            self.on_disconnect(session)

    def on_session_expired(self, session: Session) -> None:
        self._record("expired", session)

    def on_logout(self, session: Session) -> None:
        self._record("logout", session)

    def on_takeover(self, old_session: Session, new_session: Session) -> None:
        self._record("takeover", old_session, new_session)
        if self.on_takeover_push is not None:
            self.on_takeover_push(old_session, new_session)


TEST_DEFAULTS: dict[str, Any] = {
    "heartbeat_interval": 5.0,
    "disconnect_grace": 5.0,
    "close_timeout": 2.0,
    "hello_timeout": 5.0,
    "keepalive_ping_interval": None,
}

ServerFactory = Callable[..., Awaitable[CtiServer]]


def url(server: CtiServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


ClientFactory = Callable[..., Awaitable[CtiClient]]


class RawClient:
    """A bare websockets client that sends whatever a test wants."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    async def recv(self, timeout: float = 3.0, link: Link = Link.CTI) -> AnyResponse | AnyEvent:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        return decode_server(frame, link=link)

    async def hello(
        self,
        user: str = "1001",
        *,
        rid: int = 1,
        kind: str = "desktop",
        password: str | None = None,
        versions: list[dict[str, int]] | None = None,
        resume: dict[str, Any] | None = None,
    ) -> AnyResponse | AnyEvent:
        await self.send(
            {
                "type": "hello",
                "id": rid,
                "versions": versions
                or [{"major": PROTOCOL_VERSION.major, "minor": PROTOCOL_VERSION.minor}],
                "kind": kind,
                "credentials": {
                    "kind": "password",
                    "user_id": user,
                    "password": password if password is not None else USERS[user][0],
                },
                "resume": resume,
            }
        )
        return await self.recv()


RawFactory = Callable[..., Awaitable[RawClient]]


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll ``predicate`` until it holds (the server's state changes asynchronously)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)
