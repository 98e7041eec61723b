"""Composition root of the CTI server: store, routing engine, domain, WebSocket transport.

::

    app = CtiApp(settings, db=make_engine(url))
    await app.start(port=0)          # tests: a free port, see app.port
    ...
    await app.stop()

``run_server(settings)`` is what ``python -m cti_server`` runs: migrate, optionally
seed the demo, start, and run until SIGINT/SIGTERM.

The HTTP side (REST admin, health, metrics; ``cti_server.http``) plugs in through
``http_app_factory``: a callable taking the started :class:`CtiApp` and returning an
object with ``async start()`` / ``async stop()`` (:class:`HttpSide`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.domain import (
    ContactCentre,
    DomainConfig,
    DomainHooks,
    Persistence,
    StoreAuthenticator,
    build_engine,
    build_router,
)
from cti_server.domain.live import (
    LiveConfigStore,
    ReloadReport,
    removal_check,
    switch_overview,
)
from cti_server.http import HealthCheck, HttpService, MetricSource, create_app
from cti_server.store import ConfigStore, make_engine, seed_demo, session_factory, upgrade
from cti_server.store import auth as store_auth
from cti_server.store.flows import seed_shipped_flows
from cti_server.store.models import Agent
from cti_server.store.prompts import PromptStore
from cti_server.store.recordings import RecordingStore
from cti_server.store.seed import seed_back_office
from cti_server.store.tier_refresh import TierRefreshScheduler
from cti_server.web import AdminLink, BroadcastNotice, NoticeBroadcaster, WebSettings
from cti_server.web.tiers_data import TierLink
from cti_server.ws import CtiServer, Session, TransportConfig
from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.protocol.system import NoticeSeverity, SystemNotice

log = logging.getLogger("cti_server.app")


class HttpSide(Protocol):
    """What the HTTP app factory returns (REST admin, health, metrics)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


type HttpAppFactory = Callable[[CtiApp], HttpSide]


class CtiApp:
    """The assembled CTI server; start/stop it in tests with ``port=0``."""

    def __init__(
        self,
        settings: Settings,
        *,
        db: sa.Engine,
        domain: DomainConfig | None = None,
        transport: TransportConfig | None = None,
        hasher: PasswordHasher = store_auth.DEFAULT_HASHER,
        tool_tokens: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        http_app_factory: HttpAppFactory | None = None,
        prompt_dir: Path | None = None,
        serve_prompts: bool = True,
    ) -> None:
        """``prompt_dir``: uploaded IVR prompts (default ``<data_dir>/prompts``);
        ``serve_prompts=False`` leaves the switches' prompt sync out (tests of old servers)."""
        self.settings = settings
        self.prompt_dir = (
            prompt_dir if prompt_dir is not None else Path(settings.paths.data_dir) / "prompts"
        )
        self.serve_prompts = serve_prompts
        self.db = db
        self.domain = domain if domain is not None else DomainConfig()
        self.transport = (
            transport if transport is not None else TransportConfig.from_settings(settings.server)
        )
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.store = Persistence(db)
        self.authenticator = StoreAuthenticator(
            db, switch_token=settings.server.switch_token, tool_tokens=tool_tokens, hasher=hasher
        )
        self.http_app_factory = http_app_factory
        self.http: HttpSide | None = None
        self._centre: ContactCentre | None = None
        self._server: CtiServer | None = None
        # R-TIER-3: scheduled tier refresh from SQL sources; the web console's tier pages
        self.tier_refresh: TierRefreshScheduler | None = None
        self.tier_link: TierLink | None = None

    @property
    def centre(self) -> ContactCentre:
        if self._centre is None:
            raise RuntimeError("the CTI app is not started")
        return self._centre

    @property
    def server(self) -> CtiServer:
        if self._server is None:
            raise RuntimeError("the CTI app is not started")
        return self._server

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        host = self.settings.server.host
        return f"ws://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.port}"

    def prompt_store(self) -> PromptStore | None:
        """Administrators' uploaded IVR prompts (R-IVR-5); switches sync them over the link."""
        if not self.serve_prompts:
            return None
        return PromptStore(self.prompt_dir, sessions=session_factory(self.db))

    async def start(self, *, host: str | None = None, port: int | None = None) -> None:
        """Load the routing configuration, build the domain and listen."""
        if self._server is not None:
            raise RuntimeError("already started")
        config = await self.store.routing_config()
        engine = build_engine(config, self.domain)
        centre = ContactCentre(engine, self.store, config, domain=self.domain, clock=self.clock)
        server = CtiServer(
            build_router(
                centre,
                prompts=self.prompt_store(),
                recordings=RecordingStore(session_factory(self.db)),
            ),
            self.authenticator,
            config=self.transport,
            hooks=DomainHooks(centre),
            clock=self.clock,
        )
        await server.start(
            host if host is not None else self.settings.server.host,
            port if port is not None else self.settings.server.ws_port,
        )
        self._centre, self._server = centre, server
        centre.start()
        self.tier_refresh = TierRefreshScheduler(self.db, directory=self.store.directory)
        self.tier_refresh.start()
        log.info(
            "CTI server ready: %d agents, %d queues, %d tiers",
            len(config.agents),
            len(config.queues),
            len(config.tiers),
        )
        if self.http_app_factory is not None:
            self.http = self.http_app_factory(self)
            await self.http.start()
            http_port = getattr(self.http, "port", None)
            if http_port:
                log.info("HTTP side ready: REST /api/v1, /health, /metrics on port %s", http_port)

    async def stop(self) -> None:
        """Tell the desktops, stop the HTTP side, close every connection, stop timers."""
        server, centre = self._server, self._centre
        if server is None or centre is None:
            return
        centre.shutdown_notice()
        if self.http is not None:
            with contextlib.suppress(Exception):
                await self.http.stop()
            self.http = None
        if self.tier_link is not None:
            await asyncio.to_thread(self.tier_link.close)  # also stops the refresh scheduler
            self.tier_link = None
        if self.tier_refresh is not None:
            await asyncio.to_thread(self.tier_refresh.stop)
            self.tier_refresh = None
        await server.stop()
        await centre.stop()
        self._server = None
        log.info("CTI server stopped")


def notice_broadcaster(app: CtiApp) -> NoticeBroadcaster:
    """Notices published in the web panels (R-BIZ-5 major outages among them) as
    ``system.notice`` to the desktop and supervisor sessions concerned: all of them, or
    for a regional notice those of agents of that region or of no region. Returns the
    number of sessions reached."""

    def broadcast(notice: BroadcastNotice) -> int:
        try:
            severity = NoticeSeverity(notice.severity)
        except ValueError:
            severity = NoticeSeverity.INFO
        event = SystemNotice(
            notice_id=str(notice.notice_id),
            title=notice.title[:128] or "-",
            body=notice.body[:1024] or None,
            severity=severity,
            region=notice.region or None,
            created_by=notice.created_by or None,
            created_at=notice.created_at,
        )
        wants = None
        if notice.region:
            with app.db.connect() as conn:
                rows = conn.execute(sa.select(Agent.id, Agent.region)).all()
            regions = {row[0]: row[1] for row in rows}

            def wants(session: Session) -> bool:
                region = regions.get(session.principal.principal_id)
                return not region or region == notice.region

        reached = app.centre.modes.announce(event, wants)
        log.info("notice %s pushed to %d session(s)", notice.notice_id, reached)
        return reached

    return broadcast


def web_secret(configured: str, data_dir: Path) -> bytes:
    """The configured cookie secret, or one made once and kept in ``data_dir/web-secret``
    (readable by this user only) so browser sessions survive a restart."""
    if configured:
        return configured.encode()
    path = data_dir / "web-secret"
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        existing = b""
    if len(existing) >= 32:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secret)
    return secret


def live_reloader(
    app: CtiApp, loop: asyncio.AbstractEventLoop
) -> Callable[[], ReloadReport | None]:
    """``LiveConfigStore.on_change``: reload the centre's routing configuration on the
    event loop and wait for it (the writer runs in a worker thread), so an HTTP answer
    comes once the change is live."""

    def reload() -> ReloadReport | None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # a write on the loop itself cannot wait for the loop

            async def later() -> None:
                await app.centre.reload_config()

            app.centre.spawn(later())
            return None
        return asyncio.run_coroutine_threadsafe(app.centre.reload_config(), loop).result(timeout=30)

    return reload


def default_http_side(app: CtiApp) -> HttpService:
    """The REST admin API, health and metrics on ``server.http_port``, sharing the
    database and the live tier cache with the WebSocket side."""
    settings = app.settings
    directory = app.store.directory  # imports and edits must clear the cache routing reads
    app.tier_link = TierLink(
        directory=directory,
        scheduler=app.tier_refresh,
        upload_dir=Path(settings.paths.data_dir) / "imports",
    )
    # routing-configuration edits (REST and web console) apply to the running centre at once
    config_store = LiveConfigStore(app.db, tier_directory=directory)
    config_store.on_change = live_reloader(app, asyncio.get_running_loop())
    # deleting a queue with calls in it (or a tier / group still needed) is refused up front
    config_store.check_removal = removal_check(lambda: app.centre, asyncio.get_running_loop())

    def centre_figures() -> dict[str, int]:
        centre = app.centre
        by_state: dict[str, int] = {}
        for agent_id in centre.agents:
            state = centre.engine.agent_state(agent_id)
            by_state[state] = by_state.get(state, 0) + 1
        return {
            "calls_active": len(centre.calls),
            "switch_links": len(centre.switches.switch_ids),
            **{f"agents_{state}": n for state, n in sorted(by_state.items())},
        }

    http = create_app(
        config_store=config_store,
        tier_directory=directory,
        db_engine=app.db,
        metrics_sources=[
            MetricSource(
                app.server.stats.as_dict,
                prefix="ws",
                counters=frozenset({"connections_total", "frames_in", "frames_out"}),
                help="WebSocket CTI transport",
            ),
            MetricSource(centre_figures, prefix="cti", help="agents, calls and switch links"),
        ],
        health_checks=[
            HealthCheck("ws_server", lambda: app.server.port > 0, critical=True),
            HealthCheck(
                "switch_links", lambda: bool(app.centre.switches.switch_ids), critical=False
            ),
        ],
        import_dir=Path(settings.paths.data_dir) / "imports",
        notice_broadcaster=notice_broadcaster(app),
        prompt_dir=app.prompt_dir,
        web=WebSettings(
            secret=web_secret(settings.server.web_secret, Path(settings.paths.data_dir)),
            timezone=settings.server.web_timezone,
            admin=AdminLink(
                config_store=config_store,
                prompts=app.prompt_store(),
                switches=lambda: switch_overview(app.centre),
            ),
            tiers=app.tier_link,
        ),
    )
    host = settings.server.host
    return HttpService(http, host, settings.server.http_port)


def _database_is_empty(db: sa.Engine) -> bool:
    with session_factory(db)() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Agent)) == 0


async def run_server(
    settings: Settings,
    *,
    ready: asyncio.Event | None = None,
    http_app_factory: HttpAppFactory | None = default_http_side,
    demo: bool = False,
    seed_if_empty: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    """Migrate the database, seed the demo when asked, serve until SIGINT/SIGTERM or
    ``stop`` is set. ``demo`` seeds the demo contact centre (idempotent);
    ``seed_if_empty`` seeds it only when the database has no agents."""
    db = make_engine(settings.database.url, echo=settings.database.echo)
    try:
        await asyncio.to_thread(upgrade, db)
        if demo or (seed_if_empty and await asyncio.to_thread(_database_is_empty, db)):
            report = await asyncio.to_thread(seed_demo, db)
            await asyncio.to_thread(seed_back_office, db)
            log.info("demo data seeded: %s", report.created or "already present")
        # R-IVR-5: the shipped flows become version 1 of flows the database lacks
        flows = await asyncio.to_thread(seed_shipped_flows, ConfigStore(db))
        if flows:
            log.info("shipped IVR flows stored as published version 1: %s", ", ".join(flows))
        app = CtiApp(settings, db=db, http_app_factory=http_app_factory)
        stop_event = stop if stop is not None else asyncio.Event()
        installed = _install_signals(stop_event)
        try:
            await app.start()
            if ready is not None:
                ready.set()
            await stop_event.wait()
            log.info("stopping")
        finally:
            await app.stop()
            _remove_signals(installed)
    finally:
        db.dispose()


def _install_signals(stop_event: asyncio.Event) -> list[signal.Signals]:
    """SIGINT/SIGTERM set ``stop_event``; platforms without ``add_signal_handler`` rely on
    KeyboardInterrupt instead."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop_event.set)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(sig)
    return installed


def _remove_signals(installed: list[signal.Signals]) -> None:
    loop = asyncio.get_running_loop()
    for sig in installed:
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(sig)
