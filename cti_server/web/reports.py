"""Report pages for team leads and administrators (R-SUP-4).

``GET /reports`` shows the historical report for a filter (period, tier, queue, agent,
interval, time zone, short-abandon threshold, FCR window) as tables and server-rendered
SVG charts; ``GET /reports/export`` gives any of its tables (or all of them) as CSV or
Excel; ``GET /reports/staffing`` is the Erlang C / Erlang A staffing helper built on
:mod:`cti_server.staffing`. The figures and their definitions live in
:mod:`.reports_data`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import openpyxl  # type: ignore[import-untyped]
from starlette.responses import Response

from cti_server.staffing import (
    agents_for_service_level,
    agents_for_service_level_with_abandonment,
    erlang_a_metrics,
    erlang_c_metrics,
)
from cti_server.store.models import Role

from . import charts
from . import reports_data as rd
from .data import Invalid
from .i18n import MESSAGES

if TYPE_CHECKING:
    from starlette.routing import Route

    from .pages import WebRequest

Handler = Callable[["WebRequest"], Awaitable[Response]]
RouteFactory = Callable[[str, frozenset[Role] | None, Handler], "Route"]

LEADS = frozenset({Role.TEAM_LEAD, Role.ADMIN})
FILTER_FIELDS = ("from", "to", "tier", "queue", "agent", "interval", "tz", "short", "fcr")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MESSAGES.update(
    {
        "rpt_nav": ("Reports", "报表"),
        "rpt_title": ("Historical reports", "历史报表"),
        "rpt_staffing_nav": ("Staffing helper", "排班人数测算"),
        "rpt_staffing_peak": (
            "Staffing for the busiest interval",
            "按最繁忙时段测算人数",
        ),
        "rpt_from": ("From (local date)", "起始日期"),
        "rpt_to": ("To (local date, inclusive)", "截止日期（含）"),
        "rpt_tz": ("Time zone (IANA)", "时区（IANA）"),
        "rpt_interval": ("Interval", "时段"),
        "rpt_interval_15": ("15 minutes", "15 分钟"),
        "rpt_interval_30": ("30 minutes", "30 分钟"),
        "rpt_interval_60": ("1 hour", "1 小时"),
        "rpt_interval_day": ("Day", "天"),
        "rpt_interval_week": ("Week", "周"),
        "rpt_tier": ("Tier", "客户层次"),
        "rpt_queue": ("Queue", "队列"),
        "rpt_agent": ("Agent", "座席"),
        "rpt_all": ("All", "全部"),
        "rpt_short": ("Short abandon (s)", "短时放弃阈值（秒）"),
        "rpt_fcr_window": ("Repeat-call window", "重复来电窗口"),
        "rpt_hours": ("{n} h", "{n} 小时"),
        "rpt_show": ("Show report", "生成报表"),
        "rpt_export": ("Export", "导出"),
        "rpt_export_all": ("All tables (Excel)", "全部表格（Excel）"),
        "rpt_period": (
            "{start} to {end} ({zone}); intervals by arrival time.",
            "{start} 至 {end}（{zone}），按来电到达时间划分时段。",
        ),
        "rpt_definitions": ("How the figures are counted", "统计口径"),
        "rpt_def_offered": (
            "Offered: calls that entered a queue (or were answered) in the period, by arrival "
            "time, minus short abandons; calls still waiting and calls that ended in the IVR "
            "are left out.",
            "呼入量：本时段到达并进入队列（或被接听）的呼叫，不含短时放弃；仍在排队和在 IVR "
            "中结束的呼叫不计。",
        ),
        "rpt_def_sl": (
            "Service level = answered within the tier's threshold / offered. Abandoned calls "
            "(after the short-abandon threshold) stay in offered and count as not answered in "
            "time; short abandons (hung up within {short} s) are excluded from offered and "
            "from the abandonment rate. Waiting time runs from queue entry.",
            "服务水平 = 在客户层次的服务时限内接听数 / 呼入量。放弃呼叫（超过短时放弃阈值）计入"
            "呼入量并视为未及时接听；短时放弃（{short} 秒内挂机）不计入呼入量和放弃率。等待时间"
            "从进入队列起算。",
        ),
        "rpt_def_aht": (
            "AHT = talk + hold + after-call work per handled call; a transferred call gives "
            "each agent their own part. ASA = mean wait of answered calls.",
            "平均处理时长 = 通话 + 保持 + 话后处理；转接的呼叫按各座席的部分分别计算。平均应答"
            "速度 = 已接听呼叫的平均等待时间。",
        ),
        "rpt_def_occupancy": (
            "Occupancy is an estimate: agent state changes are not stored, so logged-on time "
            "is approximated per agent and day by the span from their first answer to their "
            "last release or end of after-call work.",
            "占用率为估算值：系统未保存座席状态变化，签入时长按每名座席每天从首次接听到最后一"
            "次挂机（或话后处理结束）的时长估算。",
        ),
        "rpt_def_fcr": (
            "First-contact resolution: an answered call counts as resolved when no other call "
            "from the same number arrived within {hours} h after it.",
            "首次解决率：已接听呼叫在之后 {hours} 小时内同一号码没有再次来电即视为一次解决。",
        ),
        "rpt_def_agent": (
            "With an agent chosen, the call tables show the calls that agent answered.",
            "选定座席后，呼叫表格只统计该座席接听的呼叫。",
        ),
        "rpt_chart_sl": ("Service level by interval (%)", "各时段服务水平（%）"),
        "rpt_chart_volume": ("Offered calls by interval", "各时段呼入量"),
        "rpt_chart_heat": ("Calls by weekday and hour", "按星期和小时的来电量"),
        "rpt_target": ("Target", "目标"),
        "rpt_table_summary": ("Summary", "汇总"),
        "rpt_table_sl_interval": ("Service level by interval", "各时段服务水平"),
        "rpt_table_sl_tier": ("Service level by tier and interval", "各客户层次服务水平"),
        "rpt_table_sl_queue": ("Service level by queue and interval", "各队列服务水平"),
        "rpt_table_agents": ("Agents: handling times", "座席处理时长"),
        "rpt_table_direction": ("Inbound and outbound contacts", "呼入与呼出接触"),
        "rpt_table_busiest": ("Busiest days", "最繁忙日期"),
        "rpt_table_heat": ("Calls by weekday and hour", "按星期和小时的来电量"),
        "rpt_table_csat": ("Customer satisfaction (surveys)", "客户满意度（调查）"),
        "rpt_table_workorders": ("Work-order SLA compliance", "工单时限达标情况"),
        "rpt_figure": ("Figure", "指标"),
        "rpt_value": ("Value", "数值"),
        "rpt_calls": ("Calls", "呼叫数"),
        "rpt_offered": ("Offered", "呼入量"),
        "rpt_answered": ("Answered", "接听"),
        "rpt_in_sl": ("Answered in time", "及时接听"),
        "rpt_abandoned": ("Abandoned", "放弃"),
        "rpt_short_abandons": ("Short abandons", "短时放弃"),
        "rpt_sl": ("Service level %", "服务水平 %"),
        "rpt_asa": ("ASA (s)", "平均应答速度（秒）"),
        "rpt_abandon_rate": ("Abandonment %", "放弃率 %"),
        "rpt_threshold": ("Threshold (s)", "时限（秒）"),
        "rpt_handled": ("Handled", "处理数"),
        "rpt_avg_talk": ("Avg talk (s)", "平均通话（秒）"),
        "rpt_avg_hold": ("Avg hold (s)", "平均保持（秒）"),
        "rpt_avg_acw": ("Avg ACW (s)", "平均话后处理（秒）"),
        "rpt_aht": ("AHT (s)", "平均处理时长（秒）"),
        "rpt_talk_total": ("Talk total (s)", "通话合计（秒）"),
        "rpt_transfers": ("Transfers", "转接"),
        "rpt_transferred_calls": ("Transferred calls", "转接呼叫"),
        "rpt_occupancy": ("Occupancy % (est.)", "占用率 %（估算）"),
        "rpt_fcr": ("First-contact resolution %", "首次解决率 %"),
        "rpt_inbound": ("Inbound contacts", "呼入接触"),
        "rpt_outbound": ("Outbound contacts", "呼出接触"),
        "rpt_csat": ("CSAT (1-5)", "满意度（1-5）"),
        "rpt_name": ("Name", "姓名"),
        "rpt_responses": ("Responses", "答复数"),
        "rpt_avg_score": ("Average score", "平均分"),
        "rpt_satisfied": ("Satisfied % (4-5)", "满意 %（4-5 分）"),
        "rpt_date": ("Date", "日期"),
        "rpt_weekday": ("Weekday", "星期"),
        "rpt_day_mon": ("Mon", "周一"),
        "rpt_day_tue": ("Tue", "周二"),
        "rpt_day_wed": ("Wed", "周三"),
        "rpt_day_thu": ("Thu", "周四"),
        "rpt_day_fri": ("Fri", "周五"),
        "rpt_day_sat": ("Sat", "周六"),
        "rpt_day_sun": ("Sun", "周日"),
        "rpt_clock": ("SLA clock", "时限"),
        "rpt_clock_respond": ("Respond", "响应"),
        "rpt_clock_on_site": ("On site", "到场"),
        "rpt_clock_resolve": ("Resolve", "解决"),
        "rpt_met": ("Met", "达标"),
        "rpt_late": ("Late", "超时完成"),
        "rpt_overdue": ("Overdue", "已超时"),
        "rpt_running": ("Running", "计时中"),
        "rpt_compliance": ("Compliance %", "达标率 %"),
        "rpt_no_rows": ("No data in this period.", "本时段没有数据。"),
        "rpt_error_tz": ("Unknown time zone.", "未知的时区。"),
        "rpt_error_range": ("The end date is before the start date.", "截止日期早于起始日期。"),
        "rpt_error_long": (
            "The period is too long: at most 62 days with 15/30/60-minute intervals, 366 "
            "days with days or weeks.",
            "时间范围过长：15/30/60 分钟时段最多 62 天，按天或周最多 366 天。",
        ),
        "rpt_error_number": ("Enter a valid number.", "请输入有效的数字。"),
        "rpt_error_table": ("Unknown table.", "未知的表格。"),
        # staffing helper
        "rpt_staff_title": (
            "Staffing helper (Erlang C / Erlang A)",
            "排班人数测算（Erlang C / A）",
        ),
        "rpt_staff_intro": (
            "Agents needed to reach a service level for a call volume, with Erlang C (callers "
            "never hang up) and, when a mean patience is given, Erlang A (callers abandon).",
            "根据呼入量测算达到服务水平所需的座席数：Erlang C（来电者不放弃），填写平均耐心"
            "时长时另按 Erlang A（来电者会放弃）测算。",
        ),
        "rpt_staff_calls": ("Calls per interval", "每时段呼入量"),
        "rpt_staff_minutes": ("Interval length (min)", "时段长度（分钟）"),
        "rpt_staff_aht": ("AHT (s)", "平均处理时长（秒）"),
        "rpt_staff_target": ("Target service level %", "目标服务水平 %"),
        "rpt_staff_answer": ("Answer within (s)", "接听时限（秒）"),
        "rpt_staff_patience": ("Mean patience (s, optional)", "平均耐心时长（秒，可不填）"),
        "rpt_staff_occupancy": ("Max occupancy % (optional)", "最高占用率 %（可不填）"),
        "rpt_staff_compute": ("Calculate", "计算"),
        "rpt_staff_load": ("Offered load (erlangs)", "话务量（爱尔兰）"),
        "rpt_staff_needed_c": ("Agents needed (Erlang C)", "所需座席（Erlang C）"),
        "rpt_staff_needed_a": ("Agents needed (Erlang A)", "所需座席（Erlang A）"),
        "rpt_staff_agents": ("Agents", "座席数"),
        "rpt_staff_sl": ("Service level %", "服务水平 %"),
        "rpt_staff_asa": ("ASA (s)", "平均应答速度（秒）"),
        "rpt_staff_occ": ("Occupancy %", "占用率 %"),
        "rpt_staff_abandon": ("Abandon %", "放弃率 %"),
        "rpt_staff_too_many": (
            "The target cannot be met with a reasonable number of agents.",
            "在合理座席数内无法达到目标。",
        ),
        "rpt_staff_table": ("Nearby staffing levels", "相邻座席数的测算"),
    }
)


def _today(r: WebRequest, zone: str) -> dt.date:
    try:
        return dt.datetime.now(zoneinfo.ZoneInfo(zone)).date()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.datetime.now(r.ctx.zone).date()


def _values(r: WebRequest) -> dict[str, str]:
    return {k: r.arg(k) for k in FILTER_FIELDS}


def _parse(r: WebRequest, values: dict[str, str]) -> rd.ReportFilter:
    zone = r.ctx.settings.timezone
    return rd.parse_filter(values, default_zone=zone, today=_today(r, values["tz"] or zone))


def _user(r: WebRequest) -> Any:
    assert r.user is not None
    return r.user


def cell_text(_: Callable[..., str], value: Any) -> str:
    """A table cell as shown and exported: message keys translated, no value empty."""
    if value is None:
        return ""
    if isinstance(value, str) and (value.startswith("rpt_") or value == "total"):
        return _(value)
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def _export_url(r: WebRequest, values: dict[str, str], table: str, fmt: str) -> str:
    params = {k: v for k, v in values.items() if v}
    params.update(table=table, format=fmt)
    return f"{r.base}/reports/export?{urlencode(params)}"


async def report_page(r: WebRequest) -> Response:
    values = _values(r)
    choices = await r.db(rd.report_choices)
    try:
        flt = _parse(r, values)
    except Invalid as bad:
        return r.render(
            "rpt_report.html",
            status=400,
            values=values,
            choices=choices,
            report=None,
            error=r._(bad.key),
            intervals=rd.INTERVALS,
            fcr_choices=rd.FCR_CHOICES,
        )
    report = await r.db(rd.run_report, _user(r), flt)
    values = {
        **values,
        "from": flt.date_from.isoformat(),
        "to": flt.date_to.isoformat(),
        "tz": flt.zone,
        "interval": flt.interval,
        "short": values["short"] or f"{flt.short_abandon:g}",
        "fcr": str(flt.fcr_hours),
    }
    _ = r._
    day_labels = [_(f"rpt_day_{d}") for d in rd.WEEKDAYS]
    sl_svg = charts.bar_chart(
        report.sl_chart,
        title=_("rpt_chart_sl"),
        unit="%",
        maximum=100.0,
        target=report.target,
        target_label=_("rpt_target"),
        css_id="rpt-sl-chart",
    )
    volume_svg = charts.bar_chart(
        report.volume_chart, title=_("rpt_chart_volume"), css_id="rpt-volume-chart"
    )
    heat_svg = charts.heat_chart(report.heat, day_labels, title=_("rpt_chart_heat"))
    staffing_url = _staffing_link(r, report)
    return r.render(
        "rpt_report.html",
        values=values,
        choices=choices,
        report=report,
        error="",
        intervals=rd.INTERVALS,
        fcr_choices=rd.FCR_CHOICES,
        sl_svg=sl_svg,
        volume_svg=volume_svg,
        heat_svg=heat_svg,
        cell=lambda v: cell_text(_, v),
        export_url=lambda table, fmt: _export_url(r, values, table, fmt),
        table_order=TABLE_ORDER,
        staffing_url=staffing_url,
    )


TABLE_ORDER = (
    "summary",
    "sl_interval",
    "sl_tier",
    "sl_queue",
    "agents",
    "direction",
    "busiest",
    "heat",
    "csat",
    "workorders",
)


def _staffing_link(r: WebRequest, report: rd.Report) -> str:
    """The staffing helper filled in with the period's busiest interval and AHT."""
    if report.filter.interval not in ("15", "30", "60"):
        return ""
    peak = max((v or 0.0 for _l, v in report.volume_chart), default=0.0)
    aht = dict((row[0], row[1]) for row in report.tables["summary"].rows).get("rpt_aht")
    if not peak or not aht:
        return ""
    params = {"calls": f"{peak:g}", "minutes": report.filter.interval, "aht": f"{aht:g}"}
    if report.target is not None and report.threshold is not None:
        params.update(target=f"{report.target:g}", answer=f"{report.threshold:g}")
    return f"{r.base}/reports/staffing?{urlencode(params)}"


def table_rows(_: Callable[..., str], table: rd.Table) -> list[list[str]]:
    """Header and rows as text (what CSV and Excel get)."""
    header = [_(c) if c.startswith("rpt_") or c == "total" else c for c in table.columns]
    return [header, *([_inert(cell_text(_, v)) for v in row] for row in table.rows)]


def _inert(text: str) -> str:
    """Text a spreadsheet would run as a formula (an agent named ``=HYPERLINK(…)``)
    gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _xlsx_value(_: Callable[..., str], value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return _inert(cell_text(_, value))


def workbook_bytes(_: Callable[..., str], tables: list[rd.Table]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(table.key[:31])
        sheet.append([_(c) if c.startswith("rpt_") or c == "total" else c for c in table.columns])
        for row in table.rows:
            sheet.append([_xlsx_value(_, v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def export(r: WebRequest) -> Response:
    values = _values(r)
    fmt = r.arg("format", "csv")
    key = r.arg("table", "summary")
    try:
        flt = _parse(r, values)
        if fmt not in ("csv", "xlsx") or (key != "all" and key not in TABLE_ORDER):
            raise Invalid("rpt_error_table")
        if key == "all" and fmt == "csv":
            raise Invalid("rpt_error_table")
    except Invalid as bad:
        return Response(r._(bad.key), status_code=400, media_type="text/plain; charset=utf-8")
    report = await r.db(rd.run_report, _user(r), flt)
    tables = [report.tables[k] for k in TABLE_ORDER] if key == "all" else [report.tables[key]]
    stem = f"report-{key}-{flt.date_from.isoformat()}-{flt.date_to.isoformat()}"
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if fmt == "csv":
        text = io.StringIO()
        csv.writer(text).writerows(table_rows(r._, tables[0]))
        headers["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        # BOM so that Excel opens the UTF-8 Chinese text correctly
        return Response(
            "\ufeff" + text.getvalue(), media_type="text/csv; charset=utf-8", headers=headers
        )
    headers["Content-Disposition"] = f'attachment; filename="{stem}.xlsx"'
    body = workbook_bytes(r._, tables)
    return Response(body, media_type=XLSX, headers=headers)


# --- staffing helper ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffRow:
    agents: int
    sl: float
    asa: float | None
    occupancy: float
    abandon: float | None


@dataclass(frozen=True, slots=True)
class StaffResult:
    load: float
    needed_c: int | None
    needed_a: int | None
    rows: list[StaffRow]


STAFF_FIELDS = ("calls", "minutes", "aht", "target", "answer", "patience", "occupancy")
STAFF_DEFAULTS = {"minutes": "30", "target": "80", "answer": "20"}


def _number(text: str, *, low: float, high: float, required: bool = True) -> float | None:
    if not text:
        if required:
            raise Invalid("rpt_error_number")
        return None
    try:
        value = float(text)
    except ValueError:
        raise Invalid("rpt_error_number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise Invalid("rpt_error_number")
    return value


def staffing(values: dict[str, str]) -> StaffResult:
    """Agents needed for the form's inputs, with the product's Erlang C / A calculators."""
    calls = _number(values["calls"], low=0, high=1e6)
    minutes = _number(values["minutes"], low=1, high=1440)
    aht = _number(values["aht"], low=1, high=36000)
    target = _number(values["target"], low=1, high=99.9)
    answer = _number(values["answer"], low=0, high=3600)
    patience = _number(values["patience"], low=1, high=36000, required=False)
    occupancy = _number(values["occupancy"], low=1, high=100, required=False)
    if calls is None or minutes is None or aht is None or target is None or answer is None:
        raise Invalid("rpt_error_number")
    rate = calls / (minutes * 60.0)
    cap = None if occupancy is None else occupancy / 100.0
    limit = 5000
    try:
        needed_c: int | None = agents_for_service_level(
            rate, aht, target / 100.0, answer, cap, max_agents=limit
        )
    except ValueError:
        needed_c = None
    needed_a: int | None = None
    if patience is not None:
        try:
            needed_a = agents_for_service_level_with_abandonment(
                rate, aht, patience, target / 100.0, answer, max_occupancy=cap, max_agents=limit
            )
        except ValueError:
            needed_a = None
    rows: list[StaffRow] = []
    centre = needed_a if needed_a is not None else needed_c
    if centre:
        for n in range(max(1, centre - 2), centre + 3):
            if patience is not None:
                a = erlang_a_metrics(rate, aht, patience, n, answer)
                rows.append(
                    StaffRow(n, 100 * a.service_level, a.asa, 100 * a.occupancy, 100 * a.p_abandon)
                )
            else:
                c = erlang_c_metrics(rate, aht, n, answer)
                asa = None if math.isinf(c.asa) else c.asa
                rows.append(StaffRow(n, 100 * c.service_level, asa, 100 * c.occupancy, None))
    return StaffResult(rate * aht, needed_c, needed_a, rows)


async def staffing_page(r: WebRequest) -> Response:
    values = {k: r.arg(k) or STAFF_DEFAULTS.get(k, "") for k in STAFF_FIELDS}
    result: StaffResult | None = None
    error, status = "", 200
    if r.arg("calls"):
        try:
            result = staffing(values)
        except Invalid as bad:
            error, status = r._(bad.key), 400
    return r.render("rpt_staffing.html", status=status, values=values, result=result, error=error)


def routes(get: RouteFactory, _post: RouteFactory) -> list[Route]:
    return [
        get("/reports", LEADS, report_page),
        get("/reports/export", LEADS, export),
        get("/reports/staffing", LEADS, staffing_page),
    ]
