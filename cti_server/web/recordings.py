"""Recording search and playback (R-SUP-3) for team leads and administrators.

``GET /recordings`` finds calls (agent, customer or caller number, tier, queue, UTC date
range, disposition, has a recording), 20 a page, newest first; ``GET
/recordings/calls/{call_id}`` shows a call with an ``<audio>`` player per recording and
its QA evaluations; ``GET /recordings/{recording_id}/audio`` streams the WAV with
``Range`` support (206 partial content, 416 outside the file). Every audio request is
audited; see :mod:`.recordings_data` for the storage and the access rule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.responses import Response

from cti_server.store.models import Role

from . import qa_data
from . import recordings_data as rd
from .data import Invalid
from .i18n import MESSAGES

if TYPE_CHECKING:
    from starlette.routing import Route

    from .pages import WebRequest

Handler = Callable[["WebRequest"], Awaitable[Response]]
RouteFactory = Callable[[str, frozenset[Role] | None, Handler], "Route"]

LEADS = rd.LEADS
FILTER_FIELDS = ("agent", "customer", "tier", "queue", "from", "to", "disposition", "recorded")

MESSAGES.update(
    {
        "rec_nav": ("Recordings", "录音"),
        "rec_title": ("Recording search", "录音查询"),
        "rec_agent": ("Agent", "座席"),
        "rec_customer": ("Customer no. or caller number", "客户编号或主叫号码"),
        "rec_tier": ("Tier", "客户层次"),
        "rec_queue": ("Queue", "队列"),
        "rec_from": ("From (UTC date)", "起始日期（UTC）"),
        "rec_to": ("To (UTC date, inclusive)", "截止日期（UTC，含）"),
        "rec_disposition": ("Disposition", "处理结果"),
        "rec_recorded": ("Recording", "录音"),
        "rec_recorded_yes": ("With recording", "有录音"),
        "rec_recorded_no": ("Without recording", "无录音"),
        "rec_any": ("Any", "全部"),
        "rec_search": ("Search", "查询"),
        "rec_reset": ("Reset", "重置"),
        "rec_arrived": ("Arrived", "来电时间"),
        "rec_caller": ("Caller", "主叫"),
        "rec_talk": ("Talk (s)", "通话（秒）"),
        "rec_recordings": ("Recordings", "录音"),
        "rec_evaluations": ("QA", "质检"),
        "rec_open": ("Listen / score", "收听 / 评分"),
        "rec_none": ("No calls match.", "没有符合条件的呼叫。"),
        "rec_call_title": ("Call {call_id}", "呼叫 {call_id}"),
        "rec_no_recording": ("This call has no recording.", "该呼叫没有录音。"),
        "rec_seconds": ("{n} s", "{n} 秒"),
        "rec_download": ("Download", "下载"),
        "rec_play_audited": (
            "Every playback is recorded in the audit log.",
            "每次播放都会记入审计日志。",
        ),
        "rec_trajectory": ("Call trajectory", "呼叫轨迹"),
        "rec_error_date_order": (
            "The start date is after the end date.",
            "起始日期晚于截止日期。",
        ),
    }
)


def _filter(r: WebRequest) -> tuple[dict[str, str], rd.CallFilter]:
    from .pages import _date

    values = {k: r.arg(k) for k in FILTER_FIELDS}
    flt = rd.CallFilter(
        agent=values["agent"],
        customer=values["customer"],
        tier=values["tier"],
        queue=values["queue"],
        date_from=_date(values["from"]),
        date_to=_date(values["to"]),
        disposition=values["disposition"],
        recorded=values["recorded"],
    )
    return values, flt


async def search_page(r: WebRequest) -> Response:
    from .pages import _int, _user

    choices = await r.db(rd.search_choices)
    values = {k: r.arg(k) for k in FILTER_FIELDS}
    try:
        values, flt = _filter(r)
    except Invalid as bad:
        return r.render(
            "rec_search.html",
            status=400,
            values=values,
            choices=choices,
            result=None,
            error=r._(bad.key),
        )
    result = await r.db(rd.search_calls, _user(r), flt, page=_int(r.arg("page")))
    return r.render("rec_search.html", values=values, choices=choices, result=result, error="")


async def call_page(r: WebRequest) -> Response:
    from .pages import _user

    call_id = r.request.path_params["call_id"]
    header = await r.db(rd.call_header, _user(r), call_id)
    evaluations = await r.db(qa_data.evaluations_of_call, _user(r), call_id)
    scorecards = await r.db(qa_data.list_scorecards, active_only=True)
    return r.render("rec_call.html", call=header, evaluations=evaluations, scorecards=scorecards)


async def audio(r: WebRequest) -> Response:
    from .pages import _user

    recording_id = r.request.path_params["recording_id"]
    try:
        part = await r.db(rd.read_audio, _user(r), recording_id, r.request.headers.get("range"))
    except rd.RangeNotSatisfiable as bad:
        return Response(
            status_code=416,
            headers={"Content-Range": f"bytes */{bad.size}", "Accept-Ranges": "bytes"},
        )
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{part.recording_id}.wav"',
    }
    if part.partial:
        headers["Content-Range"] = f"bytes {part.start}-{part.end}/{part.size}"
    return Response(
        part.data, status_code=206 if part.partial else 200, media_type="audio/wav", headers=headers
    )


def routes(get: RouteFactory, _post: RouteFactory) -> list[Route]:
    return [
        get("/recordings", LEADS, search_page),
        get("/recordings/calls/{call_id}", LEADS, call_page),
        get("/recordings/{recording_id}/audio", LEADS, audio),
    ]
