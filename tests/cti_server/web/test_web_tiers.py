"""Customer tiers in the web console (R-TIER-3): file upload → column mapping with a
preview → background import with progress → row-level error report (page and CSV),
all or nothing unless "import the valid rows"; browse / search / edit customers
(audited, live in the tier cache); SQL refresh sources (masked credentials, run now,
run history). SQLite and PostgreSQL (``OPENCC_TEST_PG_URL``), real uvicorn."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa

from cti_server.http import create_app
from cti_server.store import ConfigStore, TierDirectory
from cti_server.store.models import AuditEntry, Customer, CustomerNumber, TierRefreshRun
from cti_server.store.tier_refresh import TierRefreshScheduler
from cti_server.web import WebSettings
from cti_server.web.tiers_data import TierLink
from tests.cti_server.http.http_support import ServerThread, Stack
from tests.cti_server.web.conftest import FAST_HASHER, _backends
from tests.cti_server.web.web_support import (
    ADMIN,
    AGENT_SH,
    TEAM_LEAD,
    Browser,
    WebStack,
    csrf_of,
)

SECRET = "s3cr3t-pw"


@dataclass
class TierStack:
    web: WebStack
    directory: TierDirectory
    scheduler: TierRefreshScheduler
    folder: Path

    @property
    def engine(self) -> sa.Engine:
        return self.web.engine


@pytest.fixture(params=_backends())
def tiers(
    request: pytest.FixtureRequest,
    make_web_db: Callable[[str], sa.Engine],
    tmp_path: Path,
) -> Iterator[TierStack]:
    """The seeded demo behind a real HTTP server whose tier pages have the live tier
    cache and a running refresh scheduler (as ``cti_server.app`` wires them)."""
    engine = make_web_db(request.param)
    directory = TierDirectory(engine)
    store = ConfigStore(engine, tier_directory=directory, hasher=FAST_HASHER)
    scheduler = TierRefreshScheduler(engine, directory=directory, poll_seconds=0.2)
    link = TierLink(directory=directory, scheduler=scheduler, upload_dir=tmp_path / "uploads")
    app = create_app(
        config_store=store,
        tier_directory=directory,
        db_engine=engine,
        web=WebSettings(tiers=link),
    )
    server = ServerThread(app)
    server.start()
    scheduler.start()
    stack = Stack(engine, store, directory, app, server)
    try:
        yield TierStack(WebStack(stack), directory, scheduler, tmp_path)
    finally:
        link.close()
        stack.close()


# --- helpers -------------------------------------------------------------------------------


def _csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def _put(browser: Browser, name: str, body: bytes, *, csrf: str | None = None) -> Any:
    return browser.client.put(
        "/ui/tiers/uploads",
        params={"name": name},
        content=body,
        headers={"X-CSRF-Token": browser.csrf if csrf is None else csrf},
    )


def _upload(browser: Browser, name: str, body: bytes) -> str:
    answer = _put(browser, name, body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["ok"] is True
    return str(answer.json()["url"])


def _wait(browser: Browser, job_url: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        body: dict[str, Any] = browser.get(f"{job_url}/progress").json()
        seen.append(body["state"])
        if body["finished"]:
            body["seen"] = seen
            return body
        time.sleep(0.05)
    raise AssertionError(f"import did not finish: {seen[-5:]}")


def _customer(engine: sa.Engine, customer_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(Customer.name, Customer.tier_id, Customer.region).where(
                Customer.id == customer_id
            )
        ).first()
        if row is None:
            return None
        numbers = sorted(
            conn.execute(
                sa.select(CustomerNumber.number).where(CustomerNumber.customer_id == customer_id)
            ).scalars()
        )
    return {"name": row.name, "tier": row.tier_id, "region": row.region, "numbers": numbers}


def _audits(engine: sa.Engine, **match: str) -> list[Any]:
    with engine.connect() as conn:
        query = sa.select(AuditEntry).order_by(AuditEntry.id)
        for key, value in match.items():
            query = query.where(getattr(AuditEntry, key) == value)
        return list(conn.execute(query).all())


# A file whose headers the importer does not know: the mapping is needed. Line 3 has an
# unknown tier, line 5 a bad number; the others are valid.
ROWS = [
    ["Kunde", "Telefon", "Stufe", "Kundenname", "Gebiet"],
    ["K1", "13811110001", "gold", "王一", "上海"],
    ["K2", "13811110002", "platinum", "王二", "上海"],
    ["K3", "13811110003;010-66660003", "VIP", "王三", "深圳"],
    ["K4", "call-me", "normal", "王四", "北京"],
]
MAPPING = {
    "map_customer_id": "Kunde",
    "map_numbers": "Telefon",
    "map_tier": "Stufe",
    "map_name": "Kundenname",
    "map_region": "Gebiet",
}


# --- file import ---------------------------------------------------------------------------


def test_upload_mapping_preview_and_all_or_nothing_import(tiers: TierStack) -> None:
    admin = tiers.web.login(ADMIN, lang="en")
    page = admin.get("/ui/tiers/import")
    assert page.status_code == 200 and 'id="tier-upload"' in page.text
    assert "/ui/static/tiers.js" in page.text and "<script>" not in page.text

    mapping_url = _upload(admin, "tiers.csv", _csv_bytes(ROWS))
    mapping = admin.get(mapping_url)
    assert mapping.status_code == 200
    # the file's columns are offered for every field, the first rows are previewed
    assert re.findall(r"<th>([^<]+)</th>", mapping.text.split('id="tier-preview"')[1])[:5] == [
        "Kunde",
        "Telefon",
        "Stufe",
        "Kundenname",
        "Gebiet",
    ]
    assert "<td>call-me</td>" in mapping.text and "about 4 rows" in mapping.text
    # a required field left unmapped is a field error; nothing starts
    missing = admin.post(mapping_url, {**MAPPING, "map_tier": ""})
    assert missing.status_code == 400
    assert 'data-field="map_tier"' in missing.text
    assert "Choose a column for this field." in missing.text
    twice = admin.post(mapping_url, {**MAPPING, "map_name": "Kunde"})
    assert twice.status_code == 400 and "already used for another field" in twice.text

    # all or nothing (the default): two bad rows, so nothing is written
    started = admin.post(mapping_url, MAPPING)
    assert started.status_code == 303
    job_url = started.headers["location"]
    done = _wait(admin, job_url)
    assert done["state"] == "refused" and done["percent"] == 100.0
    assert done["summary"]["rows_read"] == 4 and done["summary"]["rejected"] == 2
    for customer_id in ("K1", "K3"):
        assert _customer(tiers.engine, customer_id) is None
    report = admin.get(job_url)
    assert "not imported: the file has bad rows (nothing was changed)" in report.text
    lines = re.findall(r'<tr data-line="(\d+)"><td class="num">\d+</td><td>(\w+)</td>', report.text)
    assert lines == [("3", "tier"), ("5", "numbers")]
    assert "unknown tier &#39;platinum&#39;" in report.text
    errors = admin.get(f"{job_url}/errors.csv")
    assert errors.headers["content-type"].startswith("text/csv")
    assert "attachment" in errors.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows[0] == ["row", "field", "problem"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("3", "tier"), ("5", "numbers")]
    assert rows[1][2] == "unknown tier 'platinum'"
    # nothing was written, so the file stays uploaded: the report offers it again
    assert f'id="tier-retry" href="{mapping_url}"' in report.text
    assert admin.get(mapping_url).status_code == 200

    audit = _audits(tiers.engine, action="import", entity="tier_import")
    assert audit[-1].actor == ADMIN
    assert audit[-1].after["state"] == "refused" and audit[-1].after["file"] == "tiers.csv"
    assert audit[-1].after["mapping"]["numbers"] == "Telefon"

    # the same upload, its valid rows this time; then the upload is spent
    retried = admin.post(mapping_url, {**MAPPING, "valid_rows_only": "1"})
    assert _wait(admin, retried.headers["location"])["state"] == "succeeded"
    assert _customer(tiers.engine, "K1") is not None and _customer(tiers.engine, "K2") is None
    gone = admin.get(mapping_url)
    assert gone.status_code == 404 and "no longer available" in gone.text


def test_import_the_valid_rows_writes_them_and_the_tier_cache_follows(
    tiers: TierStack,
) -> None:
    admin = tiers.web.login(ADMIN, lang="en")
    # a look-up before the import caches "not a customer" for K1's number
    assert tiers.directory.lookup("13811110001") is None
    mapping_url = _upload(admin, "tiers.csv", _csv_bytes(ROWS))
    started = admin.post(mapping_url, {**MAPPING, "valid_rows_only": "1"})
    assert started.status_code == 303
    job_url = started.headers["location"]
    done = _wait(admin, job_url)
    assert done["state"] == "succeeded"
    assert done["summary"]["imported"] == 2 and done["summary"]["rejected"] == 2
    assert _customer(tiers.engine, "K1") == {
        "name": "王一",
        "tier": "gold",
        "region": "上海",
        "numbers": ["13811110001"],
    }
    assert _customer(tiers.engine, "K3") == {
        "name": "王三",
        "tier": "vip",
        "region": "深圳",
        "numbers": ["01066660003", "13811110003"],
    }
    assert _customer(tiers.engine, "K2") is None and _customer(tiers.engine, "K4") is None
    # the running server's look-up sees the new customer at once (cache invalidated)
    found = tiers.directory.lookup("13811110001")
    assert found is not None and found.tier_id == "gold"
    report = admin.get(job_url)
    assert 'data-key="imported">2<' in report.text and 'data-key="rejected">2<' in report.text
    assert 'id="tier-errors-csv"' in report.text
    listing = admin.get("/ui/tiers/import")
    assert "tiers.csv" in listing.text and ">done<" in listing.text


def test_xlsx_upload_and_refused_uploads(tiers: TierStack) -> None:
    admin = tiers.web.login(ADMIN, lang="en")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["客户编号", "电话", "客户层次", "姓名"])
    sheet.append(["X1", "13822220001", "gold", "李一"])
    sheet.append(["X2", "13822220002", "normal", "李二"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    mapping_url = _upload(admin, "客户.xlsx", buffer.getvalue())
    mapping = admin.get(mapping_url)
    # Chinese headers are recognised: the mapping is pre-selected
    assert '<option value="电话" selected>' in mapping.text
    assert '<option value="客户层次" selected>' in mapping.text
    form = {
        f"map_{k}": v
        for k, v in {
            "customer_id": "客户编号",
            "numbers": "电话",
            "tier": "客户层次",
            "name": "姓名",
        }.items()
    }
    job_url = admin.post(mapping_url, form).headers["location"]
    assert _wait(admin, job_url)["state"] == "succeeded"
    assert _customer(tiers.engine, "X2") == {
        "name": "李二",
        "tier": "normal",
        "region": "",
        "numbers": ["13822220002"],
    }

    xls = _put(admin, "old.xls", b"\xd0\xcf\x11\xe0 not really")
    assert xls.status_code == 422 and ".xlsx" in xls.json()["message"]
    assert _put(admin, "notes.pdf", b"%PDF").status_code == 422
    empty = _put(admin, "empty.csv", b"")
    assert empty.status_code == 422 and empty.json()["message"] == "The file is empty."
    broken = _upload(admin, "broken.xlsx", b"not a zip")
    unreadable = admin.get(broken)
    assert unreadable.status_code == 422 and "cannot be read" in unreadable.text
    # no or a foreign CSRF token: refused and audited, nothing received
    refused = _put(admin, "tiers.csv", _csv_bytes(ROWS), csrf="forged")
    assert refused.status_code == 403
    assert tiers.web.refusals(actor=ADMIN, reason="csrf")
    assert list((tiers.folder / "uploads").glob("*.csv")) == []


def test_roles_on_the_tier_pages(tiers: TierStack) -> None:
    lead = tiers.web.login(TEAM_LEAD, lang="en")
    listing = lead.get("/ui/tiers")
    assert listing.status_code == 200 and 'href="/ui/tiers"' in listing.text
    detail = lead.get("/ui/tiers/customers/C000002")
    assert detail.status_code == 200
    assert "Read only" in detail.text and 'id="tier-save"' not in detail.text
    refused = lead.post("/ui/tiers/customers/C000002", {"tier_id": "vip"})
    assert refused.status_code == 403
    assert _customer(tiers.engine, "C000002")["tier"] == "gold"  # type: ignore[index]
    for url in ("/ui/tiers/import", "/ui/tiers/refresh"):
        assert lead.get(url).status_code == 403
    assert tiers.web.refusals(actor=TEAM_LEAD, reason="role")
    agent = tiers.web.login(AGENT_SH, lang="en")
    assert agent.get("/ui/tiers").status_code == 403
    assert _put(agent, "x.csv", b"a,b\n").status_code == 403


def test_a_regional_team_lead_sees_their_region_only(tiers: TierStack) -> None:
    with tiers.engine.begin() as conn:
        conn.execute(sa.text("UPDATE agents SET region = '上海' WHERE id = :a"), {"a": TEAM_LEAD})
        shanghai = sorted(
            conn.execute(sa.select(Customer.id).where(Customer.region == "上海")).scalars()
        )
    lead = tiers.web.login(TEAM_LEAD, lang="en")
    listing = lead.get("/ui/tiers", params={"region": "深圳"})  # ignored: own region only
    assert shanghai and sorted(_ids(listing.text)) == shanghai[:50]
    assert lead.get("/ui/tiers/customers/C000001").status_code == 200  # 上海
    other = lead.get("/ui/tiers/customers/C000002")  # 深圳
    assert other.status_code == 403
    assert tiers.web.refusals(actor=TEAM_LEAD, reason="region")


# --- browse, search, edit --------------------------------------------------------------------


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr data-customer="([^"]+)">', html)


def test_search_by_number_name_id_tier_and_region(tiers: TierStack) -> None:
    admin = tiers.web.login(ADMIN, lang="en")
    assert _ids(admin.get("/ui/tiers", params={"q": "13900139000"}).text) == ["C000002"]
    assert _ids(admin.get("/ui/tiers", params={"q": "139-0013-9000"}).text) == ["C000002"]
    assert "C000002" in _ids(admin.get("/ui/tiers", params={"q": "1390013"}).text)
    assert _ids(admin.get("/ui/tiers", params={"q": "江志玲"}).text) == ["C000002"]
    assert _ids(admin.get("/ui/tiers", params={"q": "C000003"}).text) == ["C000003"]
    with tiers.engine.connect() as conn:
        vip = sorted(
            conn.execute(sa.select(Customer.id).where(Customer.tier_id == "vip")).scalars()
        )
        shanghai_gold = sorted(
            conn.execute(
                sa.select(Customer.id).where(Customer.tier_id == "gold", Customer.region == "上海")
            ).scalars()
        )
    assert _ids(admin.get("/ui/tiers", params={"tier": "vip"}).text) == vip
    found = admin.get("/ui/tiers", params={"tier": "gold", "region": "上海"}).text
    assert _ids(found) == shanghai_gold
    nothing = admin.get("/ui/tiers", params={"q": "no such customer"})
    assert _ids(nothing.text) == [] and 'id="tier-none"' in nothing.text


def test_editing_a_customer_is_audited_and_live(tiers: TierStack) -> None:
    admin = tiers.web.login(ADMIN, lang="en")
    cached = tiers.directory.lookup("13900139000")
    assert cached is not None and cached.tier_id == "gold"
    page = admin.get("/ui/tiers/customers/C000002")
    stamp = re.search(r'name="stamp" value="([^"]+)"', page.text)
    assert stamp
    form = {
        "stamp": stamp.group(1),
        "name": "江志玲",
        "region": "深圳",
        "tier_id": "vip",
        "numbers": "13900139000\n021-55556666",
    }
    saved = admin.post("/ui/tiers/customers/C000002", form)
    assert saved.status_code == 303
    assert "Saved" in admin.get(saved.headers["location"]).text
    assert _customer(tiers.engine, "C000002") == {
        "name": "江志玲",
        "tier": "vip",
        "region": "深圳",
        "numbers": ["02155556666", "13900139000"],
    }
    # the running server's cache gives the new tier now, for the old and the new number
    assert tiers.directory.lookup("13900139000").tier_id == "vip"  # type: ignore[union-attr]
    assert tiers.directory.lookup("02155556666").customer_id == "C000002"  # type: ignore[union-attr]
    row = _audits(tiers.engine, action="update", entity="customer", entity_id="C000002")[-1]
    assert row.actor == ADMIN
    assert row.before["tier_id"] == "gold" and row.before["numbers"] == ["13900139000"]
    assert row.after["tier_id"] == "vip" and row.after["numbers"] == ["02155556666", "13900139000"]

    # the form shown before that save is stale now: 409, nothing overwritten
    stale = admin.post("/ui/tiers/customers/C000002", {**form, "tier_id": "normal"})
    assert stale.status_code == 409 and "Someone changed this customer" in stale.text
    assert _customer(tiers.engine, "C000002")["tier"] == "vip"  # type: ignore[index]

    fresh = re.search(
        r'name="stamp" value="([^"]+)"', admin.get("/ui/tiers/customers/C000002").text
    )
    assert fresh
    bad = {**form, "stamp": fresh.group(1), "tier_id": "platinum", "numbers": "13800138000"}
    refused = admin.post("/ui/tiers/customers/C000002", bad)
    assert refused.status_code == 400
    assert 'data-field="tier_id"' in refused.text and "Unknown tier." in refused.text
    assert 'data-field="numbers"' in refused.text and "C000001" in refused.text  # owner
    too_long = admin.post(
        "/ui/tiers/customers/C000002", {**form, "stamp": fresh.group(1), "name": "x" * 201}
    )
    assert too_long.status_code == 400 and 'data-field="name"' in too_long.text
    bad_number = admin.post(
        "/ui/tiers/customers/C000002", {**form, "stamp": fresh.group(1), "numbers": "abc"}
    )
    assert bad_number.status_code == 400 and 'data-field="numbers"' in bad_number.text
    assert _customer(tiers.engine, "C000002")["tier"] == "vip"  # type: ignore[index]
    unchanged = admin.post("/ui/tiers/customers/C000002", {**form, "stamp": fresh.group(1)})
    assert unchanged.headers["location"].endswith("saved=0")
    assert admin.get("/ui/tiers/customers/NOPE").status_code == 404
    # no CSRF token: refused and audited
    forged = admin.post("/ui/tiers/customers/C000002", {**form, "tier_id": "normal"}, csrf="x")
    assert forged.status_code == 403
    assert _customer(tiers.engine, "C000002")["tier"] == "vip"  # type: ignore[index]


# --- SQL refresh -----------------------------------------------------------------------------


def _sqlite_source(path: Path, rows: list[tuple[str, str, str]]) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE IF EXISTS crm")
        conn.execute("CREATE TABLE crm (cust TEXT, phone TEXT, level TEXT)")
        conn.executemany("INSERT INTO crm VALUES (?, ?, ?)", rows)
    return f"sqlite:///{path}"


def _wait_run(engine: sa.Engine, source_id: str, count: int, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            runs = conn.execute(
                sa.select(TierRefreshRun)
                .where(TierRefreshRun.source_id == source_id, TierRefreshRun.state != "running")
                .order_by(TierRefreshRun.id)
            ).all()
        if len(runs) >= count:
            return runs[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"no run {count} of {source_id}")


def test_sql_source_runs_now_all_or_nothing_and_keeps_history(tiers: TierStack) -> None:
    admin = tiers.web.login(ADMIN, lang="en")
    url = _sqlite_source(
        tiers.folder / "crm.sqlite3",
        [("S1", "13833330001", "gold"), ("S2", "13833330002", "bogus")],
    )
    form = {
        "id": "crm",
        "name": "CRM nightly",
        "url": url,
        "table_name": "crm",
        "map_customer_id": "cust",
        "map_numbers": "phone",
        "map_tier": "level",
        "schedule": "daily",
        "daily_time": "02:30",
        "tz": "Asia/Shanghai",
        "enabled": "1",
    }
    created = admin.post("/ui/tiers/refresh", form)
    assert created.status_code == 303, created.text
    page = admin.get(created.headers["location"])
    assert "Saved; the scheduler uses it from now on." in page.text
    assert "No run yet." in page.text
    # preview: the source's columns and rows
    shown = admin.post("/ui/tiers/refresh/crm", {"action": "preview"})
    assert shown.status_code == 200 and "<th>phone</th>" in shown.text
    assert "<td>13833330002</td>" in shown.text
    # run now: all or nothing refuses the source with the bad row
    asked = admin.post("/ui/tiers/refresh/crm", {"action": "run"})
    assert asked.headers["location"].endswith("saved=run")
    first = _wait_run(tiers.engine, "crm", 1)
    assert (first.state, first.trigger, first.actor) == ("refused", "manual", ADMIN)
    assert (first.rows_read, first.rejected, first.imported) == (2, 1, 0)
    assert first.errors == [{"line": 2, "field": "tier", "problem": "unknown tier 'bogus'"}]
    assert _customer(tiers.engine, "S1") is None
    # import the valid rows instead
    saved = admin.post("/ui/tiers/refresh/crm", {**form, "valid_rows_only": "1"})
    assert saved.status_code == 303
    admin.post("/ui/tiers/refresh/crm", {"action": "run"})
    second = _wait_run(tiers.engine, "crm", 2)
    assert (second.state, second.imported, second.rejected) == ("succeeded", 1, 1)
    assert _customer(tiers.engine, "S1")["tier"] == "gold"  # type: ignore[index]
    assert tiers.directory.lookup("13833330001").tier_id == "gold"  # type: ignore[union-attr]
    history = admin.get("/ui/tiers/refresh/crm").text
    states = re.findall(r'<tr data-run="\d+" data-state="(\w+)">', history)
    assert states == ["succeeded", "refused"]
    assert "unknown tier &#39;bogus&#39;" in history
    errors = admin.get(f"/ui/tiers/refresh/crm/runs/{second.id}/errors.csv")
    assert "unknown tier 'bogus'" in errors.content.decode("utf-8-sig")
    listing = admin.get("/ui/tiers/refresh").text
    assert 'data-source="crm"' in listing and "02:30 Asia/Shanghai" in listing
    refresh_audit = _audits(tiers.engine, action="refresh", entity="tier_refresh_source")
    assert [a.after["state"] for a in refresh_audit] == ["refused", "succeeded"]
    deleted = admin.post("/ui/tiers/refresh/crm", {"action": "delete"})
    assert deleted.status_code == 303
    assert 'data-source="crm"' not in admin.get("/ui/tiers/refresh").text


def test_source_credentials_are_masked_everywhere(tiers: TierStack) -> None:
    admin = tiers.web.login(ADMIN, lang="en")
    url = f"postgresql+psycopg://reader:{SECRET}@127.0.0.1:9/crm?connect_timeout=2"
    form = {
        "id": "remote",
        "url": url,
        "query": "SELECT cust AS customer_id, phone AS number, level AS tier FROM crm",
        "schedule": "interval",
        "interval_minutes": "30",
        "tz": "UTC",
        "enabled": "1",
    }
    assert admin.post("/ui/tiers/refresh", form).status_code == 303
    page = admin.get("/ui/tiers/refresh/remote").text
    assert SECRET not in page and "reader:***@127.0.0.1" in page
    assert SECRET not in admin.get("/ui/tiers/refresh").text
    # saving the form as shown (masked) keeps the stored password
    shown = re.search(r'name="url" value="([^"]+)"', page)
    assert shown and "***" in shown.group(1)
    edit = {**form, "url": shown.group(1).replace("&amp;", "&"), "interval_minutes": "45"}
    assert admin.post("/ui/tiers/refresh/remote", edit).status_code == 303
    with tiers.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT url FROM tier_refresh_sources")).scalar_one()
    assert f"reader:{SECRET}@" in stored
    # a run against an unreachable server fails with a masked message
    admin.post("/ui/tiers/refresh/remote", {"action": "run"})
    run = _wait_run(tiers.engine, "remote", 1)
    assert run.state == "failed" and run.message and SECRET not in run.message
    for entry in _audits(tiers.engine, entity="tier_refresh_source"):
        assert SECRET not in str(entry.before) and SECRET not in str(entry.after)
    # bad settings are field errors; nothing stored
    bad = admin.post(
        "/ui/tiers/refresh",
        {**form, "id": "Bad Id", "url": "nonsense", "query": "DELETE FROM crm", "tz": "Mars/X"},
    )
    assert bad.status_code == 400
    for name in ("id", "url"):
        assert f'data-field="{name}"' in bad.text
    interval = admin.post("/ui/tiers/refresh", {**form, "id": "x2", "interval_minutes": "0"})
    assert interval.status_code == 400 and 'data-field="interval_minutes"' in interval.text
    query = admin.post("/ui/tiers/refresh", {**form, "id": "x3", "query": "DELETE FROM crm"})
    assert query.status_code == 400 and "only a SELECT query is run" in query.text
    both = admin.post("/ui/tiers/refresh", {**form, "id": "x4", "table_name": "crm"})
    assert both.status_code == 400 and "either a query or a table" in both.text
    with tiers.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM tier_refresh_sources")).scalar_one()
    assert count == 1


def test_every_tier_page_has_both_languages(tiers: TierStack) -> None:
    admin = tiers.web.login(ADMIN, lang="zh")
    page = admin.get("/ui/tiers")
    assert "客户与客户层次" in page.text and "号码、名称或客户编号" in page.text
    imported = admin.get("/ui/tiers/import")
    assert "从文件导入客户层次" in imported.text
    assert csrf_of(imported.text)
