"""Outbound lists: import of real .xlsx / .xls / CSV files and SQL source tables, the
condition compiler, extraction sets, target records, DNC and cooling (issue 9)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import audit, session_factory
from cti_server.store import outbound_lists as ob
from cti_server.store.models import ObSource, ObSourceRow, ObTargetRecord

HEADER = ["Phone", "Name", "Account", "Region", "Type", "Balance", "Joined", "Note"]
ROWS = [
    ["13800000001", "Li Lei", "A1", "Beijing", "vip", "120.5", "2024-01-05", "likes tea"],
    ["13800000002", "Han Meimei", "A2", "Shanghai", "normal", "80", "2023-06-30", ""],
    ["13800000003", "Wang Fang", "A3", "Beijing", "normal", "300", "2022-12-01", "50% off"],
    ["13800000004", "Zhao Lei", "A4", "Guangzhou", "vip", "n/a", "2025-02-11", "O'Brien"],
]
T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def sessions(engine: sa.Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def _csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _imported(engine: sa.Engine, tmp_path: Path, rows: list[list[str]] = ROWS) -> int:
    body = "\n".join(",".join(r) for r in [HEADER, *rows]) + "\n"
    report = ob.import_table(engine, ob.open_file(_csv(tmp_path, body)), actor="9001")
    assert report.state == "succeeded", report.errors
    return report.source_id


def _stored(engine: sa.Engine, source_id: int) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [
            r.data
            for r in session.scalars(
                sa.select(ObSourceRow)
                .where(ObSourceRow.source_id == source_id)
                .order_by(ObSourceRow.line)
            )
        ]


# --- import -------------------------------------------------------------------------------


def test_xlsx_import_keeps_every_field(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append([13800000001, "李雷", "A1", "北京", "vip", 120.5, dt.date(2024, 1, 5), None])
    sheet.append([13800000002, "Han", "A2", "Shanghai", "normal", 80, None, "x"])
    book.save(path)
    table = ob.open_file(path)
    assert table.columns == HEADER
    shown = ob.preview(ob.open_file(path))
    assert shown.rows[0][:2] == ["13800000001", "李雷"]
    report = ob.import_table(engine, table, actor="9001", name="May list")
    assert (report.state, report.imported, report.errors) == ("succeeded", 2, [])
    rows = _stored(engine, report.source_id)
    assert rows[0] == {
        "Phone": "13800000001",
        "Name": "李雷",
        "Account": "A1",
        "Region": "北京",
        "Type": "vip",
        "Balance": "120.5",
        "Joined": "2024-01-05",
        "Note": "",
    }
    assert rows[1]["Balance"] == "80"


def test_xls_import(engine: sa.Engine, tmp_path: Path) -> None:
    xlwt = pytest.importorskip("xlwt")  # writes real BIFF8 .xls (calamine only reads)
    book = xlwt.Workbook()
    sheet = book.add_sheet("Sheet1")
    for r, row in enumerate([HEADER, *ROWS[:2]]):
        for c, value in enumerate(row):
            sheet.write(r, c, float(value) if c == 5 and r else value)
    path = tmp_path / "old.xls"
    book.save(str(path))
    report = ob.import_table(engine, ob.open_file(path), actor="9001")
    assert (report.state, report.imported) == ("succeeded", 2)
    rows = _stored(engine, report.source_id)
    assert rows[0]["Name"] == "Li Lei"
    assert rows[0]["Balance"] == "120.5"
    assert rows[1]["Balance"] == "80"


def test_broken_xls_and_unknown_type_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xls"
    bad.write_bytes(b"this is not a workbook")
    with pytest.raises(ob.OutboundError, match=r"\.xls"):
        ob.open_file(bad)
    other = tmp_path / "x.pdf"
    other.write_bytes(b"%PDF")
    with pytest.raises(ob.OutboundError, match="unsupported"):
        ob.open_file(other)


def test_csv_bad_rows_import_nothing_unless_asked(engine: sa.Engine, tmp_path: Path) -> None:
    body = (
        "Phone,Name,Account\n"
        "13800000001,Li,A1\n"
        "13800000002,Han,A2,EXTRA\n"  # too many cells
        ",Nobody,A3\n"  # required Phone empty
        "13800000004,Zhao,A4\n"
    )
    path = _csv(tmp_path, body)
    report = ob.import_table(engine, ob.open_file(path), actor="9001", required=["Phone"])
    assert report.state == "refused"
    assert report.imported == 0
    assert [(e.line, e.column) for e in report.errors] == [(3, ""), (4, "Phone")]
    assert "4 cells but 3 columns" in report.errors[0].problem
    assert _stored(engine, report.source_id) == []
    with Session(engine) as session:
        assert session.get(ObSource, report.source_id).state == "refused"  # type: ignore[union-attr]
        assert session.scalar(sa.select(sa.func.count()).select_from(ObSourceRow)) == 0
    report = ob.import_table(
        engine, ob.open_file(path), actor="9001", required=["Phone"], valid_rows_only=True
    )
    assert (report.state, report.imported, report.rejected) == ("succeeded", 2, 2)
    assert [r["Name"] for r in _stored(engine, report.source_id)] == ["Li", "Zhao"]
    assert "errors" not in ob.errors_csv(report.errors)
    assert ob.errors_csv(report.errors).splitlines()[2] == "4,Phone,empty (required)"


def test_bad_header_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ob.OutboundError, match="appears twice"):
        ob.open_file(_csv(tmp_path, "a,b,a\n1,2,3\n"))
    with pytest.raises(ob.OutboundError, match="no header"):
        ob.open_file(_csv(tmp_path, "\n\n", "empty.csv"))


def test_gbk_csv(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("号码,姓名\n13800000001,张三\n".encode("gbk"))
    report = ob.import_table(engine, ob.open_file(path), actor="9001")
    assert _stored(engine, report.source_id) == [{"号码": "13800000001", "姓名": "张三"}]


def _fill_source_db(url: str, schema: str | None = None) -> None:
    source = sa.create_engine(url)
    meta = sa.MetaData(schema=schema)
    table = sa.Table(
        "crm_customers",
        meta,
        sa.Column("phone", sa.String(20)),
        sa.Column("name", sa.String(50)),
        sa.Column("balance", sa.Numeric(10, 2)),
        sa.Column("since", sa.Date),
    )
    meta.create_all(source)
    with source.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"phone": "13900000001", "name": "A", "balance": 10, "since": dt.date(2020, 1, 1)},
                {"phone": "13900000002", "name": "B", "balance": None, "since": None},
            ],
        )
    source.dispose()


def test_sqlite_source_table_and_query(engine: sa.Engine, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crm.sqlite3"
    _fill_source_db(url)
    shown = ob.preview(ob.open_sql(url, table_name="crm_customers"))
    assert shown.columns == ["phone", "name", "balance", "since"]
    report = ob.import_table(engine, ob.open_sql(url, table_name="crm_customers"), actor="9001")
    assert report.imported == 2
    assert _stored(engine, report.source_id)[0] == {
        "phone": "13900000001",
        "name": "A",
        "balance": "10.00",
        "since": "2020-01-01",
    }
    report = ob.import_table(
        engine,
        ob.open_sql(url, query="SELECT phone FROM crm_customers WHERE name = 'B'"),
        actor="9001",
    )
    assert _stored(engine, report.source_id) == [{"phone": "13900000002"}]
    with pytest.raises(ob.OutboundError, match="SELECT"):
        ob.open_sql(url, query="DELETE FROM crm_customers")
    with pytest.raises(ob.OutboundError, match="one statement"):
        ob.open_sql(url, query="SELECT 1; DROP TABLE crm_customers")


def test_postgresql_source_table(engine: sa.Engine) -> None:
    url = os.environ.get("OPENCC_TEST_PG_URL")
    if not url:
        pytest.skip("OPENCC_TEST_PG_URL is not set: PostgreSQL source skipped")
    schema = f"ob_src_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        _fill_source_db(url, schema)
        report = ob.import_table(
            engine, ob.open_sql(url, table_name=f"{schema}.crm_customers"), actor="9001"
        )
        rows = _stored(engine, report.source_id)
        assert [r["phone"] for r in rows] == ["13900000001", "13900000002"]
        assert rows[0]["balance"] == "10.00"
        assert rows[1]["since"] == ""
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


# --- condition compiler -------------------------------------------------------------------


def _names(sessions: sessionmaker[Session], source_id: int, tree: dict[str, Any]) -> list[str]:
    with sessions() as session:
        rows = session.scalars(ob.matching_rows(session, source_id, tree))
        return [r.data["Name"] for r in rows]


def _c(name: str, op: str, value: Any = None) -> dict[str, Any]:
    node: dict[str, Any] = {"field": name, "operator": op}
    if value is not None:
        node["value"] = value
    return node


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (_c("Region", "=", "Beijing"), ["Li Lei", "Wang Fang"]),
        (_c("Region", "!=", "Beijing"), ["Han Meimei", "Zhao Lei"]),
        (_c("Balance", "<", "100"), ["Han Meimei"]),
        (_c("Balance", "<=", "120.5"), ["Li Lei", "Han Meimei"]),
        (_c("Balance", ">", "100"), ["Li Lei", "Wang Fang"]),
        (_c("Balance", ">=", "300"), ["Wang Fang"]),
        (_c("Joined", ">=", "2024-01-01"), ["Li Lei", "Zhao Lei"]),
        (_c("Name", "contains", "LEI"), ["Li Lei", "Zhao Lei"]),
        (_c("Name", "not contains", "lei"), ["Han Meimei", "Wang Fang"]),
        (_c("Name", "starts with", "w"), ["Wang Fang"]),
        (_c("Name", "ends with", "mei"), ["Han Meimei"]),
        (_c("Type", "in", ["vip", "gold"]), ["Li Lei", "Zhao Lei"]),
        (_c("Region", "not in", "Beijing, Shanghai"), ["Zhao Lei"]),
        (_c("Note", "is empty"), ["Han Meimei"]),
        (_c("Note", "is not empty"), ["Li Lei", "Wang Fang", "Zhao Lei"]),
        (_c("Note", "contains", "%"), ["Wang Fang"]),  # LIKE wildcards are literal
        (_c("Note", "contains", "'"), ["Zhao Lei"]),
    ],
)
def test_every_operator(
    engine: sa.Engine,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    condition: dict[str, Any],
    expected: list[str],
) -> None:
    source_id = _imported(engine, tmp_path)
    assert _names(sessions, source_id, {"op": "and", "items": [condition]}) == expected


def test_and_or_nesting_and_injection(
    engine: sa.Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source_id = _imported(engine, tmp_path)
    tree = {
        "op": "or",
        "items": [
            {"op": "and", "items": [_c("Region", "=", "Beijing"), _c("Type", "=", "vip")]},
            {"op": "and", "items": [_c("Region", "=", "Guangzhou"), _c("Note", "is not empty")]},
        ],
    }
    assert _names(sessions, source_id, tree) == ["Li Lei", "Zhao Lei"]
    assert _names(sessions, source_id, {"op": "and", "items": []}) == [r[1] for r in ROWS]
    for evil in ("Beijing' OR '1'='1", 'x") OR 1=1 --', "'; DROP TABLE ob_source_rows; --"):
        assert _names(sessions, source_id, {"items": [_c("Region", "=", evil)]}) == []
        assert _names(sessions, source_id, {"items": [_c("Region", "in", [evil])]}) == []
        assert _names(sessions, source_id, {"items": [_c("Name", "contains", evil)]}) == []
    assert len(_stored(engine, source_id)) == 4
    with pytest.raises(ob.ConditionInvalid, match="no field"):
        _names(sessions, source_id, {"items": [_c("Region') OR 1=1 --", "=", "x")]})
    with pytest.raises(ob.ConditionInvalid, match="operator"):
        _names(sessions, source_id, {"items": [_c("Region", "LIKE", "x")]})
    with pytest.raises(ob.ConditionInvalid, match="'and' or 'or'"):
        _names(sessions, source_id, {"op": "xor", "items": []})
    deep: dict[str, Any] = {"items": []}
    for _ in range(ob.MAX_DEPTH + 1):
        deep = {"items": [deep]}
    with pytest.raises(ob.ConditionInvalid, match="deeper"):
        ob.validate_conditions(deep)


# --- sets and records ---------------------------------------------------------------------

MAPPING = {
    "phone": "Phone",
    "name": "Name",
    "account": "Account",
    "region": "Region",
    "type": "Type",
    "complaint": "Note",
}


def test_set_crud_and_run(
    engine: sa.Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [*ROWS, ["not-a-phone", "Bad", "A5", "Beijing", "vip", "1", "2024-01-01", ""]]
    source_id = _imported(engine, tmp_path, rows)
    vip = {"items": [_c("Type", "=", "vip")]}
    with pytest.raises(ob.RecordInvalid) as bad:
        ob.create_set(
            sessions,
            "9001",
            name="",
            classification="sales",
            source_id=source_id,
            conditions=vip,
            mapping={"phone": "Phone"},
        )
    assert set(bad.value.errors) == {
        "name",
        "classification",
        "map_name",
        "map_account",
        "map_region",
        "map_type",
    }
    set_id = ob.create_set(
        sessions,
        "9001",
        name="VIPs",
        classification="marketing",
        source_id=source_id,
        conditions=vip,
        mapping=MAPPING,
    )
    with pytest.raises(ob.RecordInvalid, match="another set"):
        ob.create_set(
            sessions,
            "9001",
            name="VIPs",
            classification="survey",
            source_id=source_id,
            conditions=vip,
            mapping=MAPPING,
        )
    with sessions() as session:
        assert ob.preview_set(session, set_id) == 3
    ob.update_set(
        sessions,
        "9001",
        set_id,
        name="VIP Beijing",
        conditions={"items": [*vip["items"], _c("Region", "=", "Beijing")]},
    )
    with sessions() as session:
        assert [s.name for s in ob.list_sets(session)] == ["VIP Beijing"]
        assert ob.preview_set(session, set_id) == 2
    report = ob.run_set(sessions, "9001", set_id, list_name="May VIPs")
    assert (report.selected, report.created) == (2, 1)
    assert report.skipped[0][0] == 6 and "phone" in report.skipped[0][1]
    with sessions() as session:
        records = ob.records(session, report.list_id)
        assert [(r.phone, r.name, r.complaint, r.status, r.attempts) for r in records] == [
            ("13800000001", "Li Lei", "likes tea", "new", 0)
        ]
        lists = ob.list_lists(session)
        assert [(v.name, v.classification, v.records) for v in lists] == [
            ("May VIPs", "marketing", 1)
        ]
    ob.delete_set(sessions, "9001", set_id)
    with sessions() as session:
        assert ob.list_sets(session) == []
        assert ob.list_lists(session)[0].records == 1  # the list stays
        actions = [(e.entity, e.action) for e in audit.entries(session, entity="ob_set")]
    assert ("ob_set", "delete") in actions and ("ob_set", "run") in actions


def test_records_by_hand(sessions: sessionmaker[Session]) -> None:
    list_id = ob.create_list(sessions, "9001", name="Callbacks", classification="callback")
    values = {
        "phone": "138-0000 0009",
        "name": "Qian",
        "account": "A9",
        "region": "Beijing",
        "type": "normal",
        "tier": "gold",
    }
    with pytest.raises(ob.RecordInvalid) as bad:
        ob.add_record(sessions, "9001", list_id, {**values, "phone": "call me", "account": ""})
    assert bad.value.errors == {"phone": "not a phone number", "account": "required"}
    record_id = ob.add_record(sessions, "9001", list_id, values)
    ob.update_record(sessions, "9001", record_id, {"brand": "Acme", "name": "Qian Wu"})
    with pytest.raises(ob.RecordInvalid):
        ob.update_record(sessions, "9001", record_id, {"region": " "})
    with sessions() as session:
        row = session.get(ObTargetRecord, record_id)
        assert row is not None
        assert (row.phone, row.name, row.brand, row.region) == (
            "13800000009",
            "Qian Wu",
            "Acme",
            "Beijing",
        )
    ob.delete_record(sessions, "9001", record_id)
    with sessions() as session:
        assert ob.records(session, list_id) == []


# --- DNC and cooling ----------------------------------------------------------------------


def test_dnc_and_cooling(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ob.RecordInvalid, match="line 2"):
        ob.add_dnc(sessions, "9001", ["13800000001", "nope"])
    with sessions() as session:
        assert ob.dialable(session, "13800000001", T0)
    assert ob.add_dnc(sessions, "9001", ["138 0000 0001", "13800000001", ""], reason="asked") == 1
    assert ob.add_dnc(sessions, "9001", ["13800000001"]) == 0
    with sessions.begin() as session:
        assert not ob.dialable(session, "138-0000-0001", T0)
        assert ob.not_dialable_reason(session, "13800000001", T0) == "dnc"
        ob.mark_dialled(session, "13800000002", T0)
    cooling = dt.timedelta(hours=4)
    with sessions() as session:
        assert ob.not_dialable_reason(session, "13800000002", T0, cooling=cooling) == "cooling"
        hour = dt.timedelta(hours=1)
        assert not ob.dialable(session, "13800000002", T0 + 3 * hour, cooling=cooling)
        assert ob.dialable(session, "13800000002", T0 + 4 * hour, cooling=cooling)
    assert ob.remove_dnc(sessions, "9001", "13800000001")
    assert not ob.remove_dnc(sessions, "9001", "13800000001")
    with sessions() as session:
        assert ob.dialable(session, "13800000001", T0)


def test_dnc_from_an_imported_file(
    engine: sa.Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    good = _csv(tmp_path, "Number,Why\n13800000011,asked\n138 0000 0012,\n,\n", "dnc.csv")
    source_id = ob.import_table(engine, ob.open_file(good), actor="9001").source_id
    assert ob.dnc_from_source(sessions, "9001", source_id, "Number", reason="file") == 2
    with sessions() as session:
        assert not ob.dialable(session, "13800000012", T0)
    bad = _csv(tmp_path, "Number\n13800000013\nnobody\n", "bad.csv")
    source_id = ob.import_table(engine, ob.open_file(bad), actor="9001").source_id
    with pytest.raises(ob.RecordInvalid, match="line 3"):
        ob.dnc_from_source(sessions, "9001", source_id, "Number")
    with pytest.raises(ob.RecordInvalid, match="no field"):
        ob.dnc_from_source(sessions, "9001", source_id, "Phone")
    with sessions() as session:
        assert ob.dialable(session, "13800000013", T0)  # nothing of the bad file was added
        with pytest.raises(ob.OutboundError, match="time zone"):
            ob.dialable(session, "13800000013", T0.replace(tzinfo=None))
