"""Recharge-card top-ups (R-BIZ-6): latency sequentially and under contention.

Seeds a fresh database (SQLite file, and PostgreSQL with ``--pg-url`` or
``OPENCC_TEST_PG_URL``), then measures on each backend:

* sequential top-ups, one card each (per-request latency);
* rounds of 20 threads submitting the *same* card at once (one credit, 19 "card used");
* rounds of 20 threads submitting 20 *different* cards to the same account at once
  (the ledger row serialises them).

After each backend the books must reconcile (journal = balances, one receipt per card).

    python -m bench.bench_payments [--rounds 10] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal

import sqlalchemy as sa
from argon2 import PasswordHasher

from bench._report import write_section
from cti_server.store import make_engine, seed_demo, session_factory, upgrade
from cti_server.store import payments as pay
from cti_server.store.seed import demo_account_no

PARALLEL = 20
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@contextmanager
def _database(backend: str, pg_url: str | None) -> Iterator[sa.Engine]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/bench.sqlite3")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    assert pg_url is not None
    schema = f"bench_pay_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = make_engine(pg_url, schema=schema, pool_size=PARALLEL + 2)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def _parallel(work: Callable[[int], object]) -> tuple[float, list[object]]:
    barrier = threading.Barrier(PARALLEL)

    def run(index: int) -> object:
        barrier.wait(timeout=60)
        try:
            return work(index)
        except pay.PaymentError as refused:
            return refused

    started = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(run, range(PARALLEL)))
    return time.perf_counter() - started, results


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(ordered) * 1000:.1f} / {p95 * 1000:.1f}"


type TopUp = Callable[[str, str, str], pay.ReceiptView]


def _same(top_up: TopUp, card: str, pin: str, prefix: str, index: int) -> pay.ReceiptView:
    return top_up(card, pin, f"{prefix}-{index}")


def _each(top_up: TopUp, batch: list[tuple[str, str]], prefix: str, index: int) -> pay.ReceiptView:
    return top_up(batch[index][0], batch[index][1], f"{prefix}-{index}")


def run_backend(backend: str, pg_url: str | None, rounds: int) -> dict[str, str]:
    with _database(backend, pg_url) as engine:
        upgrade(engine)
        seed_demo(engine, customers=50, hasher=HASHER)
        sessions = session_factory(engine)
        account = demo_account_no("C000001")
        counter = iter(range(10**6))

        def new_card(face: str = "10.00") -> tuple[str, str]:
            n = next(counter)
            card, pin = f"77{n:014d}", f"{n:08d}"
            with sessions.begin() as session:
                pay.issue_cards(session, [(card, pin, Decimal(face))], batch="BENCH")
            return card, pin

        def top_up(card: str, pin: str, key: str) -> pay.ReceiptView:
            return pay.recharge(
                sessions,
                card_no=card,
                pin=pin,
                channel="web",
                idempotency_key=key,
                actor="bench",
                account_id=account,
            )

        sequential: list[float] = []
        for i in range(rounds * 10):
            card, pin = new_card()
            started = time.perf_counter()
            top_up(card, pin, f"seq-{i}")
            sequential.append(time.perf_counter() - started)

        same_card: list[float] = []
        for r in range(rounds):
            card, pin = new_card()
            took, results = _parallel(functools.partial(_same, top_up, card, pin, f"s{r}"))
            credited = sum(isinstance(x, pay.ReceiptView) for x in results)
            used = sum(isinstance(x, pay.CardUsed) for x in results)
            assert (credited, used) == (1, PARALLEL - 1), results
            same_card.append(took)

        many_cards: list[float] = []
        for r in range(rounds):
            batch = [new_card() for _ in range(PARALLEL)]
            took, results = _parallel(functools.partial(_each, top_up, batch, f"m{r}"))
            assert all(isinstance(x, pay.ReceiptView) for x in results), results
            many_cards.append(took)

        with sessions() as session:
            problems = pay.reconcile(session)
        assert problems == [], problems
        return {
            "backend": backend,
            "sequential": _ms(sequential),
            "same_card": _ms(same_card),
            "many_cards": _ms(many_cards),
            "per_credit": f"{statistics.median(many_cards) / PARALLEL * 1000:.1f}",
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pg-url", default=os.environ.get("OPENCC_TEST_PG_URL"))
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgresql"] if args.pg_url else [])
    rows = [run_backend(b, args.pg_url, args.rounds) for b in backends]
    lines = [
        "Exactly-once recharge-card top-ups (`cti_server.store.payments.recharge`); times",
        "are median / p95 in ms. Every same-card round credited once (19 × `card_used`);",
        "the books reconciled after each backend.",
        "",
        "| backend | one top-up | 20 threads, same card (round) "
        "| 20 threads, 20 cards, one account (round) | ms per credit under contention |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['backend']} | {r['sequential']} | {r['same_card']} | {r['many_cards']} "
        f"| {r['per_credit']} |"
        for r in rows
    ]
    body = "\n".join(lines)
    print(body)
    write_section("payments", "Recharge-card top-ups (R-BIZ-6)", body)


if __name__ == "__main__":
    main()
