"""Outbound lists (issue 9): imported 2-D tables, extraction sets, target lists and
records, the do-not-call list and per-number cooling.

* **Import** — :func:`open_file` / :func:`open_sql` give a :class:`Table` (header + streamed
  rows) from CSV (UTF-8 / GBK), Excel ``.xlsx`` (openpyxl, read-only streaming), Excel
  ``.xls`` (python-calamine) or a table / SELECT query of any SQLAlchemy URL (read-only,
  server-side cursor). :func:`preview` shows the fields and first rows; :func:`import_table`
  stores every row as JSON (all source fields kept, as text) in one transaction: with a
  row-level error nothing is kept unless ``valid_rows_only``.
* **Extraction sets** — structured conditions (AND/OR groups of ``field, operator, value``,
  :data:`OPERATORS`) compiled by :func:`compile_conditions` to SQLAlchemy expressions over
  the JSON rows (values always bound parameters; never SQL text), a source→target field
  mapping and a classification (:data:`CLASSIFICATIONS`). :func:`run_set` materialises a
  target list.
* **Dial time** — :func:`dialable` (DNC + cooling period) and :func:`mark_dialled`.

Every write is audited (``audit_log``).
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from . import audit
from . import tier_import as ti
from . import tier_refresh as tr
from .errors import NotFound, StoreError
from .models import (
    ObCooling,
    ObDoNotCall,
    ObExtractionSet,
    ObSource,
    ObSourceRow,
    ObTargetList,
    ObTargetRecord,
    utcnow,
)

CLASSIFICATIONS = ("callback", "reply", "marketing", "retention", "survey", "collection")
TARGET_FIELDS = ("phone", "name", "account", "region", "type", "tier", "brand", "complaint")
REQUIRED_TARGET_FIELDS = ("phone", "name", "account", "region", "type")
OPERATORS = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "not contains",
    "starts with",
    "ends with",
    "in",
    "not in",
    "is empty",
    "is not empty",
)
_NO_VALUE = frozenset({"is empty", "is not empty"})
_LIST_VALUE = frozenset({"in", "not in"})
MAX_DEPTH = 6
MAX_CONDITIONS = 200
MAX_CELL = 4000
MAX_COLUMNS = 500
CHUNK = 1000
ERRORS_KEPT = 1000
PREVIEW_ROWS = 10
DEFAULT_COOLING = dt.timedelta(hours=24)
FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls")
_NUMBER = re.compile(r"\+?\d{3,31}")
_NUMBER_JUNK = re.compile(r"[\s\-().]")
_NUMERIC = re.compile(r"[-+]?\d+(\.\d+)?")
_FIELD_LEN = {"phone": 32, "name": 200, "account": 100, "region": 100, "type": 100}
_FIELD_LEN |= {"tier": 100, "brand": 100, "complaint": 4000}


class OutboundError(StoreError, ValueError):
    """Bad input to the outbound store (a typed, user-facing problem)."""


class ConditionInvalid(OutboundError):
    """A condition tree that is not well formed: ``path`` says where (``items.0.value``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'conditions'}: {problem}")
        self.path = path
        self.problem = problem


class RecordInvalid(OutboundError):
    """A target record or set that does not validate: ``errors`` per field."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


# --- reading 2-D tables -------------------------------------------------------------------


@dataclass(slots=True)
class Table:
    """A source's header and its rows (``(line, cells)``, streamed; iterate once)."""

    kind: str
    origin: str
    columns: list[str]
    rows: Iterator[tuple[int, list[str]]]
    total: int | None = None
    close: Callable[[], None] = lambda: None


def _text(value: object) -> str:
    return _tidy(ti._cell_text(value)[0])


def _tidy(text: str) -> str:
    """Excel keeps dates as date-times: a midnight one reads as its date."""
    if len(text) == 19 and text.endswith("T00:00:00"):
        return text[:10]
    return text


def _header_of(records: Iterator[tuple[int, list[str]]]) -> list[str]:
    for _line, cells in records:
        if any(cells):
            return [c.strip() for c in cells]
    raise OutboundError("the source has no header row")


def _check_header(columns: list[str]) -> list[str]:
    while columns and not columns[-1]:
        columns.pop()
    if not columns:
        raise OutboundError("the source has no header row")
    if len(columns) > MAX_COLUMNS:
        raise OutboundError(f"more than {MAX_COLUMNS} columns")
    missing = [i + 1 for i, c in enumerate(columns) if not c]
    if missing:
        raise OutboundError(f"column {missing[0]} has no name in the header row")
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise OutboundError(f"column name {column!r} appears twice in the header row")
        seen.add(column)
    return columns


def _xls_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        from python_calamine import CalamineWorkbook

        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        rows = sheet.iter_rows()
    except Exception as exc:  # calamine raises its own kinds for a broken file
        raise OutboundError(f"{path.name}: cannot open as Excel .xls: {exc}") from exc
    for index, values in enumerate(rows, start=1):
        yield index, [_text(v) for v in values]


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        for line, cells in ti._iter_xlsx(path, None):
            yield line, [_tidy(text) for text, _numeric in cells]
    except StoreError as exc:
        raise OutboundError(str(exc)) from exc


def _csv_rows(path: Path, encoding: str | None) -> Iterator[tuple[int, list[str]]]:
    if encoding is None:
        try:
            encoding = ti.detect_encoding(path)
        except StoreError as exc:
            raise OutboundError(str(exc)) from exc
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise OutboundError(f"unknown encoding {encoding!r}") from None
    delimiter = "\t" if path.suffix.lower() == ".tsv" else None
    for line, cells in ti._iter_csv(path, encoding, delimiter):
        yield line, [text for text, _numeric in cells]


def open_file(path: Path, *, name: str | None = None, encoding: str | None = None) -> Table:
    """A CSV / .tsv / .txt, .xlsx or .xls file as a :class:`Table` (rows streamed)."""
    label = name or path.name
    suffix = Path(label).suffix.lower() or path.suffix.lower()
    if not path.is_file():
        raise OutboundError(f"{label}: no such file")
    rows: Iterator[tuple[int, list[str]]]
    if suffix == ".xlsx":
        kind, rows = "xlsx", _xlsx_rows(path)
    elif suffix == ".xls":
        kind, rows = "xls", _xls_rows(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        kind, rows = "csv", _csv_rows(path, encoding)
    else:
        raise OutboundError(f"{label}: unsupported file type (use .csv, .xlsx or .xls)")
    closer = getattr(rows, "close", lambda: None)
    try:
        columns = _check_header(_header_of(rows))
    except BaseException:
        closer()
        raise
    total = max(ti._count_lines(path) - 1, 0) if kind == "csv" else None
    return Table(kind, label, columns, rows, total, closer)


def open_sql(url: str, *, table_name: str = "", query: str = "") -> Table:
    """A table or one SELECT query of a SQLAlchemy URL, read only, streamed."""
    try:
        tr.check_url(url)
        tr.check_statement(query or None, table_name or None)
    except tr.SourceInvalid as exc:
        raise OutboundError(str(exc)) from None
    mappings = tr.sql_rows(url, query or None, table_name or None)
    origin = f"{tr.mask_url(url)} {table_name or query}"
    try:
        first = next(mappings, None)
    except Exception as exc:  # any driver error
        mappings.close()
        raise OutboundError(tr.mask_url(f"{type(exc).__name__}: {exc}")) from exc
    if first is None:
        mappings.close()
        raise OutboundError("the table or query returned no rows")
    columns = _check_header([str(k) for k in first])

    def rows() -> Iterator[tuple[int, list[str]]]:
        yield 1, [_text(first.get(c)) for c in columns]
        for index, row in enumerate(mappings, start=2):
            yield index, [_text(row.get(c)) for c in columns]

    return Table("sql", origin, columns, rows(), None, mappings.close)


@dataclass(frozen=True, slots=True)
class Preview:
    columns: list[str]
    rows: list[list[str]]


def preview(table: Table, rows: int = PREVIEW_ROWS) -> Preview:
    """The table's fields and first ``rows`` rows; closes the table."""
    shown: list[list[str]] = []
    try:
        for _line, cells in table.rows:
            if not any(cells):
                continue
            shown.append((cells + [""] * len(table.columns))[: len(table.columns)])
            if len(shown) >= rows:
                break
    finally:
        table.close()
    return Preview(table.columns, shown)


# --- import -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str
    problem: str


@dataclass(slots=True)
class ImportReport:
    source_id: int
    state: str
    """``succeeded`` or ``refused`` (row errors and not ``valid_rows_only``: nothing kept)."""
    rows_read: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected: int = 0


def _row_errors(
    line: int, cells: list[str], columns: list[str], required: set[str]
) -> list[RowError]:
    problems: list[RowError] = []
    extra = [c for c in cells[len(columns) :] if c]
    if extra:
        problems.append(
            RowError(line, "", f"{len(columns) + len(extra)} cells but {len(columns)} columns")
        )
    for column, cell in zip(columns, cells, strict=False):
        if len(cell) > MAX_CELL:
            problems.append(RowError(line, column, f"longer than {MAX_CELL} characters"))
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(RowError(line, column, "not valid text in the file's encoding"))
    for column in required:
        index = columns.index(column)
        if index >= len(cells) or not cells[index]:
            problems.append(RowError(line, column, "empty (required)"))
    return problems


def import_table(
    engine: sa.Engine,
    table: Table,
    *,
    actor: str,
    name: str = "",
    required: Iterable[str] = (),
    valid_rows_only: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> ImportReport:
    """Store every row of ``table`` in one transaction. A row with an error (more cells
    than columns, a cell too long or undecodable, an empty ``required`` column) is
    reported by its line; unless ``valid_rows_only`` nothing is kept then (the source is
    recorded as ``refused``). Always closes ``table``."""
    need = set(required)
    unknown = need - set(table.columns)
    if unknown:
        table.close()
        raise OutboundError(f"required columns not in the source: {sorted(unknown)}")
    report = ImportReport(0, "succeeded")
    columns = table.columns
    try:
        with engine.begin() as conn:
            source_id = conn.execute(
                sa.insert(ObSource).returning(ObSource.id),
                {
                    "name": name or table.origin,
                    "kind": table.kind,
                    "origin": table.origin,
                    "columns": columns,
                    "state": "importing",
                    "rows_imported": 0,
                    "rows_rejected": 0,
                    "created_by": actor,
                    "created_at": utcnow(),
                },
            ).scalar_one()
            report.source_id = source_id
            chunk: list[dict[str, Any]] = []
            for line, cells in table.rows:
                if not any(cells):
                    continue
                report.rows_read += 1
                problems = _row_errors(line, cells, columns, need)
                if problems:
                    report.rejected += 1
                    room = ERRORS_KEPT - len(report.errors)
                    report.errors.extend(problems[: max(room, 0)])
                    continue
                if report.errors and not valid_rows_only:
                    continue  # refused anyway: only keep checking
                padded = (cells + [""] * len(columns))[: len(columns)]
                chunk.append(
                    {
                        "source_id": source_id,
                        "line": line,
                        "data": dict(zip(columns, padded, strict=True)),
                    }
                )
                if len(chunk) >= CHUNK:
                    conn.execute(sa.insert(ObSourceRow), chunk)
                    report.imported += len(chunk)
                    chunk = []
                    if on_progress is not None:
                        on_progress(report.rows_read, table.total)
            if report.errors and not valid_rows_only:
                raise _Refused
            if chunk:
                conn.execute(sa.insert(ObSourceRow), chunk)
                report.imported += len(chunk)
            conn.execute(
                sa.update(ObSource)
                .where(ObSource.id == source_id)
                .values(
                    state="succeeded", rows_imported=report.imported, rows_rejected=report.rejected
                )
            )
            _audit_conn(
                conn,
                actor=actor,
                action="import",
                entity="ob_source",
                entity_id=source_id,
                after=_summary(report, table),
            )
    except _Refused:
        report.state, report.imported = "refused", 0
        with engine.begin() as conn:
            report.source_id = conn.execute(
                sa.insert(ObSource).returning(ObSource.id),
                {
                    "name": name or table.origin,
                    "kind": table.kind,
                    "origin": table.origin,
                    "columns": columns,
                    "state": "refused",
                    "rows_imported": 0,
                    "rows_rejected": report.rejected,
                    "created_by": actor,
                    "created_at": utcnow(),
                },
            ).scalar_one()
            _audit_conn(
                conn,
                actor=actor,
                action="import",
                entity="ob_source",
                entity_id=report.source_id,
                after=_summary(report, table),
            )
    finally:
        table.close()
    if on_progress is not None:
        on_progress(report.rows_read, report.rows_read)
    return report


class _Refused(Exception):
    pass


def _summary(report: ImportReport, table: Table) -> dict[str, Any]:
    return {
        "state": report.state,
        "kind": table.kind,
        "origin": table.origin,
        "rows_read": report.rows_read,
        "imported": report.imported,
        "rejected": report.rejected,
    }


def _audit_conn(
    conn: sa.Connection, *, actor: str, action: str, entity: str, entity_id: object, after: Any
) -> None:
    with Session(bind=conn) as session:
        audit.record(
            session,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            after=after,
        )


def errors_csv(errors: Sequence[RowError]) -> str:
    """The row-level error report as CSV text (line, column, problem) with a BOM."""
    import csv
    import io

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["line", "column", "problem"])
    for error in errors:
        writer.writerow([error.line, error.column, error.problem])
    return out.getvalue()


def source_columns(session: Session, source_id: int) -> list[str]:
    source = session.get(ObSource, source_id)
    if source is None or source.state != "succeeded":
        raise NotFound("ob_source", str(source_id))
    return list(source.columns)


def delete_source(sessions: sessionmaker[Session], actor: str, source_id: int) -> None:
    with sessions.begin() as session:
        source = session.get(ObSource, source_id)
        if source is None:
            raise NotFound("ob_source", str(source_id))
        before = {"name": source.name, "rows": source.rows_imported}
        session.execute(sa.delete(ObSourceRow).where(ObSourceRow.source_id == source_id))
        session.delete(source)
        audit.record(
            session,
            actor=actor,
            action="delete",
            entity="ob_source",
            entity_id=str(source_id),
            before=before,
        )


# --- conditions ---------------------------------------------------------------------------


def validate_conditions(tree: Any, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The condition tree, normalised: ``{"op": "and"|"or", "items": [condition | group]}``;
    a condition is ``{"field", "operator", "value"}`` (value: text, a list of texts for
    ``in`` / ``not in``, absent for ``is empty``). Raises :class:`ConditionInvalid`."""
    known = set(fields) if fields is not None else None
    count = 0

    def group(node: Any, path: str, depth: int) -> dict[str, Any]:
        nonlocal count
        if not isinstance(node, dict):
            raise ConditionInvalid(path, "a group must be an object")
        if depth > MAX_DEPTH:
            raise ConditionInvalid(path, f"groups nested deeper than {MAX_DEPTH}")
        op = node.get("op", "and")
        if op not in ("and", "or"):
            raise ConditionInvalid(f"{path}.op" if path else "op", "must be 'and' or 'or'")
        items = node.get("items", [])
        if not isinstance(items, list):
            raise ConditionInvalid(f"{path}.items" if path else "items", "must be a list")
        out: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            where = f"{path}.items.{index}" if path else f"items.{index}"
            if isinstance(item, dict) and "items" in item:
                out.append(group(item, where, depth + 1))
            else:
                count += 1
                if count > MAX_CONDITIONS:
                    raise ConditionInvalid(where, f"more than {MAX_CONDITIONS} conditions")
                out.append(condition(item, where))
        return {"op": op, "items": out}

    def condition(node: Any, path: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise ConditionInvalid(path, "a condition must be an object")
        name = node.get("field")
        if not isinstance(name, str) or not name:
            raise ConditionInvalid(f"{path}.field", "choose a field")
        if known is not None and name not in known:
            raise ConditionInvalid(f"{path}.field", f"no field {name!r} in the source")
        operator = node.get("operator")
        if operator not in OPERATORS:
            raise ConditionInvalid(f"{path}.operator", f"one of {', '.join(OPERATORS)}")
        if operator in _NO_VALUE:
            return {"field": name, "operator": operator}
        value = node.get("value", "")
        if operator in _LIST_VALUE:
            if isinstance(value, str):
                value = [v.strip() for v in re.split(r"[,\n;，；]", value) if v.strip()]
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, str | int | float) for v in value)
            ):
                raise ConditionInvalid(f"{path}.value", "a list of one or more values")
            return {"field": name, "operator": operator, "value": [str(v) for v in value]}
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ConditionInvalid(f"{path}.value", "a text value")
        if operator in ("contains", "not contains", "starts with", "ends with") and not value:
            raise ConditionInvalid(f"{path}.value", "give a value")
        return {"field": name, "operator": operator, "value": value}

    return group(tree if tree is not None else {"op": "and", "items": []}, "", 0)


def _numeric_guard(text: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return text.op("~", is_comparison=True)(r"^\s*[-+]?[0-9]+(\.[0-9]+)?\s*$")
    return sa.and_(
        text.op("GLOB", is_comparison=True)("*[0-9]*"),
        sa.not_(text.op("GLOB", is_comparison=True)("*[^0-9.+-]*")),
        sa.func.length(text) > 0,
    )


def _compile_one(node: dict[str, Any], data: Any, dialect: str) -> sa.ColumnElement[bool]:
    text = data[node["field"]].as_string()
    operator = node["operator"]
    value: Any = node.get("value")
    if operator == "is empty":
        return sa.or_(text.is_(None), text == "")
    if operator == "is not empty":
        return sa.and_(text.is_not(None), text != "")
    if operator == "in":
        return text.in_(value)  # type: ignore[no-any-return]
    if operator == "not in":
        return sa.or_(text.is_(None), text.not_in(value))
    lowered = sa.func.lower(text)
    if operator == "contains":
        return lowered.contains(value.lower(), autoescape=True)
    if operator == "not contains":
        return sa.or_(text.is_(None), sa.not_(lowered.contains(value.lower(), autoescape=True)))
    if operator == "starts with":
        return lowered.startswith(value.lower(), autoescape=True)
    if operator == "ends with":
        return lowered.endswith(value.lower(), autoescape=True)
    if operator == "=":
        return text == value  # type: ignore[no-any-return]
    if operator == "!=":
        return sa.or_(text.is_(None), text != value)
    ops = {"<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
    if _NUMERIC.fullmatch(value.strip()):
        number = sa.case((_numeric_guard(text, dialect), sa.cast(text, sa.Float)), else_=None)
        return getattr(number, ops[operator])(sa.bindparam(None, float(value), sa.Float))  # type: ignore[no-any-return]
    return getattr(text, ops[operator])(value)  # type: ignore[no-any-return]


def compile_conditions(tree: Mapping[str, Any], data: Any, dialect: str) -> sa.ColumnElement[bool]:
    """A validated condition tree (:func:`validate_conditions`) as a SQLAlchemy expression
    over the JSON column ``data``. Field names are JSON paths and values bound parameters.
    ``<``…``>=`` compare numerically when the value is a number (rows whose field is not a
    number never match), else as text (ISO dates compare right)."""

    def walk(node: Mapping[str, Any]) -> sa.ColumnElement[bool]:
        if "items" in node:
            parts = [walk(item) for item in node["items"]]
            if not parts:
                return sa.true()
            return sa.and_(*parts) if node.get("op", "and") == "and" else sa.or_(*parts)
        return _compile_one(dict(node), data, dialect)

    return walk(tree)


def matching_rows(session: Session, source_id: int, tree: Mapping[str, Any]) -> sa.Select[Any]:
    dialect = session.get_bind().dialect.name
    checked = validate_conditions(tree, source_columns(session, source_id))
    return (
        sa.select(ObSourceRow)
        .where(ObSourceRow.source_id == source_id)
        .where(compile_conditions(checked, ObSourceRow.data, dialect))
        .order_by(ObSourceRow.id)
    )


def count_matching(session: Session, source_id: int, tree: Mapping[str, Any]) -> int:
    """How many rows of the source the conditions select (the preview count)."""
    inner = matching_rows(session, source_id, tree).order_by(None).subquery()
    return int(session.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one())


# --- extraction sets ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetView:
    id: int
    name: str
    classification: str
    source_id: int | None
    conditions: dict[str, Any]
    mapping: dict[str, str]
    updated_at: dt.datetime


def _set_view(row: ObExtractionSet) -> SetView:
    return SetView(
        row.id,
        row.name,
        row.classification,
        row.source_id,
        dict(row.conditions),
        dict(row.mapping),
        row.updated_at,
    )


def _check_set(  # noqa: PLR0917 - private, called twice
    session: Session,
    name: str,
    classification: str,
    source_id: int | None,
    conditions: Any,
    mapping: Mapping[str, str],
    own_id: int | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    name = name.strip()
    if not name or len(name) > 200:
        errors["name"] = "a name of 1 to 200 characters"
    else:
        clash = session.scalar(sa.select(ObExtractionSet.id).where(ObExtractionSet.name == name))
        if clash is not None and clash != own_id:
            errors["name"] = "another set has this name"
    if classification not in CLASSIFICATIONS:
        errors["classification"] = f"one of {', '.join(CLASSIFICATIONS)}"
    columns: list[str] | None = None
    if source_id is None:
        errors["source_id"] = "choose an imported source"
    else:
        try:
            columns = source_columns(session, source_id)
        except NotFound:
            errors["source_id"] = "no such imported source"
    checked: dict[str, Any] = {"op": "and", "items": []}
    try:
        checked = validate_conditions(conditions, columns)
    except ConditionInvalid as exc:
        errors["conditions"] = str(exc)
    clean: dict[str, str] = {}
    for target, column in mapping.items():
        if not column:
            continue
        if target not in TARGET_FIELDS:
            errors[f"map_{target}"] = "not a target field"
        elif columns is not None and column not in columns:
            errors[f"map_{target}"] = f"no field {column!r} in the source"
        else:
            clean[target] = column
    for target in REQUIRED_TARGET_FIELDS:
        if target not in clean and f"map_{target}" not in errors:
            errors[f"map_{target}"] = "required: choose the source field"
    if errors:
        raise RecordInvalid(errors)
    return checked, clean


def create_set(
    sessions: sessionmaker[Session],
    actor: str,
    *,
    name: str,
    classification: str,
    source_id: int | None,
    conditions: Any,
    mapping: Mapping[str, str],
) -> int:
    with sessions.begin() as session:
        checked, clean = _check_set(
            session, name, classification, source_id, conditions, mapping, None
        )
        row = ObExtractionSet(
            name=name.strip(),
            classification=classification,
            source_id=source_id,
            conditions=checked,
            mapping=clean,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="ob_set",
            entity_id=str(row.id),
            after=_set_audit(row),
        )
        return row.id


def _set_audit(row: ObExtractionSet) -> dict[str, Any]:
    return {
        "name": row.name,
        "classification": row.classification,
        "source_id": row.source_id,
        "conditions": row.conditions,
        "mapping": row.mapping,
    }


def get_set(session: Session, set_id: int) -> SetView:
    row = session.get(ObExtractionSet, set_id)
    if row is None:
        raise NotFound("ob_set", str(set_id))
    return _set_view(row)


def list_sets(session: Session) -> list[SetView]:
    rows = session.scalars(sa.select(ObExtractionSet).order_by(ObExtractionSet.name))
    return [_set_view(r) for r in rows]


def update_set(
    sessions: sessionmaker[Session],
    actor: str,
    set_id: int,
    *,
    name: str | None = None,
    classification: str | None = None,
    source_id: int | None = None,
    conditions: Any = None,
    mapping: Mapping[str, str] | None = None,
) -> SetView:
    """Rename and/or modify a set (arguments left ``None`` keep their value)."""
    with sessions.begin() as session:
        row = session.get(ObExtractionSet, set_id)
        if row is None:
            raise NotFound("ob_set", str(set_id))
        before = _set_audit(row)
        checked, clean = _check_set(
            session,
            name if name is not None else row.name,
            classification if classification is not None else row.classification,
            source_id if source_id is not None else row.source_id,
            conditions if conditions is not None else row.conditions,
            mapping if mapping is not None else row.mapping,
            set_id,
        )
        row.name = (name if name is not None else row.name).strip()
        row.classification = classification or row.classification
        row.source_id = source_id if source_id is not None else row.source_id
        row.conditions, row.mapping, row.updated_at = checked, clean, utcnow()
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="ob_set",
            entity_id=str(set_id),
            before=before,
            after=_set_audit(row),
        )
        return _set_view(row)


def delete_set(sessions: sessionmaker[Session], actor: str, set_id: int) -> None:
    """Delete a set; target lists made from it stay."""
    with sessions.begin() as session:
        row = session.get(ObExtractionSet, set_id)
        if row is None:
            raise NotFound("ob_set", str(set_id))
        before = _set_audit(row)
        session.delete(row)
        audit.record(
            session,
            actor=actor,
            action="delete",
            entity="ob_set",
            entity_id=str(set_id),
            before=before,
        )


def preview_set(session: Session, set_id: int) -> int:
    """How many source rows the set selects now (before running it)."""
    view = get_set(session, set_id)
    if view.source_id is None:
        raise OutboundError("the set's source was deleted")
    return count_matching(session, view.source_id, view.conditions)


@dataclass(frozen=True, slots=True)
class RunReport:
    list_id: int
    selected: int
    created: int
    skipped: list[tuple[int, str]]
    """``(source line, problem)`` of selected rows not made into records."""


def run_set(
    sessions: sessionmaker[Session], actor: str, set_id: int, *, list_name: str = ""
) -> RunReport:
    """Materialise a target list from the set's rows now matching; rows whose mapped
    required fields are empty or invalid are skipped and reported."""
    with sessions.begin() as session:
        view = get_set(session, set_id)
        if view.source_id is None:
            raise OutboundError("the set's source was deleted")
        target = ObTargetList(
            name=(list_name.strip() or f"{view.name} {utcnow():%Y-%m-%d %H:%M}")[:200],
            classification=view.classification,
            set_id=set_id,
            created_by=actor,
        )
        session.add(target)
        session.flush()
        selected = created = 0
        skipped: list[tuple[int, str]] = []
        chunk: list[dict[str, Any]] = []
        now = utcnow()
        query = matching_rows(session, view.source_id, view.conditions)
        for row in session.scalars(query.execution_options(yield_per=CHUNK)):
            selected += 1
            values = {t: str(row.data.get(c, "")) for t, c in view.mapping.items()}
            try:
                clean = validate_record(values)
            except RecordInvalid as bad:
                if len(skipped) < ERRORS_KEPT:
                    skipped.append((row.line, str(bad)))
                continue
            chunk.append(
                {
                    **clean,
                    "list_id": target.id,
                    "source_row_id": row.id,
                    "status": "new",
                    "attempts": 0,
                    "last_result": "",
                    "updated_at": now,
                }
            )
            if len(chunk) >= CHUNK:
                session.execute(sa.insert(ObTargetRecord), chunk)
                created += len(chunk)
                chunk = []
        if chunk:
            session.execute(sa.insert(ObTargetRecord), chunk)
            created += len(chunk)
        audit.record(
            session,
            actor=actor,
            action="run",
            entity="ob_set",
            entity_id=str(set_id),
            after={
                "list_id": target.id,
                "selected": selected,
                "created": created,
                "skipped": len(skipped),
            },
        )
        return RunReport(target.id, selected, created, skipped)


# --- target lists and records -------------------------------------------------------------


def normalise_number(text: str) -> str:
    """Digits (and a leading +) of a phone number; raises :class:`OutboundError`."""
    number = _NUMBER_JUNK.sub("", text.strip())
    if not _NUMBER.fullmatch(number):
        raise OutboundError(f"{text!r} is not a phone number")
    return number


def validate_record(values: Mapping[str, str]) -> dict[str, str]:
    """A target record's fields, checked: required phone/name/account/region/type."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for name in TARGET_FIELDS:
        value = str(values.get(name, "") or "").strip()
        if name in REQUIRED_TARGET_FIELDS and not value:
            errors[name] = "required"
            continue
        if len(value) > _FIELD_LEN[name]:
            errors[name] = f"at most {_FIELD_LEN[name]} characters"
            continue
        if name == "phone":
            try:
                value = normalise_number(value)
            except OutboundError:
                errors[name] = "not a phone number"
                continue
        clean[name] = value
    if errors:
        raise RecordInvalid(errors)
    return clean


@dataclass(frozen=True, slots=True)
class ListView:
    id: int
    name: str
    classification: str
    set_id: int | None
    records: int
    created_at: dt.datetime


def list_lists(session: Session) -> list[ListView]:
    counts = (
        sa.select(ObTargetRecord.list_id, sa.func.count().label("n"))
        .group_by(ObTargetRecord.list_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(ObTargetList, sa.func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.list_id == ObTargetList.id)
        .order_by(ObTargetList.id.desc())
    )
    return [
        ListView(t.id, t.name, t.classification, t.set_id, int(n), t.created_at) for t, n in rows
    ]


def create_list(
    sessions: sessionmaker[Session], actor: str, *, name: str, classification: str
) -> int:
    if not name.strip() or len(name.strip()) > 200:
        raise RecordInvalid({"name": "a name of 1 to 200 characters"})
    if classification not in CLASSIFICATIONS:
        raise RecordInvalid({"classification": f"one of {', '.join(CLASSIFICATIONS)}"})
    with sessions.begin() as session:
        row = ObTargetList(name=name.strip(), classification=classification, created_by=actor)
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="ob_list",
            entity_id=str(row.id),
            after={"name": row.name, "classification": classification},
        )
        return row.id


def delete_list(sessions: sessionmaker[Session], actor: str, list_id: int) -> None:
    with sessions.begin() as session:
        row = session.get(ObTargetList, list_id)
        if row is None:
            raise NotFound("ob_list", str(list_id))
        session.execute(sa.delete(ObTargetRecord).where(ObTargetRecord.list_id == list_id))
        session.delete(row)
        audit.record(
            session,
            actor=actor,
            action="delete",
            entity="ob_list",
            entity_id=str(list_id),
            before={"name": row.name},
        )


def records(
    session: Session, list_id: int, *, offset: int = 0, limit: int = 50
) -> list[ObTargetRecord]:
    return list(
        session.scalars(
            sa.select(ObTargetRecord)
            .where(ObTargetRecord.list_id == list_id)
            .order_by(ObTargetRecord.id)
            .offset(offset)
            .limit(limit)
        )
    )


def _record_audit(row: ObTargetRecord) -> dict[str, Any]:
    return {name: getattr(row, name) for name in TARGET_FIELDS}


def add_record(
    sessions: sessionmaker[Session], actor: str, list_id: int, values: Mapping[str, str]
) -> int:
    clean = validate_record(values)
    with sessions.begin() as session:
        if session.get(ObTargetList, list_id) is None:
            raise NotFound("ob_list", str(list_id))
        row = ObTargetRecord(list_id=list_id, **clean)
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="ob_record",
            entity_id=str(row.id),
            after=_record_audit(row),
        )
        return row.id


def update_record(
    sessions: sessionmaker[Session], actor: str, record_id: int, values: Mapping[str, str]
) -> None:
    with sessions.begin() as session:
        row = session.get(ObTargetRecord, record_id)
        if row is None:
            raise NotFound("ob_record", str(record_id))
        before = _record_audit(row)
        clean = validate_record({**before, **values})
        for name, value in clean.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="ob_record",
            entity_id=str(record_id),
            before=before,
            after=_record_audit(row),
        )


def delete_record(sessions: sessionmaker[Session], actor: str, record_id: int) -> None:
    with sessions.begin() as session:
        row = session.get(ObTargetRecord, record_id)
        if row is None:
            raise NotFound("ob_record", str(record_id))
        before = _record_audit(row)
        session.delete(row)
        audit.record(
            session,
            actor=actor,
            action="delete",
            entity="ob_record",
            entity_id=str(record_id),
            before=before,
        )


# --- do-not-call and cooling --------------------------------------------------------------


def add_dnc(
    sessions: sessionmaker[Session], actor: str, numbers: Iterable[str], *, reason: str = ""
) -> int:
    """Add numbers to the DNC list (all or none: a bad number raises
    :class:`RecordInvalid` naming it). Returns how many were new."""
    clean: list[str] = []
    errors: dict[str, str] = {}
    for index, text in enumerate(numbers, start=1):
        if not text.strip():
            continue
        try:
            clean.append(normalise_number(text))
        except OutboundError:
            errors[f"line {index}"] = f"{text.strip()!r} is not a phone number"
    if errors:
        raise RecordInvalid(errors)
    added = 0
    unique = list(dict.fromkeys(clean))
    now = utcnow()
    with sessions.begin() as session:
        for start in range(0, len(unique), CHUNK):
            part = unique[start : start + CHUNK]
            have = set(
                session.scalars(sa.select(ObDoNotCall.number).where(ObDoNotCall.number.in_(part)))
            )
            new = [
                {"number": n, "reason": reason.strip(), "added_by": actor, "added_at": now}
                for n in part
                if n not in have
            ]
            if new:
                session.execute(sa.insert(ObDoNotCall), new)
            added += len(new)
        audit.record(
            session,
            actor=actor,
            action="add",
            entity="ob_dnc",
            entity_id=str(len(clean)),
            after={"numbers": clean[:100], "added": added, "reason": reason},
        )
    return added


def dnc_from_source(
    sessions: sessionmaker[Session], actor: str, source_id: int, column: str, *, reason: str = ""
) -> int:
    """Add every number of ``column`` of an imported source to the DNC list (the import
    of a DNC file: upload it like any table, then take its number column). All or none:
    bad numbers raise :class:`RecordInvalid` naming their source lines."""
    with sessions() as session:
        if column not in source_columns(session, source_id):
            raise RecordInvalid({"column": f"no field {column!r} in the source"})
        cells = session.execute(
            sa.select(ObSourceRow.line, ObSourceRow.data[column].as_string())
            .where(ObSourceRow.source_id == source_id)
            .order_by(ObSourceRow.line)
        ).all()
    errors: dict[str, str] = {}
    for line, text in cells:
        if text and text.strip():
            try:
                normalise_number(text)
            except OutboundError:
                if len(errors) < ERRORS_KEPT:
                    errors[f"line {line}"] = f"{text.strip()!r} is not a phone number"
    if errors:
        raise RecordInvalid(errors)
    return add_dnc(sessions, actor, [t for _line, t in cells if t], reason=reason)


def remove_dnc(sessions: sessionmaker[Session], actor: str, number: str) -> bool:
    number = normalise_number(number)
    with sessions.begin() as session:
        row = session.get(ObDoNotCall, number)
        if row is None:
            return False
        session.delete(row)
        audit.record(
            session,
            actor=actor,
            action="remove",
            entity="ob_dnc",
            entity_id=number,
            before={"reason": row.reason},
        )
        return True


def dnc_numbers(session: Session, *, q: str = "", limit: int = 200) -> list[ObDoNotCall]:
    query = sa.select(ObDoNotCall).order_by(ObDoNotCall.number).limit(limit)
    if q.strip():
        query = query.where(ObDoNotCall.number.contains(q.strip(), autoescape=True))
    return list(session.scalars(query))


def mark_dialled(session: Session, number: str, at: dt.datetime) -> None:
    """Record that ``number`` was dialled at ``at`` (starts its cooling period)."""
    if at.tzinfo is None:
        raise OutboundError("a dial time needs its time zone")
    number = normalise_number(number)
    row = session.get(ObCooling, number)
    if row is None:
        session.add(ObCooling(number=number, last_dialled_at=at))
    elif row.last_dialled_at < at:
        row.last_dialled_at = at
    session.flush()


def not_dialable_reason(
    session: Session, number: str, at: dt.datetime, *, cooling: dt.timedelta = DEFAULT_COOLING
) -> str | None:
    """``"dnc"``, ``"cooling"``, ``"invalid"`` or ``None`` (may be dialled at ``at``)."""
    if at.tzinfo is None:
        raise OutboundError("a dial time needs its time zone")
    try:
        number = normalise_number(number)
    except OutboundError:
        return "invalid"
    if session.get(ObDoNotCall, number) is not None:
        return "dnc"
    row = session.get(ObCooling, number)
    if row is not None and at < row.last_dialled_at + cooling:
        return "cooling"
    return None


def dialable(
    session: Session, number: str, at: dt.datetime, *, cooling: dt.timedelta = DEFAULT_COOLING
) -> bool:
    """May the dialer call ``number`` at ``at``: not on the DNC list and its cooling
    period since it was last dialled (:func:`mark_dialled`) is over."""
    return not_dialable_reason(session, number, at, cooling=cooling) is None
