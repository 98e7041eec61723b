"""Customer tiers in the web console (R-TIER-3; docs/web.md "Customer tiers").

* ``/ui/tiers`` — browse and search customers (number, name, customer id, tier,
  region); ``/ui/tiers/customers/{id}`` — view and edit one (administrators; team leads
  read only, a regional team lead only their region);
* ``/ui/tiers/import`` — upload a CSV / Excel (.xlsx) file (``PUT`` from
  ``static/tiers.js``, streamed to disk), map its columns to the importer's fields
  with a preview of the first rows, import in the background with a progress bar,
  then the row-level error report (also as CSV);
* ``/ui/tiers/refresh`` — SQL sources refreshed on a schedule (URL + query or table +
  mapping + interval / daily time), "run now" and the run history.

Data side: :mod:`.tiers_data`; the import is the store's one importer
(:mod:`cti_server.store.tier_import`, via :mod:`cti_server.store.tier_refresh`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cti_server.store import tier_refresh as tr
from cti_server.store.errors import TierImportError
from cti_server.store.models import Role
from cti_server.store.tier_import import FIELDS, REQUIRED_FIELDS

from . import tiers_data as td
from .data import WebUser
from .i18n import MESSAGES
from .session import same_token

if TYPE_CHECKING:
    from .pages import Handler, WebRequest

    RouteFactory = Callable[[str, frozenset[Role] | None, Handler], Route]

LEADS = frozenset({Role.TEAM_LEAD, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})

MESSAGES.update(
    {
        "tier_nav": ("Customer tiers", "客户层次"),
        "tier_title": ("Customers and tiers", "客户与客户层次"),
        "tier_import_title": ("Import tiers from a file", "从文件导入客户层次"),
        "tier_refresh_title": ("Scheduled refresh from a database", "从数据库定时刷新"),
        "tier_search": ("Search", "查询"),
        "tier_q": ("Number, name or customer ID", "号码、名称或客户编号"),
        "tier_any": ("(any)", "（全部）"),
        "tier_customer_id": ("Customer ID", "客户编号"),
        "tier_name": ("Name", "名称"),
        "tier_numbers": ("Numbers", "号码"),
        "tier_tier": ("Tier", "客户层次"),
        "tier_region": ("Region", "地区"),
        "tier_blacklisted": ("Blacklisted", "黑名单"),
        "tier_updated": ("Changed", "修改时间"),
        "tier_none_found": ("No customer matches.", "没有符合条件的客户。"),
        "tier_edit": ("Edit", "编辑"),
        "tier_save": ("Save", "保存"),
        "tier_saved": (
            "Saved; calls from these numbers get the new tier now.",
            "已保存，这些号码的来电立即按新的客户层次处理。",
        ),
        "tier_unchanged": ("Nothing changed.", "没有修改。"),
        "tier_not_saved": (
            "Not saved: correct the marked fields. Nothing was changed.",
            "未保存：请改正标出的字段。没有做任何修改。",
        ),
        "tier_stale": (
            "Someone changed this customer since you opened the page; nothing was saved. "
            "Reload the page and make your change again.",
            "在您打开页面后已有人修改了该客户，本次未保存。请刷新页面后重新修改。",
        ),
        "tier_numbers_hint": (
            "One number a line (or separated by ;)",
            "每行一个号码（或用 ; 分隔）",
        ),
        "tier_read_only": (
            "Read only: only administrators change customers.",
            "只读：只有管理员可以修改客户资料。",
        ),
        "tier_yes": ("yes", "是"),
        "tier_no": ("no", "否"),
        "tier_back": ("Back to the customers", "返回客户列表"),
        # import
        "tier_import_intro": (
            "CSV (UTF-8 or GBK) or Excel .xlsx, first row = column names. Choose which "
            "column holds each field on the next page.",
            "CSV（UTF-8 或 GBK）或 Excel .xlsx 文件，第一行为列名。下一页选择各字段对应的列。",
        ),
        "tier_file": ("File", "文件"),
        "tier_upload": ("Upload", "上传"),
        "tier_uploading": ("Uploading…", "正在上传…"),
        "tier_needs_js": (
            "Uploading needs JavaScript in this browser.",
            "上传需要浏览器启用 JavaScript。",
        ),
        "tier_err_xls": (
            "Old Excel .xls files are not read here: save the sheet as .xlsx or CSV.",
            "不支持旧版 Excel .xls 文件：请另存为 .xlsx 或 CSV。",
        ),
        "tier_err_type": (
            "Upload a .csv, .tsv, .txt or .xlsx file.",
            "请上传 .csv、.tsv、.txt 或 .xlsx 文件。",
        ),
        "tier_err_too_large": ("The file is larger than {mb} MB.", "文件超过 {mb} MB。"),
        "tier_err_empty": ("The file is empty.", "文件为空。"),
        "tier_err_gone": (
            "This upload is no longer available (imported already or expired): upload the "
            "file again.",
            "该上传文件已不可用（已导入或已过期），请重新上传。",
        ),
        "tier_err_unreadable": ("The file cannot be read: {problem}", "无法读取文件：{problem}"),
        "tier_mapping_title": ("Map the columns", "对应字段"),
        "tier_mapping_intro": (
            "Pick the column of each field. Number and tier are required; a field left "
            "unmapped keeps what customers have.",
            "为每个字段选择对应的列。号码和客户层次必填；未对应的字段保留客户原有的值。",
        ),
        "tier_preview": ("First rows", "前几行预览"),
        "tier_rows_about": ("about {n} rows", "约 {n} 行"),
        "tier_field": ("Field", "字段"),
        "tier_column": ("Column", "列"),
        "tier_required": ("required", "必填"),
        "tier_not_mapped": ("(not in the file)", "（文件中没有）"),
        "tier_f_numbers": ("Number(s)", "电话号码"),
        "tier_f_customer_id": ("Customer ID", "客户编号"),
        "tier_f_tier": ("Tier", "客户层次"),
        "tier_f_name": ("Name", "名称"),
        "tier_f_region": ("Region", "地区"),
        "tier_f_blacklisted": ("Blacklisted", "黑名单"),
        "tier_valid_only": (
            "Import the valid rows and skip the bad ones (default: a file with a bad row "
            "imports nothing)",
            "导入有效行并跳过错误行（默认：文件中有错误行则全部不导入）",
        ),
        "tier_start": ("Import", "导入"),
        "tier_err_required": ("Choose a column for this field.", "请为该字段选择一列。"),
        "tier_err_column": ("Not a column of the file.", "不是文件中的列。"),
        "tier_err_column_twice": (
            "This column is already used for another field.",
            "该列已对应了其他字段。",
        ),
        "tier_job_title": ("Import progress", "导入进度"),
        "tier_state": ("State", "状态"),
        "tier_state_queued": ("waiting", "等待中"),
        "tier_state_checking": ("checking the rows", "正在检查数据"),
        "tier_state_importing": ("importing", "正在导入"),
        "tier_state_succeeded": ("done", "完成"),
        "tier_state_refused": (
            "not imported: the file has bad rows (nothing was changed)",
            "未导入：文件中有错误行（没有做任何修改）",
        ),
        "tier_state_failed": ("failed", "失败"),
        "tier_state_running": ("running", "运行中"),
        "tier_rows_done": ("{done} of {total} rows", "{done} / {total} 行"),
        "tier_rows_read": ("Rows read", "读取行数"),
        "tier_imported": ("New customers", "新增客户"),
        "tier_updated_n": ("Customers updated", "更新客户"),
        "tier_rejected": ("Bad rows", "错误行"),
        "tier_errors": ("Row errors", "错误明细"),
        "tier_row": ("Row", "行号"),
        "tier_problem": ("Problem", "问题"),
        "tier_errors_csv": ("Download the error report (CSV)", "下载错误报告（CSV）"),
        "tier_errors_more": (
            "Only the first {n} errors are shown; the CSV has every one kept.",
            "仅显示前 {n} 条错误，CSV 包含全部记录的错误。",
        ),
        "tier_errors_truncated": (
            "The error list stopped after 1000 errors.",
            "错误列表在 1000 条后截止。",
        ),
        "tier_recent_jobs": ("Imports since the server started", "本次启动以来的导入"),
        "tier_started": ("Started", "开始时间"),
        "tier_by": ("By", "操作人"),
        "tier_again": ("Import another file", "导入其他文件"),
        "tier_retry": (
            "Change the mapping or import the valid rows of this file",
            "修改字段对应，或仅导入本文件的有效行",
        ),
        # refresh
        "tier_refresh_intro": (
            "The server reads customers' tiers from another database on a schedule, with "
            "the same checks as a file import. Passwords in URLs are never shown.",
            "服务器按计划从其他数据库读取客户层次，检查规则与文件导入相同。URL 中的密码不会显示。",
        ),
        "tier_src_id": ("ID", "编号"),
        "tier_src_name": ("Name", "名称"),
        "tier_src_url": ("SQLAlchemy URL", "数据库 URL（SQLAlchemy）"),
        "tier_src_url_hint": (
            "e.g. postgresql+psycopg://user:password@host/db; leave *** to keep the password",
            "例如 postgresql+psycopg://user:password@host/db；保留 *** 则沿用原密码",
        ),
        "tier_src_query": ("Query (one SELECT)", "查询语句（一条 SELECT）"),
        "tier_src_table": ("or a table", "或数据表"),
        "tier_src_mapping": (
            "Column of each field (empty: recognised by name)",
            "各字段对应的列（留空则按列名识别）",
        ),
        "tier_src_schedule": ("Schedule", "计划"),
        "tier_src_interval": ("every N minutes", "每 N 分钟"),
        "tier_src_daily": ("daily at", "每天定时"),
        "tier_src_minutes": ("Minutes", "分钟"),
        "tier_src_time": ("Time (HH:MM)", "时间（HH:MM）"),
        "tier_src_tz": ("Time zone", "时区"),
        "tier_src_enabled": ("Enabled", "启用"),
        "tier_src_next": ("Next run", "下次运行"),
        "tier_src_last": ("Last run", "上次运行"),
        "tier_src_new": ("New source", "新建数据源"),
        "tier_src_none": ("No source yet.", "尚无数据源。"),
        "tier_src_run": ("Run now", "立即运行"),
        "tier_src_run_asked": (
            "The run is starting; reload to see it in the history.",
            "已开始运行，刷新页面可在历史中查看。",
        ),
        "tier_src_no_scheduler": (
            "Asked; the server's scheduler is not running here, so it runs at its next start.",
            "已请求；本服务器的定时任务未运行，将在下次启动时执行。",
        ),
        "tier_src_preview": ("Test and preview", "测试并预览"),
        "tier_src_preview_failed": (
            "The source cannot be read: {problem}",
            "无法读取数据源：{problem}",
        ),
        "tier_src_delete": ("Delete", "删除"),
        "tier_src_deleted": ("Deleted.", "已删除。"),
        "tier_src_saved": (
            "Saved; the scheduler uses it from now on.",
            "已保存，定时任务即时采用。",
        ),
        "tier_src_requested": ("run requested", "已请求运行"),
        "tier_runs": ("Run history", "运行历史"),
        "tier_trigger": ("Trigger", "触发方式"),
        "tier_trigger_schedule": ("schedule", "定时"),
        "tier_trigger_manual": ("by hand", "手动"),
        "tier_duration": ("Duration (s)", "耗时（秒）"),
        "tier_message": ("Message", "信息"),
        "tier_no_runs": ("No run yet.", "尚未运行。"),
        "tier_err_source_id": (
            "Lower-case letters, digits, - and _ (up to 64).",
            "小写字母、数字、- 和 _（最多 64 个）。",
        ),
        "tier_err_source_exists": ("This ID exists already.", "该编号已存在。"),
        "tier_err_interval": ("Whole minutes.", "请输入整数分钟。"),
        "tier_err_tier": ("Unknown tier.", "未知的客户层次。"),
    }
)

_FIELD_KEYS = {name: f"tier_f_{name}" for name in FIELDS}


def _link(r: WebRequest) -> td.TierLink:
    link = r.ctx.settings.tiers
    if isinstance(link, td.TierLink):
        return link
    state = r.request.app.state
    fallback = getattr(state, "tier_link", None)
    if not isinstance(fallback, td.TierLink):
        fallback = td.TierLink()
        state.tier_link = fallback
    return fallback


def _jobs(r: WebRequest) -> td.TierJobs:
    return _link(r).jobs(r.ctx.sessions)


def _user(r: WebRequest) -> WebUser:
    assert r.user is not None
    return r.user


def _is_admin(r: WebRequest) -> bool:
    return r.user is not None and r.user.role == Role.ADMIN


def _msg(r: WebRequest, key_or_text: str) -> str:
    return r._(key_or_text) if key_or_text in MESSAGES else key_or_text


def _render(r: WebRequest, template: str, status: int = 200, **values: Any) -> Response:
    return r.render(
        template,
        status=status,
        is_admin=_is_admin(r),
        msg=lambda key: _msg(r, key),
        field_keys=_FIELD_KEYS,
        fields=FIELDS,
        required=REQUIRED_FIELDS,
        flash=r.arg("saved"),
        **values,
    )


def _form(r: WebRequest) -> dict[str, str]:
    return {k: v[0] for k, v in r.form.items() if v}


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 1


# --- customers -----------------------------------------------------------------------------


async def customers(r: WebRequest) -> Response:
    values = {k: r.arg(k) for k in ("q", "tier", "region")}
    result = await r.db(
        td.search_customers,
        _user(r),
        q=values["q"],
        tier=values["tier"],
        region=values["region"],
        page=_int(r.arg("page")),
    )
    tiers = await r.db(td.tier_choices)
    return _render(r, "tier_customers.html", result=result, values=values, tiers=tiers)


async def customer_page(
    r: WebRequest,
    *,
    errors: dict[str, str] | None = None,
    general: str = "",
    status: int = 200,
    submitted: dict[str, str] | None = None,
) -> Response:
    row = await r.db(td.customer, _user(r), r.request.path_params["customer_id"])
    tiers = await r.db(td.tier_choices)
    values = submitted or {
        "name": row.name,
        "region": row.region,
        "tier_id": row.tier_id,
        "blacklisted": "1" if row.blacklisted else "",
        "numbers": "\n".join(row.numbers),
        "stamp": td.stamp_of(row),
    }
    return _render(
        r,
        "tier_customer.html",
        status=status,
        customer=row,
        tiers=tiers,
        values=values,
        errors=errors or {},
        general=general,
    )


async def customer_save(r: WebRequest) -> Response:
    customer_id = r.request.path_params["customer_id"]
    form = _form(r)
    try:
        changed = await r.db(td.save_customer, _link(r).directory, _user(r), customer_id, form)
    except td.FormInvalid as bad:
        return await customer_page(
            r, errors=bad.errors, general=bad.general, status=400, submitted=form
        )
    except td.Stale:
        return await customer_page(r, general="tier_stale", status=409, submitted=form)
    return r.redirect(f"{r.base}/tiers/customers/{customer_id}?saved={int(changed)}")


# --- file import --------------------------------------------------------------------------


async def import_page(r: WebRequest) -> Response:
    return _render(r, "tier_import.html", jobs=_jobs(r).jobs(), problem="")


async def upload(r: WebRequest) -> Response:
    """``PUT /tiers/uploads?name=<file name>`` from ``tiers.js``: the body is the file,
    ``X-CSRF-Token`` the session's token. Answers ``{ok, url | message}``."""
    if not same_token(r.csrf, r.request.headers.get("x-csrf-token")):
        return await r.refuse("csrf")
    length = r.request.headers.get("content-length")
    try:
        received = await _jobs(r).receive(
            r.request.stream(),
            actor=_user(r).agent_id,
            name=r.arg("name"),
            declared=int(length) if length and length.isdigit() else None,
        )
    except td.UploadRefused as bad:
        return JSONResponse(
            {"ok": False, "message": r._(bad.key, **bad.params)}, status_code=bad.status
        )
    return JSONResponse({"ok": True, "url": f"{r.base}/tiers/uploads/{received.id}"}, 201)


async def mapping_page(
    r: WebRequest,
    *,
    errors: dict[str, str] | None = None,
    general: str = "",
    status: int = 200,
) -> Response:
    jobs = _jobs(r)
    try:
        pending = jobs.upload(r.request.path_params["upload_id"], _user(r).agent_id)
    except LookupError:
        return _render(
            r, "tier_import.html", status=404, jobs=jobs.jobs(), problem=r._("tier_err_gone")
        )
    try:
        shown = await r.db(lambda _s: jobs.preview(pending))
    except TierImportError as exc:
        return _render(
            r,
            "tier_import.html",
            status=422,
            jobs=jobs.jobs(),
            problem=r._("tier_err_unreadable", problem=str(exc)),
        )
    chosen = {f"map_{k}": v for k, v in shown.guessed.items()}
    if r.form:
        chosen = {f"map_{name}": r.field(f"map_{name}") for name in FIELDS}
    return _render(
        r,
        "tier_mapping.html",
        status=status,
        upload=pending,
        preview=shown,
        chosen=chosen,
        valid_only=r.field("valid_rows_only") in ("1", "on"),
        errors=errors or {},
        general=general,
    )


async def import_start(r: WebRequest) -> Response:
    jobs = _jobs(r)
    try:
        pending = jobs.upload(r.request.path_params["upload_id"], _user(r).agent_id)
    except LookupError:
        return _render(
            r, "tier_import.html", status=404, jobs=jobs.jobs(), problem=r._("tier_err_gone")
        )
    try:
        shown = await r.db(lambda _s: jobs.preview(pending))
        mapping = td.parse_mapping(_form(r), shown.columns)
    except TierImportError as exc:
        return _render(
            r,
            "tier_import.html",
            status=422,
            jobs=jobs.jobs(),
            problem=r._("tier_err_unreadable", problem=str(exc)),
        )
    except td.FormInvalid as bad:
        return await mapping_page(r, errors=bad.errors, general=bad.general, status=400)
    try:
        job = jobs.start(
            pending, mapping=mapping, valid_rows_only=r.field("valid_rows_only") in ("1", "on")
        )
    except LookupError:
        return _render(
            r, "tier_import.html", status=404, jobs=jobs.jobs(), problem=r._("tier_err_gone")
        )
    return r.redirect(f"{r.base}/tiers/jobs/{job.id}")


async def job_page(r: WebRequest) -> Response:
    jobs = _jobs(r)
    job = jobs.job(r.request.path_params["job_id"])
    errors = job.outcome.errors if job.outcome is not None else []
    return _render(
        r,
        "tier_job.html",
        job=job,
        snapshot=jobs.snapshot(job),
        errors=errors[:200],
        more=len(errors) > 200,
        truncated=job.outcome.errors_truncated if job.outcome is not None else False,
    )


async def job_progress(r: WebRequest) -> Response:
    jobs = _jobs(r)
    try:
        job = jobs.job(r.request.path_params["job_id"])
    except LookupError:
        return JSONResponse({"error": "not_found"}, 404)
    snapshot = jobs.snapshot(job)
    snapshot["state_text"] = r._(f"tier_state_{snapshot['state']}")
    snapshot["rows_text"] = r._(
        "tier_rows_done", done=snapshot["rows_done"], total=snapshot["rows_total"] or "?"
    )
    return JSONResponse(snapshot, headers={"Cache-Control": "no-store"})


def _csv_response(text: str, name: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def job_errors(r: WebRequest) -> Response:
    job = _jobs(r).job(r.request.path_params["job_id"])
    errors = job.outcome.errors if job.outcome is not None else []
    return _csv_response(td.errors_csv(errors), f"tier-import-{job.id}-errors.csv")


# --- SQL refresh --------------------------------------------------------------------------


async def refresh_page(
    r: WebRequest,
    *,
    errors: dict[str, str] | None = None,
    general: str = "",
    status: int = 200,
) -> Response:
    sources = await r.db(td.list_sources)
    return _render(
        r,
        "tier_refresh.html",
        status=status,
        sources=sources,
        errors=errors or {},
        general=general,
        values=_form(r)
        if errors
        else {
            "schedule": "interval",
            "interval_minutes": "60",
            "tz": r.ctx.settings.timezone,
            "enabled": "1",
        },
    )


async def refresh_create(r: WebRequest) -> Response:
    try:
        source_id = await r.db(td.save_source, _user(r).agent_id, None, _form(r))
    except td.FormInvalid as bad:
        return await refresh_page(r, errors=bad.errors, general=bad.general, status=400)
    _wake(r)
    return r.redirect(f"{r.base}/tiers/refresh/{source_id}?saved=1")


def _wake(r: WebRequest) -> bool:
    scheduler = _link(r).scheduler
    if scheduler is None or not scheduler.running:
        return False
    scheduler.wake()
    return True


async def source_page(
    r: WebRequest,
    *,
    errors: dict[str, str] | None = None,
    general: str = "",
    status: int = 200,
    shown: tr.Preview | None = None,
    problem: str = "",
) -> Response:
    view = await r.db(td.source, r.request.path_params["source_id"])
    values: dict[str, str] = (
        _form(r)
        if errors
        else {
            "name": view.name,
            "url": view.url,
            "query": view.query,
            "table_name": view.table_name,
            "schedule": view.schedule,
            "interval_minutes": str(view.interval_minutes or ""),
            "daily_time": view.daily_time,
            "tz": view.tz,
            "valid_rows_only": "1" if view.valid_rows_only else "",
            "enabled": "1" if view.enabled else "",
            **{f"map_{k}": v for k, v in view.mapping.items()},
        }
    )
    return _render(
        r,
        "tier_source.html",
        status=status,
        source=view,
        values=values,
        errors=errors or {},
        general=general,
        preview=shown,
        problem=problem,
    )


async def source_change(r: WebRequest) -> Response:
    source_id = r.request.path_params["source_id"]
    action = r.field("action", "save")
    actor = _user(r).agent_id
    if action == "delete":
        await r.db(td.delete_source, actor, source_id)
        return r.redirect(f"{r.base}/tiers/refresh?saved=deleted")
    if action == "run":
        await r.db(td.request_run, actor, source_id)
        return r.redirect(
            f"{r.base}/tiers/refresh/{source_id}?saved={'run' if _wake(r) else 'asked'}"
        )
    if action == "preview":
        try:
            shown = await r.db(td.preview_source, source_id)
        except Exception as exc:  # any driver error: show it, masked
            problem = tr.mask_url(
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
            return await source_page(r, problem=r._("tier_src_preview_failed", problem=problem))
        return await source_page(r, shown=shown)
    try:
        await r.db(td.save_source, actor, source_id, _form(r))
    except td.FormInvalid as bad:
        return await source_page(r, errors=bad.errors, general=bad.general, status=400)
    _wake(r)
    return r.redirect(f"{r.base}/tiers/refresh/{source_id}?saved=1")


async def run_errors(r: WebRequest) -> Response:
    source_id = r.request.path_params["source_id"]
    run_id = int(r.request.path_params["run_id"])
    errors = await r.db(td.run_errors, source_id, run_id)
    return _csv_response(td.errors_csv(errors), f"tier-refresh-{source_id}-{run_id}-errors.csv")


# --- routes -------------------------------------------------------------------------------


def routes(get: RouteFactory, post: RouteFactory) -> list[Route]:
    """The tier pages' routes for ``pages._routes()``."""
    from .pages import page

    return [
        get("/tiers", LEADS, customers),
        get("/tiers/customers/{customer_id}", LEADS, customer_page),
        post("/tiers/customers/{customer_id}", ADMINS, customer_save),
        get("/tiers/import", ADMINS, import_page),
        Route("/tiers/uploads", page(ADMINS, upload), methods=["PUT"]),
        get("/tiers/uploads/{upload_id}", ADMINS, mapping_page),
        post("/tiers/uploads/{upload_id}", ADMINS, import_start),
        get("/tiers/jobs/{job_id}", ADMINS, job_page),
        get("/tiers/jobs/{job_id}/progress", ADMINS, job_progress),
        get("/tiers/jobs/{job_id}/errors.csv", ADMINS, job_errors),
        get("/tiers/refresh", ADMINS, refresh_page),
        post("/tiers/refresh", ADMINS, refresh_create),
        get("/tiers/refresh/{source_id}", ADMINS, source_page),
        post("/tiers/refresh/{source_id}", ADMINS, source_change),
        get("/tiers/refresh/{source_id}/runs/{run_id:int}/errors.csv", ADMINS, run_errors),
    ]
