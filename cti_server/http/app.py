"""``create_app``: the CTI server's HTTP side as one Starlette app.

* ``/api/v1/...``: the REST admin API (:mod:`.handlers`), its OpenAPI document
  (``/api/v1/openapi.json``) and a static HTML rendering (``/api/v1/docs``);
* ``/health``: readiness with per-check results (no auth);
* ``/metrics``: Prometheus text format from the app's own registry (no auth);
* ``/ui/...``: the web panels (:mod:`cti_server.web`, docs/web.md).

The composition root builds the store objects, calls :func:`create_app` and
serves it with :func:`~cti_server.http.server.serve_http` in the same event loop
as the WebSocket CTI server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount

from cti_server.store import ConfigStore, TierDirectory, session_factory
from cti_server.store.prompts import PromptStore
from cti_server.web import NoticeBroadcaster, WebSettings, create_web_app

from . import schemas as s
from .auth import Access, CredentialCache, Verifier, store_verifier
from .errors import error_response
from .handlers import admin_endpoints
from .health import HealthCheck, database_check, run_checks
from .imports import ImportJobs
from .metrics import HttpMetrics, MetricsMiddleware, MetricSource, SourceFn
from .openapi import build_openapi, render_docs
from .prompts import prompt_endpoints
from .routing import Call, Endpoint, make_route
from .service import AdminService

API_VERSION = "1.0.0"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    title: str = "OpenCC CTI server"
    auth_cache_ttl: float = 60.0
    """Seconds a successful password verification is reused (0 disables the cache)."""
    auth_cache_size: int = 1024
    max_import_bytes: int = 1 << 30
    max_body_bytes: int = 8 << 20
    """Largest JSON request body (IVR flow documents are the big ones)."""
    import_chunk_size: int = 5000
    keep_import_jobs: int = 100
    database_timeout: float = 2.0
    """Timeout of the health endpoint's database check."""


@dataclass(slots=True)
class HttpContext:
    """The services a handler reaches through :class:`~.routing.Call`."""

    service: AdminService
    imports: ImportJobs
    credentials: CredentialCache
    health_checks: tuple[HealthCheck, ...]
    metrics: HttpMetrics
    openapi: dict[str, Any]
    docs_html: str
    max_body_bytes: int
    prompts: PromptStore | None = None
    """Uploaded IVR prompts (:mod:`.prompts`); None: those endpoints answer 503."""


async def _health(call: Call) -> Any:
    report = await run_checks(call.ctx.health_checks)
    status = 503 if report.status == "failing" else 200
    return Response(
        msgspec.json.encode(report),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def _metrics(call: Call) -> Any:
    body = await asyncio.to_thread(generate_latest, call.ctx.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def _openapi(call: Call) -> Any:
    return Response(msgspec.json.encode(call.ctx.openapi), media_type="application/json")


async def _docs(call: Call) -> Any:
    return HTMLResponse(call.ctx.docs_html)


def _service_endpoints() -> list[Endpoint]:
    return [
        Endpoint(
            "GET",
            "/health",
            _health,
            "health",
            "Health: ok / degraded (200) or failing (503), with per-check results.",
            "operations",
            Access.PUBLIC,
            response=s.HealthReport,
            errors=(503,),
        ),
        Endpoint(
            "GET",
            "/metrics",
            _metrics,
            "metrics",
            "Prometheus metrics (text exposition format).",
            "operations",
            Access.PUBLIC,
            response=str,
            media_type="text/plain",
        ),
        Endpoint(
            "GET",
            "/api/v1/openapi.json",
            _openapi,
            "openapi",
            "This API's OpenAPI 3.1 document.",
            "operations",
            Access.PUBLIC,
            response=dict[str, Any],
        ),
        Endpoint(
            "GET",
            "/api/v1/docs",
            _docs,
            "docs",
            "This API's description as an HTML page.",
            "operations",
            Access.PUBLIC,
            response=str,
            media_type="text/html",
        ),
    ]


def create_app(
    *,
    config_store: ConfigStore,
    tier_directory: TierDirectory,
    db_engine: sa.Engine,
    authenticate: Verifier | None = None,
    metrics_sources: Iterable[MetricSource | SourceFn] = (),
    health_checks: Iterable[HealthCheck] = (),
    import_dir: Path | None = None,
    settings: HttpSettings | None = None,
    web: WebSettings | None = None,
    notice_broadcaster: NoticeBroadcaster | None = None,
    prompt_dir: Path | None = None,
) -> Starlette:
    """The HTTP app of the CTI server.

    * ``config_store``: audited configuration CRUD; build it with
      ``ConfigStore(db_engine, tier_directory=tier_directory)`` so customer edits
      invalidate the live tier cache.
    * ``tier_directory``: the live tier look-up; imports invalidate its cache per chunk.
    * ``db_engine``: imports and the health check's ``SELECT 1`` use it.
    * ``authenticate``: ``(agent_id, password) -> Principal | None``, blocking (runs in
      a thread); default: argon2 verification against the store's agents.
    * ``metrics_sources``: figures exposed on ``/metrics`` (``opencc_`` prefix), e.g.
      ``MetricSource(transport_stats.as_dict, prefix="ws")``.
    * ``health_checks``: probes beside the built-in database check, e.g.
      ``HealthCheck("switch_links", lambda: links.connected() > 0)``.
    * ``import_dir``: where uploads are spooled (default: the system temp dir).
    * ``web``: settings of the web panels at ``/ui`` (session secret, cookie flags, time
      zone); default: a random secret, so browser sessions end with the process.
    * ``notice_broadcaster``: pushes a major-outage notice to the logged-in desktops and
      returns how many it reached (the composition root wires it to the domain).
    * ``prompt_dir``: where uploaded IVR prompts live (``<data_dir>/prompts``, the same
      folder the switch link's ``switch.prompt_get`` serves); None: no uploads (503).

    Shutting the app down (ASGI lifespan) cancels running imports after their
    current chunk and waits for that chunk.
    """
    settings = settings or HttpSettings()
    metrics_list = list(metrics_sources)
    credentials = CredentialCache(
        authenticate or store_verifier(config_store.sessions),
        ttl=settings.auth_cache_ttl,
        max_entries=settings.auth_cache_size,
    )
    imports = ImportJobs(
        db_engine,
        config_store.sessions,
        tier_directory,
        import_dir=import_dir,
        max_bytes=settings.max_import_bytes,
        default_chunk_size=settings.import_chunk_size,
        keep_finished=settings.keep_import_jobs,
    )

    def tier_cache() -> dict[str, int]:
        stats = tier_directory.stats()
        return {
            "hits": stats.hits,
            "misses": stats.misses,
            "size": stats.size,
            "invalidations": stats.invalidations,
        }

    builtin: list[MetricSource | SourceFn] = [
        MetricSource(
            tier_cache,
            prefix="tier_cache",
            counters=frozenset({"hits", "misses", "invalidations"}),
            help="Tier look-up cache",
        ),
        MetricSource(
            lambda: {"jobs": imports.counts()},
            prefix="tier_import",
            label="state",
            help="Tier import jobs by state",
        ),
        MetricSource(
            lambda: {"password_verifications": credentials.verifications},
            prefix="http_auth",
            counters=frozenset({"password_verifications"}),
            help="Password verifications (argon2) by the HTTP API",
        ),
    ]
    metrics = HttpMetrics([*builtin, *metrics_list])
    endpoints = [*_service_endpoints(), *admin_endpoints(), *prompt_endpoints()]
    doc = build_openapi(
        endpoints,
        title=settings.title,
        version=API_VERSION,
        description="REST admin API, health and metrics of the OpenCC CTI server.",
    )
    ctx = HttpContext(
        service=AdminService(config_store),
        imports=imports,
        credentials=credentials,
        health_checks=(
            database_check(db_engine, timeout=settings.database_timeout),
            *health_checks,
        ),
        metrics=metrics,
        openapi=doc,
        docs_html=render_docs(doc),
        max_body_bytes=settings.max_body_bytes,
        prompts=(
            PromptStore(prompt_dir, sessions=config_store.sessions)
            if prompt_dir is not None
            else None
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(imports.close)

    async def http_error(_request: Request, exc: Exception) -> Response:
        return error_response(exc)

    handlers: dict[Any, Callable[[Request, Exception], Any]] = {HTTPException: http_error}
    web_settings = web or WebSettings()
    web_app = create_web_app(
        session_factory(db_engine),
        credentials.authenticate,
        settings=web_settings,
        broadcaster=notice_broadcaster,
    )
    routes: list[BaseRoute] = [make_route(endpoint, ctx) for endpoint in endpoints]
    routes.append(Mount(web_settings.base_path, app=web_app))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(MetricsMiddleware, metrics=metrics)],
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    app.state.opencc = ctx
    app.state.endpoints = tuple(endpoints)
    return app
