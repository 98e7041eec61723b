"""The route table's building blocks: :class:`Endpoint`, the per-request :class:`Call`
and the adapter that turns an endpoint into a Starlette route.

An endpoint declares its method, path, access level, body/query/response types and
status; from that one declaration the adapter authenticates, decodes and validates
input, runs the handler, encodes the answer, and :mod:`.openapi` documents it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cti_server.store import Principal

from .auth import Access, require
from .errors import ApiError, error_response, validation_error

if TYPE_CHECKING:
    from .app import HttpContext

Handler = Callable[["Call"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer when it needs a status or headers other than the endpoint's."""

    value: Any
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RawBody:
    """An endpoint whose body is streamed as-is (a file), not decoded as JSON."""

    media_types: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    """Starlette path: ``{name}`` (string) or ``{name:int}``."""
    handler: Handler
    name: str
    """operationId."""
    summary: str
    tag: str
    access: Access
    body: type[msgspec.Struct] | RawBody | None = None
    query: type[msgspec.Struct] | None = None
    response: Any = None
    """Type of the success body (msgspec-convertible); ``None`` = no content."""
    status: int = 200
    media_type: str = "application/json"
    errors: tuple[int, ...] = ()
    """Error statuses beyond those implied (401/403, 422, 404 for path ids, 409 for writes)."""
    description: str = ""


@dataclass(slots=True)
class Call:
    """What a handler sees: the request, who made it, decoded input and the services."""

    request: Request
    ctx: HttpContext
    principal: Principal | None
    body: Any = None
    query: Any = None

    @property
    def actor(self) -> str:
        assert self.principal is not None, "public endpoints have no actor"
        return self.principal.agent_id

    def path(self, name: str) -> Any:
        return self.request.path_params[name]

    async def run[R](self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run blocking store work in a worker thread."""
        return await asyncio.to_thread(partial(fn, *args, **kwargs))


def _encode(endpoint: Endpoint, value: Any, status: int, headers: dict[str, str]) -> Response:
    if isinstance(value, Response):
        return value
    if endpoint.response is None or value is None:
        return Response(status_code=204 if status == 200 else status, headers=headers)
    typed = msgspec.convert(value, endpoint.response, from_attributes=True)
    return Response(
        msgspec.json.encode(typed),
        status_code=status,
        media_type=endpoint.media_type,
        headers=headers,
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole (JSON) body, refusing more than ``limit`` bytes with 413."""
    too_large = ApiError(
        413, "body_too_large", f"the request body exceeds {limit} bytes", {"max_bytes": limit}
    )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        parts.append(chunk)
    return b"".join(parts)


def make_route(endpoint: Endpoint, ctx: HttpContext) -> Route:
    async def handle(request: Request) -> Response:
        try:
            principal = None
            if endpoint.access is not Access.PUBLIC:
                principal = await require(
                    ctx.credentials, request.headers.get("authorization"), endpoint.access
                )
            call = Call(request=request, ctx=ctx, principal=principal)
            if endpoint.query is not None:
                try:
                    call.query = msgspec.convert(
                        dict(request.query_params), endpoint.query, strict=False
                    )
                except msgspec.ValidationError as exc:
                    raise validation_error(exc, "query") from None
            if isinstance(endpoint.body, type):
                raw = await read_body(request, ctx.max_body_bytes)
                try:
                    call.body = msgspec.json.decode(raw, type=endpoint.body)
                except msgspec.ValidationError as exc:
                    raise validation_error(exc, "body") from None
                except msgspec.DecodeError as exc:
                    raise ApiError(
                        400, "malformed_json", f"request body is not valid JSON: {exc}"
                    ) from None
            value = await endpoint.handler(call)
            status, headers = endpoint.status, {}
            if isinstance(value, Reply):
                status = value.status or status
                headers = value.headers
                value = value.value
            return _encode(endpoint, value, status, headers)
        except Exception as exc:
            return error_response(exc)

    return Route(endpoint.path, handle, methods=[endpoint.method], name=endpoint.name)
