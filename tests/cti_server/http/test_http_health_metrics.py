"""``/health``, ``/metrics`` and the error contract (R-SEC-1 availability targets)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cti_server.http import CheckResult, HealthCheck, MetricSource
from cti_server.store import make_engine
from cti_server.ws.stats import TransportStats
from tests.cti_server.http.http_support import ADMIN, Stack


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_health_ok_with_database_and_injected_checks(make_stack: Callable[..., Stack]) -> None:
    async def ws_running() -> bool:
        await asyncio.sleep(0)
        return True

    stack = make_stack(
        health_checks=[
            HealthCheck("switch_links", lambda: True),
            HealthCheck("ws_server", ws_running),
        ]
    )
    answer = stack.client(auth=None).get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "switch_links", "ws_server"}
    assert all(c["status"] == "ok" for c in body["checks"].values())


def test_degraded_answers_200_and_failing_answers_503(make_stack: Callable[..., Stack]) -> None:
    links = {"connected": 2, "configured": 2}

    def switch_links() -> CheckResult:
        if links["connected"] == 0:
            return CheckResult("failing", "no switch link connected")
        if links["connected"] < links["configured"]:
            return CheckResult("degraded", f"{links['connected']}/{links['configured']} links")
        return CheckResult("ok")

    def broken() -> bool:
        raise RuntimeError("recorder offline")

    stack = make_stack(
        health_checks=[
            HealthCheck("switch_links", switch_links),
            HealthCheck("call_recorder", broken, critical=False),
        ]
    )
    client = stack.client(auth=None)
    degraded = client.get("/health")
    assert degraded.status_code == 200
    assert degraded.json()["status"] == "degraded"
    recorder = degraded.json()["checks"]["call_recorder"]
    assert recorder["status"] == "degraded" and "recorder offline" in recorder["detail"]

    links["connected"] = 0
    failing = client.get("/health")
    assert failing.status_code == 503
    assert failing.json()["status"] == "failing"
    assert failing.json()["checks"]["switch_links"]["detail"] == "no switch link connected"


def test_slow_check_times_out_as_failing(make_stack: Callable[..., Stack]) -> None:
    async def hangs() -> bool:
        await asyncio.sleep(30)
        return True

    stack = make_stack(health_checks=[HealthCheck("ws_server", hangs, timeout=0.2)])
    answer = stack.client(auth=None).get("/health")
    assert answer.status_code == 503
    assert "no answer within 0.2 s" in answer.json()["checks"]["ws_server"]["detail"]


def test_unreachable_database_is_failing(make_stack: Callable[..., Stack], tmp_path: Any) -> None:
    stack = make_stack()
    # point the health check at a database file that cannot be opened
    (tmp_path / "dir").mkdir()
    broken = make_engine(f"sqlite:///{tmp_path}/dir")
    try:
        from cti_server.http.health import database_check

        stack.app.state.opencc.health_checks = (database_check(broken, timeout=1.0),)
        answer = stack.client(auth=None).get("/health")
        assert answer.status_code == 503
        assert answer.json()["checks"]["database"]["status"] == "failing"
    finally:
        broken.dispose()


def test_metrics_expose_requests_and_injected_sources(make_stack: Callable[..., Stack]) -> None:
    stats = TransportStats()
    stats.connections_open = 3
    stats.frames_in = 120
    stats.errors_by_code = Counter({"bad_request": 2, "forbidden": 1})
    routing = {"calls_waiting": 4, "agents_ready": 7, "overflow_active": True}

    def failing_source() -> dict[str, int]:
        raise RuntimeError("gone")

    stack = make_stack(
        metrics_sources=[
            MetricSource(stats.as_dict, prefix="ws", counters=frozenset({"frames_in"})),
            lambda: routing,
            failing_source,
        ]
    )
    admin = stack.client(ADMIN)
    for _ in range(3):
        assert admin.get("/api/v1/tiers/vip").status_code == 200
    assert admin.get("/api/v1/tiers/nope").status_code == 404
    admin.get("/no/such/path")
    stack.directory.lookup("13800138000")

    scrape = stack.client(auth=None).get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    samples = _samples(scrape.text)
    tier = "/api/v1/tiers/{tier_id}"
    key = (("method", "GET"), ("route", tier), ("status", "200"))
    assert samples[("opencc_http_requests_total", key)] == 3
    assert samples[("opencc_http_requests_total", (*key[:2], ("status", "404")))] == 1
    unmatched = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert samples[("opencc_http_requests_total", unmatched)] == 1
    assert samples[("opencc_http_request_duration_seconds_count", key[:2])] == 4
    assert not any("vip" in dict(labels).get("route", "") for _n, labels in samples)

    assert samples[("opencc_ws_connections_open", ())] == 3
    assert samples[("opencc_ws_frames_in_total", ())] == 120
    assert samples[("opencc_ws_errors_by_code", (("key", "bad_request"),))] == 2
    assert samples[("opencc_calls_waiting", ())] == 4
    assert samples[("opencc_overflow_active", ())] == 1
    assert samples[("opencc_metrics_source_errors_total", ())] >= 1
    assert samples[("opencc_tier_cache_misses_total", ())] >= 1

    stats.connections_open = 1  # read at scrape time
    again = _samples(stack.client(auth=None).get("/metrics").text)
    assert again[("opencc_ws_connections_open", ())] == 1


@pytest.mark.parametrize("path", ["/api/v1/tiers", "/api/v1/customers"])
def test_unexpected_errors_never_leak_a_traceback(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret internals /etc/opencc")

    monkeypatch.setattr(stack.store, "list_entities", explode)
    monkeypatch.setattr(stack.store, "search_customers", explode)
    answer = stack.client(ADMIN).get(path)
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {"code": "internal", "message": "internal server error", "detail": None}
    }
    assert "secret" not in answer.text and "Traceback" not in answer.text
