"""Blocking data access of the knowledge base (知识库, R-BIZ-3, R-BIZ-9; docs/web.md).

* Every save writes a new immutable ``kb_versions`` row; readers always read the
  version ``kb_articles.published_version`` points at, and publishing moves that
  pointer, rewrites the article's search terms and cross-links and writes the audit
  row in ONE transaction — a reader sees the old version or the new one, never half.
* Companies: an article belongs to a branch company (``company``, keyed like
  ``agents.region``; ``None`` = provincial centre) and is visible to ``all``
  companies, to its own ``company`` only, or ``shared`` with the listed companies.
  Accounts without a region see everything.
* Writers: team leads and administrators; one with a region writes for their own
  company only.
* Usage: every article view and every search is a ``kb_events`` row (agent, query
  text, result count, time) — the analytics page counts them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import audit
from cti_server.store.models import (
    Agent,
    BusinessCategory,
    KbArticle,
    KbEvent,
    KbLink,
    KbShare,
    KbTerm,
    KbVersion,
    Role,
    utcnow,
)

from .data import Invalid, Page, Refused, WebUser
from .knowledge_markup import cross_links, plain_text, render
from .knowledge_search import (
    document_terms,
    highlight,
    min_matches,
    normalise_query,
    query_terms,
    snippet,
)

VISIBILITIES = ("all", "company", "shared")
STATUSES = ("draft", "published", "archived")
WRITERS = frozenset({Role.TEAM_LEAD, Role.ADMIN})
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,99}$")
MAX_BODY = 60_000
SEARCH_PAGE = 20


# --- permissions ----------------------------------------------------------------------------


def _shared_with(session: Session, article_id: int) -> list[str]:
    return sorted(
        session.scalars(sa.select(KbShare.company).where(KbShare.article_id == article_id))
    )


def _sees(session: Session, user: WebUser, row: KbArticle) -> bool:
    if user.region is None or row.visibility == "all" or row.company == user.region:
        return True
    return row.visibility == "shared" and user.region in _shared_with(session, row.id)


def visible_clause(user: WebUser) -> Any:
    """SQL: articles the user's company may read (status not included)."""
    if user.region is None:
        return sa.true()
    return sa.or_(
        KbArticle.visibility == "all",
        KbArticle.company == user.region,
        sa.and_(
            KbArticle.visibility == "shared",
            KbArticle.id.in_(sa.select(KbShare.article_id).where(KbShare.company == user.region)),
        ),
    )


def can_write(user: WebUser, company: str | None) -> bool:
    return user.role in WRITERS and (user.region is None or company == user.region)


def _check_write(user: WebUser, row: KbArticle) -> None:
    if not can_write(user, row.company):
        raise Refused("company", article=row.slug, company=row.company or "*")


def _article(session: Session, slug: str) -> KbArticle:
    row = session.scalar(sa.select(KbArticle).where(KbArticle.slug == slug))
    if row is None:
        raise LookupError(slug)
    return row


def _readable(session: Session, user: WebUser, slug: str) -> KbArticle:
    """The article if the user may read it: a writer of its company sees every state,
    others its published text only (drafts and archived ones are "not found")."""
    row = _article(session, slug)
    if not _sees(session, user, row):
        raise Refused("company", article=slug, company=row.company or "*")
    if row.status != "published" and not can_write(user, row.company):
        raise LookupError(slug)
    return row


# --- views ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    title: str
    body: str
    category_id: str | None
    tags: list[str]
    author: str
    note: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ArticleView:
    article_id: int
    slug: str
    status: str
    company: str | None
    visibility: str
    shared_with: list[str]
    current_version: int
    published_version: int | None
    published_at: dt.datetime | None
    created_by: str
    shown: VersionView
    html: Markup
    backlinks: list[tuple[str, str]]
    category_name: tuple[str, str] | None
    writable: bool


def _version_view(row: KbVersion) -> VersionView:
    return VersionView(
        row.version,
        row.title,
        row.body,
        row.category_id,
        list(row.tags or []),
        row.author,
        row.note,
        row.created_at,
    )


def _version(session: Session, article_id: int, version: int) -> KbVersion:
    row = session.scalar(
        sa.select(KbVersion).where(KbVersion.article_id == article_id, KbVersion.version == version)
    )
    if row is None:
        raise LookupError(version)
    return row


def _resolver(session: Session, user: WebUser, body: str) -> dict[str, str]:
    slugs = cross_links(body)
    if not slugs:
        return {}
    rows = session.execute(
        sa.select(KbArticle.slug, KbArticle.title).where(
            KbArticle.slug.in_(slugs), KbArticle.status == "published", visible_clause(user)
        )
    )
    return {slug: title for slug, title in rows}


def _category_name(session: Session, category_id: str | None) -> tuple[str, str] | None:
    if category_id is None:
        return None
    row = session.get(BusinessCategory, category_id)
    return None if row is None else (row.name_zh, row.name_en)


def _day(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d")


def _log(
    session: Session,
    user: WebUser,
    kind: str,
    *,
    article_id: int | None = None,
    query: str = "",
    result_count: int | None = None,
) -> None:
    now = utcnow()
    session.add(
        KbEvent(
            at=now,
            day=_day(now),
            kind=kind,
            agent_id=user.agent_id,
            article_id=article_id,
            query=query[:2000],
            query_norm=normalise_query(query) if query else "",
            result_count=result_count,
        )
    )


def get_article(
    sessions: sessionmaker[Session],
    user: WebUser,
    slug: str,
    *,
    version: int | None = None,
    base: str = "/ui",
    log: bool = True,
) -> ArticleView:
    """The published text (logged as a view), or — for its writers — any version."""
    with sessions.begin() as session:
        row = _readable(session, user, slug)
        writable = can_write(user, row.company)
        if version is not None and not writable:
            version = None if version == row.published_version else -1
            if version == -1:
                raise LookupError(slug)
        shown_no = version or row.published_version or row.current_version
        shown = _version(session, row.id, shown_no)
        links = _resolver(session, user, shown.body)
        backlinks = [
            (s, t)
            for s, t in session.execute(
                sa.select(KbArticle.slug, KbArticle.title)
                .join(KbLink, KbLink.article_id == KbArticle.id)
                .where(
                    KbLink.target_slug == row.slug,
                    KbArticle.status == "published",
                    visible_clause(user),
                )
                .order_by(KbArticle.title)
            )
        ]
        if log and row.status == "published" and shown_no == row.published_version:
            _log(session, user, "view", article_id=row.id)
        return ArticleView(
            article_id=row.id,
            slug=row.slug,
            status=row.status,
            company=row.company,
            visibility=row.visibility,
            shared_with=_shared_with(session, row.id),
            current_version=row.current_version,
            published_version=row.published_version,
            published_at=row.published_at,
            created_by=row.created_by,
            shown=_version_view(shown),
            html=render(shown.body, links.get, base),
            backlinks=backlinks,
            category_name=_category_name(session, shown.category_id),
            writable=writable,
        )


def article_stamp(sessions: sessionmaker[Session], user: WebUser, slug: str) -> dict[str, Any]:
    """What the article page polls for live updates: the published version number."""
    with sessions() as session:
        row = _readable(session, user, slug)
        return {
            "slug": row.slug,
            "status": row.status,
            "published_version": row.published_version,
            "published_at": row.published_at.isoformat() if row.published_at else None,
        }


# --- writing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """The editor form."""

    title: str
    body: str
    category_id: str = ""
    tags: str = ""
    visibility: str = "all"
    company: str = ""
    shared_with: Sequence[str] = ()
    note: str = ""
    slug: str = ""
    base_version: int | None = None


def parse_tags(text: str) -> list[str]:
    parts = re.split(r"[,，、;；\n]+", text)
    tags = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if len(tags) > 12 or any(len(t) > 40 for t in tags):
        raise Invalid("kb_error_tags")
    return tags


def _auto_slug(session: Session, title: str) -> str:
    words = re.findall(r"[a-z0-9]+", title.lower())
    stem_ = "-".join(words)[:60].strip("-")
    candidate = stem_ if len(stem_) >= 3 else f"kb-{secrets.token_hex(3)}"
    while session.scalar(sa.select(KbArticle.id).where(KbArticle.slug == candidate)):
        candidate = f"{stem_ or 'kb'}-{secrets.token_hex(2)}"
    return candidate


def _checked(session: Session, user: WebUser, draft: Draft) -> tuple[str, str, list[str]]:
    title, body = draft.title.strip(), draft.body.replace("\r\n", "\n").rstrip()
    if not title or not body.strip():
        raise Invalid("error_required", field="title")
    if len(title) > 200 or len(body) > MAX_BODY or len(draft.note) > 500:
        raise Invalid("error_too_long", field="body")
    if draft.visibility not in VISIBILITIES:
        raise Invalid("error_choice", field="visibility")
    if draft.category_id and session.get(BusinessCategory, draft.category_id) is None:
        raise Invalid("error_choice", field="category")
    return title, body, parse_tags(draft.tags)


def _set_shares(session: Session, row: KbArticle, companies: Iterable[str]) -> None:
    wanted = {c.strip() for c in companies if c.strip() and c.strip() != row.company}
    if row.visibility != "shared":
        wanted = set()
    session.execute(sa.delete(KbShare).where(KbShare.article_id == row.id))
    session.add_all(KbShare(article_id=row.id, company=c) for c in sorted(wanted))


def _reindex(session: Session, row: KbArticle, version: KbVersion | None) -> None:
    """Rewrite the article's search terms and cross-links (published text only)."""
    session.execute(sa.delete(KbTerm).where(KbTerm.article_id == row.id))
    session.execute(sa.delete(KbLink).where(KbLink.article_id == row.id))
    if version is None:
        return
    weights = document_terms(version.title, plain_text(version.body), version.tags or [])
    if weights:
        session.execute(
            sa.insert(KbTerm.metadata.tables["kb_terms"]),
            [{"term": t, "article_id": row.id, "weight": w} for t, w in weights.items()],
        )
    links = cross_links(version.body)
    if links:
        session.execute(
            sa.insert(KbLink.metadata.tables["kb_links"]),
            [{"article_id": row.id, "target_slug": s} for s in links],
        )


def _publish(session: Session, row: KbArticle, version: KbVersion) -> None:
    now = utcnow()
    row.published_version = version.version
    row.published_at = now
    row.status = "published"
    row.title = version.title
    row.category_id = version.category_id
    row.tags = list(version.tags or [])
    row.updated_at = now
    _reindex(session, row, version)


def _state(row: KbArticle) -> dict[str, Any]:
    return {
        "status": row.status,
        "current_version": row.current_version,
        "published_version": row.published_version,
        "visibility": row.visibility,
        "company": row.company,
    }


def save_article(
    sessions: sessionmaker[Session], user: WebUser, draft: Draft, *, publish: bool
) -> tuple[str, int]:
    """Create an article or save a new version of one (``draft.slug`` + ``base_version``);
    ``publish`` makes that version the one readers see. Returns ``(slug, version)``.

    ``base_version`` is the version the editor started from: if someone saved in the
    meantime the save is refused (``kb_error_conflict``) instead of overwriting."""
    with sessions.begin() as session:
        title, body, tags = _checked(session, user, draft)
        now = utcnow()
        if draft.base_version is None:  # a new article
            company = user.region if user.region is not None else draft.company.strip() or None
            if not can_write(user, company):
                raise Refused("company", company=company or "*")
            slug = draft.slug.strip().lower() or _auto_slug(session, title)
            if not SLUG.match(slug):
                raise Invalid("kb_error_slug")
            if session.scalar(sa.select(KbArticle.id).where(KbArticle.slug == slug)):
                raise Invalid("kb_error_slug_taken")
            row = KbArticle(
                slug=slug,
                title=title,
                category_id=draft.category_id or None,
                tags=tags,
                company=company,
                visibility=draft.visibility,
                status="draft",
                current_version=0,
                published_version=None,
                created_by=user.agent_id,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            before: dict[str, Any] | None = None
        else:
            row = _article(session, draft.slug)
            _check_write(user, row)
            if row.current_version != draft.base_version:
                raise Invalid("kb_error_conflict", current=row.current_version)
            before = _state(row)
            row.visibility = draft.visibility
            if user.region is None:
                row.company = draft.company.strip() or None
        _set_shares(session, row, draft.shared_with)
        version = KbVersion(
            article_id=row.id,
            version=row.current_version + 1,
            title=title,
            body=body,
            category_id=draft.category_id or None,
            tags=tags,
            author=user.agent_id,
            note=draft.note.strip(),
            created_at=now,
        )
        session.add(version)
        row.current_version = version.version
        row.updated_at = now
        if row.status == "draft":  # never published: listings show the latest draft
            row.title, row.category_id, row.tags = title, version.category_id, tags
        session.flush()
        if publish:
            _publish(session, row, version)
        audit.record(
            session,
            actor=user.agent_id,
            action="create" if before is None else "update",
            entity="kb_article",
            entity_id=row.slug,
            before=before,
            after={**_state(row), "title": title, "saved_version": version.version},
        )
        return row.slug, version.version


def publish_version(
    sessions: sessionmaker[Session], user: WebUser, slug: str, version: int
) -> None:
    """Make ``version`` the text readers see (also un-archives)."""
    with sessions.begin() as session:
        row = _article(session, slug)
        _check_write(user, row)
        before = _state(row)
        _publish(session, row, _version(session, row.id, version))
        audit.record(
            session,
            actor=user.agent_id,
            action="publish",
            entity="kb_article",
            entity_id=slug,
            before=before,
            after=_state(row),
        )


def archive_article(sessions: sessionmaker[Session], user: WebUser, slug: str) -> None:
    """Take the article off the search and the readers' pages (history is kept)."""
    with sessions.begin() as session:
        row = _article(session, slug)
        _check_write(user, row)
        before = _state(row)
        row.status = "archived"
        row.updated_at = utcnow()
        _reindex(session, row, None)
        audit.record(
            session,
            actor=user.agent_id,
            action="archive",
            entity="kb_article",
            entity_id=slug,
            before=before,
            after=_state(row),
        )


def restore_version(sessions: sessionmaker[Session], user: WebUser, slug: str, version: int) -> int:
    """Save a copy of an old version as the newest one (published at once if the
    article is published). Returns the new version number."""
    with sessions.begin() as session:
        row = _article(session, slug)
        _check_write(user, row)
        old = _version(session, row.id, version)
        before = _state(row)
        copy = KbVersion(
            article_id=row.id,
            version=row.current_version + 1,
            title=old.title,
            body=old.body,
            category_id=old.category_id,
            tags=list(old.tags or []),
            author=user.agent_id,
            note=f"restored v{version}",
            created_at=utcnow(),
        )
        session.add(copy)
        row.current_version = copy.version
        row.updated_at = copy.created_at
        session.flush()
        if row.status == "published":
            _publish(session, row, copy)
        elif row.status == "draft":
            row.title, row.category_id, row.tags = copy.title, copy.category_id, copy.tags
        audit.record(
            session,
            actor=user.agent_id,
            action="restore",
            entity="kb_article",
            entity_id=slug,
            before=before,
            after={**_state(row), "restored": version},
        )
        return copy.version


# --- history and diff ------------------------------------------------------------------------


def history(
    sessions: sessionmaker[Session], user: WebUser, slug: str
) -> tuple[ArticleView, list[VersionView]]:
    article = get_article(sessions, user, slug, version=None, log=False)
    if not article.writable:
        raise Refused("role", article=slug)
    with sessions() as session:
        rows = session.scalars(
            sa.select(KbVersion)
            .where(KbVersion.article_id == article.article_id)
            .order_by(KbVersion.version.desc())
        )
        return article, [_version_view(r) for r in rows]


@dataclass(frozen=True, slots=True)
class DiffLine:
    op: str  # " " unchanged, "-" removed, "+" added, "…" skipped unchanged lines
    old_no: int | None
    new_no: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Diff:
    old: VersionView
    new: VersionView
    fields: list[tuple[str, str, str]]
    lines: list[DiffLine]
    added: int
    removed: int


def diff_lines(old: str, new: str, context: int = 3) -> list[DiffLine]:
    a, b = old.split("\n"), new.split("\n")
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            span = i2 - i1
            if span > 2 * context + 1:
                head = range(i1, i1 + context) if i1 > 0 else range(0)
                tail = range(i2 - context, i2) if i2 < len(a) else range(0)
                for i in head:
                    out.append(DiffLine(" ", i + 1, j1 + i - i1 + 1, a[i]))
                out.append(DiffLine("…", None, None, f"{span - len(head) - len(tail)}"))
                for i in tail:
                    out.append(DiffLine(" ", i + 1, j1 + i - i1 + 1, a[i]))
            else:
                out.extend(DiffLine(" ", i + 1, j1 + i - i1 + 1, a[i]) for i in range(i1, i2))
            continue
        out.extend(DiffLine("-", i + 1, None, a[i]) for i in range(i1, i2))
        out.extend(DiffLine("+", None, j + 1, b[j]) for j in range(j1, j2))
    return out


def diff_versions(
    sessions: sessionmaker[Session], user: WebUser, slug: str, old_no: int, new_no: int
) -> Diff:
    with sessions() as session:
        row = _readable(session, user, slug)
        if not can_write(user, row.company):
            raise Refused("role", article=slug)
        old = _version_view(_version(session, row.id, old_no))
        new = _version_view(_version(session, row.id, new_no))
    fields = [
        (name, str(x), str(y))
        for name, x, y in (
            ("kb_title_field", old.title, new.title),
            ("kb_category", old.category_id or "", new.category_id or ""),
            ("kb_tags", ", ".join(old.tags), ", ".join(new.tags)),
        )
        if x != y
    ]
    lines = diff_lines(old.body, new.body)
    return Diff(
        old,
        new,
        fields,
        lines,
        added=sum(1 for x in lines if x.op == "+"),
        removed=sum(1 for x in lines if x.op == "-"),
    )


# --- search and browsing ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    slug: str
    title: Markup
    snippet: Markup
    category_id: str | None
    tags: list[str]
    company: str | None
    published_at: dt.datetime | None
    matched: int
    score: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    terms: list[str]
    hits: list[Hit]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _category_ids(session: Session, root: str) -> list[str]:
    children: dict[str, list[str]] = {}
    for cid, parent in session.execute(sa.select(BusinessCategory.id, BusinessCategory.parent_id)):
        if parent is not None:
            children.setdefault(parent, []).append(cid)
    found, todo = [], [root]
    while todo:
        node = todo.pop()
        found.append(node)
        todo.extend(children.get(node, []))
    return found


def search(
    sessions: sessionmaker[Session],
    user: WebUser,
    query: str,
    *,
    category: str = "",
    page: int = 1,
    size: int = SEARCH_PAGE,
    log: bool = True,
) -> SearchResult:
    """Ranked keyword search over the published articles the user may read: articles
    matching more distinct query terms first, then by the terms' weights (title >
    tags > body) times their rarity. Logged (page 1) with the number of results."""
    page = max(1, page)
    terms = query_terms(query)
    with sessions.begin() as session:
        hits: list[Hit] = []
        total = 0
        if terms:
            need = min_matches(len(terms))
            df = dict(
                session.execute(
                    sa.select(KbTerm.term, sa.func.count())
                    .where(KbTerm.term.in_(terms))
                    .group_by(KbTerm.term)
                ).all()
            )
            # N for the rarity weight: the highest article id is an index read and
            # close enough (a count of the published articles would scan them)
            docs = session.scalar(sa.select(sa.func.max(KbArticle.id))) or 1
            if len(df) >= need:
                idf = {t: round(math.log(1 + max(docs, n) / n), 4) for t, n in df.items()}
                # aggregate the postings first (one range read per term), then apply
                # visibility and category to the candidate articles only
                matched = sa.func.count().label("matched")
                score = sa.func.sum(
                    KbTerm.weight * sa.case(idf, value=KbTerm.term, else_=0.0)
                ).label("score")
                candidates = (
                    sa.select(KbTerm.article_id, matched, score)
                    .where(KbTerm.term.in_(list(df)))
                    .group_by(KbTerm.article_id)
                    .having(sa.func.count() >= need)
                    .subquery()
                )
                where: list[Any] = [KbArticle.status == "published", visible_clause(user)]
                if category:
                    where.append(KbArticle.category_id.in_(_category_ids(session, category)))
                rows = session.execute(
                    sa.select(
                        candidates.c.article_id,
                        candidates.c.matched,
                        candidates.c.score,
                        sa.func.count().over().label("total"),
                    )
                    .join(KbArticle, KbArticle.id == candidates.c.article_id)
                    .where(*where)
                    .order_by(
                        candidates.c.matched.desc(),
                        candidates.c.score.desc(),
                        candidates.c.article_id.desc(),
                    )
                    .limit(size)
                    .offset((page - 1) * size)
                ).all()
                total = rows[0].total if rows else 0
                hits = _hits(session, terms, [(r.article_id, r.matched, r.score) for r in rows])
        if log and page == 1 and query.strip():
            _log(session, user, "search", query=query.strip(), result_count=total)
        return SearchResult(query, terms, hits, total, page, size)


def _hits(session: Session, terms: list[str], ranked: list[tuple[int, int, float]]) -> list[Hit]:
    if not ranked:
        return []
    ids = [r[0] for r in ranked]
    found = {
        row.id: row
        for row in session.execute(
            sa.select(
                KbArticle.id,
                KbArticle.slug,
                KbArticle.title,
                KbArticle.category_id,
                KbArticle.tags,
                KbArticle.company,
                KbArticle.published_at,
                KbVersion.body,
            )
            .join(
                KbVersion,
                sa.and_(
                    KbVersion.article_id == KbArticle.id,
                    KbVersion.version == KbArticle.published_version,
                ),
            )
            .where(KbArticle.id.in_(ids))
        )
    }
    hits = []
    for article_id, matched, score in ranked:
        if article_id not in found:
            continue
        a = found[article_id]
        hits.append(
            Hit(
                slug=a.slug,
                title=highlight(a.title, terms),
                snippet=snippet(plain_text(a.body), terms),
                category_id=a.category_id,
                tags=list(a.tags or []),
                company=a.company,
                published_at=a.published_at,
                matched=int(matched),
                score=float(score or 0),
            )
        )
    return hits


@dataclass(frozen=True, slots=True)
class ListedArticle:
    slug: str
    title: str
    category_id: str | None
    status: str
    company: str | None
    visibility: str
    current_version: int
    published_version: int | None
    updated_at: dt.datetime


def browse(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    category: str = "",
    page: int = 1,
    size: int = 50,
    unpublished: bool = False,
) -> Page[ListedArticle]:
    """Published articles (or, for writers, ``unpublished`` drafts and archived ones of
    their companies) by title."""
    page = max(1, page)
    with sessions() as session:
        where: list[Any] = [visible_clause(user)]
        if unpublished:
            where.append(KbArticle.status != "published")
            if user.region is not None:
                where.append(KbArticle.company == user.region)
        else:
            where.append(KbArticle.status == "published")
        if category:
            where.append(KbArticle.category_id.in_(_category_ids(session, category)))
        total = session.scalar(sa.select(sa.func.count()).select_from(KbArticle).where(*where)) or 0
        rows = session.scalars(
            sa.select(KbArticle)
            .where(*where)
            .order_by(KbArticle.category_id, KbArticle.title, KbArticle.id)
            .limit(size)
            .offset((page - 1) * size)
        )
        return Page(
            [
                ListedArticle(
                    r.slug,
                    r.title,
                    r.category_id,
                    r.status,
                    r.company,
                    r.visibility,
                    r.current_version,
                    r.published_version,
                    r.updated_at,
                )
                for r in rows
            ],
            total,
            page,
            size,
        )


def companies(sessions: sessionmaker[Session]) -> list[str]:
    """The branch companies (the regions of the accounts) for the editor's choices."""
    with sessions() as session:
        return list(
            session.scalars(
                sa.select(Agent.region)
                .where(Agent.region.is_not(None))
                .distinct()
                .order_by(Agent.region)
            )
        )


def editor_values(sessions: sessionmaker[Session], user: WebUser, slug: str) -> dict[str, Any]:
    """The editor form filled from the article's newest version."""
    with sessions() as session:
        row = _article(session, slug)
        _check_write(user, row)
        latest = _version(session, row.id, row.current_version)
        return {
            "slug": row.slug,
            "title": latest.title,
            "body": latest.body,
            "category_id": latest.category_id or "",
            "tags": ", ".join(latest.tags or []),
            "visibility": row.visibility,
            "company": row.company or "",
            "shared_with": _shared_with(session, row.id),
            "note": "",
            "base_version": str(row.current_version),
            "status": row.status,
            "published_version": row.published_version,
        }


# --- usage analytics and the query log --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Analytics:
    date_from: dt.date
    date_to: dt.date
    views: int
    searches: int
    empty_searches: int
    top_articles: list[tuple[str, str, int]]
    top_queries: list[tuple[str, int]]
    empty_queries: list[tuple[str, int]]
    per_day: list[tuple[str, int, int, int]]  # day, views, searches, searches without results


def _event_scope(user: WebUser, date_from: dt.date, date_to: dt.date) -> list[Any]:
    where: list[Any] = [KbEvent.day >= date_from.isoformat(), KbEvent.day <= date_to.isoformat()]
    if user.region is not None:  # a regional team lead sees their region's agents
        where.append(KbEvent.agent_id.in_(sa.select(Agent.id).where(Agent.region == user.region)))
    return where


def analytics(
    sessions: sessionmaker[Session],
    user: WebUser,
    date_from: dt.date,
    date_to: dt.date,
    *,
    top: int = 20,
) -> Analytics:
    """Usage frequency between two UTC days (inclusive)."""
    if date_to < date_from:
        raise Invalid("error_date")
    where = _event_scope(user, date_from, date_to)
    views_where = [*where, KbEvent.kind == "view"]
    search_where = [*where, KbEvent.kind == "search"]
    empty_where = [*search_where, KbEvent.result_count == 0]
    count = sa.func.count().label("n")
    with sessions() as session:

        def total(conditions: list[Any]) -> int:
            return int(
                session.scalar(sa.select(sa.func.count()).select_from(KbEvent).where(*conditions))
                or 0
            )

        top_articles = [
            (slug, title, int(n))
            for slug, title, n in session.execute(
                sa.select(KbArticle.slug, KbArticle.title, count)
                .select_from(KbEvent)
                .join(KbArticle, KbArticle.id == KbEvent.article_id)
                .where(*views_where)
                .group_by(KbArticle.slug, KbArticle.title)
                .order_by(count.desc(), KbArticle.slug)
                .limit(top)
            )
        ]

        def queries(conditions: list[Any]) -> list[tuple[str, int]]:
            return [
                (q, int(n))
                for q, n in session.execute(
                    sa.select(KbEvent.query_norm, count)
                    .where(*conditions)
                    .group_by(KbEvent.query_norm)
                    .order_by(count.desc(), KbEvent.query_norm)
                    .limit(top)
                )
            ]

        kinds: dict[str, dict[str, int]] = {}
        for day, kind, n in session.execute(
            sa.select(KbEvent.day, KbEvent.kind, count)
            .where(*where)
            .group_by(KbEvent.day, KbEvent.kind)
        ):
            kinds.setdefault(day, {"view": 0, "search": 0, "empty": 0})[kind] = int(n)
        for day, n in session.execute(
            sa.select(KbEvent.day, count).where(*empty_where).group_by(KbEvent.day)
        ):
            kinds.setdefault(day, {"view": 0, "search": 0, "empty": 0})["empty"] = int(n)
        return Analytics(
            date_from=date_from,
            date_to=date_to,
            views=total(views_where),
            searches=total(search_where),
            empty_searches=total(empty_where),
            top_articles=top_articles,
            top_queries=queries(search_where),
            empty_queries=queries(empty_where),
            per_day=[(day, v["view"], v["search"], v["empty"]) for day, v in sorted(kinds.items())],
        )


@dataclass(frozen=True, slots=True)
class LogRow:
    at: dt.datetime
    kind: str
    agent_id: str
    query: str
    result_count: int | None
    slug: str | None
    title: str | None


def query_log(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    agent: str = "",
    kind: str = "",
    page: int = 1,
    size: int = 50,
) -> Page[LogRow]:
    """Every logged view and search, newest first."""
    page = max(1, page)
    where = _event_scope(user, dt.date(1970, 1, 1), dt.date(9999, 12, 31))
    if agent:
        where.append(KbEvent.agent_id == agent)
    if kind in ("view", "search"):
        where.append(KbEvent.kind == kind)
    with sessions() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(KbEvent).where(*where)) or 0
        rows = session.execute(
            sa.select(KbEvent, KbArticle.slug, KbArticle.title)
            .outerjoin(KbArticle, KbArticle.id == KbEvent.article_id)
            .where(*where)
            .order_by(KbEvent.at.desc(), KbEvent.id.desc())
            .limit(size)
            .offset((page - 1) * size)
        )
        return Page(
            [
                LogRow(e.at, e.kind, e.agent_id, e.query, e.result_count, slug, title)
                for e, slug, title in rows
            ],
            total,
            page,
            size,
        )


# --- demo / bulk loading ------------------------------------------------------------------------


def load_articles(
    session: Session, articles: Iterable[Mapping[str, Any]], *, author: str = "system"
) -> int:
    """Add published articles (``slug``, ``title``, ``body``, optional ``category_id``,
    ``tags``, ``company``, ``visibility``, ``shared_with``); slugs that exist are kept as
    they are. Returns how many were added."""
    added = 0
    now = utcnow()
    for item in articles:
        if session.scalar(sa.select(KbArticle.id).where(KbArticle.slug == item["slug"])):
            continue
        row = KbArticle(
            slug=item["slug"],
            title=item["title"],
            category_id=item.get("category_id"),
            tags=list(item.get("tags", [])),
            company=item.get("company"),
            visibility=item.get("visibility", "all"),
            status="draft",
            current_version=1,
            published_version=None,
            created_by=author,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        version = KbVersion(
            article_id=row.id,
            version=1,
            title=item["title"],
            body=item["body"],
            category_id=item.get("category_id"),
            tags=list(item.get("tags", [])),
            author=author,
            note="",
            created_at=now,
        )
        session.add(version)
        _set_shares(session, row, item.get("shared_with", []))
        session.flush()
        _publish(session, row, version)
        added += 1
    return added
