"""The web panels as a Starlette app (mounted at ``/ui`` by ``cti_server.http.create_app``).

Every page declares the roles that may open it; a refusal (no session, wrong role,
customer of another region, bad CSRF token) answers 403 with an explanation page and
writes an audit row (``action="refused"``, ``entity="web_page"``). Blocking store work
runs in worker threads; the notice broadcaster runs on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cti_server.store import Principal, redeem_web_token
from cti_server.store.models import Role

from . import (
    admin,  # administration console (R-SKILL-1..3, R-TIER-1..3)
    campaigns,  # outbound campaigns, scripts, questionnaires, statistics (issue 9)
    care,  # care plans (R-BIZ-8)
    data,
    ivr_designer,  # IVR flow designer (R-IVR-5)
    knowledge,  # knowledge base (知识库)
    outbound,  # outbound lists: import, extraction sets, target records, DNC (issue 9)
    payments,  # customer queries and recharge (R-BIZ-4, R-BIZ-6)
    qa,  # QA scorecards and the agent QA report (R-SUP-3)
    recordings,  # recording search and playback (R-SUP-3)
    reports,  # historical reports and staffing helper (R-SUP-4)
    services,  # services, acceptance orders, marketing, surveys
    tiers,  # customer tiers: browse/edit, file import, SQL refresh (R-TIER-3)
    workorders,
)
from .admin_data import AdminLink
from .data import ContactFilter, Invalid, Refused, WebUser
from .i18n import LANGUAGES, MESSAGES, pick_language, translator
from .query import PivotResult, TableResult, run_query
from .session import LANG_COOKIE, LOGIN_CSRF_COOKIE, SESSION_COOKIE, SessionSigner, same_token
from .tiers_data import TierLink

log = logging.getLogger("cti_server.web")

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
MAX_FORM_BYTES = 64 * 1024

ALL_ROLES = frozenset(Role)
DESK_ROLES = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN})
PUBLISHERS = frozenset({Role.TEAM_LEAD, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True, slots=True)
class BroadcastNotice:
    """A major-outage notice for every logged-in desktop (R-BIZ-5)."""

    notice_id: int
    title: str
    body: str
    severity: str
    region: str | None
    created_by: str
    created_at: float


NoticeBroadcaster = Callable[[BroadcastNotice], int]
"""Pushes a notice to the desktops; returns how many it reached. Called on the event loop."""

PasswordCheck = Callable[[str, str], Awaitable[Principal | None]]


@dataclass(frozen=True, slots=True)
class WebSettings:
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Signs the session cookies; a random one means sessions end with the process."""
    session_max_age: float = 8 * 3600.0
    cookie_secure: bool = False
    """Mark cookies ``Secure`` (set it when the HTTP side runs behind TLS)."""
    timezone: str = "UTC"
    """Times on the pages are shown in this zone; date filters are UTC days."""
    base_path: str = "/ui"
    admin: AdminLink | None = None
    """What the administration console needs from the running server (live-reloading
    config store, prompt store, switches); None: plain store, no prompts, no switches."""
    tiers: TierLink | None = None
    """:class:`.tiers_data.TierLink` (live tier cache, refresh scheduler, upload folder);
    None: no cache to clear, no scheduler."""


@dataclass(slots=True)
class WebContext:
    sessions: sessionmaker[Session]
    signer: SessionSigner
    settings: WebSettings
    templates: jinja2.Environment
    check_password: PasswordCheck
    broadcaster: NoticeBroadcaster | None
    zone: dt.tzinfo


class WebRequest:
    """One request with its language, signed-in user and parsed form."""

    def __init__(
        self, request: Request, ctx: WebContext, lang: str, user: WebUser | None, csrf: str
    ) -> None:
        self.request = request
        self.ctx = ctx
        self.lang = lang
        self.user = user
        self.csrf = csrf
        self.form: dict[str, list[str]] = {}
        self._ = translator(lang)

    @property
    def base(self) -> str:
        return self.ctx.settings.base_path

    @property
    def path(self) -> str:
        return self.request.url.path

    def arg(self, name: str, default: str = "") -> str:
        return (self.request.query_params.get(name) or default).strip()

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default

    def fields(self, name: str) -> list[str]:
        return self.form.get(name, [])

    async def db[T](self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, self.ctx.sessions, *args, **kwargs)

    def fmt_time(self, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        return value.astimezone(self.ctx.zone).strftime("%Y-%m-%d %H:%M:%S")

    def cell(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            return self.fmt_time(value)
        if isinstance(value, bool):
            return "✔" if value else ""
        return str(value)

    def lang_url(self, lang: str) -> str:
        params = dict(self.request.query_params)
        params["lang"] = lang
        return f"{self.path}?{urlencode(params)}"

    def page_url(self, page: int) -> str:
        params = dict(self.request.query_params)
        params.pop("lang", None)
        params["page"] = str(page)
        return f"{self.path}?{urlencode(params)}"

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = self.ctx.templates.get_template(template).render(
            _=self._,
            r=self,
            lang=self.lang,
            languages=LANGUAGES,
            user=self.user,
            base=self.base,
            csrf=self.csrf,
            fmt=self.fmt_time,
            Role=Role,
            **values,
        )
        return HTMLResponse(
            body,
            status_code=status,
            headers={
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
                "Content-Security-Policy": "default-src 'self'; frame-ancestors 'self'",
            },
        )

    async def refuse(self, reason: str, **detail: Any) -> HTMLResponse:
        actor = self.user.agent_id if self.user is not None else "anonymous"
        await self.db(
            data.audit_refusal,
            actor,
            self.path,
            reason,
            {"method": self.request.method, **detail},
        )
        log.info("refused %s %s to %s: %s", self.request.method, self.path, actor, reason)
        key = {
            "login": "forbidden_login",
            "role": "forbidden_role",
            "region": "forbidden_region",
            "csrf": "forbidden_csrf",
            "sso": "sso_failed",
        }.get(reason, "forbidden_other")
        return self.render("forbidden.html", status=403, message=self._(key), reason=reason)

    def not_found(self) -> HTMLResponse:
        return self.render("not_found.html", status=404)

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)


Handler = Callable[[WebRequest], Awaitable[Response]]


async def _read_form(request: Request) -> dict[str, list[str]] | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        return None


def page(
    roles: frozenset[Role] | None, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint running ``handler`` for ``roles`` (``None``: anyone)."""

    async def endpoint(request: Request) -> Response:
        ctx: WebContext = request.app.state.web
        query_lang = request.query_params.get("lang")
        lang = pick_language(
            query_lang, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )
        session = ctx.signer.read(request.cookies.get(SESSION_COOKIE))
        user = None
        if session is not None:
            user = await asyncio.to_thread(data.load_user, ctx.sessions, session.agent_id)
        r = WebRequest(request, ctx, lang, user, session.csrf if session and user else "")
        response: Response
        if roles is not None and user is None:
            response = await r.refuse("login")
        elif roles is not None and user is not None and user.role not in roles:
            response = await r.refuse("role", role=user.role.value)
        else:
            response = await _run(r, handler, check_csrf=roles is not None)
        if query_lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, query_lang, max_age=365 * 86400, samesite="lax")
        return response

    return endpoint


async def _run(r: WebRequest, handler: Handler, *, check_csrf: bool) -> Response:
    if r.request.method == "POST":
        form = await _read_form(r.request)
        if form is None:
            return await r.refuse("bad_form")
        r.form = form
        if check_csrf and not same_token(r.csrf, r.field("csrf")):
            return await r.refuse("csrf")
    try:
        return await handler(r)
    except Refused as refused:
        return await r.refuse(refused.reason, **refused.detail)
    except LookupError:
        return r.not_found()


# --- sign-in -------------------------------------------------------------------------------


def _safe_next(r: WebRequest, target: str) -> str:
    if target.startswith(r.base + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return r.base + "/"


def _signed_in(r: WebRequest, agent_id: str, target: str) -> Response:
    cookie, _session = r.ctx.signer.issue(agent_id)
    response = r.redirect(_safe_next(r, target))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(r.ctx.settings.session_max_age),
        path=r.base,
        httponly=True,
        samesite="lax",
        secure=r.ctx.settings.cookie_secure,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=r.base)
    return response


def _login_form(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = r.render(
        "login.html",
        status=status,
        error=error,
        login_csrf=token,
        next=r.arg("next") or r.field("next"),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=r.base,
        httponly=True,
        samesite="lax",
        secure=r.ctx.settings.cookie_secure,
    )
    return response


async def login_page(r: WebRequest) -> Response:
    return _login_form(r)


async def login_submit(r: WebRequest) -> Response:
    if not same_token(r.request.cookies.get(LOGIN_CSRF_COOKIE), r.field("csrf")):
        return await r.refuse("csrf")
    agent_id, password = r.field("agent_id").strip(), r.field("password")
    principal = None
    if agent_id and password:
        principal = await r.ctx.check_password(agent_id, password)
    if principal is None:
        return _login_form(r, error=r._("login_failed"), status=401)
    return _signed_in(r, principal.agent_id, r.field("next"))


async def logout(r: WebRequest) -> Response:
    response = r.redirect(f"{r.base}/login")
    response.delete_cookie(SESSION_COOKIE, path=r.base)
    return response


async def sso(r: WebRequest) -> Response:
    agent_id = await asyncio.to_thread(redeem_web_token, r.ctx.sessions, r.arg("token"))
    if agent_id is None or await r.db(data.load_user, agent_id) is None:
        return await r.refuse("sso")
    return _signed_in(r, agent_id, r.arg("next"))


# --- pages ---------------------------------------------------------------------------------


async def home(r: WebRequest) -> Response:
    notices = await r.db(data.list_notices, _user(r), size=5)
    return r.render("home.html", notices=notices)


def _user(r: WebRequest) -> WebUser:
    assert r.user is not None
    return r.user


async def trajectory(r: WebRequest) -> Response:
    call = await r.db(data.call_trajectory, _user(r), r.request.path_params["call_id"])
    return r.render("trajectory.html", call=call, detail_keys=_DETAIL_KEYS)


_DETAIL_KEYS = tuple(k[2:] for k in MESSAGES if k.startswith("d_"))


def _int(text: str, default: int = 1) -> int:
    try:
        return max(1, int(text))
    except ValueError:
        return default


def _date(text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid("error_date") from None


async def contacts(r: WebRequest) -> Response:
    choices = await r.db(data.contact_choices)
    values = {
        k: r.arg(k)
        for k in ("customer", "number", "agent", "from", "to", "disposition", "business")
    }
    try:
        flt = ContactFilter(
            customer=values["customer"],
            number=values["number"],
            agent=values["agent"],
            date_from=_date(values["from"]),
            date_to=_date(values["to"]),
            disposition=values["disposition"],
            business=values["business"],
        )
    except Invalid as bad:
        return r.render(
            "contacts.html",
            status=400,
            values=values,
            choices=choices,
            result=None,
            error=r._(bad.key),
        )
    result = await r.db(data.contact_history, _user(r), flt, page=_int(r.arg("page")))
    return r.render("contacts.html", values=values, choices=choices, result=result, error="")


async def notices(r: WebRequest) -> Response:
    result = await r.db(data.list_notices, _user(r), page=_int(r.arg("page")))
    return r.render("notices.html", result=result)


async def notice_detail(r: WebRequest) -> Response:
    notice = await r.db(data.get_notice, _user(r), int(r.request.path_params["notice_id"]))
    return r.render("notice.html", notice=notice)


async def notice_form(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    values = {k: r.field(k) for k in ("title", "body", "severity", "region")}
    return r.render(
        "notice_new.html", status=status, error=error, values=values, severities=data.SEVERITIES
    )


async def notice_new(r: WebRequest) -> Response:
    return await notice_form(r)


async def notice_create(r: WebRequest) -> Response:
    user = _user(r)
    region = r.field("region").strip() or None if user.region is None else user.region
    try:
        notice = await r.db(
            data.create_notice,
            user,
            title=r.field("title"),
            body=r.field("body"),
            severity=r.field("severity", "info"),
            region=region,
        )
    except Invalid as bad:
        return await notice_form(r, error=r._(bad.key), status=400)
    if r.ctx.broadcaster is not None:  # every notice is pushed; desktops stress outages
        reached = r.ctx.broadcaster(
            BroadcastNotice(
                notice.notice_id,
                notice.title,
                notice.body,
                notice.severity,
                notice.region,
                notice.created_by,
                notice.created_at.timestamp(),
            )
        )
        await r.db(data.set_pushed, notice.notice_id, reached)
    return r.redirect(f"{r.base}/notices/{notice.notice_id}")


async def categories(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    tree = await r.db(data.category_tree)
    return r.render("categories.html", status=status, tree=tree, error=error)


async def category_add(r: WebRequest) -> Response:
    try:
        await r.db(
            data.add_category,
            _user(r),
            parent_id=r.field("parent_id"),
            name_zh=r.field("name_zh"),
            name_en=r.field("name_en"),
        )
    except Invalid as bad:
        return await categories(r, error=r._(bad.key), status=400)
    return r.redirect(f"{r.base}/categories")


async def category_change(r: WebRequest) -> Response:
    category_id = r.request.path_params["category_id"]
    action = r.field("action")
    changes: dict[str, Any]
    if action == "rename":
        changes = {"name_zh": r.field("name_zh"), "name_en": r.field("name_en")}
    elif action == "move":
        changes = {"parent_id": r.field("parent_id")}
    elif action in ("disable", "enable"):
        changes = {"active": action == "enable"}
    else:
        return await categories(r, error=r._("error_choice"), status=400)
    try:
        await r.db(data.change_category, _user(r), category_id, **changes)
    except Invalid as bad:
        return await categories(r, error=r._(bad.key), status=400)
    return r.redirect(f"{r.base}/categories")


# --- inquiry and acceptance (R-IN-7) --------------------------------------------------------


def _business_page(kind: str) -> tuple[Handler, Handler]:
    async def show(
        r: WebRequest,
        *,
        record: data.BusinessRecordView | None = None,
        created: bool = True,
        error: str = "",
        status: int = 200,
    ) -> Response:
        call_id = r.arg("call_id") or r.field("call_id")
        customer = r.arg("customer") or r.field("customer_no")
        context = await r.db(data.call_context, _user(r), call_id or None, customer)
        tree = await r.db(data.category_tree, kind=kind, active_only=True)
        serial = r.field("serial_no") if error else data.new_serial(kind)
        return r.render(
            "business.html",
            status=status,
            kind=kind,
            context=context,
            tree=tree,
            serial=serial,
            record=record,
            created=created,
            chosen=set(r.fields("categories")),
            remarks=r.field("remarks"),
            error=error,
        )

    async def confirm(r: WebRequest) -> Response:
        user = _user(r)
        call_id = r.field("call_id") or None
        customer = r.field("customer_no")
        context = await r.db(data.call_context, user, call_id, customer)
        try:
            record, created = await r.db(
                data.save_business_record,
                user,
                kind=kind,
                serial_no=r.field("serial_no"),
                call_id=context.call_id,
                customer_number=customer or context.customer_number,
                accessed_at=context.accessed_at,
                remarks=r.field("remarks"),
                categories=r.fields("categories"),
            )
        except Invalid as bad:
            return await show(r, error=r._(bad.key), status=400)
        if kind == "acceptance":
            return r.redirect(f"{r.base}/records/{record.serial_no}")
        return await show(r, record=record, created=created)

    return show, confirm


inquiry_page, inquiry_confirm = _business_page("inquiry")
acceptance_page, acceptance_confirm = _business_page("acceptance")


async def record_result(r: WebRequest) -> Response:
    record = await r.db(data.get_business_record, _user(r), r.request.path_params["serial"])
    names = await r.db(data.category_names, record.categories)
    return r.render("record.html", record=record, names=names)


# --- query / statistics ---------------------------------------------------------------------


async def query_list(r: WebRequest) -> Response:
    definitions = await r.db(data.query_definitions)
    return r.render("queries.html", definitions=definitions)


async def query_page(r: WebRequest) -> Response:
    definition = await r.db(data.query_definition, r.request.path_params["query_id"])
    values = {name: r.arg(name) for name in definition.inputs}
    result: TableResult | PivotResult | None = None
    error = ""
    status = 200
    if r.arg("run"):
        try:
            result = await r.db(run_query, _user(r), definition, values, page=_int(r.arg("page")))
        except Invalid as bad:
            error, status = r._(bad.key), 400
        except LookupError:
            error, status = r._("query_broken"), 500
    return r.render(
        "query.html",
        status=status,
        definition=definition,
        values=values,
        result=result,
        error=error,
        is_pivot=isinstance(result, PivotResult),
    )


# --- the app -------------------------------------------------------------------------------


def _routes() -> list[Route | Mount]:
    def get(path: str, roles: frozenset[Role] | None, handler: Handler) -> Route:
        return Route(path, page(roles, handler), methods=["GET"])

    def post(path: str, roles: frozenset[Role] | None, handler: Handler) -> Route:
        return Route(path, page(roles, handler), methods=["POST"])

    return [
        get("/", ALL_ROLES, home),
        get("/login", None, login_page),
        post("/login", None, login_submit),
        post("/logout", ALL_ROLES, logout),
        get("/sso", None, sso),
        get("/calls/{call_id}", ALL_ROLES, trajectory),
        get("/contacts", ALL_ROLES, contacts),
        get("/notices", ALL_ROLES, notices),
        get("/notices/new", PUBLISHERS, notice_new),
        post("/notices", PUBLISHERS, notice_create),
        get("/notices/{notice_id:int}", ALL_ROLES, notice_detail),
        get("/categories", ALL_ROLES, categories),
        post("/categories", ADMINS, category_add),
        post("/categories/{category_id}", ADMINS, category_change),
        get("/inquiry", DESK_ROLES, inquiry_page),
        post("/inquiry", DESK_ROLES, inquiry_confirm),
        get("/acceptance", DESK_ROLES, acceptance_page),
        post("/acceptance", DESK_ROLES, acceptance_confirm),
        get("/records/{serial}", DESK_ROLES, record_result),
        get("/query", ALL_ROLES, query_list),
        get("/query/{query_id}", ALL_ROLES, query_page),
        *workorders.routes(get, post),
        *services.routes(get, post),
        *care.routes(get, post),
        *knowledge.routes(get, post),
        *payments.routes(get, post),
        *admin.routes(get, post),
        *reports.routes(get, post),
        *ivr_designer.routes(get, post),
        *tiers.routes(get, post),
        *recordings.routes(get, post),
        *qa.routes(get, post),
        *outbound.routes(get, post),
        *campaigns.routes(get, post),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


async def _not_found(request: Request, _exc: Exception) -> Response:
    """Unknown paths under ``/ui`` get the HTML 404 page, not the API's JSON error."""
    ctx: WebContext = request.app.state.web
    lang = pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )
    return WebRequest(request, ctx, lang, None, "").not_found()


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_web_app(
    sessions: sessionmaker[Session],
    check_password: PasswordCheck,
    *,
    settings: WebSettings | None = None,
    broadcaster: NoticeBroadcaster | None = None,
) -> Starlette:
    """The web panels; ``create_app`` mounts this at ``settings.base_path``."""
    settings = settings or WebSettings()
    ctx = WebContext(
        sessions=sessions,
        signer=SessionSigner(settings.secret, max_age=settings.session_max_age),
        settings=settings,
        templates=_environment(),
        check_password=check_password,
        broadcaster=broadcaster,
        zone=zoneinfo.ZoneInfo(settings.timezone),
    )
    app = Starlette(routes=_routes(), exception_handlers={404: _not_found})
    app.state.web = ctx
    return app


def message_keys_used(text: str) -> set[str]:
    """Catalogue keys a template refers to as ``_("key")`` (the tests check them all)."""
    import re

    return set(re.findall(r"""_\(\s*["']([a-z0-9_]+)["']\s*[,)]""", text))
