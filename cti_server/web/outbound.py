"""Outbound lists in the web console (issue 9; docs/web.md "Outbound lists").

* ``/ui/outbound`` — imported sources, extraction sets and target lists;
* ``/ui/outbound/import`` — upload a CSV / .xlsx / .xls file (``PUT`` from
  ``static/tiers.js``, streamed to disk) or name a SQLAlchemy URL + table / SELECT query;
  the fields and a preview come first, then the import runs in the background with a
  progress bar and the row-level error report (all or nothing unless "import the valid
  rows");
* ``/ui/outbound/sets/…`` — extraction sets: AND/OR conditions (built in
  ``static/outbound.js``, sent as JSON, compiled by the store to bound SQL expressions),
  field mapping, classification; count, run (materialises a target list), rename, delete;
* ``/ui/outbound/lists/…`` — target records: add, edit, delete by hand;
* ``/ui/outbound/dnc`` — the do-not-call list.

Team leads and administrators. Data side: :mod:`.outbound_data`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cti_server.store import outbound_lists as ob
from cti_server.store.models import Role

from . import outbound_data as od
from .i18n import MESSAGES
from .session import same_token
from .uploads import UploadRefused

if TYPE_CHECKING:
    from .pages import Handler, WebRequest

    RouteFactory = Callable[[str, frozenset[Role] | None, Handler], Route]

LEADS = frozenset({Role.TEAM_LEAD, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})

MESSAGES.update(
    {
        "ob_nav": ("Outbound lists", "外呼名单"),
        "ob_title": ("Outbound lists", "外呼名单"),
        "ob_import_title": ("Import a table", "导入数据表"),
        "ob_import_intro": (
            "CSV (UTF-8 or GBK), Excel .xlsx or .xls, first row = field names; or a table or "
            "SELECT query of a database. Every field is kept.",
            "CSV（UTF-8 或 GBK）、Excel .xlsx 或 .xls 文件，第一行为字段名；或数据库的表或 "
            "SELECT 查询。所有字段都会保留。",
        ),
        "ob_file": ("File", "文件"),
        "ob_upload": ("Upload", "上传"),
        "ob_uploading": ("Uploading…", "正在上传…"),
        "ob_needs_js": ("Uploading needs JavaScript.", "上传需要浏览器启用 JavaScript。"),
        "ob_err_type": (
            "Upload a .csv, .tsv, .txt, .xlsx or .xls file.",
            "请上传 .csv、.tsv、.txt、.xlsx 或 .xls 文件。",
        ),
        "ob_err_too_large": ("The file is larger than {mb} MB.", "文件超过 {mb} MB。"),
        "ob_err_empty": ("The file is empty.", "文件为空。"),
        "ob_err_gone": (
            "This upload is no longer available: upload the file again.",
            "该上传文件已不可用，请重新上传。",
        ),
        "ob_err_unreadable": ("The source cannot be read: {problem}", "无法读取数据源：{problem}"),
        "ob_err_json": ("The conditions are not well formed.", "条件格式不正确。"),
        "ob_sql_title": ("From a database", "来自数据库"),
        "ob_sql_url": ("SQLAlchemy URL", "SQLAlchemy 连接地址"),
        "ob_sql_table": ("Table", "表"),
        "ob_sql_query": ("or SELECT query", "或 SELECT 查询"),
        "ob_show_preview": ("Show fields and preview", "显示字段并预览"),
        "ob_preview_title": ("Fields and preview", "字段与预览"),
        "ob_fields": ("Fields", "字段"),
        "ob_name": ("Name", "名称"),
        "ob_required_cols": (
            "Fields that must not be empty",
            "不能为空的字段",
        ),
        "ob_valid_only": (
            "Import the valid rows (skip rows with errors)",
            "导入有效的行（跳过有错误的行）",
        ),
        "ob_start_import": ("Import", "导入"),
        "ob_job_title": ("Import", "导入"),
        "ob_state": ("State", "状态"),
        "ob_state_importing": ("importing", "正在导入"),
        "ob_state_succeeded": ("imported", "已导入"),
        "ob_state_refused": ("refused: nothing imported", "已拒绝：未导入任何数据"),
        "ob_state_failed": ("failed", "失败"),
        "ob_rows_done": ("{done} of {total} rows", "{done} / {total} 行"),
        "ob_rows_read": ("Rows read", "读取行数"),
        "ob_imported": ("Imported", "已导入"),
        "ob_rejected": ("Rows with errors", "有错误的行"),
        "ob_errors": ("Row errors", "行错误"),
        "ob_errors_csv": ("Download the errors (CSV)", "下载错误报告（CSV）"),
        "ob_line": ("Row", "行"),
        "ob_column": ("Field", "字段"),
        "ob_problem": ("Problem", "问题"),
        "ob_retry": ("Import the valid rows of this file", "导入此文件中有效的行"),
        "ob_sources": ("Imported sources", "已导入的数据源"),
        "ob_kind": ("Kind", "类型"),
        "ob_rows": ("Rows", "行数"),
        "ob_by": ("By", "操作人"),
        "ob_when": ("When", "时间"),
        "ob_new_set": ("New extraction set", "新建抽取集"),
        "ob_sets": ("Extraction sets", "抽取集"),
        "ob_set_title": ("Extraction set", "抽取集"),
        "ob_lists": ("Target lists", "目标名单"),
        "ob_records": ("Records", "记录数"),
        "ob_none": ("None yet.", "暂无。"),
        "ob_source": ("Source", "数据源"),
        "ob_classification": ("Classification", "分类"),
        "ob_class_callback": ("callback", "回访"),
        "ob_class_reply": ("reply", "答复"),
        "ob_class_marketing": ("marketing", "营销"),
        "ob_class_retention": ("retention", "挽留"),
        "ob_class_survey": ("survey", "调查"),
        "ob_class_collection": ("collection", "催缴"),
        "ob_conditions": ("Conditions", "条件"),
        "ob_conditions_hint": (
            "Groups of conditions joined by AND / OR; values are compared as text, numbers "
            "numerically for < ≤ > ≥.",
            "条件组以 AND / OR 组合；值按文本比较，< ≤ > ≥ 对数字按数值比较。",
        ),
        "ob_all": ("all of (AND)", "全部满足（AND）"),
        "ob_any": ("any of (OR)", "任一满足（OR）"),
        "ob_add_condition": ("Add condition", "添加条件"),
        "ob_add_group": ("Add group", "添加条件组"),
        "ob_remove": ("Remove", "删除"),
        "ob_mapping": ("Field mapping", "字段对应"),
        "ob_target_field": ("Target field", "目标字段"),
        "ob_source_field": ("Source field", "源字段"),
        "ob_f_phone": ("Phone", "电话"),
        "ob_f_name": ("Name", "姓名"),
        "ob_f_account": ("Account", "账户"),
        "ob_f_region": ("Region", "地区"),
        "ob_f_type": ("Type", "类型"),
        "ob_f_tier": ("Tier", "客户层次"),
        "ob_f_brand": ("Brand", "品牌"),
        "ob_f_complaint": ("Complaint", "投诉内容"),
        "ob_unmapped": ("(none)", "（无）"),
        "ob_save": ("Save", "保存"),
        "ob_saved": ("Saved.", "已保存。"),
        "ob_deleted": ("Deleted.", "已删除。"),
        "ob_not_saved": (
            "Not saved: correct the marked fields.",
            "未保存：请改正标出的字段。",
        ),
        "ob_count": ("Count matching rows", "统计符合条件的行"),
        "ob_count_result": ("{n} rows match now.", "当前有 {n} 行符合条件。"),
        "ob_run": ("Make a target list", "生成目标名单"),
        "ob_list_name": ("List name", "名单名称"),
        "ob_ran": (
            "{created} records made from {selected} matching rows ({skipped} skipped).",
            "由 {selected} 行符合条件的数据生成 {created} 条记录（跳过 {skipped} 行）。",
        ),
        "ob_delete": ("Delete", "删除"),
        "ob_delete_set": ("Delete this set", "删除此抽取集"),
        "ob_list_title": ("Target list", "目标名单"),
        "ob_add_record": ("Add a record", "添加记录"),
        "ob_edit": ("Edit", "编辑"),
        "ob_status": ("Status", "状态"),
        "ob_attempts": ("Attempts", "拨打次数"),
        "ob_record_title": ("Target record", "目标记录"),
        "ob_back": ("Back", "返回"),
        "ob_err_required": ("Required.", "必填。"),
        "ob_dnc_title": ("Do-not-call list", "免打扰名单"),
        "ob_dnc_numbers": ("Numbers (one a line)", "号码（每行一个）"),
        "ob_dnc_reason": ("Reason", "原因"),
        "ob_dnc_add": ("Add", "添加"),
        "ob_dnc_from_source": (
            "From an imported file or table (import it first)",
            "来自已导入的文件或表（请先导入）",
        ),
        "ob_dnc_column": ("Number field", "号码字段"),
        "ob_dnc_added": ("{n} numbers added.", "已添加 {n} 个号码。"),
        "ob_dnc_removed": ("Number removed.", "号码已移除。"),
        "ob_number": ("Number", "号码"),
        "ob_search": ("Search", "查询"),
        "ob_new_list": ("New empty list", "新建空名单"),
        "ob_create": ("Create", "创建"),
    }
)


def _actor(r: WebRequest) -> str:
    assert r.user is not None
    return r.user.agent_id


_JOBS_LOCK = threading.Lock()


def _jobs(r: WebRequest) -> od.ObJobs:
    """The app's upload/import jobs; uploads spool where the tier imports do (the
    server's ``<data_dir>/imports``), else in the temporary folder."""
    state = r.request.app.state
    with _JOBS_LOCK:
        jobs = getattr(state, "outbound_jobs", None)
        if not isinstance(jobs, od.ObJobs):
            link = r.ctx.settings.tiers
            jobs = od.ObJobs(
                r.ctx.sessions.kw["bind"],
                upload_dir=getattr(link, "upload_dir", None),
                max_bytes=getattr(link, "max_upload_bytes", 1 << 30),
            )
            state.outbound_jobs = jobs
    return jobs


def _form(r: WebRequest) -> dict[str, str]:
    return {k: v[0] for k, v in r.form.items() if v}


def _render(r: WebRequest, template: str, status: int = 200, **values: Any) -> Response:
    return r.render(
        template,
        status=status,
        classifications=ob.CLASSIFICATIONS,
        target_fields=ob.TARGET_FIELDS,
        required_fields=ob.REQUIRED_TARGET_FIELDS,
        flash=r.arg("saved"),
        **values,
    )


def _id(r: WebRequest, name: str) -> int:
    text = str(r.request.path_params[name])
    if not text.isdigit():
        raise LookupError(text)
    return int(text)


# --- overview and import ------------------------------------------------------------------


async def index(r: WebRequest) -> Response:
    sets, lists = await r.db(od.index)
    sources = await r.db(od.sources)
    return _render(r, "ob_index.html", sets=sets, lists=lists, sources=sources)


async def import_page(
    r: WebRequest, *, problem: str = "", status: int = 200, preview: ob.Preview | None = None
) -> Response:
    return _render(
        r,
        "ob_import.html",
        status=status,
        jobs=_jobs(r).jobs(),
        problem=problem,
        preview=preview,
        values=_form(r),
    )


async def upload(r: WebRequest) -> Response:
    """``PUT /outbound/uploads?name=<file name>`` (``static/tiers.js``): the body is the
    file, ``X-CSRF-Token`` the session's token. Answers ``{ok, url | message}``."""
    if not same_token(r.csrf, r.request.headers.get("x-csrf-token")):
        return await r.refuse("csrf")
    length = r.request.headers.get("content-length")
    try:
        received = await _jobs(r).receive(
            r.request.stream(),
            actor=_actor(r),
            name=r.arg("name"),
            declared=int(length) if length and length.isdigit() else None,
        )
    except UploadRefused as bad:
        return JSONResponse(
            {"ok": False, "message": r._(bad.key, **bad.params)}, status_code=bad.status
        )
    return JSONResponse({"ok": True, "url": f"{r.base}/outbound/uploads/{received.id}"}, 201)


async def upload_page(r: WebRequest) -> Response:
    jobs = _jobs(r)
    try:
        pending = jobs.upload(r.request.path_params["upload_id"], _actor(r))
    except LookupError:
        return await import_page(r, problem=r._("ob_err_gone"), status=404)
    try:
        shown = await r.db(lambda _s: od.preview_upload(pending))
    except ob.OutboundError as exc:
        return await import_page(r, problem=r._("ob_err_unreadable", problem=str(exc)), status=422)
    return _render(
        r,
        "ob_preview.html",
        preview=shown,
        action=f"{r.base}/outbound/uploads/{pending.id}",
        name=pending.name,
        sql=None,
    )


def _import_options(r: WebRequest, columns: list[str]) -> tuple[str, list[str], bool]:
    required = [c for c in r.fields("required") if c in columns]
    return r.field("name"), required, r.field("valid_rows_only") in ("1", "on")


async def upload_start(r: WebRequest) -> Response:
    jobs = _jobs(r)
    try:
        pending = jobs.upload(r.request.path_params["upload_id"], _actor(r))
    except LookupError:
        return await import_page(r, problem=r._("ob_err_gone"), status=404)
    try:
        shown = await r.db(lambda _s: od.preview_upload(pending))
    except ob.OutboundError as exc:
        return await import_page(r, problem=r._("ob_err_unreadable", problem=str(exc)), status=422)
    name, required, valid_only = _import_options(r, shown.columns)
    try:
        job = jobs.start_file(
            pending, name=name or pending.name, required=required, valid_rows_only=valid_only
        )
    except LookupError:
        return await import_page(r, problem=r._("ob_err_gone"), status=404)
    return r.redirect(f"{r.base}/outbound/jobs/{job.id}")


async def sql_source(r: WebRequest) -> Response:
    """``POST /outbound/sql``: ``action=preview`` shows the fields; ``import`` starts."""
    source = od.SqlSource(
        r.field("url").strip(), r.field("table_name").strip(), r.field("query").strip()
    )
    try:
        shown = await r.db(lambda _s: od.preview_sql(source))
    except ob.OutboundError as exc:
        return await import_page(r, problem=r._("ob_err_unreadable", problem=str(exc)), status=422)
    if r.field("action") != "import":
        return _render(
            r,
            "ob_preview.html",
            preview=shown,
            action=f"{r.base}/outbound/sql",
            name=source.table_name or "query",
            sql=source,
        )
    name, required, valid_only = _import_options(r, shown.columns)
    job = _jobs(r).start_sql(
        _actor(r),
        source,
        name=name or source.table_name or "query",
        required=required,
        valid_rows_only=valid_only,
    )
    return r.redirect(f"{r.base}/outbound/jobs/{job.id}")


async def job_page(r: WebRequest) -> Response:
    jobs = _jobs(r)
    job = jobs.job(r.request.path_params["job_id"])
    errors = job.report.errors if job.report is not None else []
    return _render(r, "ob_job.html", job=job, snapshot=jobs.snapshot(job), errors=errors[:200])


async def job_progress(r: WebRequest) -> Response:
    jobs = _jobs(r)
    try:
        job = jobs.job(r.request.path_params["job_id"])
    except LookupError:
        return JSONResponse({"error": "not_found"}, 404)
    snapshot = jobs.snapshot(job)
    snapshot["state_text"] = r._(f"ob_state_{snapshot['state']}")
    snapshot["rows_text"] = r._(
        "ob_rows_done", done=snapshot["rows_done"], total=snapshot["rows_total"] or "?"
    )
    return JSONResponse(snapshot, headers={"Cache-Control": "no-store"})


async def job_errors(r: WebRequest) -> Response:
    job = _jobs(r).job(r.request.path_params["job_id"])
    errors = job.report.errors if job.report is not None else []
    return Response(
        ob.errors_csv(errors).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="outbound-import-{job.id}-errors.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- extraction sets ----------------------------------------------------------------------


async def set_page(
    r: WebRequest,
    *,
    view: ob.SetView | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    note: str = "",
) -> Response:
    sources = await r.db(od.usable_sources)
    if values is None:
        if view is not None:
            values = {
                "name": view.name,
                "classification": view.classification,
                "source_id": str(view.source_id or ""),
                "conditions": view.conditions,
                **{f"map_{k}": v for k, v in view.mapping.items()},
            }
        else:
            values = {"source_id": r.arg("source"), "classification": "marketing"}
    columns: dict[str, list[str]] = {str(s.id): s.columns for s in sources}
    return _render(
        r,
        "ob_set.html",
        status=status,
        view=view,
        values=values,
        errors=errors or {},
        sources=sources,
        columns=columns,
        chosen_columns=columns.get(str(values.get("source_id", "")), []),
        operators=ob.OPERATORS,
        note=note,
    )


def _form_values(form: dict[str, str]) -> dict[str, Any]:
    import json

    values: dict[str, Any] = dict(form)
    try:
        values["conditions"] = json.loads(form.get("conditions") or "{}")
    except ValueError:
        values["conditions"] = {"op": "and", "items": []}
    return values


async def set_new(r: WebRequest) -> Response:
    return await set_page(r)


async def set_create(r: WebRequest) -> Response:
    form = _form(r)
    try:
        args = od.parse_set_form(form)
        set_id = await r.db(ob.create_set, _actor(r), **args)
    except ob.RecordInvalid as bad:
        return await set_page(r, values=_form_values(form), errors=bad.errors, status=400)
    return r.redirect(f"{r.base}/outbound/sets/{set_id}?saved=1")


async def set_edit(r: WebRequest) -> Response:
    view = await r.db(od.get_set, _id(r, "set_id"))
    return await set_page(r, view=view)


async def set_change(r: WebRequest) -> Response:
    set_id = _id(r, "set_id")
    view = await r.db(od.get_set, set_id)
    action = r.field("action", "save")
    actor = _actor(r)
    if action == "delete":
        await r.db(ob.delete_set, actor, set_id)
        return r.redirect(f"{r.base}/outbound?saved=deleted")
    if action == "count":
        n = await r.db(od.count_set, set_id)
        return await set_page(r, view=view, note=r._("ob_count_result", n=n))
    if action == "run":
        try:
            report = await r.db(ob.run_set, actor, set_id, list_name=r.field("list_name"))
        except ob.OutboundError as exc:
            return await set_page(r, view=view, note=str(exc), status=409)
        return r.redirect(
            f"{r.base}/outbound/lists/{report.list_id}?created={report.created}"
            f"&selected={report.selected}&skipped={len(report.skipped)}"
        )
    form = _form(r)
    try:
        args = od.parse_set_form(form)
        await r.db(ob.update_set, actor, set_id, **args)
    except ob.RecordInvalid as bad:
        return await set_page(
            r, view=view, values=_form_values(form), errors=bad.errors, status=400
        )
    return r.redirect(f"{r.base}/outbound/sets/{set_id}?saved=1")


# --- target lists and records -------------------------------------------------------------


async def list_create(r: WebRequest) -> Response:
    try:
        list_id = await r.db(
            ob.create_list,
            _actor(r),
            name=r.field("name"),
            classification=r.field("classification"),
        )
    except ob.RecordInvalid:
        return r.redirect(f"{r.base}/outbound?saved=invalid")
    return r.redirect(f"{r.base}/outbound/lists/{list_id}")


async def list_view(
    r: WebRequest,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    page = int(r.arg("page")) if r.arg("page").isdigit() else 1
    shown = await r.db(od.list_page, _id(r, "list_id"), page)
    ran = None
    if r.arg("created"):
        ran = r._(
            "ob_ran",
            created=r.arg("created"),
            selected=r.arg("selected"),
            skipped=r.arg("skipped"),
        )
    return _render(
        r,
        "ob_list.html",
        status=status,
        shown=shown,
        errors=errors or {},
        values=values or {},
        ran=ran,
    )


async def list_change(r: WebRequest) -> Response:
    list_id = _id(r, "list_id")
    if r.field("action") == "delete":
        await r.db(ob.delete_list, _actor(r), list_id)
        return r.redirect(f"{r.base}/outbound?saved=deleted")
    form = _form(r)
    try:
        await r.db(ob.add_record, _actor(r), list_id, form)
    except ob.RecordInvalid as bad:
        return await list_view(r, errors=bad.errors, values=form, status=400)
    return r.redirect(f"{r.base}/outbound/lists/{list_id}?saved=1")


async def record_page(
    r: WebRequest, *, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    row = await r.db(od.record, _id(r, "record_id"))
    values = _form(r) if errors else {f: getattr(row, f) for f in ob.TARGET_FIELDS}
    return _render(r, "ob_record.html", status=status, row=row, values=values, errors=errors or {})


async def record_change(r: WebRequest) -> Response:
    record_id = _id(r, "record_id")
    row = await r.db(od.record, record_id)
    if r.field("action") == "delete":
        await r.db(ob.delete_record, _actor(r), record_id)
        return r.redirect(f"{r.base}/outbound/lists/{row.list_id}?saved=deleted")
    try:
        await r.db(ob.update_record, _actor(r), record_id, _form(r))
    except ob.RecordInvalid as bad:
        return await record_page(r, errors=bad.errors, status=400)
    return r.redirect(f"{r.base}/outbound/records/{record_id}?saved=1")


# --- do-not-call --------------------------------------------------------------------------


async def dnc_page(
    r: WebRequest, *, errors: dict[str, str] | None = None, status: int = 200, note: str = ""
) -> Response:
    rows = await r.db(od.dnc, r.arg("q"))
    sources = await r.db(od.usable_sources)
    return _render(
        r,
        "ob_dnc.html",
        sources=sources,
        status=status,
        rows=rows,
        errors=errors or {},
        note=note,
        values=_form(r),
        q=r.arg("q"),
    )


async def dnc_change(r: WebRequest) -> Response:
    actor = _actor(r)
    if r.field("action") == "remove":
        with contextlib.suppress(ob.OutboundError):  # not a number: nothing to remove
            await r.db(ob.remove_dnc, actor, r.field("number"))
        return r.redirect(f"{r.base}/outbound/dnc?saved=removed")
    try:
        if r.field("action") == "source":
            source = r.field("source_id")
            added = await r.db(
                ob.dnc_from_source,
                actor,
                int(source) if source.isdigit() else 0,
                r.field("column").strip(),
                reason=r.field("reason"),
            )
        else:
            added = await r.db(
                ob.add_dnc, actor, r.field("numbers").splitlines(), reason=r.field("reason")
            )
    except ob.RecordInvalid as bad:
        return await dnc_page(r, errors=bad.errors, status=400)
    return await dnc_page(r, note=r._("ob_dnc_added", n=added))


# --- routes -------------------------------------------------------------------------------


def routes(get: RouteFactory, post: RouteFactory) -> list[Route]:
    """The outbound list pages' routes for ``pages._routes()``."""
    from .pages import page

    return [
        get("/outbound", LEADS, index),
        get("/outbound/import", LEADS, import_page),
        Route("/outbound/uploads", page(LEADS, upload), methods=["PUT"]),
        get("/outbound/uploads/{upload_id}", LEADS, upload_page),
        post("/outbound/uploads/{upload_id}", LEADS, upload_start),
        post("/outbound/sql", ADMINS, sql_source),
        get("/outbound/jobs/{job_id}", LEADS, job_page),
        get("/outbound/jobs/{job_id}/progress", LEADS, job_progress),
        get("/outbound/jobs/{job_id}/errors.csv", LEADS, job_errors),
        get("/outbound/sets/new", LEADS, set_new),
        post("/outbound/sets", LEADS, set_create),
        get("/outbound/sets/{set_id}", LEADS, set_edit),
        post("/outbound/sets/{set_id}", LEADS, set_change),
        post("/outbound/lists", LEADS, list_create),
        get("/outbound/lists/{list_id}", LEADS, list_view),
        post("/outbound/lists/{list_id}", LEADS, list_change),
        get("/outbound/records/{record_id}", LEADS, record_page),
        post("/outbound/records/{record_id}", LEADS, record_change),
        get("/outbound/dnc", LEADS, dnc_page),
        post("/outbound/dnc", LEADS, dnc_change),
    ]
