"""Built-in data sources of the query/statistics pages (R-IN-7).

An administrator configures a page as a ``query_definitions`` row: a source from
:data:`SOURCES`, which of its inputs the page shows, and which of its columns (1-D
table) or which two dimensions (2-D counts) it returns. Only names listed here are
ever turned into SQL, so a definition row cannot inject anything. The region rule of
:mod:`.data` applies to every source that shows customers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store.models import BusinessRecord, ContactRecord, Customer, CustomerNumber
from cti_server.store.numbers import try_normalise

from .data import Invalid, Page, QueryDef, WebUser, region_clause

Filter = Callable[[str], Any]


def _like(column: Any) -> Filter:
    def build(value: str) -> Any:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(f"%{escaped}%", escape="\\")

    return build


def _equals(column: Any) -> Filter:
    return lambda value: column == value


def _date(value: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid("error_date") from None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _from(column: Any) -> Filter:
    return lambda value: column >= _date(value)


def _to(column: Any) -> Filter:
    return lambda value: column < _date(value) + dt.timedelta(days=1)


def _number(value: str) -> Any:
    key = try_normalise(value) or value
    return Customer.id.in_(
        sa.select(CustomerNumber.customer_id).where(CustomerNumber.number.startswith(key))
    )


@dataclass(frozen=True, slots=True)
class Source:
    base: Callable[[WebUser], Any]
    """The FROM/JOIN/WHERE part (region rule included) as a select of nothing yet."""
    inputs: Mapping[str, Filter]
    columns: Mapping[str, Any]
    dimensions: Mapping[str, Any]
    order: tuple[Any, ...]


def _customers(user: WebUser) -> Any:
    query = sa.select().select_from(Customer)
    if user.region is not None:
        query = query.where(Customer.region == user.region)
    return query


def _contacts(user: WebUser) -> Any:
    return (
        sa.select()
        .select_from(ContactRecord)
        .outerjoin(Customer, Customer.id == ContactRecord.customer_id)
        .where(region_clause(user))
    )


def _records(user: WebUser) -> Any:
    query = (
        sa.select()
        .select_from(BusinessRecord)
        .outerjoin(Customer, Customer.id == BusinessRecord.customer_id)
    )
    if user.region is not None:
        query = query.where(
            sa.or_(
                BusinessRecord.customer_id.is_(None),
                Customer.region == user.region,
                BusinessRecord.agent_id == user.agent_id,
            )
        )
    return query


_DAY = sa.func.substr(sa.cast(ContactRecord.started_at, sa.String), 1, 10)

SOURCES: dict[str, Source] = {
    "customers": Source(
        base=_customers,
        inputs={
            "customer_id": _equals(Customer.id),
            "name": _like(Customer.name),
            "number": _number,
            "tier": _equals(Customer.tier_id),
            "region": _equals(Customer.region),
        },
        columns={
            "customer_id": Customer.id,
            "name": Customer.name,
            "region": Customer.region,
            "tier": Customer.tier_id,
            "blacklisted": Customer.blacklisted,
        },
        dimensions={"region": Customer.region, "tier": Customer.tier_id},
        order=(Customer.id,),
    ),
    "contacts": Source(
        base=_contacts,
        inputs={
            "customer_id": _equals(ContactRecord.customer_id),
            "number": _equals(ContactRecord.number),
            "agent_id": _equals(ContactRecord.agent_id),
            "disposition": _equals(ContactRecord.disposition),
            "business": _equals(ContactRecord.business_selection),
            "date_from": _from(ContactRecord.started_at),
            "date_to": _to(ContactRecord.started_at),
        },
        columns={
            "started_at": ContactRecord.started_at,
            "number": ContactRecord.number,
            "customer_id": ContactRecord.customer_id,
            "name": Customer.name,
            "agent_id": ContactRecord.agent_id,
            "channel": ContactRecord.channel,
            "disposition": ContactRecord.disposition,
            "business": ContactRecord.business_selection,
            "summary": ContactRecord.summary,
        },
        dimensions={
            "agent_id": ContactRecord.agent_id,
            "disposition": ContactRecord.disposition,
            "business": ContactRecord.business_selection,
            "channel": ContactRecord.channel,
            "region": Customer.region,
            "day": _DAY,
        },
        order=(ContactRecord.started_at.desc(), ContactRecord.id.desc()),
    ),
    "business_records": Source(
        base=_records,
        inputs={
            "serial_no": _equals(BusinessRecord.serial_no),
            "kind": _equals(BusinessRecord.kind),
            "agent_id": _equals(BusinessRecord.agent_id),
            "customer_id": _equals(BusinessRecord.customer_id),
        },
        columns={
            "serial_no": BusinessRecord.serial_no,
            "kind": BusinessRecord.kind,
            "customer_number": BusinessRecord.customer_number,
            "customer_id": BusinessRecord.customer_id,
            "agent_id": BusinessRecord.agent_id,
            "accessed_at": BusinessRecord.accessed_at,
            "remarks": BusinessRecord.remarks,
            "result": BusinessRecord.result,
        },
        dimensions={
            "kind": BusinessRecord.kind,
            "agent_id": BusinessRecord.agent_id,
            "result": BusinessRecord.result,
        },
        order=(BusinessRecord.created_at.desc(), BusinessRecord.id.desc()),
    ),
}


@dataclass(frozen=True, slots=True)
class TableResult:
    columns: list[str]
    page: Page[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class PivotResult:
    row_dimension: str
    column_dimension: str
    row_keys: list[str]
    column_keys: list[str]
    cells: dict[tuple[str, str], int]
    row_totals: dict[str, int]
    column_totals: dict[str, int]
    total: int


def validate(definition: QueryDef) -> Source:
    """The definition's source, or ``LookupError`` naming what does not exist."""
    source = SOURCES.get(definition.source)
    if source is None:
        raise LookupError(f"unknown source {definition.source!r}")
    unknown = [i for i in definition.inputs if i not in source.inputs]
    if definition.shape == "pivot":
        if len(definition.columns) != 2:
            raise LookupError("a 2-D query names exactly two dimensions")
        unknown += [c for c in definition.columns if c not in source.dimensions]
    elif definition.shape == "table":
        unknown += [c for c in definition.columns if c not in source.columns]
    else:
        raise LookupError(f"unknown shape {definition.shape!r}")
    if unknown:
        raise LookupError(f"unknown names {unknown}")
    return source


def run_query(
    sessions: sessionmaker[Session],
    user: WebUser,
    definition: QueryDef,
    values: Mapping[str, str],
    *,
    page: int = 1,
) -> TableResult | PivotResult:
    source = validate(definition)
    query = source.base(user)
    for name in definition.inputs:
        value = (values.get(name) or "").strip()
        if value:
            query = query.where(source.inputs[name](value))
    with sessions() as session:
        if definition.shape == "pivot":
            row_dim, col_dim = definition.columns
            row_expr = sa.func.coalesce(source.dimensions[row_dim], "")
            col_expr = sa.func.coalesce(source.dimensions[col_dim], "")
            grouped = query.add_columns(row_expr, col_expr, sa.func.count()).group_by(
                row_expr, col_expr
            )
            cells: dict[tuple[str, str], int] = {}
            for row_key, col_key, count in session.execute(grouped.limit(10_000)):
                cells[(str(row_key), str(col_key))] = int(count)
            row_keys = sorted({r for r, _c in cells})
            col_keys = sorted({c for _r, c in cells})
            row_totals = {r: sum(v for (rr, _c), v in cells.items() if rr == r) for r in row_keys}
            col_totals = {c: sum(v for (_r, cc), v in cells.items() if cc == c) for c in col_keys}
            return PivotResult(
                row_dim,
                col_dim,
                row_keys,
                col_keys,
                cells,
                row_totals,
                col_totals,
                sum(cells.values()),
            )
        page = max(1, page)
        size = definition.page_size
        selected = query.add_columns(*(source.columns[c] for c in definition.columns))
        total = session.scalar(sa.select(sa.func.count()).select_from(selected.subquery())) or 0
        rows = [
            tuple(r)
            for r in session.execute(
                selected.order_by(*source.order).limit(size).offset((page - 1) * size)
            )
        ]
        return TableResult(list(definition.columns), Page(rows, total, page, size))
