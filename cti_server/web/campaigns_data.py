"""Data side of the campaign pages (issue 9): blocking functions over sessions, each
called through ``r.db`` / ``call.db`` (first argument the sessionmaker)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cti_server.store import campaigns as cmp
from cti_server.store import outbound_lists as ob
from cti_server.store.models import CmpAttempt, CmpQuestionnaire, CmpScript, Role


@dataclass(frozen=True, slots=True)
class Overview:
    campaigns: list[cmp.CampaignView]
    lists: list[ob.ListView]
    scripts: list[CmpScript]
    questionnaires: list[CmpQuestionnaire]


def overview(sessions: sessionmaker[Session]) -> Overview:
    with sessions() as session:
        return Overview(
            cmp.list_campaigns(session),
            ob.list_lists(session),
            cmp.list_scripts(session),
            cmp.list_questionnaires(session),
        )


@dataclass(frozen=True, slots=True)
class CampaignPage:
    campaign: cmp.CampaignView
    stats: cmp.CampaignStats
    attempts: list[CmpAttempt]


def campaign_page(sessions: sessionmaker[Session], campaign_id: int) -> CampaignPage:
    with sessions() as session:
        return CampaignPage(
            cmp.get_campaign(session, campaign_id),
            cmp.campaign_stats(session, campaign_id),
            cmp.attempts(session, campaign_id),
        )


def questionnaire(sessions: sessionmaker[Session], questionnaire_id: int) -> CmpQuestionnaire:
    with sessions() as session:
        return cmp.get_questionnaire(session, questionnaire_id)


def script(sessions: sessionmaker[Session], script_id: int) -> CmpScript:
    with sessions() as session:
        row = session.get(CmpScript, script_id)
        if row is None:
            raise LookupError(script_id)
        return row


def post_answers(
    sessions: sessionmaker[Session], agent_id: str, role: Role, attempt_id: int, answers: Any
) -> list[str] | None:
    """Record answers for an attempt; ``None`` when an agent posts for another agent's call
    (team leads and administrators may complete any attempt)."""
    with sessions() as session:
        attempt = session.get(CmpAttempt, attempt_id)
        if attempt is None:
            raise LookupError(attempt_id)
        if role == Role.AGENT and attempt.agent_id != agent_id:
            return None
    return cmp.record_answers(sessions, agent_id, attempt_id, answers)


def attempt_guide(
    sessions: sessionmaker[Session], agent_id: str, role: Role, attempt_id: int
) -> dict[str, Any] | None:
    """What the desktop shows during an attempt: the call guide filled from the target
    record, the questionnaire and the answers stored so far (``None``: another agent's)."""
    with sessions() as session:
        attempt = session.get(CmpAttempt, attempt_id)
        if attempt is None:
            raise LookupError(attempt_id)
        if role == Role.AGENT and attempt.agent_id != agent_id:
            return None
        campaign = cmp.get_campaign(session, attempt.campaign_id)
        script: list[dict[str, str]] = []
        if campaign.script_id is not None and attempt.record_id is not None:
            try:
                script = cmp.render_script(session, campaign.script_id, attempt.record_id)
            except LookupError:  # the target record was deleted since
                script = []
        questions: list[dict[str, Any]] = []
        if campaign.questionnaire_id is not None:
            questions = cmp.get_questionnaire(session, campaign.questionnaire_id).questions
        return {
            "campaign": {"id": campaign.id, "name": campaign.name},
            "script": script,
            "questions": questions,
            "answers": cmp.attempt_answers(session, attempt_id),
        }
