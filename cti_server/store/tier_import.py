"""Bulk tier import/refresh from CSV or Excel (.xlsx) (R-TIER-1, R-TIER-2, R-TIER-3).

The source is streamed, never loaded whole: CSV through :mod:`csv`, .xlsx
through openpyxl's read-only mode. Rows are validated one by one; bad rows
become :class:`RowError` entries (line, field, problem) and are skipped, good
rows are written in chunks of ``chunk_size``. Each chunk is one short
transaction that upserts its customers and numbers (``INSERT … ON CONFLICT DO
UPDATE`` on both PostgreSQL and SQLite) and commits, so live look-ups never
wait on the import and a chunk is either fully written or not at all. After
each commit the tier cache drops the chunk's numbers and customers and
``on_progress(rows_done, rows_total_or_None)`` is called.

Columns (header names, case-insensitive; English or Chinese aliases, or an
explicit ``mapping`` field -> header): ``numbers`` and ``tier`` are required;
``customer_id``, ``name``, ``region`` and ``blacklisted`` are optional. A
column that is absent leaves that attribute of existing customers unchanged.
Several numbers in one cell are separated by ``;``, ``,``, ``|``, ``、`` or
their full-width forms. Without a ``customer_id`` the row updates the customer
that already owns its first number, or creates a customer whose id is that
number. Within a chunk the last row for a customer or number wins.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from .db import dialect_insert
from .errors import InvalidNumber, TierImportAborted, TierImportError
from .models import ID_LEN, Customer, CustomerNumber, Tier, utcnow
from .numbers import normalise
from .tiers import TierDirectory

ProgressCallback = Callable[[int, int | None], None]

FIELDS = ("customer_id", "name", "numbers", "tier", "region", "blacklisted")
REQUIRED_FIELDS = ("numbers", "tier")
ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("customer_id", "customer id", "id", "客户编号", "客户id", "客户号"),
    "name": ("name", "customer_name", "客户名称", "客户姓名", "姓名", "名称"),
    "numbers": (
        "numbers",
        "number",
        "phone",
        "phones",
        "caller_number",
        "电话",
        "号码",
        "电话号码",
        "主叫号码",
    ),
    "tier": ("tier", "tier_id", "level", "客户层次", "层次", "客户等级", "等级"),
    "region": ("region", "area", "地区", "区域"),
    "blacklisted": ("blacklisted", "blacklist", "黑名单"),
}
_NUMBER_SPLIT = re.compile("[;,|\u3001\uff1b\uff0c\uff5c]")
_TRUE = {"1", "true", "yes", "y", "t", "是", "x"}
_FALSE = {"", "0", "false", "no", "n", "f", "否"}
# A numeric spreadsheet cell that looks like a landline which lost its leading 0.
_LOST_ZERO = re.compile(r"[1-9]\d{8,10}")
_KEEPS_NO_ZERO = re.compile(r"1[3-9]\d{9}|[48]00\d{7}|86\d+")
NAME_LEN = 200
REGION_LEN = 100
SAMPLE_BYTES = 64 * 1024
YIELD_EVERY_ROWS = 32


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one source row was rejected. ``line`` is the file's line/row number."""

    line: int
    field: str
    problem: str


@dataclass(slots=True)
class ImportReport:
    source: str
    rows_read: int = 0
    imported: int = 0  # customers created
    updated: int = 0  # existing customers updated
    rejected: int = 0
    numbers_written: int = 0
    chunks_committed: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_truncated: bool = False
    duration_seconds: float = 0.0
    encoding: str | None = None

    @property
    def accepted(self) -> int:
        return self.imported + self.updated


@dataclass(slots=True)
class _Row:
    line: int
    customer_id: str | None
    numbers: list[str]
    tier_id: str
    name: str | None
    region: str | None
    blacklisted: bool | None


# --- reading ------------------------------------------------------------------------------


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` with a BOM, else ``utf-8`` if the start decodes, else ``gb18030`` (GBK)."""
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
    except UnicodeDecodeError:
        raise TierImportError(
            f"{path}: not UTF-8 or GBK/GB18030; pass encoding= explicitly"
        ) from None
    return "gb18030"


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return lines


def _cell_text(value: object) -> tuple[str, bool]:
    """Text of a cell and whether it was numeric."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return ("1" if value else "0"), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else repr(value)), True
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(), False
    return str(value).strip(), False


def _iter_csv(
    path: Path, encoding: str, delimiter: str | None
) -> Iterator[tuple[int, list[tuple[str, bool]]]]:
    with path.open("r", encoding=encoding, errors="surrogateescape", newline="") as handle:
        if delimiter is None:
            first = handle.readline()
            handle.seek(0)
            delimiter = max((",", "\t", ";"), key=first.count)
        reader = csv.reader(handle, delimiter=delimiter)
        for record in reader:
            yield reader.line_num, [(cell.strip(), False) for cell in record]


def _iter_xlsx(path: Path, sheet: str | None) -> Iterator[tuple[int, list[tuple[str, bool]]]]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise TierImportError(f"{path}: cannot open as .xlsx: {exc}") from exc
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise TierImportError(f"{path}: no sheet {sheet!r} (have {workbook.sheetnames})")
            worksheet = workbook[sheet]
        else:
            worksheet = workbook.worksheets[0]
        for index, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield index, [_cell_text(v) for v in values]
    finally:
        workbook.close()


def _iter_mappings(
    rows: Iterable[Mapping[str, object]],
) -> Iterator[tuple[int, list[tuple[str, bool]]]]:
    """Rows given as mappings; the first row's keys are the header (later rows may omit keys)."""
    header: list[str] | None = None
    for index, row in enumerate(rows, start=1):
        if header is None:
            header = list(row.keys())
            yield 0, [(h, False) for h in header]
        extra = [k for k in row if k not in header]
        if extra:
            raise TierImportError(
                f"row {index}: keys {extra} are not in the first row's keys {header}"
            )
        yield index, [_cell_text(row.get(h)) for h in header]


def _xlsx_total(path: Path) -> int | None:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True)
        try:
            rows = workbook.worksheets[0].max_row
        finally:
            workbook.close()
    except Exception:
        return None
    return rows - 1 if rows else None


# --- validation -------------------------------------------------------------------------


class _Validator:
    def __init__(
        self, header: Sequence[str], mapping: Mapping[str, str] | None, tiers: dict[str, str]
    ) -> None:
        self.columns: dict[str, int] = {}
        normalised = [h.strip().lower() for h in header]
        if mapping is not None:
            for name, column in mapping.items():
                if name not in FIELDS:
                    raise TierImportError(f"mapping: unknown field {name!r}; fields are {FIELDS}")
                try:
                    self.columns[name] = normalised.index(column.strip().lower())
                except ValueError:
                    raise TierImportError(
                        f"mapping: column {column!r} for {name!r} not in header {list(header)}"
                    ) from None
        else:
            for name, aliases in ALIASES.items():
                for alias in aliases:
                    if alias in normalised:
                        self.columns[name] = normalised.index(alias)
                        break
        missing = [f for f in REQUIRED_FIELDS if f not in self.columns]
        if missing:
            raise TierImportError(
                f"missing required column(s) {missing} in header {list(header)}; "
                f"accepted names: {', '.join(a for f in missing for a in ALIASES[f])}"
            )
        self.tiers = tiers

    def has(self, name: str) -> bool:
        return name in self.columns

    def _cell(self, cells: Sequence[tuple[str, bool]], name: str) -> tuple[str, bool]:
        index = self.columns.get(name)
        if index is None or index >= len(cells):
            return "", False
        return cells[index]

    def row(self, line: int, cells: Sequence[tuple[str, bool]]) -> _Row | list[RowError]:
        errors: list[RowError] = []

        def text(name: str, limit: int) -> str:
            value = self._cell(cells, name)[0]
            if any("\udc80" <= ch <= "\udcff" for ch in value):
                errors.append(RowError(line, name, "bytes not valid in the file's encoding"))
            elif len(value) > limit:
                errors.append(RowError(line, name, f"longer than {limit} characters"))
            return value

        raw_numbers, numeric = self._cell(cells, "numbers")
        numbers: list[str] = []
        for part in _NUMBER_SPLIT.split(raw_numbers):
            if not part.strip():
                continue
            if numeric and _LOST_ZERO.fullmatch(part) and not _KEEPS_NO_ZERO.fullmatch(part):
                errors.append(
                    RowError(
                        line,
                        "numbers",
                        f"{part} is a numeric cell and may have lost its leading 0; "
                        "store numbers as text",
                    )
                )
                continue
            try:
                number = normalise(part)
            except InvalidNumber as exc:
                errors.append(RowError(line, "numbers", f"{part.strip()!r}: {exc.problem}"))
                continue
            if number not in numbers:
                numbers.append(number)
        if not raw_numbers.strip():
            errors.append(RowError(line, "numbers", "missing"))

        raw_tier = self._cell(cells, "tier")[0].strip()
        tier_id = self.tiers.get(raw_tier) or self.tiers.get(raw_tier.lower(), "")
        if not raw_tier:
            errors.append(RowError(line, "tier", "missing"))
        elif not tier_id:
            errors.append(RowError(line, "tier", f"unknown tier {raw_tier!r}"))

        customer_id = text("customer_id", ID_LEN).strip() or None
        name = text("name", NAME_LEN) if self.has("name") else None
        region = text("region", REGION_LEN) if self.has("region") else None
        blacklisted: bool | None = None
        if self.has("blacklisted"):
            flag = self._cell(cells, "blacklisted")[0].strip().lower()
            if flag in _TRUE:
                blacklisted = True
            elif flag in _FALSE:
                blacklisted = False
            else:
                errors.append(
                    RowError(line, "blacklisted", f"expected yes/no, 1/0 or 是/否, got {flag!r}")
                )
        if errors:
            return errors
        return _Row(line, customer_id, numbers, tier_id, name, region, blacklisted)


def _tier_names(engine: sa.Engine) -> dict[str, str]:
    """Tier id and name (exact and lower-case) -> tier id."""
    names: dict[str, str] = {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Tier.id, Tier.name)).all()
    for tier_id, name in rows:
        for key in (name, name.lower(), tier_id.lower()):
            names.setdefault(key, tier_id)
    for tier_id, _name in rows:
        names[tier_id] = tier_id
    return names


# --- writing ------------------------------------------------------------------------------


class _ChunkWriter:
    def __init__(self, engine: sa.Engine, validator: _Validator, replace_numbers: bool) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.validator = validator
        self.replace_numbers = replace_numbers
        v = validator
        customers = dialect_insert(self.dialect, Customer.__table__)
        updates: dict[str, Any] = {
            "tier_id": customers.excluded.tier_id,
            "updated_at": customers.excluded.updated_at,
        }
        for name in ("name", "region", "blacklisted"):
            if v.has(name):
                updates[name] = getattr(customers.excluded, name)
        self.customer_upsert = customers.on_conflict_do_update(index_elements=["id"], set_=updates)
        numbers = dialect_insert(self.dialect, CustomerNumber.__table__)
        self.number_upsert = numbers.on_conflict_do_update(
            index_elements=["number"], set_={"customer_id": numbers.excluded.customer_id}
        )

    def write(self, rows: list[_Row]) -> tuple[int, int, set[str], set[str]]:
        """Upsert one chunk in one transaction: ``(created, updated, numbers, customers)``."""
        anonymous = {r.numbers[0] for r in rows if r.customer_id is None}
        with self.engine.begin() as conn:
            owners: dict[str, str] = {}
            if anonymous:
                owners = dict(
                    conn.execute(
                        sa.select(CustomerNumber.number, CustomerNumber.customer_id).where(
                            CustomerNumber.number.in_(anonymous)
                        )
                    ).all()
                )
            merged: dict[str, _Row] = {}
            for row in rows:
                cid = row.customer_id or owners.get(row.numbers[0]) or row.numbers[0]
                row.customer_id = cid
                previous = merged.pop(cid, None)
                if previous is not None:  # last row wins, numbers accumulate
                    row.numbers = list(dict.fromkeys([*previous.numbers, *row.numbers]))
                merged[cid] = row
            ids = list(merged)
            existing = set(
                conn.execute(sa.select(Customer.id).where(Customer.id.in_(ids))).scalars()
            )
            now = utcnow()
            conn.execute(
                self.customer_upsert,
                [
                    {
                        "id": cid,
                        "name": row.name or "",
                        "region": row.region or "",
                        "tier_id": row.tier_id,
                        "blacklisted": bool(row.blacklisted),
                        "services": [],
                        "updated_at": now,
                    }
                    for cid, row in merged.items()
                ],
            )
            if self.replace_numbers:
                conn.execute(
                    sa.delete(CustomerNumber).where(
                        CustomerNumber.customer_id == sa.bindparam("cid")
                    ),
                    [{"cid": cid} for cid in ids],
                )
            owner_of: dict[str, str] = {}
            for cid, row in merged.items():
                for number in row.numbers:
                    owner_of.pop(number, None)
                    owner_of[number] = cid
            conn.execute(
                self.number_upsert,
                [{"number": n, "customer_id": cid} for n, cid in owner_of.items()],
            )
        return len(ids) - len(existing), len(existing), set(owner_of), set(ids)


def import_tiers(
    engine: sa.Engine,
    source: str | Path | Iterable[Mapping[str, object]],
    *,
    chunk_size: int = 5000,
    on_progress: ProgressCallback | None = None,
    mapping: Mapping[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    directory: TierDirectory | None = None,
    replace_numbers: bool = False,
    max_errors: int = 1000,
) -> ImportReport:
    """Import or refresh customer tiers; see the module docstring for the rules.

    ``source`` is a ``.csv``/``.tsv``/``.txt`` or ``.xlsx`` path, or an
    iterable of mappings (header -> value). ``directory`` gets its cache
    entries invalidated after every committed chunk. ``replace_numbers``
    makes the file authoritative for the numbers of the customers it lists
    (numbers not in the file are removed). Raises :class:`TierImportError`
    for unusable input (unreadable file, missing columns: before anything is
    written; a mapping row with keys the first row lacks: when reached) and
    :class:`TierImportAborted` if a chunk fails in the database (that chunk
    is rolled back; earlier chunks stay committed and are in its report).
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    started = time.perf_counter()
    total: int | None = None
    records: Iterator[tuple[int, list[tuple[str, bool]]]]
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise TierImportError(f"{path}: no such file")
        report = ImportReport(source=str(path))
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            records = _iter_xlsx(path, sheet)
            total = _xlsx_total(path)
        elif suffix in (".csv", ".tsv", ".txt"):
            if encoding is None:
                encoding = detect_encoding(path)
            else:
                try:
                    codecs.lookup(encoding)
                except LookupError:
                    raise TierImportError(f"unknown encoding {encoding!r}") from None
            report.encoding = encoding
            records = _iter_csv(path, encoding, "\t" if suffix == ".tsv" else delimiter)
            total = max(_count_lines(path) - 1, 0)
        else:
            raise TierImportError(f"{path}: unsupported file type {suffix!r} (use .csv or .xlsx)")
    else:
        report = ImportReport(source="<rows>")
        records = _iter_mappings(source)

    header: list[str] | None = None
    for _line, cells in records:
        if any(text for text, _numeric in cells):
            header = [text for text, _numeric in cells]
            break
    if header is None:
        report.duration_seconds = time.perf_counter() - started
        return report
    validator = _Validator(header, mapping, _tier_names(engine))
    writer = _ChunkWriter(engine, validator, replace_numbers)

    def reject(errors: list[RowError]) -> None:
        report.rejected += 1
        room = max_errors - len(report.errors)
        if room < len(errors):
            report.errors_truncated = True
        report.errors.extend(errors[: max(room, 0)])

    def flush(chunk: list[_Row]) -> None:
        try:
            created, updated, numbers, customers = writer.write(chunk)
        except SQLAlchemyError as exc:
            report.duration_seconds = time.perf_counter() - started
            raise TierImportAborted(
                f"chunk starting at line {chunk[0].line} failed and was rolled back: "
                f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}",
                report,
            ) from exc
        report.imported += created
        report.updated += updated
        report.numbers_written += len(numbers)
        report.chunks_committed += 1
        if directory is not None:
            directory.invalidate(numbers=numbers, customer_ids=customers)

    chunk: list[_Row] = []
    for line, cells in records:
        if not any(text for text, _numeric in cells):
            continue
        report.rows_read += 1
        if report.rows_read % YIELD_EVERY_ROWS == 0:
            # Parsing holds the GIL; hand it to live look-up threads now and then instead
            # of making them wait for the interpreter's 5 ms switch interval.
            time.sleep(0)
        result = validator.row(line, cells)
        if isinstance(result, list):
            reject(result)
        else:
            chunk.append(result)
        if len(chunk) >= chunk_size:
            flush(chunk)
            chunk = []
            if on_progress is not None:
                on_progress(report.rows_read, total)
    if chunk:
        flush(chunk)
    report.duration_seconds = time.perf_counter() - started
    if on_progress is not None:
        on_progress(report.rows_read, report.rows_read)
    return report


def write_csv(path: Path, rows: Iterable[Sequence[object]], header: Sequence[str]) -> None:
    """Write a tier CSV (UTF-8 with BOM so Excel opens it); used by exports and tests."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        out.writerows(rows)


__all__ = [
    "ALIASES",
    "FIELDS",
    "ImportReport",
    "ProgressCallback",
    "RowError",
    "detect_encoding",
    "import_tiers",
    "write_csv",
]
