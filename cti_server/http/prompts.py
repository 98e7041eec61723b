"""REST endpoints of the IVR prompts administrators upload (R-IVR-5; docs/rest_api.md).

* ``GET /api/v1/prompts``: every prompt a switch plays (uploaded over shipped), with
  ``source``, ``sha256``, ``seconds`` (team lead, admin);
* ``GET /api/v1/prompts/{language}/{prompt_id}``: the WAV a switch plays (preview);
* ``PUT /api/v1/prompts/{language}/{prompt_id}``: upload a WAV (admin; body = the file,
  ``Content-Type: audio/wav``); validation and storage in
  :mod:`cti_server.store.prompts`;
* ``DELETE /api/v1/prompts/{language}/{prompt_id}``: remove the upload (admin); the
  shipped prompt, if any, plays again.

Switches fetch uploads over the switch link (``switch.prompt_index`` /
``switch.prompt_get``) and cache them (docs/switch_link.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from starlette.responses import Response

from cti_server.store.prompts import (
    MAX_BYTES,
    PromptNotFound,
    PromptRejected,
    PromptStore,
    check_name,
)

from .auth import Access
from .errors import ApiError
from .routing import Call, Endpoint, RawBody, Reply, read_body

if TYPE_CHECKING:
    from cti_server.store.prompts import PromptInfo

API = "/api/v1"
WAV_MEDIA = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
ITEM = f"{API}/prompts/{{language}}/{{prompt_id}}"


class Prompt(msgspec.Struct, kw_only=True):
    """One prompt a switch plays for ``prompt_id`` in ``language``."""

    language: str
    prompt_id: str
    source: str
    """``uploaded`` (by an administrator) or ``shipped`` (with the software)."""
    sha256: str
    size: int
    """Bytes of the WAV file."""
    seconds: float
    format: str = ""
    """``pcm16``, ``ulaw`` or ``alaw``."""
    uploaded_by: str | None = None
    uploaded_at: str | None = None
    overrides_shipped: bool = False
    """An upload that replaces a shipped prompt (deleting it brings the shipped one back)."""


def _out(info: PromptInfo) -> Prompt:
    return msgspec.convert(info, Prompt, from_attributes=True)


def _store(call: Call) -> PromptStore:
    store = call.ctx.prompts
    if store is None:
        raise ApiError(503, "prompts_unavailable", "this server has no prompt storage configured")
    return store


def _rejected(exc: PromptRejected) -> ApiError:
    status = 413 if exc.problem == "too_large" else 422
    where = "body" if exc.field == "body" else "path"
    return ApiError(
        status,
        "invalid_prompt",
        exc.message,
        {"in": where, "field": exc.field, "problem": exc.problem},
    )


def _not_found(exc: PromptNotFound) -> ApiError:
    return ApiError(
        404,
        "not_found",
        str(exc),
        {"entity": "prompt", "id": f"{exc.language}/{exc.prompt_id}"},
    )


async def list_prompts(call: Call) -> Any:
    return [_out(info) for info in await call.run(_store(call).listing)]


async def get_prompt_audio(call: Call) -> Any:
    store = _store(call)
    try:
        info, data = await call.run(store.audio, call.path("language"), call.path("prompt_id"))
    except PromptRejected as exc:
        raise _rejected(exc) from None
    except PromptNotFound as exc:
        raise _not_found(exc) from None
    return Response(
        data,
        media_type="audio/wav",
        headers={
            "ETag": f'"{info.sha256}"',
            "X-Prompt-Source": info.source,
            "Cache-Control": "no-cache",
        },
    )


async def put_prompt(call: Call) -> Any:
    store = _store(call)
    language, prompt_id = call.path("language"), call.path("prompt_id")
    media = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in WAV_MEDIA:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the WAV file's bytes with Content-Type audio/wav (got {media or 'none'!r})",
            {"in": "header", "field": "content-type"},
        )
    try:
        check_name(language, prompt_id)  # before reading up to 5 MB
        data = await read_body(call.request, MAX_BYTES)
        info = await call.run(store.save, call.actor, language, prompt_id, data)
    except PromptRejected as exc:
        raise _rejected(exc) from None
    except ApiError as exc:
        if exc.code == "body_too_large":
            raise ApiError(
                413,
                "invalid_prompt",
                f"the WAV file exceeds {MAX_BYTES} bytes",
                {"in": "body", "field": "body", "problem": "too_large", "max_bytes": MAX_BYTES},
            ) from None
        raise
    return Reply(_out(info), headers={"Location": f"{API}/prompts/{language}/{prompt_id}"})


async def delete_prompt(call: Call) -> Any:
    store = _store(call)
    try:
        await call.run(store.delete, call.actor, call.path("language"), call.path("prompt_id"))
    except PromptRejected as exc:
        raise _rejected(exc) from None
    except PromptNotFound as exc:
        raise _not_found(exc) from None


def prompt_endpoints() -> list[Endpoint]:
    tag = "ivr prompts"
    return [
        Endpoint(
            "GET",
            f"{API}/prompts",
            list_prompts,
            "list_prompts",
            "Every IVR prompt a switch plays: uploaded ones over the shipped ones.",
            tag,
            Access.READ,
            response=list[Prompt],
        ),
        Endpoint(
            "GET",
            ITEM,
            get_prompt_audio,
            "get_prompt_audio",
            "The WAV file a switch plays for this prompt (an upload overrides the shipped one).",
            tag,
            Access.READ,
            response=bytes,
            media_type="audio/wav",
            errors=(422,),
        ),
        Endpoint(
            "PUT",
            ITEM,
            put_prompt,
            "put_prompt",
            "Upload a prompt: a WAV file (mono, 8000 Hz, 16-bit PCM or G.711 µ-law/A-law, "
            "0.1-300 s, at most 5 MB) as the request body; switches fetch it within a minute.",
            tag,
            Access.WRITE,
            body=RawBody(WAV_MEDIA, "The WAV file's bytes."),
            response=Prompt,
            errors=(413, 415),
        ),
        Endpoint(
            "DELETE",
            ITEM,
            delete_prompt,
            "delete_prompt",
            "Remove an uploaded prompt; the shipped prompt of that id, if any, plays again.",
            tag,
            Access.WRITE,
            errors=(422,),
        ),
    ]
