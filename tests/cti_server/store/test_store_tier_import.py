"""Bulk tier import/refresh from CSV and .xlsx (R-TIER-1, R-TIER-2, R-TIER-3)."""

from __future__ import annotations

import threading
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa

from cti_server.store import (
    TierDirectory,
    TierImportAborted,
    TierImportError,
    import_tiers,
)
from cti_server.store.tier_import import RowError, write_csv


def _customer(engine: sa.Engine, customer_id: str) -> dict[str, object] | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT id, name, region, tier_id, blacklisted FROM customers WHERE id = :i"),
            {"i": customer_id},
        ).first()
    return None if row is None else {**row._mapping, "blacklisted": bool(row.blacklisted)}


def _numbers(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT number, customer_id FROM customer_numbers")).all())


def _csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_imports_good_rows_and_reports_bad_rows(tiers: sa.Engine, tmp_path: Path) -> None:
    """R-TIER-3: a file upload imports what is valid and says exactly what is not."""
    source = _csv(
        tmp_path / "tiers.csv",
        "客户编号,客户名称,电话,客户层次,地区,黑名单\n"
        "C1,王伟,+86 138-0013-8000;010-12345678,vip,北京,否\n"
        "C2,李娜,not-a-number,gold,上海,否\n"
        "C3,张敏,13900139000,platinum,广州,否\n"
        "C4,刘洋,13700137000,,深圳,否\n"
        "C5,陈静,13600136000,普通,成都,maybe\n"
        "C6,杨磊,13500135000,GOLD,杭州,是\n"
        "\n"
        "C7,,13400134000,normal,,\n",
    )
    report = import_tiers(tiers, source)
    assert (report.rows_read, report.imported, report.updated, report.rejected) == (7, 3, 0, 4)
    assert report.errors == [
        RowError(
            3,
            "numbers",
            "'not-a-number': only digits, an optional leading + and separators are allowed",
        ),
        RowError(4, "tier", "unknown tier 'platinum'"),
        RowError(5, "tier", "missing"),
        RowError(6, "blacklisted", "expected yes/no, 1/0 or 是/否, got 'maybe'"),
    ]
    assert _customer(tiers, "C1") == {
        "id": "C1",
        "name": "王伟",
        "region": "北京",
        "tier_id": "vip",
        "blacklisted": False,
    }
    assert _customer(tiers, "C6")["tier_id"] == "gold"  # type: ignore[index]  # by name, any case
    assert _customer(tiers, "C6")["blacklisted"] is True  # type: ignore[index]
    assert _customer(tiers, "C2") is None and _customer(tiers, "C5") is None
    assert _numbers(tiers) == {
        "13800138000": "C1",
        "01012345678": "C1",
        "13500135000": "C6",
        "13400134000": "C7",
    }
    assert report.encoding == "utf-8"


def test_xlsx_import_streams_rows_and_catches_lost_leading_zeros(
    tiers: sa.Engine, tmp_path: Path
) -> None:
    path = tmp_path / "tiers.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["customer_id", "name", "number", "tier"])
    sheet.append(["C1", "王伟", 13800138000, "vip"])  # numeric cell, a mobile: fine
    sheet.append(["C2", "李娜", 1012345678, "gold"])  # numeric landline lost its 0
    sheet.append(["C3", "张敏", "010-87654321", "normal"])
    sheet.append([None, None, None, None])
    sheet.append(["C4", "刘洋", "+44 20 7946 0958", "bogus"])
    workbook.save(path)

    progress: list[tuple[int, int | None]] = []
    report = import_tiers(
        tiers, path, on_progress=lambda done, total: progress.append((done, total))
    )
    assert (report.rows_read, report.imported, report.rejected) == (4, 2, 2)
    assert [(e.line, e.field) for e in report.errors] == [(3, "numbers"), (6, "tier")]
    assert "leading 0" in report.errors[0].problem
    assert _numbers(tiers) == {"13800138000": "C1", "01087654321": "C3"}
    assert progress[-1] == (4, 4)


def test_gbk_csv_is_detected_and_bom_is_ignored(tiers: sa.Engine, tmp_path: Path) -> None:
    text = "电话,客户层次,姓名\n13800138000,vip,王伟\n"
    gbk = import_tiers(tiers, _csv(tmp_path / "gbk.csv", text, "gbk"))
    assert gbk.encoding == "gb18030" and gbk.imported == 1
    bom = import_tiers(tiers, _csv(tmp_path / "bom.csv", text, "utf-8-sig"))
    assert bom.encoding == "utf-8-sig" and bom.updated == 1 and bom.rejected == 0
    assert _customer(tiers, "13800138000")["name"] == "王伟"  # type: ignore[index]


def test_explicit_mapping_encoding_and_delimiter(tiers: sa.Engine, tmp_path: Path) -> None:
    source = _csv(tmp_path / "x.txt", "Kunde;Tel;Stufe\nK1;13800138000;gold\n", "latin-1")
    report = import_tiers(
        tiers,
        source,
        mapping={"customer_id": "Kunde", "numbers": "Tel", "tier": "Stufe"},
        encoding="latin-1",
    )
    assert report.imported == 1 and _numbers(tiers) == {"13800138000": "K1"}
    with pytest.raises(TierImportError, match="unknown encoding"):
        import_tiers(tiers, source, encoding="no-such-codec")
    with pytest.raises(TierImportError, match="column 'Phone'"):
        import_tiers(tiers, source, mapping={"numbers": "Phone", "tier": "Stufe"})


def test_unusable_sources_are_typed_errors(tiers: sa.Engine, tmp_path: Path) -> None:
    with pytest.raises(TierImportError, match="missing required column"):
        import_tiers(tiers, _csv(tmp_path / "a.csv", "name,region\nx,y\n"))
    with pytest.raises(TierImportError, match="unsupported file type"):
        import_tiers(tiers, _csv(tmp_path / "a.json", "{}"))
    with pytest.raises(TierImportError, match="no such file"):
        import_tiers(tiers, tmp_path / "missing.csv")
    with pytest.raises(TierImportError, match="cannot open"):
        import_tiers(tiers, _csv(tmp_path / "broken.xlsx", "not a zip"))
    empty = import_tiers(tiers, _csv(tmp_path / "empty.csv", ""))
    assert empty.rows_read == 0 and empty.accepted == 0


def test_refresh_updates_only_given_columns_and_moves_numbers(tiers: sa.Engine) -> None:
    import_tiers(
        tiers,
        [
            {"customer_id": "C1", "name": "王伟", "numbers": "13800138000", "tier": "vip"},
            {"customer_id": "C2", "name": "李娜", "numbers": "13900139000", "tier": "gold"},
        ],
    )
    # No name column: names stay; the number 13900139000 now belongs to C1.
    report = import_tiers(
        tiers, [{"customer_id": "C1", "numbers": "13900139000", "tier": "normal"}]
    )
    assert (report.imported, report.updated) == (0, 1)
    assert _customer(tiers, "C1")["name"] == "王伟"  # type: ignore[index]
    assert _customer(tiers, "C1")["tier_id"] == "normal"  # type: ignore[index]
    assert _numbers(tiers) == {"13800138000": "C1", "13900139000": "C1"}
    # replace_numbers: the file is authoritative for the listed customers' numbers.
    import_tiers(
        tiers,
        [{"customer_id": "C1", "numbers": "13700137000", "tier": "normal"}],
        replace_numbers=True,
    )
    assert _numbers(tiers) == {"13700137000": "C1"}


def test_rows_without_customer_id_update_the_number_owner(tiers: sa.Engine) -> None:
    first = import_tiers(tiers, [{"numbers": "+86 138 0013 8000", "tier": "gold"}])
    assert first.imported == 1 and _numbers(tiers) == {"13800138000": "13800138000"}
    import_tiers(tiers, [{"customer_id": "C1", "numbers": "13900139000", "tier": "vip"}])
    import_tiers(tiers, [{"customer_id": "C1", "numbers": "13900139000", "tier": "vip"}])
    again = import_tiers(
        tiers,
        [
            {"numbers": "13900139000", "tier": "normal"},
            {"numbers": "13900139000", "tier": "gold"},  # same chunk: last row wins
        ],
    )
    assert (again.imported, again.updated) == (0, 1)
    assert _customer(tiers, "C1")["tier_id"] == "gold"  # type: ignore[index]


def test_progress_reports_after_each_committed_chunk(tiers: sa.Engine, tmp_path: Path) -> None:
    rows = [(f"C{i}", f"1380013{i:04d}", "normal") for i in range(7)]
    write_csv(tmp_path / "p.csv", rows, header=["customer_id", "number", "tier"])
    seen: list[tuple[int, int | None, int]] = []

    def progress(done: int, total: int | None) -> None:
        with tiers.connect() as conn:  # committed before the callback runs
            count = conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one()
        seen.append((done, total, count))

    report = import_tiers(tiers, tmp_path / "p.csv", chunk_size=3, on_progress=progress)
    assert seen == [(3, 7, 3), (6, 7, 6), (7, 7, 7)]
    assert report.chunks_committed == 3


def test_a_failing_chunk_is_rolled_back_whole(tiers: sa.Engine) -> None:
    """Nothing half-written: a database failure mid-chunk leaves only whole earlier chunks."""
    with tiers.begin() as conn:
        if tiers.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON customers WHEN NEW.name = 'BOOM' "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.name = 'BOOM' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON customers "
                "FOR EACH ROW EXECUTE FUNCTION boom()"
            )
    rows = [
        {
            "customer_id": f"C{i}",
            "name": "BOOM" if i == 6 else f"n{i}",
            "numbers": f"1380013{i:04d}",
            "tier": "normal",
        }
        for i in range(1, 10)
    ]
    with pytest.raises(TierImportAborted, match="line 5") as info:
        import_tiers(tiers, rows, chunk_size=4)
    report = info.value.report
    assert report.chunks_committed == 1 and report.imported == 4  # type: ignore[attr-defined]
    with tiers.connect() as conn:
        ids = set(conn.execute(sa.text("SELECT id FROM customers")).scalars())
    assert ids == {"C1", "C2", "C3", "C4"}
    assert set(_numbers(tiers).values()) == {"C1", "C2", "C3", "C4"}


def test_lookups_keep_working_while_an_import_runs(make_db: object, tmp_path: Path) -> None:
    """R-TIER-2: a bulk import on SQLite WAL does not block or break live look-ups."""
    engine = make_db("sqlite")  # type: ignore[operator]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tiers (id, name, sl_seconds, sl_target, priority_weight, skip_ivr,"
                " blacklist_action) VALUES ('vip','VIP',10,0.9,3,1,'bar'),"
                " ('normal','普通',20,0.8,1,0,'bar')"
            )
        )
    import_tiers(engine, [{"customer_id": "K1", "numbers": "13800138000", "tier": "vip"}])
    rows = [(f"C{i}", f"139{i:08d}", "normal") for i in range(8_000)]
    write_csv(tmp_path / "big.csv", rows, header=["customer_id", "number", "tier"])
    directory = TierDirectory(engine, max_entries=0)  # every look-up hits the database
    outcome: dict[str, object] = {}

    def run_import() -> None:
        try:
            outcome["report"] = import_tiers(
                engine, tmp_path / "big.csv", chunk_size=500, directory=directory
            )
        except BaseException as exc:  # surfaced by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=run_import)
    worker.start()
    lookups = 0
    while worker.is_alive() or lookups < 50:
        found = directory.lookup("+86 138 0013 8000")
        assert found is not None and found.tier_id == "vip"
        lookups += 1
    worker.join()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["report"].imported == 8_000  # type: ignore[attr-defined]
    assert directory.lookup("13900007999").customer_id == "C7999"  # type: ignore[union-attr]
