"""IVR self-service look-ups (``switch.lookup``, protocol 1.1).

A flow asks the server for data it reads out or branches on. :class:`LookupServices`
is the registry of services by name; each service takes the call (when the server
knows it) and the flow's arguments and returns a :class:`LookupResult`.

Built in:

* ``customer`` - args ``number`` (default: the call's caller) → ``customer_id``,
  ``name``, ``tier``, ``region``, ``blacklisted`` (``"true"``/``"false"``) from the
  :class:`~cti_server.store.TierDirectory`;
* ``queue_wait`` - args ``queue_id`` (default: the call's queue) → ``queue_id``,
  ``waiting`` (calls waiting), ``longest_wait_seconds`` and, when the call itself
  waits there, ``position`` (1-based, "you are number N in the queue").
* ``callback_request`` - args ``number`` (default: the call's caller), ``queue_id``,
  ``business_selection``, ``tier`` → stores the request as a call event (kind
  ``ivr_node``, node ``callback_request``, data ``callback`` = number, queue,
  business selection, tier) on the call, answers ``stored`` = ``true``, ``number``
  (normalised) and ``queue_id``. The call must be known to the server (else an
  error: the switch then keeps the request itself, R-IVR-4).

An unknown service or a bad argument is answered with ``LookupResult.error`` (text
naming the service or the argument), not a protocol error: the flow decides what to
play. Transport failures stay ``error`` responses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from cti_server.routing import RoutingError
from cti_server.store import try_normalise
from cti_server.store.calls import CallEventKind
from shared.protocol.switch import LookupResult, SwitchLookup

from .model import CallRecord

if TYPE_CHECKING:
    from .centre import ContactCentre

type LookupService = Callable[[CallRecord | None, Mapping[str, str]], Awaitable[LookupResult]]
"""``(call or None, args) → result``; raise :class:`LookupFailed` for a bad argument."""


class LookupFailed(Exception):
    """The service cannot answer (bad or missing argument …); the text goes to the flow."""


class LookupServices:
    """Look-up services by name, run for ``switch.lookup`` requests."""

    def __init__(self, centre: ContactCentre) -> None:
        self._centre = centre
        self._services: dict[str, LookupService] = {
            "customer": self._customer,
            "queue_wait": self._queue_wait,
            "callback_request": self._callback_request,
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
        if call is not None and call.waiting and call.queue_id == queue_id:
            # not waiting in the engine (e.g. a callback request): no position
            with contextlib.suppress(RoutingError):
                values["position"] = str(centre.engine.position(call.call_id))
        return LookupResult(values=values)

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
