"""The IVR flow designer of the web console (R-IVR-5; docs/web.md "IVR flow designer").

Administrators draw a flow as a graph (``static/ivr_designer.js``: SVG, no framework),
validate it with ``shared.ivr.validate`` against the prompt catalogue, save it as a new
immutable version (a draft), publish a valid version, roll back by publishing an older
one, and dry-run it for a caller number and digits (``shared.ivr.simulate``). Store side:
:mod:`.ivr_designer_data`.

Pages (HTML, form POSTs with the session's CSRF field) and a JSON API for the editor
(POSTs carry the CSRF token in the ``X-CSRF-Token`` header); administrators only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cti_server.store.models import Role
from cti_server.store.prompts import PromptStore
from shared.ivr import Problem, Severity

from . import data
from . import ivr_designer_data as ivd
from .data import Invalid, Refused, WebUser
from .i18n import MESSAGES, pick_language, translator
from .session import LANG_COOKIE, SESSION_COOKIE, same_token

if TYPE_CHECKING:
    from .pages import Handler, WebContext, WebRequest

log = logging.getLogger("cti_server.web.ivr")

ADMINS = frozenset({Role.ADMIN})
MAX_JSON_BYTES = 512 * 1024
_JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

MESSAGES.update(
    {
        "ivr_nav": ("IVR flows", "IVR 流程"),
        "ivr_title": ("IVR flow designer", "IVR 流程设计"),
        "ivr_flows": ("Flows", "流程"),
        "ivr_flow": ("Flow", "流程"),
        "ivr_versions": ("Versions", "版本数"),
        "ivr_latest": ("Latest version", "最新版本"),
        "ivr_published": ("Published version", "发布版本"),
        "ivr_none": ("none", "无"),
        "ivr_name": ("Name", "名称"),
        "ivr_updated": ("Saved", "保存时间"),
        "ivr_used_by": ("Calls of tiers", "使用该流程的客户层次"),
        "ivr_routing": ("Which flow a call runs", "呼叫使用的流程"),
        "ivr_routing_help": (
            "A call runs the published flow “tier:<tier>” of its caller's tier, else the "
            "flow “default”. Publishing takes effect with the next call; switches fetch a "
            "version they have not cached.",
            "呼叫按主叫的客户层次运行已发布的流程“tier:<层次>”，没有则运行流程“default”。"
            "发布后下一通呼叫即生效，交换机会获取尚未缓存的版本。",
        ),
        "ivr_tier": ("Tier", "客户层次"),
        "ivr_new": ("New flow", "新建流程"),
        "ivr_new_id": ("Flow id", "流程标识"),
        "ivr_new_id_hint": (
            "letters, digits and _ . : -; e.g. tier:gold routes the gold tier",
            "字母、数字及 _ . : -，例如 tier:gold 用于金卡客户",
        ),
        "ivr_copy_from": ("Start from", "复制自"),
        "ivr_copy_none": ("(greeting and hang-up)", "（欢迎语后挂机）"),
        "ivr_create": ("Create", "创建"),
        "ivr_edit": ("Edit", "编辑"),
        "ivr_history": ("Versions", "版本历史"),
        "ivr_version": ("Version", "版本"),
        "ivr_version_n": ("version {n}", "第 {n} 版"),
        "ivr_author": ("By", "保存人"),
        "ivr_changes": ("Changes", "修改内容"),
        "ivr_first": ("first version", "首个版本"),
        "ivr_added": ("added {nodes}", "新增 {nodes}"),
        "ivr_removed": ("removed {nodes}", "删除 {nodes}"),
        "ivr_changed": ("changed {nodes}", "修改 {nodes}"),
        "ivr_fields": ("flow settings: {fields}", "流程设置：{fields}"),
        "ivr_no_changes": ("no changes", "无修改"),
        "ivr_publish": ("Publish", "发布"),
        "ivr_rollback": ("Roll back to this version", "回退到此版本"),
        "ivr_is_published": ("published", "已发布"),
        "ivr_err_flow_id": (
            "A flow id is 1-64 letters, digits or _ . : -",
            "流程标识须为 1-64 个字母、数字或 _ . : -",
        ),
        "ivr_err_exists": ("A flow with this id exists already.", "该流程标识已存在。"),
        "ivr_err_invalid": (
            "Version {version} has errors and cannot be published.",
            "第 {version} 版存在错误，不能发布。",
        ),
        "ivr_err_format": ("This is not a flow document.", "这不是有效的流程文档。"),
        "ivr_err_conflict": (
            "Somebody saved version {latest} since you opened version {base}; reload it.",
            "在您打开第 {base} 版后，已有人保存了第 {latest} 版，请重新加载。",
        ),
        "ivr_err_digits": (
            "Digits may hold only 0-9 * # A-D, spaces and “,” (a timeout).",
            "按键只能包含 0-9 * # A-D、空格和“,”（表示超时）。",
        ),
        "ivr_err_json": ("The request is not valid JSON.", "请求不是有效的 JSON。"),
        "ivr_err_version": ("Name a stored version.", "请指定已保存的版本。"),
        "ivr_published_ok": ("Version {version} is published.", "第 {version} 版已发布。"),
        # the editor (also handed to ivr_designer.js)
        "ivr_add": ("Add node", "添加节点"),
        "ivr_arrange": ("Arrange", "自动排列"),
        "ivr_validate": ("Validate", "校验"),
        "ivr_save": ("Save as new version", "保存为新版本"),
        "ivr_publish_saved": ("Publish saved version", "发布已保存版本"),
        "ivr_simulate": ("Simulate", "模拟"),
        "ivr_caller": ("Caller number", "主叫号码"),
        "ivr_digits": ("Digits pressed", "按键"),
        "ivr_digits_hint": ("e.g. 1 2 ; “,” lets one timeout pass", "如 1 2；“,”表示一次超时"),
        "ivr_tier_override": ("Tier (empty: look it up)", "客户层次（留空则按号码查找）"),
        "ivr_run": ("Run", "运行"),
        "ivr_problems": ("Problems", "问题"),
        "ivr_node": ("Node", "节点"),
        "ivr_flow_settings": ("Flow settings", "流程设置"),
        "ivr_json": ("Document (JSON)", "流程文档（JSON）"),
        "ivr_apply_json": ("Apply JSON", "应用 JSON"),
        "ivr_editing": ("Editing version {n}", "正在编辑第 {n} 版"),
        "ivr_help": (
            "Drag nodes to move them; drag from an exit dot (bottom of a node) onto another "
            "node to wire it, or pick the target in the form. Delete removes the selected node.",
            "拖动节点可移动；从节点底部的出口圆点拖到另一个节点即可连线，也可在右侧表单中选择目标。"
            "按 Delete 删除所选节点。",
        ),
        "ivr_js_valid": ("No errors.", "没有错误。"),
        "ivr_js_errors": ("{n} error(s), {w} warning(s)", "{n} 个错误，{w} 个警告"),
        "ivr_js_saved": (
            "Saved as version {version} (not published).",
            "已保存为第 {version} 版（未发布）。",
        ),
        "ivr_js_published": ("Version {version} is published.", "第 {version} 版已发布。"),
        "ivr_js_unsaved": ("Unsaved changes", "有未保存的修改"),
        "ivr_js_save_first": ("Save the changes first.", "请先保存修改。"),
        "ivr_js_path": ("Path", "路径"),
        "ivr_js_outcome": ("Outcome", "结果"),
        "ivr_js_tier": ("Tier", "客户层次"),
        "ivr_js_customer": ("Customer", "客户"),
        "ivr_js_none": ("(none)", "（无）"),
        "ivr_js_delete": ("Delete node", "删除节点"),
        "ivr_js_entry": ("Entry node", "入口节点"),
        "ivr_js_make_entry": ("Make entry", "设为入口"),
        "ivr_js_id": ("Node id", "节点标识"),
        "ivr_js_bad_id": ("That id is taken or not valid.", "该标识已被使用或无效。"),
        "ivr_js_bad_json": ("Not valid JSON: {error}", "不是有效的 JSON：{error}"),
        "ivr_js_add_option": ("Add option", "添加选项"),
        "ivr_js_add_case": ("Add case", "添加分支"),
        "ivr_js_remove": ("Remove", "移除"),
        "ivr_js_unused": ("Keys not used: {keys}", "未使用的按键：{keys}"),
        "ivr_js_branches": ("Branches taken", "经过的分支"),
        "ivr_js_failed": ("The request failed: {error}", "请求失败：{error}"),
    }
)

_JS_KEYS = tuple(k for k in MESSAGES if k.startswith("ivr_"))


def _user(r: WebRequest) -> WebUser:
    assert r.user is not None
    return r.user


def prompt_store(ctx: WebContext) -> PromptStore | None:
    """The running server's prompt store (uploaded prompts over shipped ones), which the
    composition root hands over in ``WebSettings.admin``; None: shipped prompts only."""
    link = getattr(ctx.settings, "admin", None)
    store = getattr(link, "prompts", None)
    return store if isinstance(store, PromptStore) else None


def _prompts(r: WebRequest) -> PromptStore | None:
    return prompt_store(r.ctx)


def describe_changes(_: Callable[..., str], changes: dict[str, Any]) -> str:
    """One line for the version list: "added a, b · changed c · flow settings: entry"."""
    if changes.get("first"):
        return _("ivr_first")
    parts = []
    for key in ("added", "removed", "changed"):
        if changes.get(key):
            parts.append(_(f"ivr_{key}", nodes=", ".join(changes[key])))
    if changes.get("fields"):
        parts.append(_("ivr_fields", fields=", ".join(changes["fields"])))
    return " · ".join(parts) or _("ivr_no_changes")


# --- pages ----------------------------------------------------------------------------------


async def flow_list(r: WebRequest, *, error: str = "", status: int = 200) -> Response:
    flows, route = await r.db(ivd.list_flows)
    return r.render(
        "ivr_list.html",
        status=status,
        flows=flows,
        route=route,
        error=error,
        values={"flow_id": r.field("flow_id"), "copy_from": r.field("copy_from")},
    )


async def flow_create(r: WebRequest) -> Response:
    user = _user(r)
    try:
        flow_id = ivd.check_flow_id(r.field("flow_id"))
    except Invalid as bad:
        return await flow_list(r, error=r._(bad.key), status=400)
    flows, _route = await r.db(ivd.list_flows)
    if any(f.flow_id == flow_id for f in flows):
        return await flow_list(r, error=r._("ivr_err_exists"), status=400)
    source = r.field("copy_from")
    if source:
        try:
            document = (await r.db(ivd.load_version, source, None))["document"]
        except LookupError:
            return await flow_list(r, error=r._("not_found"), status=400)
    else:
        document = ivd.new_flow_document(flow_id)
    try:
        await r.db(ivd.save_draft, user, flow_id, document, _prompts(r), base_version=None)
    except ivd.EditConflict:
        return await flow_list(r, error=r._("ivr_err_exists"), status=400)
    except ivd.BadDocument:
        return await flow_list(r, error=r._("ivr_err_format"), status=400)
    return r.redirect(f"{r.base}/ivr/flows/{flow_id}")


def _version_arg(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None


async def editor(r: WebRequest) -> Response:
    flow_id = r.request.path_params["flow_id"]
    loaded = await r.db(ivd.load_version, flow_id, _version_arg(r.arg("v")))
    choices = await r.db(ivd.choices)
    flows, _route = await r.db(ivd.list_flows)
    prompts = sorted(ivd.prompt_ids(_prompts(r)))
    boot = {
        "flow_id": flow_id,
        "loaded": {k: v for k, v in loaded.items() if k != "document"},
        "document": loaded["document"],
        "kinds": list(ivd.NODE_KINDS),
        "prompts": prompts,
        "choices": choices,
        "flows": [f.flow_id for f in flows],
        "api": f"{r.base}/ivr/api/flows/{flow_id}",
        "history": f"{r.base}/ivr/flows/{flow_id}/history",
        "csrf": r.csrf,
        "messages": {k: r._(k) for k in _JS_KEYS},
    }
    return r.render("ivr_edit.html", loaded=loaded, boot=boot, flow_id=flow_id)


async def history(
    r: WebRequest,
    *,
    error: str = "",
    problems: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    flow_id = r.request.path_params["flow_id"]
    versions = await r.db(ivd.flow_versions, flow_id)
    return r.render(
        "ivr_history.html",
        status=status,
        flow_id=flow_id,
        versions=versions,
        published=next((v.version for v in versions if v.published), None),
        describe=lambda changes: describe_changes(r._, changes),
        error=error,
        problems=problems or [],
        notice=r._("ivr_published_ok", version=r.arg("published")) if r.arg("published") else "",
    )


async def publish_form(r: WebRequest) -> Response:
    flow_id = r.request.path_params["flow_id"]
    version = _version_arg(r.field("version"))
    if version is None:
        return await history(r, error=r._("ivr_err_version"), status=400)
    try:
        await r.db(ivd.publish_version, _user(r), flow_id, version, _prompts(r))
    except ivd.PublishRefused as refused:
        return await history(
            r,
            error=r._("ivr_err_invalid", version=version),
            problems=[ivd.problem_dict(p) for p in refused.problems],
            status=422,
        )
    return r.redirect(f"{r.base}/ivr/flows/{flow_id}/history?published={version}")


# --- the editor's JSON API ------------------------------------------------------------------


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_JSON_HEADERS)


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return _json({"ok": False, "error": error, "message": message, **extra}, status)


class ApiCall:
    """One JSON request of the editor."""

    def __init__(
        self, request: Request, ctx: WebContext, user: WebUser, lang: str, body: dict[str, Any]
    ) -> None:
        self.request = request
        self.ctx = ctx
        self.user = user
        self.body = body
        self._ = translator(lang)

    @property
    def flow_id(self) -> str:
        return str(self.request.path_params["flow_id"])

    @property
    def prompts(self) -> PromptStore | None:
        return prompt_store(self.ctx)

    async def db[T](self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, self.ctx.sessions, *args, **kwargs)

    def document(self) -> dict[str, Any]:
        document = self.body.get("document")
        if not isinstance(document, dict):
            raise ivd.BadDocument(
                [
                    Problem(
                        severity=Severity.ERROR,
                        code="format",
                        node=None,
                        field="$",
                        message="document must be a JSON object",
                    )
                ]
            )
        return document


ApiHandler = Callable[[ApiCall], Awaitable[Response]]


async def _read_json(request: Request) -> dict[str, Any] | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            return None
    if not body and request.method == "GET":
        return {}
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def api(handler: ApiHandler) -> Callable[[Request], Awaitable[Response]]:
    """A JSON endpoint for administrators: the session cookie as for the pages and, on
    POST, the CSRF token in ``X-CSRF-Token``. Refusals answer 403 JSON and are audited
    like the pages' (``refused``, entity ``web_page``)."""

    async def endpoint(request: Request) -> Response:
        ctx: WebContext = request.app.state.web
        lang = pick_language(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            request.headers.get("accept-language"),
        )
        _ = translator(lang)
        session = ctx.signer.read(request.cookies.get(SESSION_COOKIE))
        user = None
        if session is not None:
            user = await asyncio.to_thread(data.load_user, ctx.sessions, session.agent_id)

        async def refuse(reason: str, **detail: Any) -> Response:
            actor = user.agent_id if user is not None else "anonymous"
            await asyncio.to_thread(
                data.audit_refusal,
                ctx.sessions,
                actor,
                request.url.path,
                reason,
                {"method": request.method, **detail},
            )
            log.info("refused %s %s to %s: %s", request.method, request.url.path, actor, reason)
            key = {"login": "forbidden_login", "role": "forbidden_role", "csrf": "forbidden_csrf"}
            return _error(403, reason, _(key.get(reason, "forbidden_other")))

        if session is None or user is None:
            return await refuse("login")
        if user.role not in ADMINS:
            return await refuse("role", role=user.role.value)
        if request.method == "POST" and not same_token(
            session.csrf, request.headers.get("x-csrf-token")
        ):
            return await refuse("csrf")
        body = await _read_json(request)
        if body is None:
            return _error(400, "bad_json", _("ivr_err_json"))
        try:
            return await handler(ApiCall(request, ctx, user, lang, body))
        except Refused as refused:
            return await refuse(refused.reason, **refused.detail)
        except Invalid as bad:
            return _error(400, bad.key, _(bad.key))
        except ivd.BadDocument as bad:
            problems = [ivd.problem_dict(p) for p in bad.problems]
            return _error(422, "format", _("ivr_err_format"), problems=problems)
        except ivd.EditConflict as conflict:
            return _error(
                409,
                "conflict",
                _("ivr_err_conflict", base=conflict.base, latest=conflict.latest),
                latest=conflict.latest,
            )
        except ivd.PublishRefused as refused:
            problems = [ivd.problem_dict(p) for p in refused.problems]
            return _error(
                422,
                "invalid_flow",
                _("ivr_err_invalid", version=refused.version),
                problems=problems,
            )
        except LookupError:
            return _error(404, "not_found", _("not_found"))

    return endpoint


async def api_get(call: ApiCall) -> Response:
    version = _version_arg(call.request.query_params.get("v", ""))
    loaded = await call.db(ivd.load_version, call.flow_id, version)
    return _json({"ok": True, **loaded})


async def api_versions(call: ApiCall) -> Response:
    versions = await call.db(ivd.flow_versions, call.flow_id)
    return _json(
        {
            "ok": True,
            "flow_id": call.flow_id,
            "versions": [
                {
                    "version": v.version,
                    "name": v.name,
                    "published": v.published,
                    "created_at": v.created_at.isoformat(),
                    "created_by": v.created_by,
                    "changes": v.changes,
                    "summary": describe_changes(call._, v.changes),
                }
                for v in versions
            ],
        }
    )


async def api_validate(call: ApiCall) -> Response:
    _flow, problems = await asyncio.to_thread(
        ivd.check_document, call.flow_id, call.document(), call.prompts
    )
    return _json(
        {
            "ok": True,
            "valid": not ivd.has_errors(problems),
            "problems": [ivd.problem_dict(p) for p in problems],
        }
    )


async def api_save(call: ApiCall) -> Response:
    base = call.body.get("base_version")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
        raise Invalid("ivr_err_version")
    name = call.body.get("name")
    version, problems = await call.db(
        ivd.save_draft,
        call.user,
        call.flow_id,
        call.document(),
        call.prompts,
        base_version=base,
        name=name if isinstance(name, str) else "",
    )
    return _json(
        {
            "ok": True,
            "flow_id": call.flow_id,
            "version": version,
            "valid": not ivd.has_errors(problems),
            "problems": [ivd.problem_dict(p) for p in problems],
            "message": call._("ivr_js_saved", version=version),
        },
        201,
    )


async def api_publish(call: ApiCall) -> Response:
    version = call.body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Invalid("ivr_err_version")
    result = await call.db(ivd.publish_version, call.user, call.flow_id, version, call.prompts)
    return _json({"ok": True, **result, "message": call._("ivr_js_published", version=version)})


async def api_simulate(call: ApiCall) -> Response:
    def text(key: str) -> str:
        value = call.body.get(key)
        return value if isinstance(value, str) else ""

    lookups = call.body.get("lookups")
    result = await call.db(
        ivd.simulate_document,
        call.flow_id,
        call.document(),
        caller=text("caller"),
        digits=text("digits"),
        called=text("called"),
        tier=text("tier").strip() or None,
        lookups=lookups if isinstance(lookups, dict) else None,
    )
    return _json({"ok": True, **result})


def routes(
    get: Callable[[str, frozenset[Role] | None, Handler], Route],
    post: Callable[[str, frozenset[Role] | None, Handler], Route],
) -> list[Route]:
    """The designer's routes (``get``/``post`` are ``pages._routes``' helpers)."""
    base = "/ivr/api/flows/{flow_id}"
    return [
        get("/ivr", ADMINS, flow_list),
        post("/ivr", ADMINS, flow_create),
        get("/ivr/flows/{flow_id}", ADMINS, editor),
        get("/ivr/flows/{flow_id}/history", ADMINS, history),
        post("/ivr/flows/{flow_id}/publish", ADMINS, publish_form),
        Route(base, api(api_get), methods=["GET"]),
        Route(f"{base}/versions", api(api_versions), methods=["GET"]),
        Route(f"{base}/versions", api(api_save), methods=["POST"]),
        Route(f"{base}/validate", api(api_validate), methods=["POST"]),
        Route(f"{base}/publish", api(api_publish), methods=["POST"]),
        Route(f"{base}/simulate", api(api_simulate), methods=["POST"]),
    ]
