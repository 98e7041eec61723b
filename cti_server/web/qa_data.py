"""QA scorecards (R-SUP-3): configurable scorecards, calls scored against them with an
append-only history, comments, and the agent QA report.

**Scoring.** A scorecard has criteria in sections; each has a weight ``w`` (> 0), a
maximum ``m`` (1-100 points) and may be *critical*. An evaluator gives every active
criterion ``p`` points (0 … ``m``) or marks it not applicable. The score is

    score = 100 × Σ w·p/m  /  Σ w        (over the applicable criteria)

rounded to two places; a critical criterion given 0 points fails the whole evaluation:
score 0, ``critical_failed``. Section scores use the same formula over the section's
criteria (without the critical rule). Evaluations copy the criteria they were scored
against, so later scorecard edits do not change past scores.

**History.** One evaluation per call and scorecard; scoring again appends a version
(``qa_evaluation_versions``: who, when, why, the items and the result) and moves the
evaluation's current score; nothing is updated in place or deleted. Comments are
appended. Every change is audited in the same transaction.

**Report.** Per agent and period (day / ISO week / month of the call's arrival in the
page's time zone): number of evaluations, average of their current scores, critical
fails; and per agent and criterion the average percentage of the maximum over the
evaluations where it applied. Regional team leads see only their region's calls.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import audit
from cti_server.store.models import (
    Agent,
    Call,
    QaComment,
    QaCriterion,
    QaEvaluation,
    QaEvaluationVersion,
    QaScorecard,
    Role,
    utcnow,
)

from .data import Invalid, Refused, WebUser
from .recordings_data import LEADS, _region_clause, check_call

MAX_WEIGHT = 1000.0
MAX_POINTS = 100
MAX_TEXT = 2000
PERIODS = ("day", "week", "month")


def _admin(user: WebUser) -> None:
    if user.role is not Role.ADMIN:
        raise Refused("role", role=user.role.value)


def _lead(user: WebUser) -> None:
    if user.role not in LEADS:
        raise Refused("role", role=user.role.value)


def _text(value: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise Invalid("error_required")
    if len(value) > limit:
        raise Invalid("error_too_long")
    return value


# --- scoring maths --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    score: float
    critical_failed: bool
    sections: dict[str, float | None]


def compute_score(items: Sequence[Mapping[str, Any]]) -> Result:
    """The score of ``items`` (``weight``, ``max_points``, ``critical``, ``section``,
    ``points`` = int or ``None`` for not applicable); see the module text."""
    total_w = 0.0
    earned = 0.0
    failed = False
    sec_w: dict[str, float] = defaultdict(float)
    sec_e: dict[str, float] = defaultdict(float)
    order: list[str] = []
    for item in items:
        section = str(item.get("section", ""))
        if section not in order:
            order.append(section)
        points = item["points"]
        if points is None:
            continue
        weight, most = float(item["weight"]), int(item["max_points"])
        part = weight * points / most
        total_w += weight
        earned += part
        sec_w[section] += weight
        sec_e[section] += part
        if item.get("critical") and points == 0:
            failed = True
    if total_w == 0:
        raise Invalid("qa_error_nothing_scored")
    sections = {s: (round(100 * sec_e[s] / sec_w[s], 2) if sec_w[s] else None) for s in order}
    score = 0.0 if failed else round(100 * earned / total_w, 2)
    return Result(score, failed, sections)


# --- scorecards -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CriterionView:
    id: int
    section: str
    label: str
    weight: float
    max_points: int
    critical: bool
    position: int
    active: bool


@dataclass(frozen=True, slots=True)
class ScorecardView:
    id: int
    name: str
    description: str
    active: bool
    criteria: list[CriterionView] = field(default_factory=list)

    @property
    def active_criteria(self) -> list[CriterionView]:
        return [c for c in self.criteria if c.active]

    @property
    def sections(self) -> list[tuple[str, list[CriterionView]]]:
        grouped: dict[str, list[CriterionView]] = {}
        for c in self.active_criteria:
            grouped.setdefault(c.section, []).append(c)
        return list(grouped.items())


def _view(session: Session, card: QaScorecard) -> ScorecardView:
    criteria = session.scalars(
        sa.select(QaCriterion)
        .where(QaCriterion.scorecard_id == card.id)
        .order_by(QaCriterion.position, QaCriterion.id)
    ).all()
    return ScorecardView(
        card.id,
        card.name,
        card.description,
        card.active,
        [
            CriterionView(
                c.id, c.section, c.label, c.weight, c.max_points, c.critical, c.position, c.active
            )
            for c in criteria
        ],
    )


def list_scorecards(
    sessions: sessionmaker[Session], *, active_only: bool = False
) -> list[ScorecardView]:
    with sessions() as session:
        query = sa.select(QaScorecard).order_by(QaScorecard.name)
        if active_only:
            query = query.where(QaScorecard.active.is_(True))
        return [_view(session, card) for card in session.scalars(query)]


def get_scorecard(sessions: sessionmaker[Session], scorecard_id: int) -> ScorecardView:
    with sessions() as session:
        card = session.get(QaScorecard, scorecard_id)
        if card is None:
            raise LookupError(scorecard_id)
        return _view(session, card)


def save_scorecard(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    scorecard_id: int | None,
    name: str,
    description: str,
    active: bool = True,
) -> int:
    """Create (``scorecard_id`` None) or change a scorecard's name, text, active flag."""
    _admin(user)
    name = _text(name, 100)
    description = _text(description, MAX_TEXT, required=False)
    try:
        with sessions.begin() as session:
            if scorecard_id is None:
                card = QaScorecard(
                    name=name,
                    description=description,
                    active=active,
                    created_by=user.agent_id,
                    created_at=utcnow(),
                )
                session.add(card)
                session.flush()
                before = None
            else:
                found = session.get(QaScorecard, scorecard_id)
                if found is None:
                    raise LookupError(scorecard_id)
                card = found
                before = {"name": card.name, "description": card.description, "active": card.active}
                card.name, card.description, card.active = name, description, active
                session.flush()
            audit.record(
                session,
                actor=user.agent_id,
                action="create" if before is None else "update",
                entity="qa_scorecard",
                entity_id=str(card.id),
                before=before,
                after={"name": name, "description": description, "active": active},
            )
            return card.id
    except IntegrityError:
        raise Invalid("qa_error_name_taken") from None


def _number(text: str, *, low: float, high: float, integer: bool) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise Invalid("qa_error_number") from None
    if not low <= value <= high or value != value:  # noqa: PLR0124 (NaN)
        raise Invalid("qa_error_number")
    return value


def save_criterion(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    scorecard_id: int,
    criterion_id: int | None,
    section: str,
    label: str,
    weight: str,
    max_points: str,
    critical: bool,
    position: str = "",
    active: bool = True,
) -> int:
    """Add or change a criterion (weights > 0, 1-100 points); audited."""
    _admin(user)
    values: dict[str, Any] = {
        "section": _text(section, 100),
        "label": _text(label, 200),
        "weight": _number(weight, low=0.01, high=MAX_WEIGHT, integer=False),
        "max_points": int(_number(max_points, low=1, high=MAX_POINTS, integer=True)),
        "critical": critical,
        "active": active,
    }
    with sessions.begin() as session:
        if session.get(QaScorecard, scorecard_id) is None:
            raise LookupError(scorecard_id)
        if position.strip():
            values["position"] = int(_number(position, low=0, high=10_000, integer=True))
        if criterion_id is None:
            if "position" not in values:
                last = session.scalar(
                    sa.select(sa.func.max(QaCriterion.position)).where(
                        QaCriterion.scorecard_id == scorecard_id
                    )
                )
                values["position"] = (last or 0) + 10
            row = QaCriterion(scorecard_id=scorecard_id, **values)
            session.add(row)
            session.flush()
            before = None
        else:
            found = session.get(QaCriterion, criterion_id)
            if found is None or found.scorecard_id != scorecard_id:
                raise LookupError(criterion_id)
            row = found
            before = {k: getattr(row, k) for k in values}
            for key, value in values.items():
                setattr(row, key, value)
            session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="create" if before is None else "update",
            entity="qa_criterion",
            entity_id=str(row.id),
            before=before,
            after={"scorecard_id": scorecard_id, **values},
        )
        return row.id


# --- evaluations ----------------------------------------------------------------------------


def score_call(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    call_id: str,
    scorecard_id: int,
    points: Mapping[int, str],
    reason: str = "",
    comment: str = "",
) -> int:
    """Score ``call_id`` against the scorecard's active criteria: ``points`` maps every
    criterion id to a whole number 0…max or ``"na"``. The first scoring creates the
    evaluation, later ones append a version (``reason`` required then). Of two people
    scoring the same call at once, one wins; the other is asked to reload."""
    try:
        return _score_call(
            sessions,
            user,
            call_id=call_id,
            scorecard_id=scorecard_id,
            points=points,
            reason=reason,
            comment=comment,
        )
    except IntegrityError:  # both created the evaluation (unique call × scorecard)
        raise Invalid("qa_error_concurrent") from None


def _score_call(
    sessions: sessionmaker[Session],
    user: WebUser,
    *,
    call_id: str,
    scorecard_id: int,
    points: Mapping[int, str],
    reason: str = "",
    comment: str = "",
) -> int:
    """Score ``call_id`` against the scorecard's active criteria: ``points`` maps every
    criterion id to a whole number 0…max or ``"na"``. The first scoring creates the
    evaluation, later ones append a version (``reason`` required then)."""
    _lead(user)
    reason = _text(reason, MAX_TEXT, required=False)
    comment = _text(comment, MAX_TEXT, required=False)
    with sessions.begin() as session:
        call = check_call(session, user, call_id)
        if not call.agent_id:
            raise Invalid("qa_error_no_agent")
        card = session.get(QaScorecard, scorecard_id)
        if card is None:
            raise LookupError(scorecard_id)
        view = _view(session, card)
        items: list[dict[str, Any]] = []
        for c in view.active_criteria:
            raw = points.get(c.id, "").strip().lower()
            if raw == "":
                raise Invalid("qa_error_all_criteria")
            given: int | None
            if raw == "na":
                given = None
            else:
                given = int(_number(raw, low=0, high=c.max_points, integer=True))
            items.append(
                {
                    "criterion_id": c.id,
                    "section": c.section,
                    "label": c.label,
                    "weight": c.weight,
                    "max_points": c.max_points,
                    "critical": c.critical,
                    "points": given,
                }
            )
        result = compute_score(items)
        evaluation = session.scalar(
            sa.select(QaEvaluation)
            .where(QaEvaluation.call_id == call_id, QaEvaluation.scorecard_id == scorecard_id)
            .with_for_update()
        )
        now = utcnow()
        if evaluation is None:
            if not card.active:
                raise Invalid("qa_error_inactive")
            evaluation = QaEvaluation(
                call_id=call_id,
                agent_id=call.agent_id,
                scorecard_id=scorecard_id,
                call_at=call.arrived_at,
                version=1,
                score=result.score,
                critical_failed=result.critical_failed,
                created_by=user.agent_id,
                created_at=now,
                updated_at=now,
            )
            session.add(evaluation)
            session.flush()
            before = None
        else:
            if not reason:
                raise Invalid("qa_error_reason")
            before = {"version": evaluation.version, "score": evaluation.score}
            # compare-and-set: of two concurrent re-scores one wins, the other retries
            moved = session.execute(
                sa.update(QaEvaluation)
                .where(
                    QaEvaluation.id == evaluation.id,
                    QaEvaluation.version == evaluation.version,
                )
                .values(
                    version=evaluation.version + 1,
                    score=result.score,
                    critical_failed=result.critical_failed,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if cast("sa.CursorResult[Any]", moved).rowcount != 1:
                raise Invalid("qa_error_concurrent")
            session.refresh(evaluation)
        session.add(
            QaEvaluationVersion(
                evaluation_id=evaluation.id,
                version=evaluation.version,
                score=result.score,
                critical_failed=result.critical_failed,
                items=items,
                reason=reason,
                scored_by=user.agent_id,
                scored_at=now,
            )
        )
        if comment:
            session.add(
                QaComment(evaluation_id=evaluation.id, author=user.agent_id, text=comment, at=now)
            )
        audit.record(
            session,
            actor=user.agent_id,
            action="qa_score",
            entity="qa_evaluation",
            entity_id=str(evaluation.id),
            before=before,
            after={
                "call_id": call_id,
                "scorecard_id": scorecard_id,
                "version": evaluation.version,
                "score": result.score,
                "critical_failed": result.critical_failed,
                "reason": reason,
            },
        )
        return evaluation.id


def add_comment(
    sessions: sessionmaker[Session], user: WebUser, evaluation_id: int, text: str
) -> None:
    _lead(user)
    text = _text(text, MAX_TEXT)
    with sessions.begin() as session:
        evaluation = session.get(QaEvaluation, evaluation_id)
        if evaluation is None:
            raise LookupError(evaluation_id)
        check_call(session, user, evaluation.call_id)
        row = QaComment(evaluation_id=evaluation_id, author=user.agent_id, text=text, at=utcnow())
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=user.agent_id,
            action="qa_comment",
            entity="qa_evaluation",
            entity_id=str(evaluation_id),
            after={"comment_id": row.id, "text": text},
        )


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    score: float
    critical_failed: bool
    items: list[dict[str, Any]]
    sections: dict[str, float | None]
    reason: str
    scored_by: str
    scored_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CommentView:
    author: str
    text: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class EvaluationView:
    id: int
    call_id: str
    agent_id: str
    scorecard_id: int
    scorecard_name: str
    score: float
    critical_failed: bool
    version: int
    versions: list[VersionView]
    """Newest first."""
    comments: list[CommentView]

    def points_of(self, criterion_id: int) -> str:
        """The current points of a criterion as the form shows them."""
        for item in self.versions[0].items if self.versions else ():
            if item["criterion_id"] == criterion_id:
                return "na" if item["points"] is None else str(item["points"])
        return ""


def evaluation(
    sessions: sessionmaker[Session], user: WebUser, evaluation_id: int
) -> EvaluationView:
    _lead(user)
    with sessions() as session:
        row = session.get(QaEvaluation, evaluation_id)
        if row is None:
            raise LookupError(evaluation_id)
        check_call(session, user, row.call_id)
        return _evaluation_view(session, row)


def _evaluation_view(session: Session, row: QaEvaluation) -> EvaluationView:
    card = session.get(QaScorecard, row.scorecard_id)
    versions = [
        VersionView(
            v.version,
            v.score,
            v.critical_failed,
            list(v.items),
            compute_score(v.items).sections,
            v.reason,
            v.scored_by,
            v.scored_at,
        )
        for v in session.scalars(
            sa.select(QaEvaluationVersion)
            .where(QaEvaluationVersion.evaluation_id == row.id)
            .order_by(QaEvaluationVersion.version.desc())
        )
    ]
    comments = [
        CommentView(c.author, c.text, c.at)
        for c in session.scalars(
            sa.select(QaComment)
            .where(QaComment.evaluation_id == row.id)
            .order_by(QaComment.at, QaComment.id)
        )
    ]
    return EvaluationView(
        row.id,
        row.call_id,
        row.agent_id,
        row.scorecard_id,
        card.name if card else "",
        row.score,
        row.critical_failed,
        row.version,
        versions,
        comments,
    )


def evaluations_of_call(
    sessions: sessionmaker[Session], user: WebUser, call_id: str
) -> list[EvaluationView]:
    _lead(user)
    with sessions() as session:
        check_call(session, user, call_id)
        rows = session.scalars(
            sa.select(QaEvaluation)
            .where(QaEvaluation.call_id == call_id)
            .order_by(QaEvaluation.created_at, QaEvaluation.id)
        ).all()
        return [_evaluation_view(session, row) for row in rows]


# --- report ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportFilter:
    date_from: dt.date
    date_to: dt.date
    period: str = "month"
    scorecard_id: int | None = None
    agent: str = ""

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise Invalid("error_choice")
        if self.date_from > self.date_to:
            raise Invalid("rec_error_date_order")


@dataclass(frozen=True, slots=True)
class AgentPeriodRow:
    agent_id: str
    agent_name: str
    period: str
    evaluations: int
    average: float
    critical_fails: int


@dataclass(frozen=True, slots=True)
class CriterionRow:
    agent_id: str
    agent_name: str
    section: str
    label: str
    evaluations: int
    """Evaluations where the criterion applied."""
    average_pct: float


@dataclass(frozen=True, slots=True)
class QaReport:
    rows: list[AgentPeriodRow]
    criteria: list[CriterionRow]
    evaluations: int


def period_of(moment: dt.datetime, zone: dt.tzinfo, period: str) -> str:
    local = moment.astimezone(zone).date()
    if period == "day":
        return local.isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def qa_report(
    sessions: sessionmaker[Session], user: WebUser, flt: ReportFilter, zone: dt.tzinfo
) -> QaReport:
    _lead(user)
    start = dt.datetime.combine(flt.date_from, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(flt.date_to + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    where: list[sa.ColumnElement[bool]] = [
        QaEvaluation.call_at >= start.astimezone(dt.UTC),
        QaEvaluation.call_at < end.astimezone(dt.UTC),
        _region_clause(user),
    ]
    if flt.scorecard_id is not None:
        where.append(QaEvaluation.scorecard_id == flt.scorecard_id)
    if flt.agent:
        where.append(QaEvaluation.agent_id == flt.agent)
    with sessions() as session:
        found = session.execute(
            sa.select(QaEvaluation, QaEvaluationVersion.items, Agent.name)
            .join(Call, Call.id == QaEvaluation.call_id)
            .join(
                QaEvaluationVersion,
                sa.and_(
                    QaEvaluationVersion.evaluation_id == QaEvaluation.id,
                    QaEvaluationVersion.version == QaEvaluation.version,
                ),
            )
            .outerjoin(Agent, Agent.id == QaEvaluation.agent_id)
            .where(*where)
            .order_by(QaEvaluation.agent_id, QaEvaluation.call_at)
        ).all()
    groups: dict[tuple[str, str], list[QaEvaluation]] = defaultdict(list)
    names: dict[str, str] = {}
    crit: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    crit_order: list[tuple[str, str, str]] = []
    for ev, items, name in found:
        names[ev.agent_id] = name or ""
        groups[(ev.agent_id, period_of(ev.call_at, zone, flt.period))].append(ev)
        for item in items:
            if item["points"] is None:
                continue
            key = (ev.agent_id, str(item["section"]), str(item["label"]))
            if key not in crit:
                crit_order.append(key)
            crit[key].append(100.0 * item["points"] / item["max_points"])
    rows = [
        AgentPeriodRow(
            agent,
            names[agent],
            period,
            len(evs),
            round(sum(e.score for e in evs) / len(evs), 2),
            sum(1 for e in evs if e.critical_failed),
        )
        for (agent, period), evs in sorted(groups.items())
    ]
    criteria = [
        CriterionRow(
            a,
            names[a],
            s,
            lbl,
            len(crit[(a, s, lbl)]),
            round(sum(crit[(a, s, lbl)]) / len(crit[(a, s, lbl)]), 2),
        )
        for a, s, lbl in sorted(crit_order, key=lambda k: (k[0], crit_order.index(k)))
    ]
    return QaReport(rows, criteria, len(found))
