"""Administration console (R-SKILL-1..3, R-TIER-1..3, R-SUP-*): configuration screens for
administrators, read-only for team leads. See docs/web.md "Administration console".

Pages under ``/ui/admin``: the agents × skills grid (levels, bulk edit), agent groups
per tier, skills, tiers and their SL targets, queues, not-ready reason codes,
business-hours calendars and holidays, IVR prompts (upload, preview in an ``<audio>``
element) and the switches the server knows. Every write is validated by the REST admin
API's schemas and store (:mod:`.admin_data`), audited, and applied to the running
centre at once (:class:`~cti_server.domain.live.LiveConfigStore`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from cti_server.store.models import Role
from cti_server.store.prompts import PromptNotFound, PromptRejected

from . import admin_data as ad
from .i18n import MESSAGES
from .session import same_token

if TYPE_CHECKING:
    from .pages import Handler, WebRequest

    RouteFactory = Callable[[str, frozenset[Role] | None, Handler], Route]

LEADS = frozenset({Role.TEAM_LEAD, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
MAX_PROMPT_BYTES = 6 * 1024 * 1024

MESSAGES.update(
    {
        "adm_nav": ("Administration", "系统管理"),
        "adm_title": ("Administration console", "系统管理控制台"),
        "adm_intro": (
            "Changes are checked, audited and applied to the running server at once: agents "
            "logged on keep their state and waiting calls stay queued.",
            "修改经校验、记入审计日志，并立即在运行中的服务器上生效：已登录座席保持其状态，排队中的呼叫继续排队。",
        ),
        "adm_read_only": (
            "Read only: only administrators change the configuration.",
            "只读：只有管理员可以修改配置。",
        ),
        "adm_skill_grid": ("Agents and skills", "座席技能"),
        "adm_skill_grid_intro": (
            "Level 1 is an agent's first skill; empty means the agent does not have the skill.",
            "技能等级 1 为座席的首要技能；空白表示座席不具备该技能。",
        ),
        "adm_groups": ("Agent groups per tier", "客户层次服务组"),
        "adm_skills": ("Skills", "技能"),
        "adm_tiers": ("Tiers and service levels", "客户层次与服务水平"),
        "adm_queues": ("Queues", "队列"),
        "adm_reasons": ("Not-ready reasons", "示忙原因"),
        "adm_calendars": ("Business hours and holidays", "营业时间与节假日"),
        "adm_prompts": ("IVR prompts", "语音提示"),
        "adm_switches": ("Switches", "交换机"),
        "adm_recent": ("Recent configuration changes", "最近的配置修改"),
        "adm_at": ("Time", "时间"),
        "adm_actor": ("By", "操作人"),
        "adm_action": ("Action", "操作"),
        "adm_entity": ("What", "对象"),
        "adm_before": ("Before", "修改前"),
        "adm_after": ("After", "修改后"),
        "adm_agent": ("Agent", "座席"),
        "adm_name": ("Name", "名称"),
        "adm_active": ("Active", "启用"),
        "adm_inactive": ("inactive", "已停用"),
        "adm_groups_of": ("Groups", "所属组"),
        "adm_save": ("Save", "保存"),
        "adm_add": ("Add", "添加"),
        "adm_delete": ("Delete", "删除"),
        "adm_saved": ("Saved; the running server uses it now.", "已保存，运行中的服务器已生效。"),
        "adm_saved_n": ("Saved: {n} agent(s) changed.", "已保存：{n} 名座席有变更。"),
        "adm_unchanged": ("Nothing changed.", "没有修改。"),
        "adm_deleted": ("Deleted.", "已删除。"),
        "adm_not_saved": (
            "Not saved: correct the marked fields. Nothing was changed.",
            "未保存：请改正标出的字段。没有做任何修改。",
        ),
        "adm_stale": (
            "Someone changed these agents' skills since you opened the page; nothing was "
            "saved. Reload the page and make your change again.",
            "在您打开页面后已有人修改了这些座席的技能，本次未保存。请刷新页面后重新修改。",
        ),
        "adm_bulk": ("Bulk edit", "批量修改"),
        "adm_bulk_intro": (
            "Give the ticked agents one level of a skill (empty level removes the skill).",
            "为勾选的座席设置某技能的等级（等级留空则取消该技能）。",
        ),
        "adm_bulk_apply": ("Apply to ticked agents", "应用到勾选的座席"),
        "adm_level": ("Level", "等级"),
        "adm_skill": ("Skill", "技能"),
        "adm_id": ("ID", "编号"),
        "adm_new": ("New", "新建"),
        "adm_members": ("Members", "成员"),
        "adm_tiers_served": ("Tiers served", "服务的客户层次"),
        "adm_f_name": ("Name", "名称"),
        "adm_f_label": ("Label", "显示名称"),
        "adm_f_paid": ("Paid", "计薪"),
        "adm_f_active": ("Active", "启用"),
        "adm_f_sl_seconds": ("SL threshold (s)", "服务水平时限（秒）"),
        "adm_f_sl_target": ("SL target (%)", "服务水平目标（%）"),
        "adm_f_priority_weight": ("Priority weight", "优先级权重"),
        "adm_f_skip_ivr": ("Skip IVR", "跳过 IVR"),
        "adm_f_blacklist_action": ("Blacklisted callers", "黑名单来电"),
        "adm_f_skill_id": ("Skill", "技能"),
        "adm_f_agent_order": ("Strategy", "分配策略"),
        "adm_f_max_level": ("Max level at first", "初始最高等级"),
        "adm_f_overflow": ("Overflow rules (JSON)", "溢出规则（JSON）"),
        "adm_f_max_wait": ("Max wait (s)", "最长等待（秒）"),
        "adm_f_max_wait_action": ("After max wait", "超时处理"),
        "adm_f_acw_seconds": ("After-call work (s)", "话后处理（秒）"),
        "adm_f_calendar_id": ("Calendar", "日历"),
        "adm_f_recording": ("Record calls", "通话录音"),
        "adm_f_tz": ("Time zone", "时区"),
        "adm_f_weekly": ("Weekly hours (mon 08:00-20:00)", "每周营业时间（mon 08:00-20:00）"),
        "adm_f_holidays": ("Holidays (YYYY-MM-DD)", "节假日（YYYY-MM-DD）"),
        "adm_f_open_days": ("Extra open days", "调休工作日"),
        "adm_err_level": (
            "A level is a whole number from 1 to 99, or empty.",
            "等级须为 1 到 99 的整数，或留空。",
        ),
        "adm_err_format_number": ("Enter a number.", "请输入数字。"),
        "adm_err_format_number_opt": ("Enter a number or leave it empty.", "请输入数字或留空。"),
        "adm_err_format_int_opt": (
            "Enter a whole number or leave it empty.",
            "请输入整数或留空。",
        ),
        "adm_err_format_percent": ("Enter a percentage 0–100.", "请输入 0–100 的百分比。"),
        "adm_err_format_json": ("Not valid JSON.", "不是有效的 JSON。"),
        "adm_err_format_weekly": (
            "One line per day: mon 08:00-12:00 13:00-18:00.",
            "每天一行：mon 08:00-12:00 13:00-18:00。",
        ),
        "adm_err_format_dates": ("Dates as YYYY-MM-DD.", "日期格式为 YYYY-MM-DD。"),
        "adm_err_no_agents": ("Tick at least one agent.", "请至少勾选一名座席。"),
        "adm_err_skill": ("Choose a skill.", "请选择技能。"),
        "adm_err_unknown": ("Unknown entry.", "未知的条目。"),
        "adm_err_exists": ("This ID exists already.", "该编号已存在。"),
        "adm_err_invalid": ("Invalid value", "无效的值"),
        "adm_bl_bar": ("bar", "拒绝"),
        "adm_bl_allow": ("allow", "允许"),
        "adm_none": ("(none)", "（无）"),
        "adm_restart": (
            "Stored; the routing engine takes these at the next start:",
            "已保存；路由引擎将在下次启动时采用：",
        ),
        "adm_later": (
            "Stored; these apply as soon as the calls concerned are over:",
            "已保存；以下修改将在相关通话结束后生效：",
        ),
        "adm_prompt_language": ("Language", "语言"),
        "adm_prompt_id": ("Prompt", "提示音"),
        "adm_prompt_source": ("Source", "来源"),
        "adm_prompt_uploaded": ("uploaded", "已上传"),
        "adm_prompt_shipped": ("shipped", "系统自带"),
        "adm_prompt_seconds": ("Length (s)", "时长（秒）"),
        "adm_prompt_play": ("Listen", "试听"),
        "adm_prompt_upload": ("Upload a prompt", "上传语音提示"),
        "adm_prompt_file": ("WAV file (mono, 8000 Hz)", "WAV 文件（单声道 8000 Hz）"),
        "adm_prompt_remove": ("Remove upload", "删除上传"),
        "adm_prompt_unavailable": (
            "Prompt uploads are not available on this server.",
            "本服务器不支持上传语音提示。",
        ),
        "adm_prompt_rejected": ("The prompt was refused: {problem}", "提示音被拒绝：{problem}"),
        "adm_prompt_done": ("Prompt stored.", "提示音已保存。"),
        "adm_prompt_needs_js": (
            "Uploading needs JavaScript in this browser.",
            "上传需要浏览器启用 JavaScript。",
        ),
        "adm_sw_id": ("Switch", "交换机"),
        "adm_sw_connected": ("Connected", "已连接"),
        "adm_sw_mode": ("Mode", "运行模式"),
        "adm_sw_mode_normal": ("normal", "正常"),
        "adm_sw_mode_fallback": ("fallback (no CTI)", "后备（无 CTI）"),
        "adm_sw_since": ("Mode since", "模式开始"),
        "adm_sw_last_seen": ("Last seen", "最后在线"),
        "adm_sw_protocol": ("Protocol", "协议版本"),
        "adm_sw_none": ("The server knows no switch yet.", "服务器尚未连接任何交换机。"),
        "adm_yes": ("yes", "是"),
        "adm_no": ("no", "否"),
    }
)

_SECTIONS = (
    ("skill-grid", "adm_skill_grid"),
    ("groups", "adm_groups"),
    ("skills", "adm_skills"),
    ("tiers", "adm_tiers"),
    ("queues", "adm_queues"),
    ("reasons", "adm_reasons"),
    ("calendars", "adm_calendars"),
    ("prompts", "adm_prompts"),
    ("switches", "adm_switches"),
)
_TITLES = dict(_SECTIONS)


def _link(r: WebRequest) -> ad.AdminLink:
    link = r.ctx.settings.admin
    return link if isinstance(link, ad.AdminLink) else ad.AdminLink()


def _actor(r: WebRequest) -> str:
    assert r.user is not None
    return r.user.agent_id


def _is_admin(r: WebRequest) -> bool:
    return r.user is not None and r.user.role == Role.ADMIN


def _message(r: WebRequest, key_or_text: str) -> str:
    return r._(key_or_text) if key_or_text in MESSAGES else key_or_text


def _render(r: WebRequest, template: str, status: int = 200, **values: Any) -> Response:
    return r.render(
        template,
        status=status,
        sections=_SECTIONS,
        is_admin=_is_admin(r),
        msg=lambda key: _message(r, key),
        flash=r.arg("saved"),
        restart=r.request.query_params.getlist("restart"),
        later=r.request.query_params.getlist("later"),
        **values,
    )


# --- index ----------------------------------------------------------------------------------------


async def index(r: WebRequest) -> Response:
    changes = await r.db(ad.recent_changes)
    return _render(r, "adm_index.html", changes=changes)


# --- skill grid -----------------------------------------------------------------------------------


async def grid_page(
    r: WebRequest,
    *,
    errors: dict[str, str] | None = None,
    general: str = "",
    status: int = 200,
    submitted: dict[str, dict[str, str]] | None = None,
) -> Response:
    page = max(1, int(r.arg("page") or "1")) if r.arg("page").isdigit() else 1
    grid = await r.db(ad.skill_grid, page)
    return _render(
        r,
        "adm_skill_grid.html",
        status=status,
        grid=grid,
        errors=errors or {},
        general=general,
        submitted=submitted or {},
    )


def _cells(r: WebRequest) -> dict[str, dict[str, str]]:
    cells: dict[str, dict[str, str]] = {agent: {} for agent in r.fields("agent")}
    for name, values in r.form.items():
        kind, _, rest = name.partition("|")
        agent_id, _, skill_id = rest.partition("|")
        if kind == "lvl" and agent_id in cells and skill_id:
            cells[agent_id][skill_id] = values[0] if values else ""
    return cells


async def grid_save(r: WebRequest) -> Response:
    cells = _cells(r)
    try:
        changed = await r.db(ad.save_skill_grid, _link(r), _actor(r), r.field("stamp"), cells)
    except ad.FormInvalid as bad:
        return await grid_page(
            r, errors=bad.errors, general=bad.general, status=400, submitted=cells
        )
    except ad.StaleForm:
        return await grid_page(r, general="adm_stale", status=409, submitted=cells)
    return r.redirect(f"{r.base}/admin/skill-grid?saved={len(changed)}&page={r.field('page', '1')}")


async def grid_bulk(r: WebRequest) -> Response:
    try:
        changed = await r.db(
            ad.bulk_set_level,
            _link(r),
            _actor(r),
            agent_ids=r.fields("bulk_agents"),
            skill_id=r.field("bulk_skill"),
            level_text=r.field("bulk_level"),
        )
    except ad.FormInvalid as bad:
        return await grid_page(r, errors=bad.errors, general=bad.general, status=400)
    return r.redirect(f"{r.base}/admin/skill-grid?saved={len(changed)}")


# --- generic entity pages -----------------------------------------------------------------------


def _entity_pages(slug: str) -> tuple[Handler, Handler, Handler]:
    form = ad.entity_forms()[slug]

    async def show(
        r: WebRequest,
        *,
        errors: dict[str, str] | None = None,
        general: str = "",
        status: int = 200,
        editing: str | None = None,
    ) -> Response:
        rows, choices = await r.db(ad.entity_rows, _link(r), slug)
        return _render(
            r,
            "adm_entities.html",
            status=status,
            slug=slug,
            title=_TITLES[slug],
            form=form,
            rows=rows,
            choices=choices,
            show=ad.show_value,
            errors=errors or {},
            general=general,
            editing=editing,
            values={k: v[0] for k, v in r.form.items() if v},
        )

    async def create(r: WebRequest) -> Response:
        raw = {k: v[0] for k, v in r.form.items() if v}
        try:
            _, restart, later = await r.db(
                ad.with_reload,
                _link(r),
                ad.save_entity,
                _actor(r),
                slug=slug,
                entity_id=None,
                raw=raw,
            )
        except ad.FormInvalid as bad:
            return await show(r, errors=bad.errors, general=bad.general, status=400, editing="")
        return r.redirect(f"{r.base}/admin/{slug}?saved=1{ad.reload_query(restart, later)}")

    async def change(r: WebRequest) -> Response:
        entity_id = r.request.path_params["entity_id"]
        raw = {k: v[0] for k, v in r.form.items() if v}
        try:
            if r.field("action") == "delete":
                _, restart, later = await r.db(
                    ad.with_reload, _link(r), ad.delete_entity, _actor(r), form.entity, entity_id
                )
                query = ad.reload_query(restart, later)
                return r.redirect(f"{r.base}/admin/{slug}?saved=deleted{query}")
            _, restart, later = await r.db(
                ad.with_reload,
                _link(r),
                ad.save_entity,
                _actor(r),
                slug=slug,
                entity_id=entity_id,
                raw=raw,
            )
        except ad.FormInvalid as bad:
            return await show(
                r, errors=bad.errors, general=bad.general, status=400, editing=entity_id
            )
        return r.redirect(f"{r.base}/admin/{slug}?saved=1{ad.reload_query(restart, later)}")

    return show, create, change


# --- agent groups ---------------------------------------------------------------------------------


async def groups_page(
    r: WebRequest,
    *,
    errors: dict[str, str] | None = None,
    general: str = "",
    status: int = 200,
    editing: str | None = None,
) -> Response:
    groups, tiers, agents = await r.db(ad.groups_page)
    return _render(
        r,
        "adm_groups.html",
        status=status,
        groups=groups,
        tiers=tiers,
        agents=agents,
        errors=errors or {},
        general=general,
        editing=editing,
    )


async def _group_save(r: WebRequest, group_id: str | None) -> Response:
    try:
        _, restart, later = await r.db(
            ad.with_reload,
            _link(r),
            ad.save_group,
            _actor(r),
            group_id=group_id,
            raw_id=r.field("id"),
            name=r.field("name"),
            tier_ids=r.fields("tiers"),
            member_ids=r.fields("members"),
        )
    except ad.FormInvalid as bad:
        return await groups_page(
            r, errors=bad.errors, general=bad.general, status=400, editing=group_id or ""
        )
    return r.redirect(f"{r.base}/admin/groups?saved=1{ad.reload_query(restart, later)}")


async def group_create(r: WebRequest) -> Response:
    return await _group_save(r, None)


async def group_change(r: WebRequest) -> Response:
    group_id = r.request.path_params["group_id"]
    if r.field("action") == "delete":
        try:
            _, restart, later = await r.db(
                ad.with_reload, _link(r), ad.delete_entity, _actor(r), "agent_group", group_id
            )
        except ad.FormInvalid as bad:
            return await groups_page(r, general=bad.general, status=400)
        query = ad.reload_query(restart, later)
        return r.redirect(f"{r.base}/admin/groups?saved=deleted{query}")
    return await _group_save(r, group_id)


# --- prompts --------------------------------------------------------------------------------------


async def prompts_page(r: WebRequest) -> Response:
    store = _link(r).prompts
    listing = await asyncio.to_thread(store.listing) if store is not None else []
    return _render(r, "adm_prompts.html", prompts=listing, available=store is not None)


async def prompt_audio(r: WebRequest) -> Response:
    store = _link(r).prompts
    if store is None:
        return r.not_found()
    language, prompt_id = r.request.path_params["language"], r.request.path_params["prompt_id"]
    try:
        info, data = await asyncio.to_thread(store.audio, language, prompt_id)
    except (PromptNotFound, PromptRejected):
        return r.not_found()
    return Response(
        data,
        media_type="audio/wav",
        headers={"ETag": f'"{info.sha256}"', "Cache-Control": "no-store"},
    )


async def prompt_upload(r: WebRequest) -> Response:
    """``PUT`` from ``admin.js``: the body is the WAV file, ``X-CSRF-Token`` the session's
    token. Answers JSON ``{ok, message}``."""
    from starlette.responses import JSONResponse

    if not same_token(r.csrf, r.request.headers.get("x-csrf-token")):
        return await r.refuse("csrf")
    store = _link(r).prompts
    if store is None:
        return JSONResponse({"ok": False, "message": r._("adm_prompt_unavailable")}, 503)
    body = b""
    async for chunk in r.request.stream():
        body += chunk
        if len(body) > MAX_PROMPT_BYTES:
            break
    language, prompt_id = r.request.path_params["language"], r.request.path_params["prompt_id"]
    try:
        await asyncio.to_thread(store.save, _actor(r), language, prompt_id, body)
    except PromptRejected as bad:
        return JSONResponse(
            {
                "ok": False,
                "field": bad.field,
                "problem": bad.problem,
                "message": r._("adm_prompt_rejected", problem=str(bad)),
            },
            422,
        )
    return JSONResponse({"ok": True, "message": r._("adm_prompt_done")})


async def prompt_delete(r: WebRequest) -> Response:
    store = _link(r).prompts
    if store is None:
        return r.not_found()
    language, prompt_id = r.request.path_params["language"], r.request.path_params["prompt_id"]
    try:
        await asyncio.to_thread(store.delete, _actor(r), language, prompt_id)
    except PromptRejected:
        return r.not_found()
    return r.redirect(f"{r.base}/admin/prompts?saved=deleted")


# --- switches -------------------------------------------------------------------------------------


async def switches_page(r: WebRequest) -> Response:
    source = _link(r).switches
    switches = source() if source is not None else []

    def stamp(at: float | None) -> str:
        return r.fmt_time(dt.datetime.fromtimestamp(at, dt.UTC)) if at else ""

    return _render(r, "adm_switches.html", switches=switches, stamp=stamp)


# --- routes ---------------------------------------------------------------------------------------


def routes(get: RouteFactory, post: RouteFactory) -> list[Route]:
    """The console's routes for ``pages._routes()``."""
    from .pages import page

    entity_routes: list[Route] = []
    for slug in ad.ENTITY_SLUGS:
        show, create, change = _entity_pages(slug)
        entity_routes += [
            get(f"/admin/{slug}", LEADS, show),
            post(f"/admin/{slug}", ADMINS, create),
            post(f"/admin/{slug}/{{entity_id}}", ADMINS, change),
        ]
    prompt = "/admin/prompts/{language}/{prompt_id}"
    return [
        get("/admin", LEADS, index),
        get("/admin/skill-grid", LEADS, grid_page),
        post("/admin/skill-grid", ADMINS, grid_save),
        post("/admin/skill-grid/bulk", ADMINS, grid_bulk),
        get("/admin/groups", LEADS, groups_page),
        post("/admin/groups", ADMINS, group_create),
        post("/admin/groups/{group_id}", ADMINS, group_change),
        get("/admin/prompts", LEADS, prompts_page),
        get(prompt + "/audio", LEADS, prompt_audio),
        Route(prompt, page(ADMINS, prompt_upload), methods=["PUT"]),
        post(prompt + "/delete", ADMINS, prompt_delete),
        get("/admin/switches", LEADS, switches_page),
        *entity_routes,
    ]
