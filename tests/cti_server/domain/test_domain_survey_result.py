"""The ``survey_result`` look-up: the post-call satisfaction survey is stored against the
call (R-IN-5). A real server on port 0, a fake switch over the real protocol, the real
store; the web pages then show it (tests/cti_server/web/test_web_services.py)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from cti_server.store.calls import CallStore
from cti_server.store.models import Call, SurveyResult
from shared.ivr.library import load_shipped_flow
from shared.ivr.model import LookupNode
from shared.ivr.run import CallContext, Hangup
from shared.ivr.simulate import simulate
from shared.protocol.switch import LookupResult, RouteStage, SwitchLookup
from tests.cti_server.domain.domain_support import Clients, route

pytestmark = pytest.mark.asyncio


async def _survey(clients: Clients, call_id: str, **args: str) -> LookupResult:
    switch = clients.switches[0] if clients.switches else await clients.switch()
    body = await switch.client.request(
        SwitchLookup(id=0, call_id=call_id, service="survey_result", args=args)
    )
    assert isinstance(body, LookupResult)
    return body


def _rows(db: sa.Engine, call_id: str) -> list[tuple[str | None, int, dict[str, str]]]:
    with db.connect() as conn:
        return [
            (r.agent_id, r.score, r.answers)
            for r in conn.execute(sa.select(SurveyResult).where(SurveyResult.call_id == call_id))
        ]


async def test_survey_answers_are_stored_against_the_call_once(
    clients: Clients, db: sa.Engine
) -> None:
    switch = await clients.switch()
    await route(switch, "SV-1", RouteStage.ARRIVAL, caller="13900139000")
    with db.begin() as conn:  # the agent who took the call (released before the survey)
        conn.execute(sa.update(Call).where(Call.id == "SV-1").values(agent_id="1003"))
    stored = await _survey(clients, "SV-1", satisfaction="1", resolved="2")
    assert stored.error is None
    assert stored.values == {"stored": "true", "score": "5"}
    assert _rows(db, "SV-1") == [("1003", 5, {"satisfaction": "1", "resolved": "2"})]
    view = CallStore(db).call_with_events("SV-1")
    assert view is not None
    [event] = [e for e in view.events if e.kind == "survey"]
    assert event.data["score"] == 5 and event.data["answers"]["resolved"] == "2"
    # the switch repeats its report: still one result, one event
    again = await _survey(clients, "SV-1", satisfaction="3", resolved="2")
    assert again.error is None
    assert _rows(db, "SV-1") == [("1003", 5, {"satisfaction": "1", "resolved": "2"})]
    view = CallStore(db).call_with_events("SV-1")
    assert view is not None and len([e for e in view.events if e.kind == "survey"]) == 1


async def test_a_direct_score_and_bad_answers(clients: Clients, db: sa.Engine) -> None:
    switch = await clients.switch()
    await route(switch, "SV-2", RouteStage.ARRIVAL, caller="13900139000")
    for args, text in (
        ({"satisfaction": "7"}, "`satisfaction`"),
        ({"score": "0"}, "`score`"),
        ({"score": "five"}, "`score`"),
        ({"resolved": "1"}, "required"),
    ):
        bad = await _survey(clients, "SV-2", **args)
        assert bad.error is not None and text in bad.error, args
    assert _rows(db, "SV-2") == []
    unknown = await _survey(clients, "SV-NOPE", score="4")
    assert unknown.error is not None and "call" in unknown.error
    assert _rows(db, "SV-NOPE") == []
    scored = await _survey(clients, "SV-2", score="4", comment_digit="9")
    assert scored.values["score"] == "4"
    assert _rows(db, "SV-2") == [(None, 4, {"score": "4", "comment_digit": "9"})]


async def test_the_shipped_survey_flow_reports_through_survey_result() -> None:
    """The shipped ``survey`` flow sends its answers to this look-up, then thanks the
    caller whether or not the server answered."""
    flow = load_shipped_flow("survey")
    lookups = [
        n for n in flow.nodes.values() if isinstance(n, LookupNode) and n.service == "survey_result"
    ]
    assert len(lookups) == 1
    assert set(lookups[0].args.values()) == {"survey.satisfaction", "survey.resolved"}
    now = time.time()
    for answer in ({"stored": "true", "score": "5"}, None):
        result = simulate(flow, CallContext(), "12", now=now, lookups={"survey_result": answer})
        assert "store" in result.path and result.outcome == Hangup(reason="survey_done")
