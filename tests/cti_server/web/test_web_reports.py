"""Historical reports (R-SUP-4) against hand-computed figures.

A small day of calls is written through :class:`CallStore` exactly as the live server
records them (arrived, tier, queued, offered, answered, hold, transfer, release, ACW end)
on 2026-03-10, far from the demo data. Tiers: vip 10 s, gold 15 s, normal 20 s. The
wait runs from queue entry (arrival + 2 s).

=====  =========  ======  ===========  ========  ==========================================
call   arrival    tier    queue        wait      outcome
=====  =========  ======  ===========  ========  ==========================================
A      10:00:00   vip     q_billing    8 s       1001: talk 180, ACW 30           (in SL)
B      10:05:00   vip     q_billing    20 s      1002: talk 150, hold 30, ACW 20  (miss)
C      10:14:50   normal  q_billing    15 s      1001 answers 10:15:07 (next interval), talk
                                                 120 (in SL); same number as A
D      10:20:00   normal  q_broadband  3 s       hangs up: short abandon
E      10:25:00   normal  q_broadband  30 s      hangs up: abandoned
F      10:29:59   gold    q_broadband  10 s      1002 talk 120, transfers to 1003: talk 120,
                                                 ACW 10 (in SL)
G      10:40:00   —       —            —         ends in the IVR (not offered)
H      23:59:50   normal  q_billing    13 s      1003 answers 00:00:05 next UTC day, talk 120
I      15:59:55   normal  q_billing    23 s      1001 answers 16:00:20 (midnight in
                                                 Asia/Shanghai), talk 60 (miss); A's number
J      03-11 20:00 normal q_billing    5 s       1001, B's number 33.9 h after B
=====  =========  ======  ===========  ========  ==========================================

UTC 2026-03-10: offered A B C E F H I = 7, answered 6, in SL A C F H = 4 → 57.1 %,
ASA (8+20+15+10+13+23)/6 = 14.8 s, abandoned 1/7 = 14.3 %, one short abandon.
Asia/Shanghai 2026-03-10 (16:00 UTC on 03-09 to 16:00 UTC on 03-10): A–G and I;
H belongs to 03-11 there (07:59:50 local).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from html.parser import HTMLParser
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from cti_server.store.calls import CallEventKind, CallStore
from cti_server.store.models import Agent, Customer, WorkOrder
from cti_server.store.surveys import store_survey_result
from cti_server.web import reports_data as rd
from tests.cti_server.web.web_support import AGENT_SH, TEAM_LEAD, WebStack

K = CallEventKind
UTC = dt.UTC
DAY = "2026-03-10"


def at(text: str) -> dt.datetime:
    """``"03-10 10:00:00"`` → aware UTC datetime in 2026."""
    return dt.datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _call(
    store: CallStore,
    call_id: str,
    arrive: dt.datetime,
    caller: str,
    *,
    tier: str | None,
    queue: str | None,
    steps: list[tuple[float, CallEventKind, dict[str, Any]]],
) -> None:
    """Record a call the way the server does: arrival and tier, queue entry 2 s later
    (when a queue is given), then ``steps`` at seconds after arrival."""
    store.record_event(
        call_id, K.ARRIVED, arrive, {"caller_number": caller, "called_number": "10086"}
    )
    if tier:
        store.record_event(call_id, K.TIER_IDENTIFIED, arrive, {"tier_id": tier})
    if queue:
        store.record_event(call_id, K.QUEUED, arrive + dt.timedelta(seconds=2), {"queue_id": queue})
    for offset, kind, data in steps:
        store.record_event(call_id, kind, arrive + dt.timedelta(seconds=offset), data)


def _answered(agent: str, wait: float, talk: float, *, acw: float | None = None) -> list[Any]:
    """Offer, answer after ``wait`` s in queue, release after ``talk`` s, optional ACW."""
    answer = 2 + wait
    steps: list[Any] = [
        (answer - 1, K.OFFERED, {"agent_id": agent}),
        (answer, K.ANSWERED, {"agent_id": agent}),
        (answer + talk, K.RELEASED, {"by": "caller"}),
    ]
    if acw is not None:
        steps.append((answer + talk + acw, K.ACW_ENDED, {"agent_id": agent}))
    return steps


def seed_calls(engine: sa.Engine) -> None:
    store = CallStore(engine)
    _call(
        store,
        "RPT-A",
        at("03-10 10:00:00"),
        "13800000001",
        tier="vip",
        queue="q_billing",
        steps=_answered("1001", 8, 180, acw=30),
    )
    _call(
        store,
        "RPT-B",
        at("03-10 10:05:00"),
        "13800000002",
        tier="vip",
        queue="q_billing",
        steps=[
            (21, K.OFFERED, {"agent_id": "1002"}),
            (22, K.ANSWERED, {"agent_id": "1002"}),
            (60, K.HELD, {"agent_id": "1002"}),
            (90, K.RETRIEVED, {"agent_id": "1002"}),
            (202, K.RELEASED, {"by": "agent"}),
            (222, K.ACW_ENDED, {"agent_id": "1002"}),
        ],
    )
    _call(
        store,
        "RPT-C",
        at("03-10 10:14:50"),
        "13800000001",
        tier="normal",
        queue="q_billing",
        steps=_answered("1001", 15, 120),
    )
    _call(
        store,
        "RPT-D",
        at("03-10 10:20:00"),
        "13800000003",
        tier="normal",
        queue="q_broadband",
        steps=[(5, K.RELEASED, {"by": "caller"})],
    )
    _call(
        store,
        "RPT-E",
        at("03-10 10:25:00"),
        "13800000004",
        tier="normal",
        queue="q_broadband",
        steps=[(32, K.RELEASED, {"by": "caller"})],
    )
    _call(
        store,
        "RPT-F",
        at("03-10 10:29:59"),
        "13800000005",
        tier="gold",
        queue="q_broadband",
        steps=[
            (11, K.OFFERED, {"agent_id": "1002"}),
            (12, K.ANSWERED, {"agent_id": "1002"}),
            (132, K.TRANSFERRED, {"from_agent": "1002", "to_agent": "1003", "mode": "consult"}),
            (136, K.ANSWERED, {"agent_id": "1003"}),
            (256, K.RELEASED, {"by": "caller"}),
            (266, K.ACW_ENDED, {"agent_id": "1003"}),
        ],
    )
    _call(
        store,
        "RPT-G",
        at("03-10 10:40:00"),
        "13800000006",
        tier=None,
        queue=None,
        steps=[(10, K.IVR_NODE, {"node": "menu"}), (60, K.RELEASED, {"by": "caller"})],
    )
    _call(
        store,
        "RPT-H",
        at("03-10 23:59:50"),
        "13800000007",
        tier="normal",
        queue="q_billing",
        steps=_answered("1003", 13, 120),
    )
    _call(
        store,
        "RPT-I",
        at("03-10 15:59:55"),
        "13800000001",
        tier="normal",
        queue="q_billing",
        steps=_answered("1001", 23, 60),
    )
    _call(
        store,
        "RPT-J",
        at("03-11 20:00:00"),
        "13800000002",
        tier="normal",
        queue="q_billing",
        steps=_answered("1001", 5, 60),
    )
    for call_id in "ABCDEFGHIJ":
        store.close_call(f"RPT-{call_id}", "done", at("03-12 00:00:00"))
    store.add_contact_record(
        started_at=at("03-10 10:00:10"), call_id="RPT-A", agent_id="1001", number="13800000001"
    )
    store.add_contact_record(
        started_at=at("03-10 10:05:22"), call_id="RPT-B", agent_id="1002", number="13800000002"
    )
    store.add_contact_record(
        started_at=at("03-10 10:50:00"), agent_id="1001", number="13800000009", direction="outbound"
    )
    sessions = sessionmaker(engine)
    with sessions.begin() as session:
        store_survey_result(session, "RPT-A", {"score": "5"}, at("03-10 10:04:00"))
        store_survey_result(session, "RPT-B", {"score": "2"}, at("03-10 10:09:00"))
        base = {
            "category_id": "complaint.fault.broadband",
            "title": "report test",
            "created_by": "1001",
            "status": "accepted",
        }
        session.add_all(
            [  # respond clock 10 min: one met, one late; resolve clock overdue on both
                WorkOrder(
                    id="WO-RPT-1",
                    created_at=at("03-10 09:00:00"),
                    respond_by=at("03-10 09:10:00"),
                    accepted_at=at("03-10 09:05:00"),
                    resolve_by=at("03-10 12:00:00"),
                    **base,
                ),
                WorkOrder(
                    id="WO-RPT-2",
                    created_at=at("03-10 11:00:00"),
                    respond_by=at("03-10 11:10:00"),
                    accepted_at=at("03-10 11:30:00"),
                    resolve_by=at("03-10 14:00:00"),
                    **base,
                ),
            ]
        )


# --- reading the page -----------------------------------------------------------------------


class _Tables(HTMLParser):
    """Rows of every ``<table data-table=…>`` (cell text) and the bars of the SL chart."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.bars: list[dict[str, str]] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._svg = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table" and "data-table" in a:
            self._table = a["data-table"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "svg":
            self._svg = a.get("id", "")
        elif tag == "rect" and "rpt-bar" in a.get("class", "") and self._svg == "rpt-sl-chart":
            self.bars.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page(web: WebStack, query: str, *, who: str = TEAM_LEAD) -> _Tables:
    browser = web.login(who, lang="en")
    response = browser.get(f"/ui/reports?{query}&lang=en")
    assert response.status_code == 200, response.text
    parsed = _Tables()
    parsed.feed(response.text)
    return parsed


def rows_by_first(table: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table[1:]}


def summary(parsed: _Tables) -> dict[str, str]:
    return {row[0]: row[1] for row in parsed.tables["summary"][1:]}


# --- tests ----------------------------------------------------------------------------------


def test_service_level_per_15_minutes_in_utc(web: WebStack) -> None:
    seed_calls(web.engine)
    parsed = page(web, f"from={DAY}&to={DAY}&interval=15&tz=UTC")
    figures = summary(parsed)
    assert figures["Offered"] == "7" and figures["Answered"] == "6"
    assert figures["Abandoned"] == "1" and figures["Short abandons"] == "1"
    assert figures["Service level %"] == "57.1"
    assert figures["ASA (s)"] == "14.8"
    assert figures["Abandonment %"] == "14.3"
    assert figures["Transferred calls"] == "1"
    # columns: offered, answered, in SL, abandoned, short, SL %, ASA, abandonment %
    intervals = rows_by_first(parsed.tables["sl_interval"])
    assert len(intervals) == 96 + 1  # every quarter hour of the day and the total
    # C arrives 10:14:50 and is answered 10:15:07: it counts in 10:00
    assert intervals["2026-03-10 10:00"] == ["3", "3", "2", "0", "0", "66.7", "14.3", "0"]
    # D short abandon (out of offered), E abandoned, F arrives 10:29:59
    assert intervals["2026-03-10 10:15"] == ["2", "1", "1", "1", "1", "50", "10", "50"]
    assert intervals["2026-03-10 10:30"][0] == "0"  # G ended in the IVR
    assert intervals["2026-03-10 15:45"][:3] == ["1", "1", "0"]  # I: 23 s > 20 s
    # H arrives 23:59:50 and is answered after midnight: it stays on the 10th
    assert intervals["2026-03-10 23:45"][:3] == ["1", "1", "1"]
    assert intervals["Total"][:5] == ["7", "6", "4", "1", "1"]
    # per tier: interval, tier, threshold, offered, answered, in SL, abandoned, short, SL …
    tiers = {(r[0], r[1]): r[2:] for r in parsed.tables["sl_tier"][1:]}
    assert tiers[("2026-03-10 10:00", "vip")][:7] == ["10", "2", "2", "1", "0", "0", "50"]
    assert tiers[("2026-03-10 10:00", "normal")][:7] == ["20", "1", "1", "1", "0", "0", "100"]
    assert tiers[("2026-03-10 10:15", "normal")][:7] == ["20", "1", "0", "0", "1", "1", "0"]
    assert tiers[("2026-03-10 10:15", "gold")][:7] == ["15", "1", "1", "1", "0", "0", "100"]
    queues = {(r[0], r[1]): r[2:] for r in parsed.tables["sl_queue"][1:]}
    assert queues[("2026-03-10 10:15", "q_broadband")][:5] == ["2", "1", "1", "1", "1"]
    # the SL chart has one bar per quarter hour with calls
    bars = {b["data-label"]: b["data-value"] for b in parsed.bars}
    assert bars["2026-03-10 10:00"] == "66.7" and bars["2026-03-10 23:45"] == "100"


def test_the_next_utc_day_does_not_count_the_call_answered_after_midnight(
    web: WebStack,
) -> None:
    seed_calls(web.engine)
    figures = summary(page(web, "from=2026-03-11&to=2026-03-11&interval=day&tz=UTC"))
    assert figures["Calls"] == "1" and figures["Offered"] == "1"  # only J


def test_asia_shanghai_days_and_intervals(web: WebStack) -> None:
    seed_calls(web.engine)
    parsed = page(web, f"from={DAY}&to={DAY}&interval=15&tz=Asia/Shanghai")
    figures = summary(parsed)
    # A B C E F I offered; H (07:59:50 on the 11th local) is not in this day
    assert figures["Offered"] == "6" and figures["Answered"] == "5"
    assert figures["Service level %"] == "50"
    intervals = rows_by_first(parsed.tables["sl_interval"])
    assert intervals["2026-03-10 18:00"][:3] == ["3", "3", "2"]
    # I arrives 23:59:55 local and is answered at 00:00:20 on the 11th: counted on the 10th
    assert intervals["2026-03-10 23:45"][:3] == ["1", "1", "0"]
    next_day = rows_by_first(
        page(web, "from=2026-03-11&to=2026-03-11&interval=60&tz=Asia/Shanghai").tables[
            "sl_interval"
        ]
    )
    assert next_day["2026-03-11 07:00"][:3] == ["1", "1", "1"]  # H
    days = rows_by_first(
        page(web, "from=2026-03-10&to=2026-03-11&interval=day&tz=Asia/Shanghai").tables[
            "sl_interval"
        ]
    )
    assert days["2026-03-10"][:3] == ["6", "5", "3"]
    assert days["2026-03-11"][:3] == ["1", "1", "1"]  # H only; J is on the 12th local


def test_handling_times_per_agent_and_fcr(web: WebStack) -> None:
    seed_calls(web.engine)
    parsed = page(web, f"from={DAY}&to={DAY}&interval=day&tz=UTC")
    # agent, name, handled, avg talk, avg hold, avg ACW, AHT, talk total, transfers, occ.
    agents = rows_by_first(parsed.tables["agents"])
    assert agents["1001"][1:8] == ["3", "120", "0", "10", "130", "360", "0"]
    assert agents["1002"][1:8] == ["2", "135", "15", "10", "160", "270", "1"]
    assert agents["1003"][1:8] == ["2", "120", "0", "5", "125", "240", "0"]
    # 1002 busy 320 s between 10:05:22 and 10:32:11 (1609 s)
    assert agents["1002"][8] == "19.9"
    assert agents["Total"][1:6] == ["7", "124.3", "4.3", "8.6", "137.1"]
    figures = summary(parsed)
    assert figures["AHT (s)"] == "137.1"
    # A and C are followed by another call from 138…01 within 24 h; B F H I are not
    assert figures["First-contact resolution %"] == "66.7"
    assert figures["Inbound contacts"] == "2" and figures["Outbound contacts"] == "1"
    assert figures["CSAT (1-5)"] == "3.5"
    csat = rows_by_first(parsed.tables["csat"])
    assert csat["1001"][1:] == ["1", "5", "100"] and csat["1002"][1:] == ["1", "2", "0"]
    # J calls back 33.9 h after B: a 48 h window no longer counts B as resolved
    wide = summary(page(web, f"from={DAY}&to={DAY}&interval=day&tz=UTC&fcr=48"))
    assert wide["First-contact resolution %"] == "50"
    # work orders: respond met once and late once; resolve overdue twice
    orders = rows_by_first(parsed.tables["workorders"])
    assert orders["Respond"] == ["1", "1", "0", "0", "50"]
    assert orders["Resolve"] == ["0", "0", "2", "0", "0"]
    heat = rows_by_first(parsed.tables["heat"])
    assert heat["Tue"][10] == "7" and heat["Tue"][15] == "1" and heat["Tue"][-1] == "9"


def test_filters_tier_queue_agent_and_short_abandon(web: WebStack) -> None:
    seed_calls(web.engine)
    vip = page(web, f"from={DAY}&to={DAY}&interval=day&tz=UTC&tier=vip")
    assert summary(vip)["Offered"] == "2" and summary(vip)["Service level %"] == "50"
    assert any(b["data-value"] == "50" for b in vip.bars)
    # the busiest vip quarter hour (2 calls, AHT 205 s) prefills the staffing helper
    lead = web.login(TEAM_LEAD, lang="en")
    html = lead.get(f"/ui/reports?from={DAY}&to={DAY}&interval=15&tz=UTC&tier=vip").text
    assert (
        'href="/ui/reports/staffing?calls=2&amp;minutes=15&amp;aht=205&amp;target=90&amp;answer=10"'
        in html
    )
    queue = summary(page(web, f"from={DAY}&to={DAY}&interval=day&tz=UTC&queue=q_broadband"))
    assert queue["Offered"] == "2" and queue["Short abandons"] == "1"
    agent = summary(page(web, f"from={DAY}&to={DAY}&interval=day&tz=UTC&agent=1002"))
    assert agent["Answered"] == "2" and agent["AHT (s)"] == "160"
    # a short-abandon threshold of 2 s makes D (3 s) an ordinary abandoned call
    strict = summary(page(web, f"from={DAY}&to={DAY}&interval=day&tz=UTC&short=2"))
    assert strict["Offered"] == "8" and strict["Abandoned"] == "2"
    assert strict["Short abandons"] == "0" and strict["Service level %"] == "50"


def test_csv_and_excel_exports(web: WebStack) -> None:
    seed_calls(web.engine)
    browser = web.login(TEAM_LEAD, lang="en")
    query = f"from={DAY}&to={DAY}&interval=15&tz=UTC"
    response = browser.get(f"/ui/reports/export?{query}&table=sl_tier&format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["Interval", "Tier", "Threshold (s)", "Offered"]
    assert ["2026-03-10 10:00", "vip", "10", "2", "2", "1", "0", "0", "50", "14", "0"] in rows
    zh = web.login(TEAM_LEAD, lang="zh").get(f"/ui/reports/export?{query}&table=summary&format=csv")
    assert "服务水平 %,57.1" in zh.content.decode("utf-8-sig")
    book_response = browser.get(f"/ui/reports/export?{query}&table=all&format=xlsx")
    assert book_response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(book_response.content))
    assert book.sheetnames[:4] == ["summary", "sl_interval", "sl_tier", "sl_queue"]
    assert "workorders" in book.sheetnames
    summary_sheet = {r[0]: r[1] for r in book["summary"].iter_rows(min_row=2, values_only=True)}
    assert summary_sheet["Service level %"] == pytest.approx(57.1)
    assert summary_sheet["Offered"] == 7
    agents = {r[0]: r for r in book["agents"].iter_rows(min_row=2, values_only=True)}
    assert agents["1002"][6] == pytest.approx(160)
    single = browser.get(f"/ui/reports/export?{query}&table=agents&format=xlsx")
    assert openpyxl.load_workbook(io.BytesIO(single.content)).sheetnames == ["agents"]
    # a name a spreadsheet would run as a formula is exported as text
    with web.engine.begin() as conn:
        conn.execute(sa.update(Agent).where(Agent.id == "1003").values(name="=1+1"))
    agents_csv = browser.get(f"/ui/reports/export?{query}&table=agents&format=csv").text
    assert "1003,'=1+1,2," in agents_csv
    bad = browser.get(f"/ui/reports/export?{query}&table=nope&format=csv")
    assert bad.status_code == 400 and bad.text == "Unknown table."


def test_agents_may_not_open_reports_and_bad_input_is_explained(web: WebStack) -> None:
    agent = web.login(AGENT_SH, lang="en")
    refused = agent.get("/ui/reports")
    assert refused.status_code == 403
    assert agent.get("/ui/reports/export?table=summary&format=csv").status_code == 403
    assert web.refusals(actor=AGENT_SH, reason="role")
    lead = web.login(TEAM_LEAD, lang="en")
    home = lead.get("/ui/")
    assert 'href="/ui/reports"' in home.text
    for query, message in (
        ("tz=Mars/Base", "Unknown time zone."),
        ("from=2026-03-10&to=2026-03-01", "The end date is before the start date."),
        ("from=2026-01-01&to=2026-12-31&interval=15", "The period is too long"),
        ("from=2026-03-10&to=xx", "Dates are YYYY-MM-DD."),
        ("short=abc", "Enter a valid number."),
    ):
        response = lead.get(f"/ui/reports?{query}")
        assert response.status_code == 400, query
        assert message in response.text, query


def test_default_report_opens_in_chinese(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD, lang="zh")
    response = lead.get("/ui/reports")
    assert response.status_code == 200
    assert "服务水平" in response.text and 'class="rpt-chart"' in response.text
    assert "<script" not in response.text and "style=" not in response.text


def test_staffing_helper_uses_the_erlang_calculators(web: WebStack) -> None:
    from cti_server.staffing import (
        agents_for_service_level,
        agents_for_service_level_with_abandonment,
    )

    lead = web.login(TEAM_LEAD, lang="en")
    response = lead.get(
        "/ui/reports/staffing?calls=100&minutes=30&aht=180&target=80&answer=20&patience=60"
    )
    assert response.status_code == 200
    needed_c = agents_for_service_level(100 / 1800, 180, 0.8, 20)
    needed_a = agents_for_service_level_with_abandonment(100 / 1800, 180, 60, 0.8, 20)
    assert needed_c == 14 and needed_a <= needed_c  # 10 erlangs, 80 % in 20 s
    assert f'<dd class="rpt-needed-c">{needed_c}</dd>' in response.text
    assert f'<dd class="rpt-needed-a">{needed_a}</dd>' in response.text
    assert '<dd class="rpt-load">10.00</dd>' in response.text
    bad = lead.get("/ui/reports/staffing?calls=100&aht=-5")
    assert bad.status_code == 400 and "Enter a valid number." in bad.text


# --- intervals in time zones with DST (pure) ------------------------------------------------


def _hours(day: str, zone: str) -> list[str]:
    flt = rd.ReportFilter(dt.date.fromisoformat(day), dt.date.fromisoformat(day), zone, "60")
    starts = rd.buckets(flt)
    return rd.bucket_labels(starts, "60", flt.tz)


def test_dst_days_have_23_and_25_hourly_intervals() -> None:
    spring = _hours("2026-03-08", "America/New_York")
    assert len(spring) == 23 and "2026-03-08 02:00" not in spring
    autumn = _hours("2026-11-01", "America/New_York")
    assert len(autumn) == 25
    assert "2026-11-01 01:00 (-04:00)" in autumn and "2026-11-01 01:00 (-05:00)" in autumn
    assert len(_hours(DAY, "Asia/Shanghai")) == 24
    # a call at 01:30 EST (second 01:30 of the day) lands in the second 01:00 interval
    tz = rd.ReportFilter(dt.date(2026, 11, 1), dt.date(2026, 11, 1), "America/New_York").tz
    second = rd.bucket_of(dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "60", tz)
    assert second == dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    first = rd.bucket_of(dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "60", tz)
    assert first == dt.datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    week = rd.bucket_of(
        dt.datetime(2026, 3, 10, 17, 0, tzinfo=UTC), "week", zoneinfo.ZoneInfo("Asia/Shanghai")
    )
    assert week == dt.datetime(2026, 3, 8, 16, 0, tzinfo=UTC)  # Monday 03-09 00:00 +08:00


def test_data_driven_report_keys_exist_in_both_languages() -> None:
    from cti_server.web import reports
    from cti_server.web.i18n import MESSAGES

    flt = rd.ReportFilter(dt.date(2026, 3, 10), dt.date(2026, 3, 10))
    empty = rd.ReportData([], {}, {}, {}, [], [], [], dt.datetime(2026, 3, 11, tzinfo=UTC))
    report = rd.build_report(empty, flt)
    keys = {f"rpt_table_{k}" for k in reports.TABLE_ORDER}
    keys |= {f"rpt_interval_{i}" for i in rd.INTERVALS}
    keys |= {f"rpt_day_{d}" for d in rd.WEEKDAYS}
    for table in report.tables.values():
        keys |= {c for c in table.columns if c.startswith("rpt_")}
        keys |= {v for row in table.rows for v in row if isinstance(v, str) and "rpt_" in v}
    assert set(reports.TABLE_ORDER) == set(report.tables)
    missing = [k for k in keys if k not in MESSAGES or not all(MESSAGES[k])]
    assert not missing


def test_a_regional_team_lead_sees_calls_of_their_region_only(web: WebStack) -> None:
    seed_calls(web.engine)
    with web.engine.begin() as conn:
        sz = conn.execute(
            sa.select(Customer.id).where(Customer.region == "深圳").limit(1)
        ).scalar_one()
        conn.execute(sa.update(Agent).where(Agent.id == TEAM_LEAD).values(region="上海"))
    store = CallStore(web.engine)
    # A turns out to be a 深圳 customer's call
    store.record_event("RPT-A", K.TIER_IDENTIFIED, at("03-10 10:00:00"), {"customer_id": sz})
    figures = summary(page(web, f"from={DAY}&to={DAY}&interval=day&tz=UTC"))
    assert figures["Calls"] == "8" and figures["Offered"] == "6"  # A left out
