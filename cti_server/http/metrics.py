"""``GET /metrics``: Prometheus text format from this app's own registry.

* ``opencc_http_requests_total{method,route,status}`` and
  ``opencc_http_request_duration_seconds{method,route}``: ``route`` is the route
  template (``/api/v1/tiers/{tier_id}``), never the raw path, so ids and scans of
  unknown paths (``<unmatched>``) do not explode the label space.
* Injected sources (:class:`MetricSource`, or plain callables): each returns a
  mapping name -> number (or bool), or name -> mapping key -> number (exposed with
  a label). They are read at scrape time and exposed as ``opencc_<prefix>_<name>``,
  gauges unless listed in ``counters`` (then ``..._total`` counters). A source that
  raises is skipped for that scrape and counted in
  ``opencc_metrics_source_errors_total``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("cti_server.http.metrics")

PREFIX = "opencc"
SourceValue = int | float | bool | None | Mapping[str, int | float | bool | None]
SourceFn = Callable[[], Mapping[str, SourceValue]]
_BAD = re.compile(r"[^a-zA-Z0-9_]")
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class MetricSource:
    """Figures read at scrape time, e.g. ``MetricSource(stats.as_dict, prefix="ws",
    counters=frozenset({"frames_in", "frames_out"}))``."""

    read: SourceFn
    prefix: str = ""
    counters: frozenset[str] = frozenset()
    label: str = "key"
    """Label name for nested mappings (``errors_by_code`` -> ``{key="bad_request"}``)."""
    help: str = ""


def metric_name(*parts: str) -> str:
    name = "_".join(_BAD.sub("_", p).strip("_") for p in parts if p)
    return name if not name[:1].isdigit() else f"_{name}"


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


class SourceCollector(Collector):
    def __init__(self, sources: Iterable[MetricSource | SourceFn]) -> None:
        self._sources = [s if isinstance(s, MetricSource) else MetricSource(s) for s in sources]
        self._errors = 0

    def collect(self) -> Iterator[Metric]:
        seen: set[str] = set()
        for source in self._sources:
            try:
                values = dict(source.read())
            except Exception:
                self._errors += 1
                log.warning("metric source %r failed", source.read, exc_info=True)
                continue
            for key, value in values.items():
                name = metric_name(PREFIX, source.prefix, key)
                if name in seen:
                    continue
                seen.add(name)
                family = self._family(source, key, name, value)
                if family is not None:
                    yield family
        errors = CounterMetricFamily(
            f"{PREFIX}_metrics_source_errors", "Metric sources that raised while scraped."
        )
        errors.add_metric([], self._errors)
        yield errors

    @staticmethod
    def _family(source: MetricSource, key: str, name: str, value: SourceValue) -> Metric | None:
        help_text = source.help or f"{source.prefix or 'opencc'} {key}"
        is_counter = key in source.counters
        family: CounterMetricFamily | GaugeMetricFamily
        if isinstance(value, Mapping):
            labels = [metric_name(source.label)]
            family = (
                CounterMetricFamily(name, help_text, labels=labels)
                if is_counter
                else GaugeMetricFamily(name, help_text, labels=labels)
            )
            for sub, sub_value in value.items():
                number = _number(sub_value)
                if number is not None:
                    family.add_metric([str(sub)], number)
            return family
        number = _number(value)
        if number is None:
            return None
        if is_counter:
            family = CounterMetricFamily(name, help_text)
        else:
            family = GaugeMetricFamily(name, help_text)
        family.add_metric([], number)
        return family


class HttpMetrics:
    """The registry of one app: request metrics plus the injected sources."""

    def __init__(self, sources: Iterable[MetricSource | SourceFn] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(SourceCollector(sources))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class MetricsMiddleware:
    """Pure ASGI middleware (bodies stream through untouched) that times each request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - started)
