"""Tier look-up latency while a bulk tier import runs (R-TIER-2: < 1 s; goal p99 < 5 ms).

For each backend (SQLite WAL always; PostgreSQL when ``--url`` or
``OPENCC_TEST_PG_URL`` is given):

1. load N customers with :func:`import_tiers` (timed);
2. measure look-ups of random known and unknown numbers with the cache
   disabled while the database is idle;
3. re-import N rows (every customer changes tier) in another thread or
   process while this thread keeps looking up: random numbers uncached
   (every look-up reads the database) alternating with a hot set through
   the cache (which the import invalidates chunk by chunk).

Run: ``python -m bench.bench_tier_lookup [--rows N] [--url URL]``.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench._report import write_section
from cti_server.store import TierDirectory, import_tiers, make_engine, upgrade

TIERS = ("vip", "gold", "normal")


@dataclass
class Series:
    name: str
    samples: list[float]
    note: str = ""

    def row(self) -> str:
        s = sorted(self.samples)
        if not s:
            return f"| {self.name} | 0 | - | - | - | {self.note} |"
        p50 = statistics.median(s) * 1000
        p99 = s[min(len(s) - 1, int(len(s) * 0.99))] * 1000
        return (
            f"| {self.name} | {len(s):,} | {p50:.3f} | {p99:.3f} | {s[-1] * 1000:.2f} | "
            f"{self.note} |"
        )


def number_of(index: int) -> str:
    return f"13{index:09d}"


def write_source(path: Path, rows: int, shift: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "name", "number", "tier", "region"])
        for i in range(rows):
            out.writerow([f"C{i:08d}", f"客户{i}", number_of(i), TIERS[(i + shift) % 3], "北京"])


def prepare(url: str, schema: str | None) -> sa.Engine:
    engine = make_engine(url, schema=schema, pool_size=4)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tiers (id, name, sl_seconds, sl_target, priority_weight, skip_ivr,"
                " blacklist_action) VALUES (:i, :i, 20, 0.8, 1, false, 'bar')"
            ),
            [{"i": t} for t in TIERS],
        )
    return engine


def _import_in_child(url: str, schema: str | None, path: str, queue: object) -> None:
    engine = make_engine(url, schema=schema)
    report = import_tiers(engine, path)
    queue.put((report.rows_read, report.duration_seconds))  # type: ignore[attr-defined]
    engine.dispose()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_backend(
    label: str,
    url: str,
    schema: str | None,
    *,
    rows: int,
    work: Path,
    mode: str,
    idle_samples: int,
) -> tuple[list[str], list[Series]]:
    lines: list[str] = []
    engine = prepare(url, schema)
    first, second = work / "load.csv", work / "refresh.csv"
    if not first.exists():
        write_source(first, rows, 0)
        write_source(second, rows, 1)
    print(f"[{label}] loading {rows:,} customers ...", flush=True)
    load = import_tiers(engine, first)
    lines.append(
        f"- initial load: {load.rows_read:,} rows in {load.duration_seconds:.1f} s "
        f"({load.rows_read / load.duration_seconds:,.0f} rows/s)"
    )
    rng = random.Random(7)
    uncached = TierDirectory(engine, max_entries=0)

    def random_number() -> str:
        # 90 % known customers, 10 % unknown callers; written as +86 to exercise normalisation.
        index = rng.randrange(rows) if rng.random() < 0.9 else rows + rng.randrange(rows)
        return "+86 " + number_of(index)

    idle = Series("idle, no cache", [])
    for _ in range(idle_samples):
        number = random_number()
        start = time.perf_counter()
        uncached.lookup(number)
        idle.samples.append(time.perf_counter() - start)

    cached = TierDirectory(engine, max_entries=100_000, ttl_seconds=300)
    hot = [number_of(rng.randrange(rows)) for _ in range(2000)]
    during = Series("during import, no cache", [])
    during_cached = Series("during import, cache (hot set of 2,000)", [])
    wrong: list[str] = []
    print(f"[{label}] re-importing {rows:,} rows ({mode}) while looking up ...", flush=True)
    outcome: dict[str, object] = {}
    if mode == "thread":

        def work_fn() -> None:
            outcome["report"] = import_tiers(engine, second, directory=cached)

        worker: threading.Thread | multiprocessing.process.BaseProcess = threading.Thread(
            target=work_fn
        )
        result_queue = None
    else:
        ctx = multiprocessing.get_context("spawn")
        result_queue = ctx.Queue()
        worker = ctx.Process(target=_import_in_child, args=(url, schema, str(second), result_queue))
    started = time.perf_counter()
    worker.start()
    toggle = False
    while worker.is_alive():
        toggle = not toggle
        if toggle:
            number = random_number()
            start = time.perf_counter()
            found = uncached.lookup(number)
            during.samples.append(time.perf_counter() - start)
            index = int(number[-9:])
            if (found is None) != (index >= rows):
                wrong.append(number)
        else:
            number = rng.choice(hot)
            start = time.perf_counter()
            cached.lookup(number)
            during_cached.samples.append(time.perf_counter() - start)
    worker.join()
    elapsed = time.perf_counter() - started
    if mode == "thread":
        report = outcome["report"]
        refreshed = report.rows_read  # type: ignore[attr-defined]
    else:
        assert result_queue is not None
        refreshed, _secs = result_queue.get()
    stats = cached.stats()
    hit_rate = stats.hits / max(1, stats.hits + stats.misses)
    during_cached.note = f"hit rate {hit_rate:.0%}"
    lines.append(
        f"- re-import under look-up load ({mode}): {refreshed:,} rows in {elapsed:.1f} s "
        f"({refreshed / elapsed:,.0f} rows/s)"
    )
    lines.append(f"- wrong answers during the import: {len(wrong)}")
    engine.dispose()
    return lines, [idle, during, during_cached]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--url",
        default=os.environ.get("OPENCC_TEST_PG_URL", ""),
        help="PostgreSQL SQLAlchemy URL (default: $OPENCC_TEST_PG_URL)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--mode",
        choices=("thread", "process"),
        default="thread",
        help="run the import in a thread (default) or a separate process",
    )
    parser.add_argument("--idle-samples", type=int, default=20_000)
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval() in seconds (CPython default 0.005)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)

    body = [
        f"{args.rows:,} customers (one number each). Look-ups normalise `+86 …` input; 90 % "
        "known numbers, 10 % unknown. Latencies in milliseconds, measured in one thread of "
        "the same process as the import "
        + ("thread" if args.mode == "thread" else "(import in a separate process)")
        + ".",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="bench_tier_") as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url, schema, label = f"sqlite:///{work}/bench.sqlite3", None, "SQLite (WAL)"
            elif backend == "postgresql":
                if not args.url:
                    print("PostgreSQL skipped: pass --url or set OPENCC_TEST_PG_URL")
                    continue
                url, schema, label = args.url, f"bench_tier_{uuid.uuid4().hex[:8]}", "PostgreSQL"
                admin = make_engine(url)
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            else:
                parser.error(f"unknown backend {backend!r}")
            try:
                lines, series = run_backend(
                    label,
                    url,
                    schema,
                    rows=args.rows,
                    work=work,
                    mode=args.mode,
                    idle_samples=args.idle_samples,
                )
            finally:
                if schema is not None:
                    with admin.begin() as conn:
                        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                    admin.dispose()
            body += [
                f"### {label}",
                "",
                *lines,
                "",
                "| look-ups | n | p50 ms | p99 ms | max ms | note |",
                "|---|---:|---:|---:|---:|---|",
                *(s.row() for s in series),
                "",
            ]
            print("\n".join(body[-(len(series) + 3 + len(lines)) :]), flush=True)
    text = "\n".join(body)
    print(text)
    if not args.no_record:
        given = argv if argv is not None else sys.argv[1:]
        shown = [
            a
            for i, a in enumerate(given)
            if "://" not in a and a != "--url" and not (i and given[i - 1] == "--url")
        ]
        prefix = (
            "OPENCC_TEST_PG_URL=postgresql+psycopg://… " if "postgresql" in args.backends else ""
        )
        write_section(
            "tier_lookup",
            "Tier look-up during bulk import (R-TIER-2)",
            text,
            command=f"{prefix}python -m bench.bench_tier_lookup {' '.join(shown)}".rstrip(),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
