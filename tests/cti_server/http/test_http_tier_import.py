"""Tier import through the API: upload, background job, progress, report (R-TIER-2, R-TIER-3)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import openpyxl  # type: ignore[import-untyped]
import pytest

from cti_server.http import HttpSettings
from cti_server.store import TierDirectory
from tests.cti_server.http.http_support import ADMIN, AGENT, TEAM_LEAD, Stack

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _wait(client: httpx.Client, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/tiers/import/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"import {job_id} did not finish")


def test_csv_import_reports_progress_and_row_errors(any_stack: Stack) -> None:
    """R-TIER-3: a team lead uploads a CSV; good rows are imported, bad rows reported with
    their line and field; look-ups see the new tiers; the import is audited."""
    csv_text = (
        "客户编号,客户名称,主叫号码,客户层次\n"
        "N001,甲,13911110001,vip\n"
        "N002,乙,13911110002;13911110003,gold\n"
        "N003,丙,not-a-number,gold\n"
        "N004,丁,13911110004,diamond\n"
        "C000001,Renamed,13800138000,normal\n"
    )
    # cached before the import: the import must invalidate it
    assert any_stack.directory.lookup("13800138000").tier_id == "vip"  # type: ignore[union-attr]
    lead = any_stack.client(TEAM_LEAD)
    answer = lead.post(
        "/api/v1/tiers/import",
        params={"format": "csv", "chunk_size": 2},
        content=csv_text.encode("utf-8"),
    )
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert answer.headers["location"] == accepted["status_url"]
    assert accepted["job"]["state"] in ("queued", "running", "succeeded")
    assert accepted["job"]["bytes_received"] == len(csv_text.encode("utf-8"))

    job = _wait(lead, accepted["job_id"])
    assert job["state"] == "succeeded", job
    assert job["rows_done"] == job["rows_total"] == 5
    assert job["progress"] == 1.0
    report = job["report"]
    assert (report["imported"], report["updated"], report["rejected"]) == (2, 1, 2)
    assert report["chunks_committed"] == 2
    problems = {(e["line"], e["field"]) for e in report["errors"]}
    assert problems == {(4, "numbers"), (5, "tier")}

    assert any_stack.directory.lookup("13911110003").tier_id == "gold"  # type: ignore[union-attr]
    assert any_stack.directory.lookup("13800138000").tier_id == "normal"  # type: ignore[union-attr]
    assert lead.get("/api/v1/tiers/import").json()[0]["id"] == accepted["job_id"]

    audit = any_stack.client(ADMIN).get("/api/v1/audit", params={"entity": "tier_import"})
    row = audit.json()["items"][0]
    assert (row["actor"], row["action"], row["entity_id"]) == ("9001", "import", job["id"])
    assert row["after"]["report"]["imported"] == 2


def test_xlsx_import_with_format_from_content_type(stack: Stack) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["numbers", "tier", "name", "blacklisted"])
    sheet.append(["13922220001", "VIP", "Excel One", "否"])
    sheet.append(["13922220002", "gold", "Excel Two", "是"])
    sheet.append(["13922220003", "", "No tier", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    admin = stack.client(ADMIN)
    answer = admin.post(
        "/api/v1/tiers/import", content=buffer.getvalue(), headers={"content-type": XLSX}
    )
    assert answer.status_code == 202, answer.text
    job = _wait(admin, answer.json()["job_id"])
    assert job["format"] == "xlsx"
    assert job["state"] == "succeeded", job
    assert job["report"]["imported"] == 2
    assert job["report"]["errors"] == [{"line": 4, "field": "tier", "problem": "missing"}]
    two = stack.directory.lookup("13922220002")
    assert two is not None and two.tier_id == "gold" and two.blacklisted


def test_lookups_keep_working_during_an_import(make_stack: Callable[..., Stack]) -> None:
    """R-TIER-2: live look-ups (uncached, straight to the database) are answered
    correctly and within 1 s while a chunked import writes."""
    stack = make_stack(settings=HttpSettings(import_chunk_size=500))
    rows = 20_000
    lines = ["numbers,tier"] + [f"1370000{n:04d},{'vip' if n % 2 else 'gold'}" for n in range(rows)]
    body = ("\n".join(lines) + "\n").encode()
    live = TierDirectory(stack.engine, max_entries=0)  # every look-up reads the database
    admin = stack.client(ADMIN)

    states: list[str] = []
    progress: list[int] = []
    stop = threading.Event()

    def watch(job_id: str) -> None:
        watcher = stack.client(ADMIN)
        while not stop.is_set():
            job = watcher.get(f"/api/v1/tiers/import/{job_id}").json()
            states.append(job["state"])
            progress.append(job["rows_done"])
            if job["state"] not in ("queued", "running"):
                return
            time.sleep(0.01)

    answer = admin.post("/api/v1/tiers/import?format=csv", content=body)
    assert answer.status_code == 202
    job_id = answer.json()["job_id"]
    watcher = threading.Thread(target=watch, args=(job_id,))
    watcher.start()
    lookups_while_running = 0
    slowest = 0.0
    try:
        while watcher.is_alive():
            started = time.perf_counter()
            vip = live.lookup("13800138000")
            blacklisted = live.lookup("13600136000")
            slowest = max(slowest, time.perf_counter() - started)
            assert vip is not None and vip.tier_id == "vip"
            assert blacklisted is not None and blacklisted.blacklisted
            if states and states[-1] == "running":
                lookups_while_running += 1
    finally:
        stop.set()
        watcher.join(30)
    job = _wait(admin, job_id)
    assert job["state"] == "succeeded"
    assert job["report"]["imported"] == rows
    assert lookups_while_running > 0
    assert any(0 < done < rows for done in progress), "no intermediate progress seen"
    assert slowest < 1.0
    assert live.lookup("13700001235").tier_id == "vip"  # type: ignore[union-attr]


def test_unusable_files_fail_the_job_with_a_message(stack: Stack) -> None:
    admin = stack.client(ADMIN)
    no_tier = admin.post("/api/v1/tiers/import?format=csv", content=b"numbers,name\n139,x\n")
    job = _wait(admin, no_tier.json()["job_id"])
    assert job["state"] == "failed"
    assert "tier" in job["error"]
    not_xlsx = admin.post("/api/v1/tiers/import?format=xlsx", content=b"this is no spreadsheet")
    job = _wait(admin, not_xlsx.json()["job_id"])
    assert job["state"] == "failed"
    assert "cannot open as .xlsx" in job["error"]
    assert "Traceback" not in str(job)


CSV_HEAD = b"numbers,tier\n"
UPLOAD_ERRORS: list[tuple[tuple[str, str], str, bytes, dict[str, str], int, str]] = [
    (AGENT, "?format=csv", CSV_HEAD, {}, 403, "forbidden"),
    (ADMIN, "", CSV_HEAD, {"content-type": "application/json"}, 422, "validation_error"),
    (ADMIN, "?format=pdf", CSV_HEAD, {}, 422, "validation_error"),
    (ADMIN, "?format=csv", b"", {}, 422, "empty_upload"),
    (ADMIN, "?format=csv", b"x" * 5000, {}, 413, "upload_too_large"),
]


@pytest.mark.parametrize("case", UPLOAD_ERRORS, ids=[c[-1] + c[1] for c in UPLOAD_ERRORS])
def test_upload_errors(
    make_stack: Callable[..., Stack],
    case: tuple[tuple[str, str], str, bytes, dict[str, str], int, str],
) -> None:
    auth, query, body, headers, status, code = case
    stack = make_stack(settings=HttpSettings(max_import_bytes=4096))
    answer = stack.client(auth).post(f"/api/v1/tiers/import{query}", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert stack.client(ADMIN).get("/api/v1/tiers/import").json() == []


def test_streamed_upload_over_the_limit_is_refused(make_stack: Callable[..., Stack]) -> None:
    """Without a Content-Length the limit applies while streaming."""
    stack = make_stack(settings=HttpSettings(max_import_bytes=4096))

    def chunks() -> Any:
        for _ in range(10):
            yield b"y" * 1000

    answer = stack.client(ADMIN).post("/api/v1/tiers/import?format=csv", content=chunks())
    assert answer.status_code == 413


def test_unknown_job_is_404(stack: Stack) -> None:
    answer = stack.client(TEAM_LEAD).get("/api/v1/tiers/import/deadbeef")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_cancel_a_queued_and_a_running_import(make_stack: Callable[..., Stack]) -> None:
    """One import runs at a time; a queued one can be cancelled before it starts, a running
    one stops after its current chunk (whole chunks stay committed)."""
    stack = make_stack(settings=HttpSettings(import_chunk_size=200))
    rows = 20_000
    lines = ["numbers,tier"] + [f"1371111{n:04d},gold" for n in range(rows)]
    admin = stack.client(ADMIN)
    first = admin.post("/api/v1/tiers/import?format=csv", content="\n".join(lines).encode())
    second = admin.post(
        "/api/v1/tiers/import?format=csv", content=b"numbers,tier\n13722220000,vip\n"
    )
    first_id, second_id = first.json()["job_id"], second.json()["job_id"]
    assert admin.get(f"/api/v1/tiers/import/{second_id}").json()["state"] == "queued"
    assert admin.delete(f"/api/v1/tiers/import/{second_id}").status_code == 202

    deadline = time.monotonic() + 20
    while admin.get(f"/api/v1/tiers/import/{first_id}").json()["rows_done"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    cancelled = admin.delete(f"/api/v1/tiers/import/{first_id}")
    assert cancelled.status_code == 202
    first_job = _wait(admin, first_id)
    assert first_job["state"] == "cancelled"
    assert 0 < first_job["rows_done"] < rows
    second_job = _wait(admin, second_id)
    assert second_job["state"] == "cancelled"
    assert second_job["started_at"] is None
    assert stack.directory.lookup("13722220000") is None
    assert stack.directory.lookup("13711110000") is not None  # first chunk committed
