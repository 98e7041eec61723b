"""Post-call satisfaction survey results (R-IN-5), stored against the call.

The switch runs the ``survey`` flow after the agent hangs up; its last node asks the
server's ``survey_result`` look-up (``cti_server/domain/lookups.py``) to keep the
answers. :func:`store_survey_result` writes the ``survey_results`` row in the caller's
transaction; the look-up also appends a ``survey`` call event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import Call, SurveyResult

SATISFACTION_TO_SCORE = {"1": 5, "2": 3, "3": 1}
"""The shipped flow's question ``satisfaction`` (1 satisfied, 2 neutral, 3 unsatisfied)
on the 1..5 score (5 best)."""


class BadSurvey(ValueError):
    """The answers carry no usable score."""


def survey_score(answers: Mapping[str, str]) -> int:
    """``score`` (1..5) if given, else the shipped ``satisfaction`` answer mapped to 1..5."""
    if "score" in answers:
        text = answers["score"].strip()
        if not text.isdigit() or not 1 <= int(text) <= 5:
            raise BadSurvey(f"argument `score` must be 1..5, not {text[:16]!r}")
        return int(text)
    if "satisfaction" in answers:
        score = SATISFACTION_TO_SCORE.get(answers["satisfaction"].strip())
        if score is None:
            raise BadSurvey("argument `satisfaction` must be 1, 2 or 3")
        return score
    raise BadSurvey("argument `score` (1..5) or `satisfaction` (1..3) is required")


def store_survey_result(
    session: Session,
    call_id: str,
    answers: Mapping[str, str],
    at: dt.datetime,
    *,
    agent_id: str | None = None,
) -> tuple[SurveyResult, bool]:
    """Keep one survey per call: ``(row, created)``; a repeated report returns the first.
    The agent and customer come from the call unless ``agent_id`` is given."""
    score = survey_score(answers)
    existing = session.scalar(sa.select(SurveyResult).where(SurveyResult.call_id == call_id))
    if existing is not None:
        return existing, False
    call = session.get(Call, call_id)
    row = SurveyResult(
        call_id=call_id,
        agent_id=agent_id or (call.agent_id if call is not None else None),
        customer_id=call.customer_id if call is not None else None,
        score=score,
        answers={str(k)[:64]: str(v)[:64] for k, v in answers.items()},
        at=at,
    )
    session.add(row)
    session.flush()
    return row, True
