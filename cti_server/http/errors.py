"""The one place where exceptions become HTTP error answers.

Every error is ``{"error": {"code": ..., "message": ..., "detail": ...}}`` with a
fitting status. Unexpected exceptions are logged with their traceback and answered
``500 internal`` without any detail: a client never sees a traceback.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from cti_server.store import (
    Conflict,
    ImmutableVersion,
    InvalidData,
    InvalidNumber,
    NotFound,
    StoreError,
    TierImportError,
)

from .schemas import ErrorBody, ErrorInfo

log = logging.getLogger("cti_server.http")

_AT = re.compile(r"`\$\.?([^`]*)`")
_FIELD = re.compile(r"(?:missing required field|unknown field) `([^`]+)`")


class ApiError(Exception):
    """A deliberate error answer."""

    def __init__(
        self, status: int, code: str, message: str, detail: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


def unauthorized(message: str = "authentication required") -> ApiError:
    return ApiError(401, "not_authenticated", message)


def validation_error(exc: msgspec.ValidationError, where: str) -> ApiError:
    """A 422 naming the offending field (``where`` is ``body`` or ``query``)."""
    text = str(exc)
    path = ""
    found = _AT.findall(text)
    if found:
        path = found[-1]
    field = _FIELD.search(text)
    if field is not None:
        path = f"{path}.{field.group(1)}" if path else field.group(1)
    detail: dict[str, Any] = {"in": where, "field": path or None}
    return ApiError(422, "validation_error", f"invalid {where}: {text}", detail)


def _classify(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HTTPException):
        status = HTTPStatus(exc.status_code)
        code = status.phrase.lower().replace(" ", "_").replace("-", "_")
        message = exc.detail if isinstance(exc.detail, str) else status.phrase
        return ApiError(exc.status_code, code, message)
    if isinstance(exc, ClientDisconnect):
        return ApiError(400, "client_disconnected", "the client went away during the request")
    if isinstance(exc, msgspec.DecodeError):
        return ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}")
    if isinstance(exc, NotFound):
        detail = {"entity": exc.entity, "id": str(exc.entity_id)}
        return ApiError(404, "not_found", str(exc), detail)
    if isinstance(exc, InvalidData):
        detail = {"in": "body", "field": exc.field, "entity": exc.entity, "problem": exc.problem}
        return ApiError(422, "invalid_data", str(exc), detail)
    if isinstance(exc, InvalidNumber):
        return ApiError(422, "invalid_number", str(exc), {"number": str(exc.raw)})
    if isinstance(exc, ImmutableVersion):
        return ApiError(409, "immutable_version", str(exc))
    if isinstance(exc, Conflict):
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, TierImportError):
        return ApiError(422, "tier_import_error", str(exc))
    if isinstance(exc, OperationalError | PoolTimeout):
        log.warning("database unavailable: %s", str(exc).splitlines()[0])
        return ApiError(503, "database_unavailable", "the database is not reachable")
    if isinstance(exc, StoreError):
        log.error("store error", exc_info=exc)
        return ApiError(500, "internal", "internal server error")
    log.error("unhandled exception in HTTP handler", exc_info=exc)
    return ApiError(500, "internal", "internal server error")


def error_response(exc: BaseException, headers: dict[str, str] | None = None) -> Response:
    """The JSON answer for ``exc`` (any exception)."""
    error = _classify(exc)
    body = ErrorBody(error=ErrorInfo(code=error.code, message=error.message, detail=error.detail))
    all_headers = dict(headers or {})
    if error.status == 401:
        all_headers.setdefault("WWW-Authenticate", 'Basic realm="opencc", charset="UTF-8"')
    if isinstance(exc, HTTPException) and exc.headers:
        all_headers.update(exc.headers)
    return Response(
        msgspec.json.encode(body),
        status_code=error.status,
        media_type="application/json",
        headers=all_headers,
    )
