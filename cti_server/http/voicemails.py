"""Voicemails on the REST API (R-IVR-4, docs/rest_api.md "Voicemails").

The CTI server stores a voicemail when the switch reports ``recording_stopped``
(``voicemail:<file>``); team leads and administrators list them (filters combine,
newest first) and mark them ``heard`` and then ``handled`` (who and when is kept).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from msgspec import Struct

from cti_server.store.calls import VoicemailStore

from . import schemas as s
from .auth import Access
from .routing import Call, Endpoint

API = "/api/v1"

VoicemailStateName = Literal["new", "heard", "handled"]


class VoicemailQuery(s._In):
    state: VoicemailStateName | None = None
    mailbox: str | None = None
    caller_number: str | None = None
    call_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: s.Limit = 50
    offset: s.Offset = 0


class VoicemailOut(Struct, kw_only=True):
    id: str
    call_id: str
    switch_id: str
    caller_number: str
    mailbox: str
    file_name: str
    """The recording's file name in the switch's voicemail folder."""
    seconds: float | None
    """Length (from the switch's recording reports), ``null`` when unknown."""
    state: VoicemailStateName
    handled_by: str | None
    handled_at: dt.datetime | None
    created_at: dt.datetime


def _store(call: Call) -> VoicemailStore:
    return VoicemailStore(call.ctx.service.store.sessions)


def _out(view: Any) -> dict[str, Any]:
    return {
        "id": view.voicemail_id,
        "call_id": view.call_id,
        "switch_id": view.switch_id,
        "caller_number": view.caller_number,
        "mailbox": view.mailbox,
        "file_name": view.file_name,
        "seconds": view.seconds,
        "state": view.state,
        "handled_by": view.handled_by,
        "handled_at": view.handled_at,
        "created_at": view.created_at,
    }


async def list_voicemails(call: Call) -> Any:
    q: VoicemailQuery = call.query
    items, total = await call.run(
        _store(call).page,
        state=q.state,
        mailbox=q.mailbox,
        caller_number=q.caller_number,
        call_id=q.call_id,
        since=q.since,
        until=q.until,
        limit=q.limit,
        offset=q.offset,
    )
    return {"items": [_out(v) for v in items], "total": total, "limit": q.limit, "offset": q.offset}


async def get_voicemail(call: Call) -> Any:
    return _out(await call.run(_store(call).get, call.path("voicemail_id")))


async def mark_voicemail_heard(call: Call) -> Any:
    view = await call.run(_store(call).mark, call.path("voicemail_id"), "heard", actor=call.actor)
    return _out(view)


async def mark_voicemail_handled(call: Call) -> Any:
    view = await call.run(_store(call).mark, call.path("voicemail_id"), "handled", actor=call.actor)
    return _out(view)


def voicemail_endpoints() -> list[Endpoint]:
    tag = "voicemails"
    item = f"{API}/voicemails/{{voicemail_id}}"
    return [
        Endpoint(
            "GET",
            f"{API}/voicemails",
            list_voicemails,
            "list_voicemails",
            "Voicemails callers left, newest first; filters combine (until is exclusive).",
            tag,
            Access.SUPERVISE,
            query=VoicemailQuery,
            response=s.Page[VoicemailOut],
        ),
        Endpoint(
            "GET",
            item,
            get_voicemail,
            "get_voicemail",
            "One voicemail.",
            tag,
            Access.SUPERVISE,
            response=VoicemailOut,
        ),
        Endpoint(
            "POST",
            f"{item}/heard",
            mark_voicemail_heard,
            "mark_voicemail_heard",
            "Mark a new voicemail heard (again: no change; a handled one: 409).",
            tag,
            Access.SUPERVISE,
            response=VoicemailOut,
            errors=(409,),
        ),
        Endpoint(
            "POST",
            f"{item}/handled",
            mark_voicemail_handled,
            "mark_voicemail_handled",
            "Mark a voicemail handled by the caller of this request (again: no change).",
            tag,
            Access.SUPERVISE,
            response=VoicemailOut,
        ),
    ]
