"""Outbound campaigns (issue 9): definitions, call-guide scripts, questionnaires with
branching, attempts with their answers, and per-campaign statistics.

* **Campaign** — name, classification, target list, dial mode (+ power ratio), abandon
  ceiling and a strategy stored as JSON. The JSON is validated by *building* the dialling
  core's :class:`~cti_server.outbound.Strategy` / :class:`~cti_server.outbound.PacingConfig`
  (:func:`build_strategy`, :func:`build_pacing`); their ``OutboundConfigError`` becomes a
  field error of :class:`CampaignInvalid`.
* **Questionnaire** — ordered questions (``single``, ``multiple``, ``text``, ``number``,
  ``yes_no``). Each question goes on to ``next`` (a question id or ``"end"``; default the
  following question) unless ``branches`` maps its answer (an option, or ``"yes"``/``"no"``)
  elsewhere. :func:`validate_questions` refuses dangling targets, cycles and unreachable
  questions.
* **Script** — text sections with ``{field}`` placeholders filled from the target record
  (:func:`render_script`).
* **Attempts and answers** — :func:`record_attempt` and :func:`record_answers` are
  append-only; answers are checked against the questionnaire and must lie on the path the
  answers themselves select.
* **Statistics** — :func:`campaign_stats` from the stored attempts.

Every write is audited (``audit_log``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from cti_server.outbound import (
    CallingWindow,
    DialMode,
    OutboundConfigError,
    Outcome,
    PacingConfig,
    Strategy,
)
from cti_server.outbound.model import zone

from . import audit
from .errors import Conflict, NotFound, StoreError
from .models import (
    CmpAnswer,
    CmpAttempt,
    CmpCampaign,
    CmpQuestionnaire,
    CmpScript,
    ObTargetList,
    ObTargetRecord,
    utcnow,
)
from .outbound_lists import CLASSIFICATIONS, TARGET_FIELDS

STATES = ("draft", "active", "paused", "finished")
#: Allowed state changes (a finished campaign stays finished).
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "finished"}),
    "active": frozenset({"paused", "finished"}),
    "paused": frozenset({"active", "finished"}),
    "finished": frozenset(),
}
MODES = tuple(m.value for m in DialMode)
OUTCOMES = tuple(o.value for o in Outcome)
KINDS = ("single", "multiple", "text", "number", "yes_no")
END = "end"
MAX_QUESTIONS = 200
MAX_TEXT = 2000
_QID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class CampaignInvalid(StoreError, ValueError):
    """Bad campaign, script, questionnaire or answers: ``errors`` maps field -> problem."""

    code = "invalid"

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


# --- strategy JSON -> the dialling core's objects -----------------------------------------


def _window(data: Any, path: str) -> CallingWindow:
    if not isinstance(data, Mapping):
        raise OutboundConfigError(path, "a map of weekday -> [[HH:MM, HH:MM], ...]")
    weekly: dict[int | str, list[tuple[str, str]]] = {}
    for day, intervals in data.items():
        if day == "holidays":
            continue
        if not isinstance(intervals, list) or not all(
            isinstance(i, list | tuple) and len(i) == 2 for i in intervals
        ):
            raise OutboundConfigError(f"{path}.{day}", "a list of [start, end] pairs")
        weekly[str(day)] = [(str(a), str(b)) for a, b in intervals]
    holidays = set()
    for text in data.get("holidays", []) or []:
        try:
            holidays.add(dt.date.fromisoformat(str(text)))
        except ValueError:
            raise OutboundConfigError(f"{path}.holidays", f"not a date: {text!r}") from None
    try:
        return CallingWindow(weekly=weekly, holidays=frozenset(holidays))
    except OutboundConfigError as exc:
        raise OutboundConfigError(path, exc.message) from None


def _number(data: Mapping[str, Any], key: str, default: float, path: str = "") -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OutboundConfigError(path or key, "must be a number")
    return float(value)


def build_strategy(data: Any) -> Strategy:
    """The core's :class:`Strategy` for a campaign's strategy JSON (raises
    ``OutboundConfigError`` naming the field).

    Keys: ``window`` (weekday -> intervals, ``holidays``), ``region_windows`` (region ->
    window), ``region_zones`` (region -> IANA zone), ``max_attempts``, ``retry_after``
    (outcome -> seconds; outcomes left out keep the core's default), ``recycle_after``
    (seconds or null), ``max_recycles``, ``priority``, ``ring_timeout``, ``agent_group``,
    ``skill``.
    """
    if not isinstance(data, Mapping):
        raise OutboundConfigError("strategy", "must be a JSON object")
    known = {
        "window",
        "region_windows",
        "region_zones",
        "max_attempts",
        "retry_after",
        "recycle_after",
        "max_recycles",
        "priority",
        "ring_timeout",
        "agent_group",
        "skill",
    }
    for key in data:
        if key not in known:
            raise OutboundConfigError(str(key), "unknown setting")
    kwargs: dict[str, Any] = {}
    if "window" in data:
        kwargs["window"] = _window(data["window"], "window")
    regions = data.get("region_windows", {}) or {}
    if not isinstance(regions, Mapping):
        raise OutboundConfigError("region_windows", "a map of region -> window")
    kwargs["region_windows"] = {
        str(r): _window(w, f"region_windows.{r}") for r, w in regions.items()
    }
    zones = data.get("region_zones", {}) or {}
    if not isinstance(zones, Mapping):
        raise OutboundConfigError("region_zones", "a map of region -> time zone")
    for region, tz in zones.items():
        try:
            zone(str(tz))
        except OutboundConfigError:
            raise OutboundConfigError(
                f"region_zones.{region}", f"unknown time zone {tz!r}"
            ) from None
    for key in ("max_attempts", "max_recycles", "priority"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise OutboundConfigError(key, "must be a whole number")
            kwargs[key] = value
    if "retry_after" in data:
        retry = data["retry_after"]
        if not isinstance(retry, Mapping):
            raise OutboundConfigError("retry_after", "a map of outcome -> seconds")
        parsed = dict(Strategy().retry_after)  # unnamed outcomes keep the default
        for key in retry:
            try:
                outcome = Outcome(key)
            except ValueError:
                raise OutboundConfigError(f"retry_after.{key}", "unknown outcome") from None
            parsed[outcome] = _number(retry, key, 0.0, f"retry_after.{key}")
        kwargs["retry_after"] = parsed
    if data.get("recycle_after") is not None:
        kwargs["recycle_after"] = _number(data, "recycle_after", 0.0)
    if "ring_timeout" in data:
        kwargs["ring_timeout"] = _number(data, "ring_timeout", 25.0)
    for key in ("agent_group", "skill"):
        if not isinstance(data.get(key, ""), str):
            raise OutboundConfigError(key, "must be text")
    return Strategy(**kwargs)


def build_pacing(*, power_ratio: float, abandon_ceiling: float) -> PacingConfig:
    """The core's pacing settings (validated there)."""
    return PacingConfig(power_ratio=power_ratio, abandon_ceiling=abandon_ceiling)


# --- campaigns -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignView:
    id: int
    name: str
    classification: str
    list_id: int | None
    list_name: str
    dial_mode: str
    power_ratio: float
    abandon_ceiling: float
    strategy: dict[str, Any]
    state: str
    script_id: int | None
    questionnaire_id: int | None
    updated_at: dt.datetime


def _check_campaign(
    session: Session, values: Mapping[str, Any], own_id: int | None
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = str(values.get("name", "")).strip()
    if not name or len(name) > 200:
        errors["name"] = "a name of 1 to 200 characters"
    elif session.scalar(
        sa.select(CmpCampaign.id).where(CmpCampaign.name == name, CmpCampaign.id != (own_id or -1))
    ):
        errors["name"] = "another campaign has this name"
    classification = values.get("classification", "")
    if classification not in CLASSIFICATIONS:
        errors["classification"] = f"one of {', '.join(CLASSIFICATIONS)}"
    mode = values.get("dial_mode", "")
    if mode not in MODES:
        errors["dial_mode"] = f"one of {', '.join(MODES)}"
    list_id = values.get("list_id")
    if list_id is not None and session.get(ObTargetList, list_id) is None:
        errors["list_id"] = "no such target list"
    for key, model in (("script_id", CmpScript), ("questionnaire_id", CmpQuestionnaire)):
        ref = values.get(key)
        if ref is not None and session.get(model, ref) is None:
            errors[key] = "not found"
    power_ratio = values.get("power_ratio", 2.0)
    ceiling = values.get("abandon_ceiling", 0.03)
    try:
        build_pacing(power_ratio=float(power_ratio), abandon_ceiling=float(ceiling))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, OutboundConfigError):
            errors[exc.field] = exc.message
        else:
            errors["power_ratio"] = "must be a number"
    strategy = values.get("strategy", {})
    try:
        build_strategy(strategy)
    except OutboundConfigError as exc:
        errors[f"strategy.{exc.field}"] = exc.message
    if errors:
        raise CampaignInvalid(errors)
    return {
        "name": name,
        "classification": classification,
        "dial_mode": mode,
        "list_id": list_id,
        "script_id": values.get("script_id"),
        "questionnaire_id": values.get("questionnaire_id"),
        "power_ratio": float(power_ratio),
        "abandon_ceiling": float(ceiling),
        "strategy": dict(strategy),
    }


def _campaign_audit(row: CmpCampaign) -> dict[str, Any]:
    keys = (
        *("name", "classification", "list_id", "dial_mode", "power_ratio"),
        *("abandon_ceiling", "strategy", "state", "script_id", "questionnaire_id"),
    )
    return {k: getattr(row, k) for k in keys}


def create_campaign(sessions: sessionmaker[Session], actor: str, values: Mapping[str, Any]) -> int:
    """A new campaign in state ``draft``; :class:`CampaignInvalid` lists every bad field."""
    with sessions.begin() as session:
        clean = _check_campaign(session, values, None)
        row = CmpCampaign(**clean, state="draft", created_by=actor, updated_at=utcnow())
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="cmp_campaign",
            entity_id=str(row.id),
            after=_campaign_audit(row),
        )
        return row.id


def update_campaign(
    sessions: sessionmaker[Session], actor: str, campaign_id: int, values: Mapping[str, Any]
) -> None:
    with sessions.begin() as session:
        row = session.get(CmpCampaign, campaign_id)
        if row is None:
            raise NotFound("cmp_campaign", campaign_id)
        before = _campaign_audit(row)
        for key, value in _check_campaign(session, values, campaign_id).items():
            setattr(row, key, value)
        row.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="cmp_campaign",
            entity_id=str(row.id),
            before=before,
            after=_campaign_audit(row),
        )


def set_state(sessions: sessionmaker[Session], actor: str, campaign_id: int, state: str) -> None:
    """Move a campaign along :data:`TRANSITIONS` (activating needs a target list)."""
    with sessions.begin() as session:
        row = session.get(CmpCampaign, campaign_id)
        if row is None:
            raise NotFound("cmp_campaign", campaign_id)
        if state not in STATES:
            raise CampaignInvalid({"state": f"one of {', '.join(STATES)}"})
        if state not in TRANSITIONS[row.state]:
            raise CampaignInvalid({"state": f"a {row.state} campaign cannot become {state}"})
        if state == "active" and row.list_id is None:
            raise CampaignInvalid({"list_id": "choose a target list before activating"})
        before = row.state
        row.state = state
        row.updated_at = utcnow()
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="cmp_campaign",
            entity_id=str(row.id),
            before={"state": before},
            after={"state": state},
        )


def delete_campaign(sessions: sessionmaker[Session], actor: str, campaign_id: int) -> None:
    """Delete a campaign that has no attempts (campaigns with history are finished instead)."""
    with sessions.begin() as session:
        row = session.get(CmpCampaign, campaign_id)
        if row is None:
            raise NotFound("cmp_campaign", campaign_id)
        if session.scalar(sa.select(CmpAttempt.id).where(CmpAttempt.campaign_id == campaign_id)):
            raise Conflict("the campaign has attempts: finish it instead of deleting it")
        before = _campaign_audit(row)
        session.delete(row)
        audit.record(
            session,
            actor=actor,
            action="delete",
            entity="cmp_campaign",
            entity_id=str(campaign_id),
            before=before,
        )


def _view(row: CmpCampaign, list_name: str | None) -> CampaignView:
    return CampaignView(
        id=row.id,
        name=row.name,
        classification=row.classification,
        list_id=row.list_id,
        list_name=list_name or "",
        dial_mode=row.dial_mode,
        power_ratio=row.power_ratio,
        abandon_ceiling=row.abandon_ceiling,
        strategy=dict(row.strategy),
        state=row.state,
        script_id=row.script_id,
        questionnaire_id=row.questionnaire_id,
        updated_at=row.updated_at,
    )


def get_campaign(session: Session, campaign_id: int) -> CampaignView:
    row = session.get(CmpCampaign, campaign_id)
    if row is None:
        raise NotFound("cmp_campaign", campaign_id)
    lst = session.get(ObTargetList, row.list_id) if row.list_id is not None else None
    return _view(row, lst.name if lst else None)


def list_campaigns(session: Session) -> list[CampaignView]:
    rows = session.execute(
        sa.select(CmpCampaign, ObTargetList.name)
        .outerjoin(ObTargetList, ObTargetList.id == CmpCampaign.list_id)
        .order_by(CmpCampaign.name)
    )
    return [_view(c, n) for c, n in rows]


# --- questionnaires ----------------------------------------------------------------------


def _next_of(questions: Sequence[Mapping[str, Any]], index: int) -> str:
    nxt = questions[index].get("next")
    if nxt:
        return str(nxt)
    return str(questions[index + 1]["id"]) if index + 1 < len(questions) else END


def validate_questions(questions: Any) -> list[dict[str, Any]]:
    """Normalised questions, or :class:`CampaignInvalid` (``q.<id>.<field>`` keys)."""
    if not isinstance(questions, list) or not questions:
        raise CampaignInvalid({"questions": "at least one question"})
    if len(questions) > MAX_QUESTIONS:
        raise CampaignInvalid({"questions": f"at most {MAX_QUESTIONS} questions"})
    errors: dict[str, str] = {}
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for pos, q in enumerate(questions):
        if not isinstance(q, Mapping):
            raise CampaignInvalid({f"questions.{pos}": "must be an object"})
        qid = str(q.get("id", ""))
        key = f"q.{qid or pos}"
        if not _QID.fullmatch(qid) or qid == END:
            errors[f"{key}.id"] = "1-64 letters, digits, _ or - (not 'end')"
        elif qid in seen:
            errors[f"{key}.id"] = "duplicate question id"
        seen.add(qid)
        text = str(q.get("text", "")).strip()
        if not text or len(text) > MAX_TEXT:
            errors[f"{key}.text"] = f"1 to {MAX_TEXT} characters"
        kind = q.get("kind")
        if kind not in KINDS:
            errors[f"{key}.kind"] = f"one of {', '.join(KINDS)}"
        options = [str(o).strip() for o in q.get("options", []) or []]
        if kind in ("single", "multiple"):
            if len(options) < 2 or len(set(options)) != len(options) or not all(options):
                errors[f"{key}.options"] = "two or more distinct, non-empty options"
        else:
            options = ["yes", "no"] if kind == "yes_no" else []
        branches = {str(k): str(v) for k, v in (q.get("branches") or {}).items()}
        if branches and kind not in ("single", "yes_no"):
            errors[f"{key}.branches"] = "only single-choice and yes/no questions branch"
        for answer in branches:
            if answer not in options:
                errors[f"{key}.branches"] = f"{answer!r} is not one of the options"
        item: dict[str, Any] = {"id": qid, "text": text, "kind": kind}
        if kind in ("single", "multiple"):
            item["options"] = options
        if q.get("next"):
            item["next"] = str(q["next"])
        if branches:
            item["branches"] = branches
        item["required"] = bool(q.get("required", True))
        clean.append(item)
    if errors:
        raise CampaignInvalid(errors)
    # Graph checks: dangling targets, cycles, reachability from the first question.
    index = {q["id"]: i for i, q in enumerate(clean)}
    edges: dict[str, list[str]] = {}
    for i, q in enumerate(clean):
        targets = [_next_of(clean, i), *q.get("branches", {}).values()]
        for target in targets:
            if target != END and target not in index:
                errors[f"q.{q['id']}.next"] = f"goes to unknown question {target!r}"
        edges[q["id"]] = [t for t in targets if t != END]
    if errors:
        raise CampaignInvalid(errors)
    state: dict[str, int] = {}  # 1 = on stack, 2 = done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in edges[node]:
            if state.get(target) == 1:
                loop = (
                    [*trail[trail.index(target) :], node, target]
                    if target in trail
                    else [node, target]
                )
                errors[f"q.{node}.next"] = "cycle: " + " -> ".join(loop)
            elif target not in state:
                visit(target, [*trail, node])
        state[node] = 2

    visit(clean[0]["id"], [])
    for q in clean:
        if q["id"] not in state:
            errors.setdefault(f"q.{q['id']}", "unreachable from the first question")
    if errors:
        raise CampaignInvalid(errors)
    return clean


def _check_name(
    session: Session, model: type[CmpScript] | type[CmpQuestionnaire], name: str, own: int | None
) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise CampaignInvalid({"name": "a name of 1 to 200 characters"})
    if session.scalar(sa.select(model.id).where(model.name == name, model.id != (own or -1))):
        raise CampaignInvalid({"name": "this name is taken"})
    return name


def save_questionnaire(
    sessions: sessionmaker[Session],
    actor: str,
    *,
    name: str,
    questions: Any,
    questionnaire_id: int | None = None,
) -> int:
    """Create (or with ``questionnaire_id`` replace) a questionnaire.

    A questionnaire that already has answers cannot change (answers refer to its
    questions): save a copy under a new name instead.
    """
    clean = validate_questions(questions)
    with sessions.begin() as session:
        clean_name = _check_name(session, CmpQuestionnaire, name, questionnaire_id)
        before = None
        if questionnaire_id is None:
            row = CmpQuestionnaire(name=clean_name, questions=clean, created_by=actor)
            session.add(row)
        else:
            found = session.get(CmpQuestionnaire, questionnaire_id)
            if found is None:
                raise NotFound("cmp_questionnaire", questionnaire_id)
            if session.scalar(
                sa.select(CmpAnswer.id).where(CmpAnswer.questionnaire_id == questionnaire_id)
            ):
                raise Conflict("the questionnaire has answers: save a copy under a new name")
            row = found
            before = {"name": row.name, "questions": row.questions}
            row.name, row.questions = clean_name, clean
        row.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="create" if before is None else "update",
            entity="cmp_questionnaire",
            entity_id=str(row.id),
            before=before,
            after={"name": row.name, "questions": clean},
        )
        return row.id


def get_questionnaire(session: Session, questionnaire_id: int) -> CmpQuestionnaire:
    row = session.get(CmpQuestionnaire, questionnaire_id)
    if row is None:
        raise NotFound("cmp_questionnaire", questionnaire_id)
    return row


def list_questionnaires(session: Session) -> list[CmpQuestionnaire]:
    return list(session.scalars(sa.select(CmpQuestionnaire).order_by(CmpQuestionnaire.name)))


# --- scripts -----------------------------------------------------------------------------

_FORMATTER = string.Formatter()


def validate_sections(sections: Any) -> list[dict[str, str]]:
    """Script sections ``[{"title", "text"}]``; placeholders must be target fields."""
    if not isinstance(sections, list) or not sections:
        raise CampaignInvalid({"sections": "at least one section"})
    errors: dict[str, str] = {}
    clean: list[dict[str, str]] = []
    for pos, section in enumerate(sections):
        if not isinstance(section, Mapping):
            raise CampaignInvalid({f"sections.{pos}": "must be an object"})
        title = str(section.get("title", "")).strip()
        text = str(section.get("text", "")).strip()
        if not title or len(title) > 200:
            errors[f"sections.{pos}.title"] = "1 to 200 characters"
        if not text or len(text) > 8000:
            errors[f"sections.{pos}.text"] = "1 to 8000 characters"
        try:
            parts = [
                (f, spec, conv) for _, f, spec, conv in _FORMATTER.parse(text) if f is not None
            ]
        except ValueError as exc:
            errors[f"sections.{pos}.text"] = f"bad placeholder: {exc}"
            parts = []
        names = [f for f, _, _ in parts]
        if any(spec or conv for _, spec, conv in parts):
            errors[f"sections.{pos}.text"] = "placeholders are plain {field} names"
        for placeholder in names:
            if placeholder not in TARGET_FIELDS:
                errors[f"sections.{pos}.text"] = (
                    f"unknown placeholder {{{placeholder}}}: use {', '.join(TARGET_FIELDS)}"
                )
        clean.append({"title": title, "text": text})
    if errors:
        raise CampaignInvalid(errors)
    return clean


def save_script(
    sessions: sessionmaker[Session],
    actor: str,
    *,
    name: str,
    sections: Any,
    script_id: int | None = None,
) -> int:
    clean = validate_sections(sections)
    with sessions.begin() as session:
        clean_name = _check_name(session, CmpScript, name, script_id)
        before = None
        if script_id is None:
            row = CmpScript(name=clean_name, sections=clean, created_by=actor)
            session.add(row)
        else:
            found = session.get(CmpScript, script_id)
            if found is None:
                raise NotFound("cmp_script", script_id)
            row = found
            before = {"name": row.name, "sections": row.sections}
            row.name, row.sections = clean_name, clean
        row.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="create" if before is None else "update",
            entity="cmp_script",
            entity_id=str(row.id),
            before=before,
            after={"name": row.name, "sections": clean},
        )
        return row.id


def list_scripts(session: Session) -> list[CmpScript]:
    return list(session.scalars(sa.select(CmpScript).order_by(CmpScript.name)))


def render_script(session: Session, script_id: int, record_id: int) -> list[dict[str, str]]:
    """The script's sections with ``{field}`` filled from the target record."""
    script = session.get(CmpScript, script_id)
    if script is None:
        raise NotFound("cmp_script", script_id)
    record = session.get(ObTargetRecord, record_id)
    if record is None:
        raise NotFound("ob_record", record_id)
    values = {f: str(getattr(record, f) or "") for f in TARGET_FIELDS}
    return [{"title": s["title"], "text": s["text"].format_map(values)} for s in script.sections]


# --- attempts and answers ------------------------------------------------------------------


def record_attempt(
    sessions: sessionmaker[Session],
    *,
    campaign_id: int,
    phone: str,
    outcome: str,
    started_at: dt.datetime,
    record_id: int | None = None,
    agent_id: str | None = None,
    answered_at: dt.datetime | None = None,
    ended_at: dt.datetime | None = None,
    right_party: bool = False,
    conversion: bool = False,
) -> int:
    """Store one dial attempt (append-only)."""
    errors: dict[str, str] = {}
    if outcome not in OUTCOMES:
        errors["outcome"] = f"one of {', '.join(OUTCOMES)}"
    if (right_party or conversion) and outcome != Outcome.ANSWERED:
        errors["right_party"] = "only an answered call reaches the right party or converts"
    if conversion and not right_party:
        errors["conversion"] = "a conversion needs the right party"
    if outcome == Outcome.ANSWERED and not agent_id:
        errors["agent_id"] = "an answered call is handled by an agent"
    if ended_at is not None and ended_at < started_at:
        errors["ended_at"] = "before the start"
    if answered_at is not None and not started_at <= answered_at <= (ended_at or answered_at):
        errors["answered_at"] = "outside the attempt"
    if errors:
        raise CampaignInvalid(errors)
    with sessions.begin() as session:
        if session.get(CmpCampaign, campaign_id) is None:
            raise NotFound("cmp_campaign", campaign_id)
        row = CmpAttempt(
            campaign_id=campaign_id,
            record_id=record_id,
            phone=phone,
            outcome=outcome,
            right_party=right_party,
            conversion=conversion,
            agent_id=agent_id,
            started_at=started_at,
            answered_at=answered_at,
            ended_at=ended_at,
        )
        session.add(row)
        session.flush()
        return row.id


def _check_value(q: Mapping[str, Any], value: Any) -> str | None:
    kind = q["kind"]
    if kind == "single":
        return None if isinstance(value, str) and value in q["options"] else "choose one option"
    if kind == "multiple":
        ok = isinstance(value, list) and all(
            isinstance(v, str) and v in q["options"] for v in value
        )
        if not ok or len(set(value)) != len(value):
            return "choose from the options"
        return None
    if kind == "yes_no":
        return None if value in ("yes", "no") else "answer yes or no"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "a number"
        return None if math.isfinite(value) else "a finite number"
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        return f"text of at most {MAX_TEXT} characters"
    return None


def answer_path(questions: Sequence[Mapping[str, Any]], answers: Mapping[str, Any]) -> list[str]:
    """The question ids on the path selected by ``answers`` (up to the first unanswered
    question, or to the end). Raises :class:`CampaignInvalid` for a bad value or for an
    answer to a question the path does not visit."""
    index = {str(q["id"]): i for i, q in enumerate(questions)}
    errors: dict[str, str] = {}
    for qid in answers:
        if qid not in index:
            errors[f"answers.{qid}"] = "no such question"
    if errors:
        raise CampaignInvalid(errors)
    path: list[str] = []
    current = str(questions[0]["id"])
    while current != END and current in answers:
        q = questions[index[current]]
        problem = _check_value(q, answers[current])
        if problem:
            raise CampaignInvalid({f"answers.{current}": problem})
        path.append(current)
        value = answers[current]
        branch = q.get("branches", {}).get(value) if isinstance(value, str) else None
        current = branch or _next_of(questions, index[current])
    for qid in answers:
        if qid not in path:
            errors[f"answers.{qid}"] = "not on the path taken by the earlier answers"
    if errors:
        raise CampaignInvalid(errors)
    return path


def record_answers(
    sessions: sessionmaker[Session], actor: str, attempt_id: int, answers: Mapping[str, Any]
) -> list[str]:
    """Append an attempt's answers to its campaign's questionnaire.

    ``answers`` may repeat answers already stored (same value) and add the next ones;
    changing a stored answer is a :class:`Conflict` (answers are append-only). Returns the
    path answered so far.
    """
    if not isinstance(answers, Mapping):
        raise CampaignInvalid({"answers": "a map of question id -> answer"})
    with sessions.begin() as session:
        attempt = session.get(CmpAttempt, attempt_id)
        if attempt is None:
            raise NotFound("cmp_attempt", attempt_id)
        campaign = session.get(CmpCampaign, attempt.campaign_id)
        if campaign is None or campaign.questionnaire_id is None:
            raise CampaignInvalid({"questionnaire": "the campaign has no questionnaire"})
        if attempt.outcome != Outcome.ANSWERED:
            raise CampaignInvalid({"attempt": "only an answered call has answers"})
        questionnaire = session.get(CmpQuestionnaire, campaign.questionnaire_id)
        assert questionnaire is not None
        stored = {
            a.question_id: a.value
            for a in session.scalars(sa.select(CmpAnswer).where(CmpAnswer.attempt_id == attempt_id))
        }
        for qid, value in answers.items():
            if qid in stored and stored[qid] != value:
                raise Conflict(f"question {qid!r} is already answered: answers are append-only")
        merged = {**stored, **answers}
        path = answer_path(questionnaire.questions, merged)
        added = {qid: merged[qid] for qid in path if qid not in stored}
        now = utcnow()
        for qid, value in added.items():
            session.add(
                CmpAnswer(
                    attempt_id=attempt_id,
                    questionnaire_id=questionnaire.id,
                    question_id=qid,
                    value=value,
                    answered_by=actor,
                    answered_at=now,
                )
            )
        try:
            session.flush()
        except sa.exc.IntegrityError:
            raise Conflict("the answers were stored meanwhile: reload and try again") from None
        if added:
            audit.record(
                session,
                actor=actor,
                action="create",
                entity="cmp_answers",
                entity_id=str(attempt_id),
                after={"answers": added},
            )
        return path


def attempt_answers(session: Session, attempt_id: int) -> dict[str, Any]:
    rows = session.scalars(
        sa.select(CmpAnswer).where(CmpAnswer.attempt_id == attempt_id).order_by(CmpAnswer.id)
    )
    return {a.question_id: a.value for a in rows}


# --- statistics -------------------------------------------------------------------------


@dataclass(slots=True)
class CampaignStats:
    """Figures of one campaign from its stored attempts.

    ``contacts`` are answered calls connected to an agent; ``abandon_rate`` is abandoned
    / (answered + abandoned) (live answers), as the pacing ceiling counts it. Agent
    utilisation needs the agents' logged-in time, which attempts do not carry:
    ``talk_seconds`` per agent is given instead.
    """

    attempts: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    contacts: int = 0
    right_party: int = 0
    conversions: int = 0
    abandoned: int = 0
    abandon_rate: float | None = None
    talk_seconds: dict[str, float] = field(default_factory=dict)


def campaign_stats(
    session: Session,
    campaign_id: int,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> CampaignStats:
    where = [CmpAttempt.campaign_id == campaign_id]
    if since is not None:
        where.append(CmpAttempt.started_at >= since)
    if until is not None:
        where.append(CmpAttempt.started_at < until)
    stats = CampaignStats(by_outcome=dict.fromkeys(OUTCOMES, 0))
    rows = session.execute(
        sa.select(
            CmpAttempt.outcome,
            sa.func.count(),
            sa.func.sum(sa.case((CmpAttempt.right_party, 1), else_=0)),
            sa.func.sum(sa.case((CmpAttempt.conversion, 1), else_=0)),
        )
        .where(*where)
        .group_by(CmpAttempt.outcome)
    )
    for outcome, count, rpc, conv in rows:
        stats.by_outcome[outcome] = int(count)
        stats.attempts += int(count)
        stats.right_party += int(rpc or 0)
        stats.conversions += int(conv or 0)
    stats.contacts = stats.by_outcome[Outcome.ANSWERED]
    stats.abandoned = stats.by_outcome[Outcome.ABANDONED]
    live = stats.contacts + stats.abandoned
    stats.abandon_rate = stats.abandoned / live if live else None
    talks = session.execute(
        sa.select(CmpAttempt.agent_id, CmpAttempt.answered_at, CmpAttempt.ended_at).where(
            *where,
            CmpAttempt.outcome == Outcome.ANSWERED,
            CmpAttempt.answered_at.is_not(None),
            CmpAttempt.ended_at.is_not(None),
        )
    )
    for agent, answered, ended in talks:
        if agent is None or answered is None or ended is None:
            continue
        seconds = (ended - answered).total_seconds()
        stats.talk_seconds[agent] = stats.talk_seconds.get(agent, 0.0) + seconds
    return stats


def attempts(session: Session, campaign_id: int, *, limit: int = 200) -> list[CmpAttempt]:
    """The newest attempts of a campaign."""
    return list(
        session.scalars(
            sa.select(CmpAttempt)
            .where(CmpAttempt.campaign_id == campaign_id)
            .order_by(CmpAttempt.started_at.desc(), CmpAttempt.id.desc())
            .limit(limit)
        )
    )
