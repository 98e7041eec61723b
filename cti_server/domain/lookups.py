"""IVR self-service look-ups (``switch.lookup``, protocol 1.1).

A flow asks the server for data it reads out or branches on. :class:`LookupServices`
is the registry of services by name; each service takes the call (when the server
knows it) and the flow's arguments and returns a :class:`LookupResult`.

Built in:

* ``customer`` - args ``number`` (default: the call's caller) → ``customer_id``,
  ``name``, ``tier``, ``region``, ``blacklisted`` (``"true"``/``"false"``) from the
  :class:`~cti_server.store.TierDirectory`;
* ``queue_wait`` - args ``queue_id`` (default: the call's queue) → ``queue_id``,
  ``waiting`` (calls waiting), ``longest_wait_seconds``, when the call itself waits
  there ``position`` (1-based, "you are number N in the queue"), and
  ``expected_wait_seconds`` with what it was computed from (``handle_seconds``,
  ``serving_agents``): see :func:`expected_wait`. No ``expected_wait_seconds`` when no
  agent of the queue is logged on and serving (the switch then estimates locally).
* ``callback_request`` - args ``number`` (default: the call's caller), ``queue_id``,
  ``business_selection``, ``tier`` → stores the request as a call event (kind
  ``ivr_node``, node ``callback_request``, data ``callback`` = number, queue,
  business selection, tier) on the call, answers ``stored`` = ``true``, ``number``
  (normalised) and ``queue_id``. The call must be known to the server (else an
  error: the switch then keeps the request itself, R-IVR-4).

* ``survey_result`` - args: the survey's answers (question id → digit), with ``score``
  (1..5) or the shipped flow's ``satisfaction`` (1 satisfied → 5, 2 → 3, 3 → 1) →
  stores the post-call survey against the call (R-IN-5): a ``survey_results`` row (call,
  agent, customer, score, answers) and a ``survey`` call event in one transaction;
  answers ``stored`` = ``true`` (a repeated report keeps the first) and ``score``.
  The call must be known to the server.

* ``account_balance``, ``recharge`` - prepaid balance (service password) and recharge-card
  top-up (R-BIZ-6): see :mod:`.payment_lookups`.

An unknown service or a bad argument is answered with ``LookupResult.error`` (text
naming the service or the argument), not a protocol error: the flow decides what to
play. Transport failures stay ``error`` responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from cti_server.routing import RoutingError
from cti_server.store import try_normalise
from cti_server.store.calls import CallEventKind
from cti_server.store.surveys import BadSurvey, store_survey_result, survey_score
from shared.protocol.switch import LookupResult, SwitchLookup

from . import payment_lookups
from .model import CallRecord
from .persistence import utc

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from cti_server.store import CallStore

    from .centre import ContactCentre

type LookupService = Callable[[CallRecord | None, Mapping[str, str]], Awaitable[LookupResult]]
"""``(call or None, args) → result``; raise :class:`LookupFailed` for a bad argument."""


class LookupFailed(Exception):
    """The service cannot answer (bad or missing argument …); the text goes to the flow."""


HANDLE_WINDOW = 4 * 3600.0
"""Answered calls released in this window (seconds) give the recent handle time."""
HANDLE_SAMPLES = 50
"""At most this many of the queue's latest answered calls."""
HANDLE_CACHE = 30.0
"""A queue's recent talk time is read from the database at most this often (seconds)."""
DEFAULT_TALK_SECONDS = 180.0
"""Talk time assumed for a queue with no answered call in the window."""
SERVING_STATES = ("ready", "reserved", "busy", "work_not_ready")
"""Logged-on agent states that serve the queue (not ready agents do not)."""


def expected_wait(position: int, ready: int, serving: int, handle_seconds: float) -> float | None:
    """Expected wait of the caller at ``position`` (1-based) in a queue.

    The ``ready`` agents take the first callers at once; each caller behind them waits
    for one of the ``serving`` agents (ready, ringing, talking or in after-call work) to
    finish a call: ``(position - ready) × handle time / serving``. ``None`` when no agent
    serves the queue (nobody will come: the wait is not a number to announce)."""
    if serving <= 0 or position < 1:
        return None
    ahead = position - ready
    if ahead <= 0:
        return 0.0
    return ahead * handle_seconds / serving


class LookupServices:
    """Look-up services by name, run for ``switch.lookup`` requests."""

    def __init__(self, centre: ContactCentre) -> None:
        self._centre = centre
        self._talk: dict[str, tuple[float, float]] = {}
        """Queue → (recent mean talk seconds, monotonic time read)."""
        self._services: dict[str, LookupService] = {
            "customer": self._customer,
            "queue_wait": self._queue_wait,
            "callback_request": self._callback_request,
            **payment_lookups.services(centre),  # account_balance, recharge (R-BIZ-6)
            "survey_result": self._survey_result,
        }

    @property
    def names(self) -> list[str]:
        return sorted(self._services)

    def register(self, name: str, service: LookupService) -> None:
        """Add (or replace) a service."""
        self._services[name] = service

    async def run(self, switch_id: str, msg: SwitchLookup) -> LookupResult:
        """Answer one ``switch.lookup`` of ``switch_id`` (``unknown_call`` if the call is
        another switch's; a call the server does not know is fine)."""
        service = self._services.get(msg.service)
        if service is None:
            known = ", ".join(self.names)
            text = f"unknown look-up service `{msg.service}` (known: {known})"
            return LookupResult(error=text[:1024])
        call = self._centre.owned_call(switch_id, msg.call_id)
        try:
            return await service(call, msg.args)
        except LookupFailed as exc:
            return LookupResult(error=str(exc)[:1024])

    # -- built-in services ---------------------------------------------------------------

    async def _customer(self, call: CallRecord | None, args: Mapping[str, str]) -> LookupResult:
        number = args.get("number") or (call.caller if call is not None else None)
        if not number:
            raise LookupFailed("argument `number` is required (the call has no caller number)")
        if try_normalise(number) is None:
            raise LookupFailed(f"argument `number` is not a phone number: {number[:64]!r}")
        customer = await self._centre.store.lookup(number)
        if customer is None:
            return LookupResult(error="no customer with this number")
        return LookupResult(
            values={
                "customer_id": customer.customer_id[:256],
                "name": customer.name[:256],
                "tier": customer.tier_id[:256],
                "region": customer.region[:256],
                "blacklisted": "true" if customer.blacklisted else "false",
            }
        )

    async def _queue_wait(self, call: CallRecord | None, args: Mapping[str, str]) -> LookupResult:
        centre = self._centre
        queue_id = args.get("queue_id") or (call.queue_id if call is not None else None)
        if not queue_id:
            raise LookupFailed("argument `queue_id` is required (the call is in no queue)")
        if queue_id not in centre.config.queues:
            raise LookupFailed(f"argument `queue_id`: no queue {queue_id[:64]!r}")
        waiting, longest = centre.queue_wait(queue_id)
        values = {
            "queue_id": queue_id,
            "waiting": str(waiting),
            "longest_wait_seconds": str(int(longest)),
        }
        position = waiting + 1  # a caller about to join the queue
        if call is not None and call.waiting and call.queue_id == queue_id:
            # not waiting in the engine (e.g. a callback request): no position
            with contextlib.suppress(RoutingError):
                position = centre.engine.position(call.call_id)
                values["position"] = str(position)
        counts = centre.agent_counts.counts(queue_id)
        serving = sum(counts.get(state, 0) for state in SERVING_STATES)
        handle = await self.handle_seconds(queue_id)
        expected = expected_wait(position, counts.get("ready", 0), serving, handle)
        values["handle_seconds"] = str(round(handle))
        values["serving_agents"] = str(serving)
        if expected is not None:
            values["expected_wait_seconds"] = str(math.ceil(expected))
        return LookupResult(values=values)

    async def handle_seconds(self, queue_id: str) -> float:
        """The queue's recent average handle time: mean talk time of its latest answered
        calls (database, cached :data:`HANDLE_CACHE` s) plus its after-call work."""
        centre = self._centre
        now = centre.clock.monotonic()
        cached = self._talk.get(queue_id)
        if cached is None or now - cached[1] > HANDLE_CACHE:
            talks = await asyncio.to_thread(
                centre.store.calls.recent_handle_seconds,
                queue_id,
                since=centre.clock.wall() - HANDLE_WINDOW,
                limit=HANDLE_SAMPLES,
            )
            talk = sum(talks) / len(talks) if talks else DEFAULT_TALK_SECONDS
            cached = (talk, now)
            self._talk[queue_id] = cached
        queue = centre.config.queues.get(queue_id)
        return cached[0] + (queue.acw_seconds if queue is not None else 0.0)

    async def _callback_request(
        self, call: CallRecord | None, args: Mapping[str, str]
    ) -> LookupResult:
        centre = self._centre
        if call is None:
            raise LookupFailed("callback_request needs a call the server knows")
        number = args.get("number") or call.caller
        if not number:
            raise LookupFailed("argument `number` is required (the call has no caller number)")
        normalised = try_normalise(number)
        if normalised is None:
            raise LookupFailed(f"argument `number` is not a phone number: {number[:64]!r}")
        queue_id = args.get("queue_id") or call.queue_id
        if queue_id and queue_id not in centre.config.queues:
            raise LookupFailed(f"argument `queue_id`: no queue {queue_id[:64]!r}")
        request = {
            "number": normalised,
            "queue_id": queue_id,
            "business_selection": args.get("business_selection"),
            "tier": args.get("tier") or call.tier,
            "caller": call.caller,
        }
        await centre.store_event(
            call.call_id,
            CallEventKind.IVR_NODE,
            {
                "flow_id": call.flow_id,
                "node": "callback_request",
                "label": f"callback to {normalised}",
                "callback": request,
            },
        )
        return LookupResult(
            values={"stored": "true", "number": normalised[:256], "queue_id": queue_id or ""}
        )

    async def _survey_result(
        self, call: CallRecord | None, args: Mapping[str, str]
    ) -> LookupResult:
        """Keep the post-call satisfaction survey against the call (R-IN-5)."""
        centre = self._centre
        if call is None:
            raise LookupFailed("survey_result needs a call the server knows")
        answers = {str(k)[:64]: str(v)[:64] for k, v in args.items()}
        try:
            score = survey_score(answers)
        except BadSurvey as exc:
            raise LookupFailed(str(exc)) from None
        call_id, agent_id, at = call.call_id, call.agent_id, centre.clock.wall()

        def write(calls: CallStore, sessions: sessionmaker[Session]) -> bool:
            calls.record_event(
                call_id,
                CallEventKind.SURVEY,
                at,
                {"survey_id": f"survey-{call_id}", "score": score, "answers": answers},
                event_key=f"survey:{call_id}",
            )
            with sessions.begin() as session:
                _row, created = store_survey_result(
                    session, call_id, answers, utc(at), agent_id=agent_id
                )
                return created

        await centre.store.writer.submit(write)
        return LookupResult(values={"stored": "true", "score": str(score)})
