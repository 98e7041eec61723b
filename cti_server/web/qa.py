"""QA scorecard pages (R-SUP-3): scorecard set-up (administrators), scoring a call,
an evaluation's history and comments (team leads, administrators), and the agent QA
report with CSV export. The rules and the maths are in :mod:`.qa_data`."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.responses import Response

from cti_server.store.models import Role

from . import qa_data
from . import recordings_data as rd
from .data import Invalid, WebUser
from .i18n import MESSAGES

if TYPE_CHECKING:
    from starlette.routing import Route

    from .pages import WebRequest

Handler = Callable[["WebRequest"], Awaitable[Response]]
RouteFactory = Callable[[str, frozenset[Role] | None, Handler], "Route"]

LEADS = rd.LEADS
ADMINS = frozenset({Role.ADMIN})

MESSAGES.update(
    {
        "qa_nav": ("QA", "质检"),
        "qa_call": ("Call", "呼叫"),
        "qa_scorecards": ("QA scorecards", "质检评分表"),
        "qa_scorecard": ("Scorecard", "评分表"),
        "qa_name": ("Name", "名称"),
        "qa_description": ("Description", "说明"),
        "qa_active": ("Active", "启用"),
        "qa_inactive": ("inactive", "已停用"),
        "qa_save": ("Save", "保存"),
        "qa_new_scorecard": ("New scorecard", "新建评分表"),
        "qa_section": ("Section", "分组"),
        "qa_criterion": ("Criterion", "评分项"),
        "qa_weight": ("Weight", "权重"),
        "qa_max_points": ("Max points", "满分"),
        "qa_critical": ("Critical", "致命项"),
        "qa_position": ("Order", "顺序"),
        "qa_add_criterion": ("Add criterion", "添加评分项"),
        "qa_formula": (
            "Score = 100 × Σ weight × points / max ÷ Σ weight over the applicable criteria; "
            "a critical criterion given 0 points makes the score 0.",
            "得分 = 100 × Σ(权重 × 得分/满分) ÷ Σ 权重（只计适用项）；致命项得 0 分则总分为 0。",
        ),
        "qa_score_call": ("Score this call", "为该呼叫评分"),
        "qa_score_title": ("Score call {call_id}", "为呼叫 {call_id} 评分"),
        "qa_points": ("Points", "得分"),
        "qa_na": ("N/A", "不适用"),
        "qa_reason": ("Reason for the change", "修改原因"),
        "qa_comment": ("Comment", "评语"),
        "qa_add_comment": ("Add comment", "添加评语"),
        "qa_comments": ("Comments", "评语"),
        "qa_submit_score": ("Save score", "保存评分"),
        "qa_rescore": ("Score again", "重新评分"),
        "qa_evaluation": ("Evaluation {id}", "质检记录 {id}"),
        "qa_score": ("Score", "得分"),
        "qa_version": ("Version", "版本"),
        "qa_history": ("History", "历史"),
        "qa_scored_by": ("Scored by", "评分人"),
        "qa_scored_at": ("Scored at", "评分时间"),
        "qa_critical_failed": ("Critical fail", "致命项不合格"),
        "qa_sections": ("Sections", "分组得分"),
        "qa_no_evaluations": ("Not scored yet.", "尚未评分。"),
        "qa_no_scorecards": ("No active scorecard.", "没有启用的评分表。"),
        "qa_report": ("Agent QA report", "座席质检报表"),
        "qa_period": ("Period", "周期"),
        "qa_period_day": ("Day", "日"),
        "qa_period_week": ("Week", "周"),
        "qa_period_month": ("Month", "月"),
        "qa_count": ("Evaluations", "质检数"),
        "qa_average": ("Average score", "平均得分"),
        "qa_critical_fails": ("Critical fails", "致命项不合格数"),
        "qa_breakdown": ("Criteria breakdown (average % of max)", "评分项明细（平均得分率 %）"),
        "qa_average_pct": ("Average %", "平均得分率 %"),
        "qa_all": ("All", "全部"),
        "qa_show": ("Show", "查询"),
        "qa_csv_agents": ("CSV: agents", "CSV：座席"),
        "qa_csv_criteria": ("CSV: criteria", "CSV：评分项"),
        "qa_agent": ("Agent", "座席"),
        "qa_from": ("From (local date)", "起始日期"),
        "qa_to": ("To (local date, inclusive)", "截止日期（含）"),
        "qa_none": ("No evaluations in this period.", "该期间没有质检记录。"),
        "qa_error_nothing_scored": (
            "Score at least one criterion (not everything can be N/A).",
            "至少给一项评分（不能全部为不适用）。",
        ),
        "qa_error_name_taken": ("A scorecard with this name exists.", "已有同名评分表。"),
        "qa_error_number": (
            "A number is outside its allowed range.",
            "数值超出允许范围。",
        ),
        "qa_error_all_criteria": (
            "Score every criterion (or mark it N/A).",
            "请为每一项评分（或标为不适用）。",
        ),
        "qa_error_no_agent": ("This call was not handled by an agent.", "该呼叫没有座席处理。"),
        "qa_error_reason": ("Give a reason for changing the score.", "修改评分请填写原因。"),
        "qa_error_inactive": ("This scorecard is not active.", "该评分表已停用。"),
        "qa_error_concurrent": (
            "Someone else changed this evaluation meanwhile. Reload and try again.",
            "该质检记录已被他人修改，请刷新后重试。",
        ),
    }
)


def _user(r: WebRequest) -> WebUser:
    assert r.user is not None
    return r.user


# --- scorecards -----------------------------------------------------------------------------


async def scorecards(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    cards = await r.db(qa_data.list_scorecards)
    return r.render("qa_scorecards.html", status=status, cards=cards, error=error)


def _int_or_none(text: str) -> int | None:
    try:
        return int(text) if text.strip() else None
    except ValueError:
        raise LookupError(text) from None


async def scorecards_post(r: WebRequest) -> Response:
    action = r.field("action")
    try:
        if action == "scorecard":
            card_id = await r.db(
                qa_data.save_scorecard,
                _user(r),
                scorecard_id=_int_or_none(r.field("scorecard_id")),
                name=r.field("name"),
                description=r.field("description"),
                active=r.field("active") == "1",
            )
        elif action == "criterion":
            card_id = int(r.field("scorecard_id"))
            await r.db(
                qa_data.save_criterion,
                _user(r),
                scorecard_id=card_id,
                criterion_id=_int_or_none(r.field("criterion_id")),
                section=r.field("section"),
                label=r.field("label"),
                weight=r.field("weight"),
                max_points=r.field("max_points"),
                critical=r.field("critical") == "1",
                position=r.field("position"),
                active=r.field("active", "1") == "1",
            )
        else:
            return await scorecards(r, error=r._("error_choice"), status=400)
    except Invalid as bad:
        return await scorecards(r, error=r._(bad.key), status=400)
    except ValueError:
        return await scorecards(r, error=r._("error_choice"), status=400)
    return r.redirect(f"{r.base}/qa/scorecards#card-{card_id}")


# --- scoring --------------------------------------------------------------------------------


async def score_form(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    call_id = r.arg("call_id") or r.field("call_id")
    card_id = _int_or_none(r.arg("scorecard") or r.field("scorecard_id"))
    if card_id is None:
        raise LookupError("scorecard")
    call = await r.db(rd.call_header, _user(r), call_id)
    card = await r.db(qa_data.get_scorecard, card_id)
    existing = next(
        (
            e
            for e in await r.db(qa_data.evaluations_of_call, _user(r), call_id)
            if e.scorecard_id == card_id
        ),
        None,
    )
    given = {
        c.id: r.field(f"c{c.id}") if r.form else (existing.points_of(c.id) if existing else "")
        for c in card.active_criteria
    }
    return r.render(
        "qa_score.html",
        status=status,
        call=call,
        card=card,
        existing=existing,
        given=given,
        reason=r.field("reason"),
        comment=r.field("comment"),
        error=error,
    )


async def score_submit(r: WebRequest) -> Response:
    card_id = _int_or_none(r.field("scorecard_id"))
    if card_id is None:
        raise LookupError("scorecard")
    card = await r.db(qa_data.get_scorecard, card_id)
    points = {c.id: r.field(f"c{c.id}") for c in card.active_criteria}
    try:
        evaluation_id = await r.db(
            qa_data.score_call,
            _user(r),
            call_id=r.field("call_id"),
            scorecard_id=card_id,
            points=points,
            reason=r.field("reason"),
            comment=r.field("comment"),
        )
    except Invalid as bad:
        return await score_form(r, error=r._(bad.key), status=400)
    return r.redirect(f"{r.base}/qa/evaluations/{evaluation_id}")


async def evaluation_page(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    evaluation_id = int(r.request.path_params["evaluation_id"])
    ev = await r.db(qa_data.evaluation, _user(r), evaluation_id)
    return r.render("qa_evaluation.html", status=status, ev=ev, error=error)


async def comment(r: WebRequest) -> Response:
    evaluation_id = int(r.request.path_params["evaluation_id"])
    try:
        await r.db(qa_data.add_comment, _user(r), evaluation_id, r.field("text"))
    except Invalid as bad:
        return await evaluation_page(r, error=r._(bad.key), status=400)
    return r.redirect(f"{r.base}/qa/evaluations/{evaluation_id}")


# --- report ---------------------------------------------------------------------------------

REPORT_FIELDS = ("from", "to", "period", "scorecard", "agent")


def _report_filter(r: WebRequest) -> tuple[dict[str, str], qa_data.ReportFilter]:
    from .pages import _date

    today = dt.datetime.now(r.ctx.zone).date()
    values = {k: r.arg(k) for k in REPORT_FIELDS}
    values["from"] = values["from"] or today.replace(day=1).isoformat()
    values["to"] = values["to"] or today.isoformat()
    values["period"] = values["period"] or "month"
    start, end = _date(values["from"]), _date(values["to"])
    assert start is not None
    assert end is not None
    try:
        card = int(values["scorecard"]) if values["scorecard"] else None
    except ValueError:
        raise Invalid("error_choice") from None
    flt = qa_data.ReportFilter(start, end, values["period"], card, values["agent"])
    return values, flt


async def report_page(r: WebRequest) -> Response:
    cards = await r.db(qa_data.list_scorecards)
    choices = await r.db(rd.search_choices)
    values = {k: r.arg(k) for k in REPORT_FIELDS}
    try:
        values, flt = _report_filter(r)
    except Invalid as bad:
        return r.render(
            "qa_report.html",
            status=400,
            values=values,
            cards=cards,
            choices=choices,
            report=None,
            error=r._(bad.key),
            query="",
        )
    report = await r.db(qa_data.qa_report, _user(r), flt, r.ctx.zone)
    return r.render(
        "qa_report.html",
        values=values,
        cards=cards,
        choices=choices,
        report=report,
        error="",
        query=urlencode(values),
    )


async def report_csv(r: WebRequest) -> Response:
    try:
        values, flt = _report_filter(r)
    except Invalid:
        raise LookupError("filter") from None
    report = await r.db(qa_data.qa_report, _user(r), flt, r.ctx.zone)
    out = io.StringIO()
    writer = csv.writer(out)
    table = r.arg("table", "agents")
    if table == "agents":
        writer.writerow(
            ["agent_id", "agent_name", "period", "evaluations", "average_score", "critical_fails"]
        )
        for row in report.rows:
            writer.writerow(
                [
                    row.agent_id,
                    row.agent_name,
                    row.period,
                    row.evaluations,
                    f"{row.average:.2f}",
                    row.critical_fails,
                ]
            )
    elif table == "criteria":
        writer.writerow(
            ["agent_id", "agent_name", "section", "criterion", "evaluations", "average_pct"]
        )
        for c in report.criteria:
            writer.writerow(
                [
                    c.agent_id,
                    c.agent_name,
                    c.section,
                    c.label,
                    c.evaluations,
                    f"{c.average_pct:.2f}",
                ]
            )
    else:
        raise LookupError(table)
    name = f"qa-{table}-{values['from']}-{values['to']}.csv"
    return Response(
        "\ufeff" + out.getvalue(),  # BOM: Excel opens the Chinese names as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def routes(get: RouteFactory, post: RouteFactory) -> list[Route]:
    return [
        get("/qa/scorecards", LEADS, scorecards),
        post("/qa/scorecards", ADMINS, scorecards_post),
        get("/qa/score", LEADS, score_form),
        post("/qa/score", LEADS, score_submit),
        get("/qa/evaluations/{evaluation_id:int}", LEADS, evaluation_page),
        post("/qa/evaluations/{evaluation_id:int}/comments", LEADS, comment),
        get("/qa/report", LEADS, report_page),
        get("/qa/report.csv", LEADS, report_csv),
    ]
