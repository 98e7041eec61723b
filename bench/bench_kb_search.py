"""Knowledge-base search latency (R-BIZ-3 "fast keyword search"; goal p99 < 100 ms).

For each backend (SQLite WAL always; PostgreSQL when ``--url`` or
``OPENCC_TEST_PG_URL`` is given):

1. generate N articles (default 10,000) of mixed Chinese / English / mixed text from a
   telecom vocabulary, published and indexed through ``load_articles`` (the real
   indexing code; timed);
2. run Q queries (Chinese words, two-word Chinese phrases, one character, English
   words and pairs, mixed, questions, words that match nothing) as a regional agent
   (so the company-visibility filter is part of every query), through
   ``knowledge_data.search`` — ranking, snippets with highlighting and the query-log
   row with its commit included.

Run: ``python -m bench.bench_kb_search [--articles N] [--queries Q] [--url URL]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bench._report import write_section
from cti_server.store import make_engine, upgrade
from cti_server.store.db import session_factory
from cti_server.store.models import KbTerm, Role
from cti_server.web.data import WebUser
from cti_server.web.knowledge_data import load_articles, search

ZH_WORDS = [
    "宽带",
    "资费",
    "套餐",
    "营业厅",
    "地址",
    "机顶盒",
    "信号",
    "故障",
    "报修",
    "缴费",
    "充值卡",
    "余额",
    "账单",
    "发票",
    "过户",
    "注销",
    "新装",
    "移机",
    "提速",
    "光猫",
    "路由器",
    "数字电视",
    "高清",
    "频道",
    "节目",
    "少儿",
    "体育",
    "合约",
    "优惠",
    "续约",
    "挽留",
    "回访",
    "投诉",
    "退费",
    "预存",
    "停机",
    "复机",
    "欠费",
    "密码",
    "证件",
    "身份证",
    "上门",
    "安装",
    "工单",
    "时限",
    "网速",
    "无线",
    "测速",
    "融合",
    "年付",
    "月费",
    "违约金",
    "积分",
    "活动",
    "客服",
    "热线",
    "短信",
    "提醒",
    "服务",
    "流程",
    "材料",
    "预约",
    "覆盖",
    "小区",
    "片区",
    "中断",
    "维护",
    "升级",
    "设备",
    "回收",
    "租用",
    "押金",
    "电子",
    "纸质",
    "凭证",
    "营业",
    "时间",
    "周末",
    "节假日",
]
EN_WORDS = (
    (
        "broadband tariff plan package outlet address set-top box signal fault repair payment "
        "recharge card balance bill invoice transfer cancel install move upgrade router modem "
        "digital television channel sports kids contract discount renewal retention complaint "
        "refund prepaid suspend restore arrears password identity visit order deadline speed "
        "wireless test bundle yearly monthly penalty points campaign hotline message reminder "
        "service procedure documents appointment coverage district outage maintenance device "
        "rental deposit electronic receipt opening hours weekend holiday"
    )
    .replace("set-top", "settop")
    .split()
)
COMPANIES = ("上海", "深圳", "北京", "广州")


def _zh_sentence(rng: random.Random, words: int) -> str:
    return "".join(rng.choice(ZH_WORDS) for _ in range(words)) + rng.choice("，。；！")


def _en_sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(EN_WORDS) for _ in range(words)).capitalize() + ". "


def generate(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        kind = rng.random()
        if kind < 0.5:
            title = "".join(rng.choice(ZH_WORDS) for _ in range(rng.randint(2, 4)))
            body = "".join(_zh_sentence(rng, rng.randint(4, 9)) for _ in range(rng.randint(5, 12)))
        elif kind < 0.85:
            title = " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(2, 5))).title()
            body = "".join(_en_sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(4, 10)))
        else:
            title = rng.choice(ZH_WORDS) + " " + rng.choice(EN_WORDS)
            body = "".join(
                _zh_sentence(rng, 5) if j % 2 else _en_sentence(rng, 8)
                for j in range(rng.randint(4, 10))
            )
        if rng.random() < 0.3:
            body = "| 项目 | 价格 |\n|---|---:|\n| " + rng.choice(ZH_WORDS) + " | 99 |\n\n" + body
        visibility = rng.choice(("all", "all", "all", "company", "shared"))
        yield {
            "slug": f"bench-{i:06d}",
            "title": title[:200],
            "body": body,
            "tags": [rng.choice(ZH_WORDS), rng.choice(EN_WORDS)],
            "company": rng.choice(COMPANIES),
            "visibility": visibility,
            "shared_with": [rng.choice(COMPANIES)] if visibility == "shared" else [],
        }


def queries(count: int, seed: int = 11) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    makers: list[tuple[str, Callable[[], str]]] = [
        ("zh word", lambda: rng.choice(ZH_WORDS)),
        ("zh phrase", lambda: rng.choice(ZH_WORDS) + rng.choice(ZH_WORDS)),
        ("zh char", lambda: rng.choice(rng.choice(ZH_WORDS))),
        ("zh question", lambda: rng.choice(ZH_WORDS) + rng.choice(ZH_WORDS) + "怎么办理"),
        ("en word", lambda: rng.choice(EN_WORDS)),
        ("en words", lambda: f"{rng.choice(EN_WORDS)} {rng.choice(EN_WORDS)}s"),
        ("mixed", lambda: f"{rng.choice(ZH_WORDS)} {rng.choice(EN_WORDS)}"),
        ("no match", lambda: f"xyzzy{rng.randrange(1000)}"),
    ]
    for i in range(count):
        name, make = makers[i % len(makers)]
        out.append((name, make()))
    return out


@dataclass
class Run:
    backend: str
    articles: int
    terms: int
    load_s: float
    samples: dict[str, list[float]]
    cpu: list[float]
    results: list[int]
    load: float


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] * 1000


def run(backend: str, engine: sa.Engine, articles: int, query_count: int) -> Run:
    upgrade(engine)
    sessions = session_factory(engine)
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for item in generate(articles):
        batch.append(item)
        if len(batch) == 500:
            with sessions.begin() as session:
                load_articles(session, batch)
            batch = []
    if batch:
        with sessions.begin() as session:
            load_articles(session, batch)
    load_s = time.perf_counter() - started
    with engine.connect() as conn:
        terms = conn.scalar(sa.select(sa.func.count()).select_from(KbTerm)) or 0
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    user = WebUser("1001", "bench", Role.AGENT, "上海", None)
    samples: dict[str, list[float]] = {}
    cpu: list[float] = []
    results: list[int] = []
    qs = queries(query_count)
    for _name, q in qs[:40]:  # warm-up
        search(sessions, user, q, log=False)
    for name, q in qs:
        t0, c0 = time.perf_counter(), time.thread_time()
        result = search(sessions, user, q)
        samples.setdefault(name, []).append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        results.append(result.total)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return Run(backend, articles, int(terms), load_s, samples, cpu, results, load)


def report(runs: list[Run]) -> str:
    lines = [
        "Search as a regional agent (company-visibility filter on), ranked, 20 hits with",
        "highlighted snippets, plus the query-log insert and commit. Goal: p99 < 100 ms.",
        'Wall-clock latency; "CPU" is this thread\'s CPU time per query (the whole work',
        "on SQLite, the client side on PostgreSQL): the difference is time spent waiting",
        "for a core on a shared machine (load average at the end of each run).",
        "",
        "| backend | articles | index rows | load + index (s) | queries | p50 (ms) | p99 (ms) "
        "| max (ms) | CPU p50 / p99 (ms) | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        every = [x for v in r.samples.values() for x in v]
        lines.append(
            f"| {r.backend} | {r.articles:,} | {r.terms:,} | {r.load_s:.1f} | {len(every):,} | "
            f"{statistics.median(every) * 1000:.1f} | {_pct(every, 0.99):.1f} | "
            f"{max(every) * 1000:.1f} | {statistics.median(r.cpu) * 1000:.1f} / "
            f"{_pct(r.cpu, 0.99):.1f} | {r.load:.1f} |"
        )
    lines += ["", "Per query kind (p50 / p99 ms):", ""]
    kinds = list(runs[0].samples)
    lines.append("| backend | " + " | ".join(kinds) + " |")
    lines.append("|---|" + "---:|" * len(kinds))
    for r in runs:
        cells = [
            f"{statistics.median(r.samples[k]) * 1000:.1f} / {_pct(r.samples[k], 0.99):.1f}"
            for k in kinds
        ]
        lines.append(f"| {r.backend} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=800)
    parser.add_argument("--url", default=os.environ.get("OPENCC_TEST_PG_URL", ""))
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/kb.sqlite3")
        try:
            runs.append(run("SQLite (WAL)", engine, args.articles, args.queries))
        finally:
            engine.dispose()
    if args.url:
        schema = f"opencc_kb_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        engine = make_engine(args.url, schema=schema)
        try:
            runs.append(run("PostgreSQL", engine, args.articles, args.queries))
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.dispose()
    body = report(runs)
    print(body)
    if not args.no_write:
        command = (
            f"python -m bench.bench_kb_search --articles {args.articles} --queries {args.queries}"
        )
        if args.url:
            command = f"OPENCC_TEST_PG_URL=postgresql+psycopg://… {command}"
        write_section("kb_search", "Knowledge-base search (R-BIZ-3)", body, command=command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
