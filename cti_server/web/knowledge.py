"""Knowledge-base pages (知识库, R-BIZ-3, R-BIZ-9; docs/web.md "Knowledge base").

Everyone signed in searches and reads (the desktop opens ``/ui/kb?q=…``); team
leads and administrators write, publish, archive, compare and restore versions and see
the usage analytics and the query log. Data access: :mod:`.knowledge_data`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cti_server.store.models import Role

from . import data
from . import knowledge_data as kb
from .data import Invalid, WebUser
from .i18n import MESSAGES

if TYPE_CHECKING:
    from .pages import WebRequest

    RouteFactory = Callable[
        [str, frozenset[Role] | None, Callable[[WebRequest], Awaitable[Response]]], Route
    ]

ALL = frozenset(Role)
WRITERS = frozenset({Role.TEAM_LEAD, Role.ADMIN})

MESSAGES.update(
    {
        "nav_kb": ("Knowledge base", "知识库"),
        "kb_title": ("Knowledge base", "知识库"),
        "kb_search": ("Search", "搜索"),
        "kb_search_hint": (
            "Keywords in Chinese or English, e.g. 宽带资费 or broadband tariff",
            "输入中文或英文关键词，如“宽带资费”或 broadband tariff",
        ),
        "kb_all_categories": ("(all categories)", "（全部分类）"),
        "kb_results": ("{total} result(s) for “{q}”", "“{q}”共找到 {total} 条结果"),
        "kb_no_results": (
            "Nothing found. Try fewer or other words.",
            "没有找到相关内容，请尝试更少或其他关键词。",
        ),
        "kb_new": ("New article", "新建文章"),
        "kb_edit": ("Edit", "编辑"),
        "kb_history": ("History", "历史版本"),
        "kb_analytics": ("Usage analytics", "使用统计"),
        "kb_log": ("Query log", "查询日志"),
        "kb_articles": ("Articles", "文章"),
        "kb_unpublished": ("Drafts and archived articles", "草稿与已归档文章"),
        "kb_category": ("Category", "分类"),
        "kb_no_category": ("Internal wiki (no category)", "内部百科（未分类）"),
        "kb_tags": ("Tags", "标签"),
        "kb_tags_hint": ("separated by commas", "用逗号分隔"),
        "kb_slug": ("Address (slug)", "地址标识"),
        "kb_slug_hint": (
            "lower-case letters, digits and -; empty = made from the title",
            "小写字母、数字和 -；留空则自动生成",
        ),
        "kb_body": ("Text", "正文"),
        "kb_markup_help": (
            "# heading, - list, 1. list, | table | rows |, **bold**, [text](https://…), "
            "[[article-slug]] links another article, ```chart blocks draw bars. "
            "HTML is shown as text.",
            "# 标题，- 列表，1. 编号列表，| 表格 |，**加粗**，[文字](https://…)，"
            "[[文章地址]] 链接其他文章，```chart 代码块绘制柱状图。HTML 按原文显示。",
        ),
        "kb_title_field": ("Title", "标题"),
        "kb_visibility": ("Visible to", "可见范围"),
        "kb_vis_all": ("All companies", "全部公司"),
        "kb_vis_company": ("Own company only", "仅本公司"),
        "kb_vis_shared": ("Own company and the companies ticked", "本公司及勾选的公司"),
        "kb_company": ("Company", "所属公司"),
        "kb_company_centre": ("Provincial centre", "省中心"),
        "kb_shared_with": ("Shared with", "共享给"),
        "kb_note": ("Change note", "修改说明"),
        "kb_save_draft": ("Save draft", "保存草稿"),
        "kb_save_publish": ("Save and publish", "保存并发布"),
        "kb_publish_this": ("Publish this version", "发布此版本"),
        "kb_archive": ("Archive", "归档"),
        "kb_restore": ("Restore this version", "恢复此版本"),
        "kb_status": ("Status", "状态"),
        "kb_status_draft": ("Draft", "草稿"),
        "kb_status_published": ("Published", "已发布"),
        "kb_status_archived": ("Archived", "已归档"),
        "kb_version": ("Version", "版本"),
        "kb_version_n": ("version {n}", "第 {n} 版"),
        "kb_published_version": ("Published version", "发布版本"),
        "kb_latest_version": ("Latest saved version", "最新保存版本"),
        "kb_unpublished_changes": (
            "Version {n} is saved but not published yet; readers see version {p}.",
            "第 {n} 版已保存但尚未发布，读者看到的是第 {p} 版。",
        ),
        "kb_preview": (
            "You are looking at version {n}, not the published text.",
            "您正在查看第 {n} 版，并非当前发布的内容。",
        ),
        "kb_newer": (
            "A newer version of this article has been published.",
            "本文已发布新版本。",
        ),
        "kb_reload": ("Show it", "查看新版本"),
        "kb_backlinks": ("Linked from", "被以下文章引用"),
        "kb_author": ("Author", "作者"),
        "kb_saved_at": ("Saved", "保存时间"),
        "kb_compare": ("Compare", "比较"),
        "kb_diff_title": ("Changes from version {a} to {b}", "第 {a} 版到第 {b} 版的修改"),
        "kb_diff_summary": (
            "{added} line(s) added, {removed} removed",
            "新增 {added} 行，删除 {removed} 行",
        ),
        "kb_diff_skipped": ("{n} unchanged line(s)", "{n} 行未修改"),
        "kb_field": ("Field", "字段"),
        "kb_before": ("Before", "修改前"),
        "kb_after": ("After", "修改后"),
        "kb_updated": ("Updated", "更新时间"),
        "kb_views": ("Views", "浏览次数"),
        "kb_searches": ("Searches", "搜索次数"),
        "kb_empty_searches": ("Searches without results", "无结果搜索"),
        "kb_top_articles": ("Most viewed articles", "最常浏览的文章"),
        "kb_top_queries": ("Most searched terms", "最常搜索的关键词"),
        "kb_empty_queries": ("Searches with no results", "没有结果的搜索"),
        "kb_per_day": ("Per day", "按日统计"),
        "kb_day": ("Day (UTC)", "日期（UTC）"),
        "kb_count": ("Count", "次数"),
        "kb_query_text": ("Query", "查询内容"),
        "kb_result_count": ("Results", "结果数"),
        "kb_event": ("Kind", "类型"),
        "kb_ev_view": ("view", "浏览"),
        "kb_ev_search": ("search", "搜索"),
        "kb_show": ("Show", "显示"),
        "kb_error_slug": (
            "The address may only hold lower-case letters, digits and -.",
            "地址标识只能包含小写字母、数字和 -。",
        ),
        "kb_error_slug_taken": (
            "Another article has this address.",
            "该地址标识已被其他文章使用。",
        ),
        "kb_error_tags": (
            "At most 12 tags of 40 characters.",
            "最多 12 个标签，每个不超过 40 个字符。",
        ),
        "kb_error_conflict": (
            "Someone saved this article while you were editing (now version {current}). "
            "Your text is below: compare, then save again.",
            "您编辑期间已有他人保存了本文（现为第 {current} 版）。"
            "您的内容保留在下方，请核对后再保存。",
        ),
    }
)


def _user(r: WebRequest) -> WebUser:
    assert r.user is not None
    user: WebUser = r.user
    return user


def _page(text: str) -> int:
    try:
        return max(1, int(text))
    except ValueError:
        return 1


def _version_arg(text: str) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        raise LookupError(text) from None


async def search_page(r: WebRequest) -> Response:
    user = _user(r)
    q = r.arg("q")[:500]
    category = r.arg("category")
    page = _page(r.arg("page"))
    tree = await r.db(data.category_tree)
    result = listing = unpublished = None
    if q:
        result = await r.db(kb.search, user, q, category=category, page=page)
    else:
        listing = await r.db(kb.browse, user, category=category, page=page)
        if user.role in WRITERS:
            unpublished = await r.db(kb.browse, user, category=category, unpublished=True)
    names = {node.category_id: node for root in tree for _d, node in root.walk()}
    return r.render(
        "kb_search.html",
        q=q,
        category=category,
        tree=tree,
        names=names,
        result=result,
        listing=listing,
        unpublished=unpublished,
        writer=user.role in WRITERS,
    )


async def article_page(r: WebRequest) -> Response:
    slug = r.request.path_params["slug"]
    article = await r.db(
        kb.get_article, _user(r), slug, version=_version_arg(r.arg("v")), base=r.base
    )
    return r.render("kb_article.html", a=article)


async def article_stamp(r: WebRequest) -> Response:
    stamp = await r.db(kb.article_stamp, _user(r), r.request.path_params["slug"])
    return JSONResponse(stamp, headers={"Cache-Control": "no-store"})


async def _editor(
    r: WebRequest, values: dict[str, Any], *, error: str = "", status: int = 200
) -> Response:
    tree = await r.db(data.category_tree)  # disabled nodes too: an article may sit on one
    companies = await r.db(kb.companies)
    return r.render(
        "kb_edit.html",
        status=status,
        values=values,
        error=error,
        tree=tree,
        companies=companies,
        visibilities=kb.VISIBILITIES,
    )


_FIELDS = ("slug", "title", "body", "category_id", "tags", "visibility", "company", "note")


def _form_values(r: WebRequest) -> dict[str, Any]:
    values: dict[str, Any] = {k: r.field(k) for k in _FIELDS}
    values["shared_with"] = r.fields("shared_with")
    values["base_version"] = r.field("base_version")
    return values


async def new_page(r: WebRequest) -> Response:
    values: dict[str, Any] = dict.fromkeys(_FIELDS, "")
    values.update(visibility="all", shared_with=[], base_version="", category_id=r.arg("category"))
    values["company"] = _user(r).region or ""
    return await _editor(r, values)


async def edit_page(r: WebRequest) -> Response:
    values = await r.db(kb.editor_values, _user(r), r.request.path_params["slug"])
    return await _editor(r, values)


async def save(r: WebRequest) -> Response:
    """POST /kb (new) or /kb/a/{slug} (new version of an existing article)."""
    values = _form_values(r)
    slug = r.request.path_params.get("slug")
    if slug is not None:
        values["slug"] = slug
        try:
            base_version: int | None = int(values["base_version"])
        except ValueError:
            base_version = -1
    else:
        base_version = None
    draft = kb.Draft(
        title=values["title"],
        body=values["body"],
        category_id=values["category_id"],
        tags=values["tags"],
        visibility=values["visibility"],
        company=values["company"],
        shared_with=values["shared_with"],
        note=values["note"],
        slug=values["slug"],
        base_version=base_version,
    )
    try:
        saved_slug, version = await r.db(
            kb.save_article, _user(r), draft, publish=r.field("action") == "publish"
        )
    except Invalid as bad:
        status = 409 if bad.key == "kb_error_conflict" else 400
        if slug is not None and status == 409:
            values["base_version"] = str(bad.params.get("current", ""))
        return await _editor(r, values, error=r._(bad.key, **bad.params), status=status)
    return r.redirect(f"{r.base}/kb/a/{saved_slug}?v={version}")


async def publish(r: WebRequest) -> Response:
    slug = r.request.path_params["slug"]
    version = _version_arg(r.field("version"))
    if version is None:
        raise LookupError(slug)
    await r.db(kb.publish_version, _user(r), slug, version)
    return r.redirect(f"{r.base}/kb/a/{slug}")


async def archive(r: WebRequest) -> Response:
    slug = r.request.path_params["slug"]
    await r.db(kb.archive_article, _user(r), slug)
    return r.redirect(f"{r.base}/kb/a/{slug}/history")


async def restore(r: WebRequest) -> Response:
    slug = r.request.path_params["slug"]
    version = _version_arg(r.field("version"))
    if version is None:
        raise LookupError(slug)
    await r.db(kb.restore_version, _user(r), slug, version)
    return r.redirect(f"{r.base}/kb/a/{slug}/history")


async def history_page(r: WebRequest) -> Response:
    article, versions = await r.db(kb.history, _user(r), r.request.path_params["slug"])
    return r.render("kb_history.html", a=article, versions=versions)


async def diff_page(r: WebRequest) -> Response:
    slug = r.request.path_params["slug"]
    old, new = _version_arg(r.arg("from")), _version_arg(r.arg("to"))
    if old is None or new is None:
        raise LookupError(slug)
    diff = await r.db(kb.diff_versions, _user(r), slug, old, new)
    return r.render("kb_diff.html", slug=slug, diff=diff)


def _day_arg(text: str, default: dt.date) -> dt.date:
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid("error_date") from None


async def analytics_page(r: WebRequest) -> Response:
    today = dt.datetime.now(dt.UTC).date()
    try:
        date_to = _day_arg(r.arg("to"), today)
        date_from = _day_arg(r.arg("from"), date_to - dt.timedelta(days=29))
        stats = await r.db(kb.analytics, _user(r), date_from, date_to)
    except Invalid as bad:
        return r.render(
            "kb_analytics.html",
            status=400,
            stats=None,
            error=r._(bad.key),
            values={"from": r.arg("from"), "to": r.arg("to")},
        )
    return r.render(
        "kb_analytics.html",
        stats=stats,
        error="",
        values={"from": date_from.isoformat(), "to": date_to.isoformat()},
    )


async def log_page(r: WebRequest) -> Response:
    values = {"agent": r.arg("agent"), "kind": r.arg("kind")}
    result = await r.db(
        kb.query_log,
        _user(r),
        agent=values["agent"],
        kind=values["kind"],
        page=_page(r.arg("page")),
    )
    return r.render("kb_log.html", result=result, values=values)


def routes(get: RouteFactory, post: RouteFactory) -> list[Route]:
    """The knowledge-base routes (``get``/``post`` are ``pages._routes``' helpers)."""
    return [
        get("/kb", ALL, search_page),
        get("/kb/new", WRITERS, new_page),
        post("/kb", WRITERS, save),
        get("/kb/analytics", WRITERS, analytics_page),
        get("/kb/log", WRITERS, log_page),
        get("/kb/a/{slug}", ALL, article_page),
        get("/kb/a/{slug}/stamp", ALL, article_stamp),
        get("/kb/a/{slug}/edit", WRITERS, edit_page),
        post("/kb/a/{slug}", WRITERS, save),
        post("/kb/a/{slug}/publish", WRITERS, publish),
        post("/kb/a/{slug}/archive", WRITERS, archive),
        post("/kb/a/{slug}/restore", WRITERS, restore),
        get("/kb/a/{slug}/history", WRITERS, history_page),
        get("/kb/a/{slug}/diff", WRITERS, diff_page),
    ]
