"""The handler table and the one place where exceptions become ``error`` responses.

Register a handler per request class::

    router = Router()

    @router.handles(CallAnswer, kinds={ClientKind.DESKTOP})
    async def answer(ctx: RequestContext, msg: CallAnswer) -> None:
        calls.answer(ctx.principal.principal_id, msg.call_id)  # may raise DomainError

A handler returns the result body (``None`` for a bare acknowledgement) or raises.
:meth:`Router.dispatch` turns the outcome into exactly one response:

* :class:`ProtocolError` → its own code;
* :class:`~cti_server.ws.errors.DomainError` → its code, message and detail;
* anything else → ``internal``; the traceback is logged, never sent.

``hello``, ``ping`` and ``logout`` are handled by the transport itself; ``snapshot``
is an ordinary request the domain layer registers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cti_server.ws.auth import Principal
from cti_server.ws.errors import DomainError
from shared.protocol.base import Event, Request, ResultBody
from shared.protocol.codec import error_for
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.handshake import ClientKind, Hello, Logout, Ping
from shared.protocol.responses import AnyResultBody, Error, Result

if TYPE_CHECKING:
    from cti_server.ws.connection import Connection
    from cti_server.ws.sessions import Session

log = logging.getLogger("cti_server.ws.handlers")

type Handler[R: Request] = Callable[[RequestContext, R], Awaitable[ResultBody | None]]

RESERVED: frozenset[type[Request]] = frozenset({Hello, Ping, Logout})
"""Requests the transport answers itself; they cannot be registered."""


class RequestContext:
    """What a handler gets besides the message: who asked, on which connection and session."""

    __slots__ = ("connection", "request", "session")

    def __init__(self, connection: Connection, session: Session, request: Request) -> None:
        self.connection = connection
        self.session = session
        self.request = request

    @property
    def principal(self) -> Principal:
        return self.session.principal

    def push[E: Event](self, event: E) -> E:
        """Push an event to this session (stamped, kept for replay, queued); returns it stamped."""
        return self.session.push(event)


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the handler table."""

    request_type: type[Request]
    handler: Handler[Any]
    kinds: frozenset[ClientKind] | None = None
    """Client kinds allowed to send this request (``None`` = any)."""
    roles: frozenset[str] | None = None
    """Principal roles allowed (``None`` = any)."""

    def check(self, principal: Principal) -> None:
        """Raise ``forbidden`` when ``principal`` may not send this request."""
        tag = self.request_type.type_tag()
        if self.kinds is not None and principal.kind not in self.kinds:
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"`{principal.kind}` clients may not send `{tag}`",
                detail={"type": tag, "kind": principal.kind.value},
            )
        if self.roles is not None and principal.role not in self.roles:
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"role `{principal.role}` may not send `{tag}`",
                detail={"type": tag, "role": principal.role},
            )


class Router:
    """The handler table: request class → handler, with optional kind / role limits."""

    def __init__(self) -> None:
        self._routes: dict[type[Request], Route] = {}

    def __contains__(self, request_type: object) -> bool:
        return request_type in self._routes

    def __len__(self) -> int:
        return len(self._routes)

    @property
    def routes(self) -> list[Route]:
        return list(self._routes.values())

    def route_for(self, request_type: type[Request]) -> Route | None:
        return self._routes.get(request_type)

    def add[R: Request](
        self,
        request_type: type[R],
        handler: Handler[R],
        *,
        kinds: Iterable[ClientKind] | None = None,
        roles: Iterable[str] | None = None,
    ) -> None:
        """Register ``handler`` for ``request_type`` (one handler per class)."""
        if not (isinstance(request_type, type) and issubclass(request_type, Request)):
            raise TypeError(f"{request_type!r} is not a request class")
        if request_type in RESERVED:
            raise ValueError(f"`{request_type.type_tag()}` is handled by the transport itself")
        if request_type in self._routes:
            raise ValueError(f"`{request_type.type_tag()}` already has a handler")
        self._routes[request_type] = Route(
            request_type,
            handler,
            kinds=frozenset(kinds) if kinds is not None else None,
            roles=frozenset(roles) if roles is not None else None,
        )

    def handles[R: Request](
        self,
        request_type: type[R],
        *,
        kinds: Iterable[ClientKind] | None = None,
        roles: Iterable[str] | None = None,
    ) -> Callable[[Handler[R]], Handler[R]]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler[R]) -> Handler[R]:
            self.add(request_type, handler, kinds=kinds, roles=roles)
            return handler

        return register

    def include(self, other: Router) -> None:
        """Add every route of ``other`` (one router per feature, merged at the root)."""
        for route in other.routes:
            if route.request_type in self._routes:
                raise ValueError(f"`{route.request_type.type_tag()}` already has a handler")
            self._routes[route.request_type] = route

    async def dispatch(self, ctx: RequestContext, request: Request) -> Result | Error:
        """Run the handler for ``request``; always returns exactly one response."""
        try:
            route = self._routes.get(type(request))
            if route is None:
                tag = request.type_tag()
                raise ProtocolError(
                    ErrorCode.UNEXPECTED_TYPE,
                    f"this server does not handle `{tag}`",
                    detail={"type": tag},
                )
            route.check(ctx.principal)
            body = await route.handler(ctx, request)
            return Result(id=request.id, body=_checked_body(request, body))
        except Exception as exc:
            return to_error(exc, request.id)


def to_error(problem: BaseException, request_id: int | None) -> Error:
    """The ``error`` response for any exception: the single mapping used by the transport."""
    if isinstance(problem, ProtocolError):
        return error_for(problem, request_id)
    if isinstance(problem, DomainError):
        return error_for(
            problem.code, request_id, message=problem.message or None, detail=problem.detail
        )
    log.error("unexpected error handling request %s", request_id, exc_info=problem)
    return error_for(ErrorCode.INTERNAL, request_id)


def _checked_body(request: Request, body: ResultBody | None) -> AnyResultBody | None:
    expected = type(request).result_type
    if expected is None:
        if body is not None:
            raise TypeError(
                f"handler for `{request.type_tag()}` returned a {type(body).__name__}; "
                "this request is answered by a bare result"
            )
        return None
    if not isinstance(body, expected):
        raise TypeError(
            f"handler for `{request.type_tag()}` must return a {expected.__name__}, "
            f"not {type(body).__name__}"
        )
    return body  # type: ignore[return-value]
