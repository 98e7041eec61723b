"""Outbound lists in the web console (issue 9): upload → fields and preview → background
import with progress → row-level error report, all or nothing unless "import the valid
rows"; a SQL source (administrators); extraction sets with AND/OR conditions → count →
target list; records by hand; the do-not-call list. SQLite and PostgreSQL, real uvicorn."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa

from cti_server.store.models import AuditEntry, ObDoNotCall, ObSource, ObSourceRow, ObTargetRecord
from tests.cti_server.web.web_support import ADMIN, AGENT_SH, TEAM_LEAD, Browser, WebStack

HEADER = ["Phone", "Name", "Account", "Region", "Type", "Balance"]
ROWS = [
    ["13800000001", "Li Lei", "A1", "Beijing", "vip", "120"],
    ["13800000002", "Han Meimei", "A2", "Shanghai", "normal", "80"],
    ["13800000003", "Wang Fang", "A3", "Beijing", "normal", "300"],
    ["13800000004", "Zhao Lei", "A4", "Guangzhou", "vip", "5"],
]
MAPPING = {f"map_{t}": t.capitalize() for t in ("phone", "name", "account", "region", "type")}


def _csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def _put(browser: Browser, name: str, body: bytes, *, csrf: str | None = None) -> Any:
    return browser.client.put(
        "/ui/outbound/uploads",
        params={"name": name},
        content=body,
        headers={"X-CSRF-Token": browser.csrf if csrf is None else csrf},
    )


def _upload(browser: Browser, name: str, body: bytes) -> str:
    answer = _put(browser, name, body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["url"])


def _wait(browser: Browser, job_url: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = browser.get(f"{job_url}/progress").json()
        if body["finished"]:
            return body
        time.sleep(0.05)
    raise AssertionError("import did not finish")


def _start(browser: Browser, target: str, **form: Any) -> str:
    started = browser.post(target, form)
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


def _rows(web: WebStack, source_id: int) -> list[dict[str, Any]]:
    with web.engine.connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                sa.select(ObSourceRow.data)
                .where(ObSourceRow.source_id == source_id)
                .order_by(ObSourceRow.line)
            )
        ]


def _last_source(web: WebStack) -> int:
    return int(web.scalar(sa.select(sa.func.max(ObSource.id))))


def test_only_leads_and_admins(web: WebStack) -> None:
    agent = web.login(AGENT_SH)
    assert agent.get("/ui/outbound").status_code == 403
    lead = web.login(TEAM_LEAD, lang="en")
    page = lead.get("/ui/outbound")
    assert page.status_code == 200
    assert "Outbound lists" in page.text
    assert 'href="/ui/outbound"' in lead.get("/ui/").text
    assert 'id="ob-sql"' not in lead.get("/ui/outbound/import").text  # admins only
    assert lead.post("/ui/outbound/sql", {"url": "sqlite://"}).status_code == 403


def test_xlsx_upload_preview_and_import(web: WebStack, tmp_path: Path) -> None:
    lead = web.login(TEAM_LEAD, lang="en")
    path = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in ROWS:
        sheet.append([int(row[0]), *row[1:5], float(row[5])])
    book.save(path)
    url = _upload(lead, "May list.xlsx", path.read_bytes())
    preview = lead.get(url)
    assert preview.status_code == 200
    assert "<th>Balance</th>" in preview.text and "<td>Wang Fang</td>" in preview.text
    job = _start(lead, url, name="May", required="Phone")
    assert _wait(lead, job)["state"] == "succeeded"
    page = lead.get(job).text
    assert '<dd data-key="imported">4</dd>' in page
    source_id = _last_source(web)
    assert _rows(web, source_id)[0] == dict(zip(HEADER, ROWS[0], strict=True))
    assert lead.get(url).status_code == 404  # the upload was used


def test_bad_csv_imports_nothing_then_valid_rows_on_request(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD, lang="en")
    body = _csv_bytes([HEADER, ROWS[0], ["", "No phone", "A9", "X", "y", "1"], ROWS[1]])
    body += b"13800000005,Extra,A5,B,t,1,SURPLUS\n"
    url = _upload(lead, "bad.csv", body)
    job = _start(lead, url, required="Phone")
    assert _wait(lead, job)["state"] == "refused"
    page = lead.get(job).text
    assert '<tr data-line="3">' in page and '<tr data-line="5">' in page
    assert "empty (required)" in page
    assert web.scalar(sa.select(sa.func.count()).select_from(ObSourceRow)) == 0
    report = lead.get(f"{job}/errors.csv")
    assert report.text.lstrip("\ufeff").splitlines()[1] == "3,Phone,empty (required)"
    retry = lead.get(url)  # the refused file stays for "import the valid rows"
    assert retry.status_code == 200
    job = _start(lead, url, required="Phone", valid_rows_only="1")
    assert _wait(lead, job)["state"] == "succeeded"
    assert [r["Name"] for r in _rows(web, _last_source(web))] == ["Li Lei", "Han Meimei"]


def test_upload_refusals(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD, lang="en")
    assert _put(lead, "a.csv", b"x\n1\n", csrf="forged").status_code == 403
    wrong = _put(lead, "a.pdf", b"%PDF")
    assert wrong.status_code == 422 and ".xls" in wrong.json()["message"]
    assert _put(lead, "a.csv", b"").status_code == 422
    broken = _upload(lead, "broken.xls", b"not a workbook")
    page = lead.get(broken)
    assert page.status_code == 422 and "cannot open as Excel .xls" in page.text


def test_sql_source_for_admins(web: WebStack, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crm.sqlite3"
    source = sa.create_engine(url)
    with source.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE crm (phone TEXT, name TEXT)")
        conn.exec_driver_sql("INSERT INTO crm VALUES ('13900000001', 'A'), ('13900000002', 'B')")
    source.dispose()
    admin = web.login(ADMIN, lang="en")
    shown = admin.post("/ui/outbound/sql", {"url": url, "table_name": "crm", "action": "preview"})
    assert shown.status_code == 200 and "<td>13900000002</td>" in shown.text
    job = _start(admin, "/ui/outbound/sql", url=url, table_name="crm", action="import")
    assert _wait(admin, job)["state"] == "succeeded"
    assert _rows(web, _last_source(web)) == [
        {"phone": "13900000001", "name": "A"},
        {"phone": "13900000002", "name": "B"},
    ]
    bad = admin.post("/ui/outbound/sql", {"url": url, "query": "DELETE FROM crm"})
    assert bad.status_code == 422 and "SELECT" in bad.text


def _source(web: WebStack, lead: Browser) -> int:
    url = _upload(lead, "list.csv", _csv_bytes([HEADER, *ROWS]))
    assert _wait(lead, _start(lead, url))["state"] == "succeeded"
    return _last_source(web)


def test_set_build_count_run_and_records(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD, lang="en")
    source_id = _source(web, lead)
    form = lead.get(f"/ui/outbound/sets/new?source={source_id}").text
    assert '<option value="Balance">Balance</option>' in form
    conditions = {
        "op": "or",
        "items": [
            {"field": "Region", "operator": "=", "value": "Beijing"},
            {
                "op": "and",
                "items": [
                    {"field": "Type", "operator": "=", "value": "vip"},
                    {"field": "Balance", "operator": "<", "value": "10"},
                ],
            },
        ],
    }
    bad = lead.post(
        "/ui/outbound/sets",
        {
            "name": "X",
            "classification": "survey",
            "source_id": source_id,
            "conditions": json.dumps(
                {"items": [{"field": "Region') OR 1=1", "operator": "=", "value": "x"}]}
            ),
            **MAPPING,
        },
    )
    assert bad.status_code == 400 and 'data-field="conditions"' in bad.text
    made = lead.post(
        "/ui/outbound/sets",
        {
            "name": "Beijing or small VIP",
            "classification": "retention",
            "source_id": source_id,
            "conditions": json.dumps(conditions),
            **MAPPING,
        },
    )
    assert made.status_code == 303, made.text
    set_url = made.headers["location"].split("?")[0]
    counted = lead.post(set_url, {"action": "count"})
    assert "3 rows match now." in counted.text
    ran = lead.post(set_url, {"action": "run", "list_name": "Retention May"})
    assert ran.status_code == 303
    list_url = ran.headers["location"]
    page = lead.get(list_url).text
    assert "3 records made from 3 matching rows (0 skipped)." in page
    assert page.count("<tr data-record=") == 3 and "Han Meimei" not in page
    list_path = list_url.split("?")[0]
    missing = lead.post(list_path, {"phone": "x1", "name": "N"})
    assert missing.status_code == 400
    assert 'data-field="account"' in missing.text and 'data-field="phone"' in missing.text
    added = lead.post(
        list_path,
        {
            "phone": "139 0000 0009",
            "name": "Qian",
            "account": "A9",
            "region": "Tianjin",
            "type": "normal",
            "complaint": "late bill",
        },
    )
    assert added.status_code == 303
    record_id = web.scalar(sa.select(sa.func.max(ObTargetRecord.id)))
    edit = lead.post(
        f"/ui/outbound/records/{record_id}",
        {
            "phone": "13900000009",
            "name": "Qian Wu",
            "account": "A9",
            "region": "Tianjin",
            "type": "normal",
        },
    )
    assert edit.status_code == 303
    assert web.scalar(sa.select(ObTargetRecord.name).where(ObTargetRecord.id == record_id)) == (
        "Qian Wu"
    )
    lead.post(f"/ui/outbound/records/{record_id}", {"action": "delete"})
    assert web.scalar(sa.select(sa.func.count()).select_from(ObTargetRecord)) == 3
    renamed = lead.post(
        set_url,
        {
            "name": "Renamed",
            "classification": "retention",
            "source_id": source_id,
            "conditions": json.dumps(conditions),
            **MAPPING,
        },
    )
    assert renamed.status_code == 303
    assert "Renamed" in lead.get("/ui/outbound").text
    lead.post(set_url, {"action": "delete"})
    assert "Renamed" not in lead.get("/ui/outbound").text
    assert (
        web.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.entity == "ob_set")
        )
        == 4
    )  # create, run, update, delete


def test_dnc_page(web: WebStack) -> None:
    lead = web.login(TEAM_LEAD, lang="en")
    bad = lead.post("/ui/outbound/dnc", {"numbers": "13800000001\nnot a number"})
    assert bad.status_code == 400 and "line 2" in bad.text
    assert web.scalar(sa.select(sa.func.count()).select_from(ObDoNotCall)) == 0
    ok = lead.post("/ui/outbound/dnc", {"numbers": "138-0000-0001\n13800000002", "reason": "asked"})
    assert "2 numbers added." in ok.text
    assert '<tr data-number="13800000001">' in lead.get("/ui/outbound/dnc").text
    lead.post("/ui/outbound/dnc", {"action": "remove", "number": "13800000001"})
    assert '<tr data-number="13800000001">' not in lead.get("/ui/outbound/dnc").text
    # import: a file uploaded like any table, then its number field
    source_id = _source(web, lead)
    page = lead.post(
        "/ui/outbound/dnc", {"action": "source", "source_id": source_id, "column": "Phone"}
    )
    assert "3 numbers added." in page.text  # 13800000002 was on the list already
    assert web.scalar(sa.select(sa.func.count()).select_from(ObDoNotCall)) == 4
    wrong = lead.post(
        "/ui/outbound/dnc", {"action": "source", "source_id": source_id, "column": "Name"}
    )
    assert wrong.status_code == 400 and "is not a phone number" in wrong.text


def test_xls_upload(web: WebStack, tmp_path: Path) -> None:
    xlwt = pytest.importorskip("xlwt")  # writes real BIFF8 .xls (calamine only reads)
    book = xlwt.Workbook()
    sheet = book.add_sheet("Sheet1")
    for r, row in enumerate([HEADER, *ROWS]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    path = tmp_path / "old.xls"
    book.save(str(path))
    lead = web.login(TEAM_LEAD, lang="zh")
    url = _upload(lead, "旧名单.xls", path.read_bytes())
    assert "<td>Zhao Lei</td>" in lead.get(url).text
    job = _start(lead, url, name="旧名单")
    assert _wait(lead, job)["state"] == "succeeded"
    assert "已导入" in lead.get(job).text
    assert [r["Name"] for r in _rows(web, _last_source(web))] == [r[1] for r in ROWS]
