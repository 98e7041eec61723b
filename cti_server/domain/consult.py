"""Consultation, consultative transfer, three-way conference and reconnect (R-IN-8).

Towards a switch that negotiated protocol **1.1** the server uses the switch's own
consultation actions: ``consult{consult_call_id, destination, agent_sip_contact,
ring_timeout_seconds}`` (the switch holds the caller and dials the new leg; an agent or,
through the switch's trunk, an external number), ``consult_drop`` (+ ``unhold`` for a
reconnect), ``transfer_consult`` and ``conference{consult_call_id}``; the switch reports
the consult leg on ``consult_call_id`` (leg ``consult``).

A **1.0** switch (still accepted by the version negotiation) models a consultation as a
third leg of the original call (``leg=consult``): the CTI server holds the agent's leg
(``hold``) and rings the consulted agent on the original call (``offer_to_agent``); it
completes a transfer with ``transfer`` to that agent, joins everyone with
``conference{consult_call_id}`` and drops the consultation with ``hangup{leg: consult}``;
agents only. Both give the desktops the same events. For the desktops the consultation
is a call of its own (``consult_call_id``, ``consult_of``). The consulted agent is not
routed by the engine: while the consultation rings and runs the engine keeps that agent
not ready with the system reasons ``consult_offered`` / ``direct_call`` (reserved / busy
on the wire), so no other call is offered meanwhile. Every desktop request is answered
after the switch acknowledged its commands; see docs/cti_server.md for the sequences.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from cti_server.routing import Action, CallSpec
from cti_server.routing import AgentState as EngineState
from cti_server.store import CallEventKind
from cti_server.ws import DomainError
from shared.ids import new_id
from shared.protocol.agent import AgentReserved
from shared.protocol.base import VERSION_1_1, Event
from shared.protocol.call import (
    AgentDestination,
    CallConferenced,
    CallConnectionCleared,
    CallDiverted,
    CallEstablished,
    CallFailed,
    CallOriginated,
    CallState,
    CallTransferred,
    ClearCause,
    Destination,
    DivertReason,
    NumberDestination,
    Party,
    PartyRole,
    TrajectoryKind,
)
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import (
    Conference,
    Consult,
    ConsultDrop,
    Hangup,
    Hold,
    LegRole,
    OfferToAgent,
    SwitchAction,
    SwitchCallEvent,
    SwitchCallEventKind,
    TransferCall,
    TransferConsult,
    Unhold,
)

from .config import CONSULT_OFFERED_REASON, DIRECT_CALL_REASON
from .errors import invalid_state
from .model import AgentRecord, CallRecord

if TYPE_CHECKING:
    from .centre import ContactCentre


log = logging.getLogger("cti_server.domain.consult")


def _unavailable(message: str, **detail: str) -> DomainError:
    return DomainError(ErrorCode.DESTINATION_UNAVAILABLE, message, dict(detail))


_ENDED_KEPT = 1000
"""How many ended 1.1 consultations are remembered for their late reports."""


class Consultations:
    """The consultation requests of the desktops and the consult-leg events of the switch."""

    def __init__(self, centre: ContactCentre) -> None:
        self.centre = centre
        self._v11: set[str] = set()
        """Consultations driven with the 1.1 actions (their switch negotiated 1.1)."""
        self._quiet: dict[str, list[SwitchCallEvent]] = {}
        """1.1 consultations the desktops do not know of yet (``consult`` not confirmed):
        their consult-leg reports, replayed once the desktops are told."""
        self._completing: dict[str, str] = {}
        """Original call id → consultation id while a ``transfer_consult`` /
        ``conference`` / ``consult_drop`` awaits its acknowledgement (the switch reports
        the outcome before it acknowledges; the server applies it on the ack)."""
        self._handed_over: dict[str, str] = {}
        """Original call id → the agent who handed it over with ``transfer_consult``: the
        switch's ``released`` of that agent's leg (cause ``transferred``) is acknowledged,
        not read as the call's end, whether it comes before or after the ack."""
        self._reported: set[str] = set()
        """Original calls whose outcome report came while :attr:`_completing`."""
        self._ended: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        """Recently ended 1.1 consultations: id → (switch id, the conference call it was
        merged into, if any). Their late reports are acknowledged (or, for a conference,
        read as the joined agent's leg of that call)."""

    # ------------------------------------------------------------------ protocol 1.1

    def speaks_v11(self, switch_id: str) -> bool:
        """Whether ``switch_id``'s session negotiated 1.1 (the consult actions)."""
        session = self.centre.switches.session(switch_id)
        if session is None:
            return False
        version = session.version
        return version.major == VERSION_1_1.major and version.minor >= VERSION_1_1.minor

    def _remember(self, consult: CallRecord, merged_into: str | None = None) -> None:
        if consult.call_id not in self._v11:
            return
        self._v11.discard(consult.call_id)
        self._ended[consult.call_id] = (consult.switch_id, merged_into)
        while len(self._ended) > _ENDED_KEPT:
            self._ended.popitem(last=False)

    async def switch_event(self, switch_id: str, ev: SwitchCallEvent) -> bool:
        """A switch report the 1.1 consultation logic takes (``True``: handled here).

        Reports of a consultation the desktops do not know of yet are kept for later;
        reports of an outcome the server applies on the command's acknowledgement
        (``transferred`` / ``conferenced`` / the consult leg's ``released``) are
        acknowledged; late reports of an ended consultation are acknowledged, except
        that a conference's joined agent hanging up (reported on the old consultation
        id) ends that agent's part of the conference."""
        c = self.centre
        K = SwitchCallEventKind
        if ev.call_id in self._quiet:
            consult = c.calls.get(ev.call_id)
            if consult is not None and consult.switch_id == switch_id:
                self._quiet[ev.call_id].append(ev)
                return True
        completing = self._completing.get(ev.call_id)
        if completing is not None and ev.kind in (K.TRANSFERRED, K.CONFERENCED):
            self._reported.add(ev.call_id)
            return True
        handed_by = self._handed_over.get(ev.call_id)
        if (
            handed_by is not None
            and ev.kind is K.RELEASED
            and ev.leg is LegRole.AGENT
            and ev.cause is ClearCause.TRANSFERRED
            and ev.agent_id in (None, handed_by)
        ):
            del self._handed_over[ev.call_id]  # the switch reports it once
            return True  # the consulting agent's leg, released by transfer_consult
        if ev.call_id in self._completing.values() and ev.kind in (K.RELEASED, K.FAILED):
            return True  # the consultation ends with the command's acknowledgement
        ended = self._ended.get(ev.call_id)
        if ended is None or ev.call_id in c.calls or ended[0] != switch_id:
            return False
        merged = c.calls.get(ended[1] or "")
        if (
            merged is not None
            and ev.kind in (K.RELEASED, K.FAILED)
            and merged.conferenced_with is not None
        ):
            del self._ended[ev.call_id]
            await self.leave_conference(merged, merged.conferenced_with, ev.at)
        return True

    # ------------------------------------------------------------------ look-ups

    def _pair(
        self, agent_id: str, call_id: str, consult_call_id: str
    ) -> tuple[CallRecord, CallRecord]:
        """The agent's original call and its running consultation (typed errors otherwise)."""
        c = self.centre
        c.logged_on(c.agent(agent_id))
        call = c.call_at(agent_id, call_id)
        consult = c.calls.get(consult_call_id)
        if call.consult_id is None:
            raise invalid_state(f"call {call_id} has no consultation", call_id=call_id)
        if consult is None or call.consult_id != consult_call_id:
            raise invalid_state(
                f"{consult_call_id} is not the consultation of {call_id}",
                consult_call_id=consult_call_id,
            )
        return call, consult

    def _push(self, agent_id: str | None, event: Event) -> None:
        rec = self.centre.agents.get(agent_id or "")
        if rec is not None and rec.session is not None:
            rec.session.push(event)

    # ------------------------------------------------------------------ call.consult

    async def consult(self, agent_id: str, call_id: str, destination: Destination) -> str:
        """Hold ``call_id`` and ring the destination; returns the consultation's call id."""
        c = self.centre
        rec = c.agent(agent_id)
        c.logged_on(rec)
        call = c.call_at(agent_id, call_id)
        if call.consult_of is not None:
            raise invalid_state("a consultation cannot start another one", call_id=call_id)
        if call.state not in (CallState.ESTABLISHED, CallState.HELD):
            raise invalid_state(
                f"cannot consult from a call that is {call.state or 'not connected'}",
                state=str(call.state),
            )
        if call.consult_id is not None:
            raise invalid_state(
                "a consultation is already running", consult_call_id=call.consult_id
            )
        v11 = self.speaks_v11(call.switch_id)
        number = isinstance(destination, NumberDestination) and v11
        if not isinstance(destination, AgentDestination) and not number:
            supported = "agents and numbers" if v11 else "agents only on a protocol 1.0 switch"
            raise _unavailable(
                f"consultation to a {destination.__struct_config__.tag} destination is not "
                f"supported ({supported}; use call.single_step_transfer for queues)",
                kind=str(destination.__struct_config__.tag),
            )
        target: AgentRecord | None = None
        contact: str | None = None
        if isinstance(destination, AgentDestination):
            target = c.agent(destination.agent_id)
            if target.agent_id == agent_id:
                raise _unavailable("an agent cannot consult itself", agent_id=agent_id)
            state = c.engine.agent_state(target.agent_id)
            if state != EngineState.READY:
                raise _unavailable(
                    f"agent {target.agent_id} is not ready", agent_id=target.agent_id, state=state
                )
            contact = c.switches.contact(target.extension or target.agent_id)
            if contact is None:
                raise _unavailable(
                    f"agent {target.agent_id} has no registered softphone",
                    agent_id=target.agent_id,
                )
        if c.switches.session(call.switch_id) is None:
            raise DomainError(
                ErrorCode.UNAVAILABLE,
                f"switch {call.switch_id} is not connected",
                {"switch": call.switch_id},
            )
        wall = c.clock.wall()
        target_id = target.agent_id if target is not None else None
        consult = CallRecord(
            new_id(),
            call.switch_id,
            wall,
            caller=call.caller,
            called=call.called,
            customer_id=call.customer_id,
            customer_name=call.customer_name,
            tier=call.tier,
            queue_id=call.queue_id,
            skill=call.skill,
            business_selection=call.business_selection,
            agent_id=target_id,
            state=CallState.OFFERED,
            state_since=wall,
            direct=True,
            consult_of=call.call_id,
            from_agent=agent_id,
            destination=destination,
            trajectory=list(call.trajectory),
        )
        # reserve the target in the engine at once (no await before): nothing else rings it
        actions = (
            c.call_engine(c.engine.agent_not_ready, target_id, CONSULT_OFFERED_REASON, c.now())
            if target_id is not None
            else []
        )
        call.consult_id = consult.call_id
        c.track(consult)
        if target is not None:
            target.call_id = consult.call_id
        if v11:
            self._v11.add(consult.call_id)
        await c.run(actions, ctx=c.ctx(target_id))
        timeout = c.domain.command_timeout
        offered_to = target_id or (
            destination.number if isinstance(destination, NumberDestination) else None
        )

        async def record() -> None:
            await c.store_event(
                consult.call_id,
                CallEventKind.ARRIVED,
                {
                    "caller_number": call.caller,
                    "called_number": call.called,
                    "switch_id": call.switch_id,
                    "consult_of": call.call_id,
                    "from_agent": agent_id,
                },
                at=wall,
                event_key="arrived",
            )
            offered: dict[str, object] = {"agent_id": target_id}
            if target_id is None:
                offered["number"] = offered_to
            await c.store_event(consult.call_id, CallEventKind.OFFERED, offered)
            consult.step(c.clock.wall(), TrajectoryKind.OFFER, offered_to, "consult")

        async def announce() -> None:
            if target_id is not None:
                self._push(
                    target_id,
                    AgentReserved(
                        agent_id=target_id,
                        call_id=consult.call_id,
                        expires_at=c.clock.wall() + c.domain.ring_timeout,
                    ),
                )
                assert target is not None
                self._push(target_id, c.delivered(consult, target))
            self._push(
                agent_id,
                CallOriginated(
                    call_id=consult.call_id,
                    agent_id=agent_id,
                    destination=destination,
                    consult_of=call.call_id,
                ),
            )

        try:
            if v11:
                await self._consult_v11(call, consult, contact, record, announce)
                return consult.call_id
            if call.state is CallState.ESTABLISHED:
                await c.switches.command(
                    call.switch_id, call.call_id, Hold(agent_id=agent_id), timeout=timeout
                )
                await c.apply_hold(call, held=True, at=c.clock.wall())

            async def ring() -> None:
                await record()
                await announce()

            await c.run((), first=ring)
            assert target_id is not None
            assert contact is not None
            await c.switches.command(
                call.switch_id,
                call.call_id,
                OfferToAgent(
                    agent_id=target_id,
                    sip_contact=contact,
                    ring_timeout_seconds=c.domain.ring_timeout,
                    caller_display=(call.customer_name or call.caller or agent_id)[:128],
                ),
                timeout=timeout,
            )
        except DomainError as exc:
            if call.consult_id == consult.call_id:
                await self._failed(call, consult, ClearCause.FAILED, exc.message[:1024])
            raise
        return consult.call_id

    async def _consult_v11(
        self,
        call: CallRecord,
        consult: CallRecord,
        contact: str | None,
        record: Callable[[], Awaitable[None]],
        announce: Callable[[], Awaitable[None]],
    ) -> None:
        """1.1: one ``consult`` command (the switch holds the caller and dials the leg);
        the desktops hear of the consultation once the switch confirmed it, in the same
        order as on a 1.0 switch (held, then reserved / delivered / originated). Consult-leg
        reports arriving before that are kept and replayed afterwards."""
        c = self.centre
        assert consult.destination is not None
        self._quiet[consult.call_id] = []
        try:
            await c.run((), first=record)
            await c.switches.command(
                call.switch_id,
                call.call_id,
                Consult(
                    consult_call_id=consult.call_id,
                    destination=consult.destination,
                    agent_sip_contact=contact,
                    ring_timeout_seconds=c.domain.ring_timeout,
                ),
                timeout=c.domain.command_timeout,
            )
            if call.consult_id != consult.call_id or call.closed:
                raise invalid_state(
                    f"call {call.call_id} ended before the consultation started",
                    call_id=call.call_id,
                )
            if call.state is CallState.ESTABLISHED:  # the switch's `held` may still come
                await c.apply_hold(call, held=True, at=c.clock.wall())
            await c.run((), first=announce)
        except DomainError as exc:
            if call.consult_id == consult.call_id:  # nobody was told of it: no events
                await self._failed(call, consult, ClearCause.FAILED, exc.message[:1024])
            raise
        finally:
            early = self._quiet.pop(consult.call_id, [])
        for ev in early:
            if call.consult_id != consult.call_id:
                break
            await self.leg_event(call, consult, ev)

    async def _completed_by(
        self, call: CallRecord, consult: CallRecord, action: SwitchAction, timeout: float
    ) -> bool:
        """Send a 1.1 ``consult_drop`` / ``transfer_consult`` / ``conference`` and wait for
        its acknowledgement; the switch's reports of its outcome meanwhile are
        acknowledged (:meth:`switch_event`), the server applies it on the ack. Returns
        whether the switch already reported the call's ``transferred`` / ``conferenced``."""
        c = self.centre
        self._completing[call.call_id] = consult.call_id
        self._reported.discard(call.call_id)
        try:
            await c.switches.command(call.switch_id, call.call_id, action, timeout=timeout)
        finally:
            if self._completing.get(call.call_id) == consult.call_id:
                del self._completing[call.call_id]
        reported = call.call_id in self._reported
        self._reported.discard(call.call_id)
        return reported

    async def control(self, agent_id: str, consult: CallRecord, request: str) -> bool:
        """``call.answer`` / ``call.release`` of a 1.1 consultation (``False``: a 1.0 one,
        the centre sends its commands on the original call's consult leg).

        Release is ``consult_drop`` (the switch reports ``released`` on the consultation's
        id, which ends it as on a 1.0 switch). A 1.1 switch dials the consult leg itself
        and connects it when the softphone answers: ``call.answer`` is ``invalid_state``
        (answer on the softphone), nothing is sent."""
        if consult.call_id not in self._v11:
            return False
        c = self.centre
        if agent_id not in (consult.agent_id, consult.from_agent):
            raise DomainError(
                ErrorCode.UNKNOWN_CALL,
                f"call {consult.call_id} is not at this agent",
                {"call_id": consult.call_id},
            )
        original = consult.consult_of or consult.call_id
        if request == "answer" and agent_id == consult.agent_id:
            if consult.state is not CallState.OFFERED:
                raise invalid_state("the consultation is not ringing", state=str(consult.state))
            raise invalid_state(
                "answer the consultation on the softphone: the switch connects it then",
                consult_call_id=consult.call_id,
            )
        if request == "release":
            await c.switches.command(
                consult.switch_id,
                original,
                ConsultDrop(consult_call_id=consult.call_id),
                timeout=c.domain.command_timeout,
            )
        else:
            raise invalid_state(
                f"cannot {request} a consultation (use call.reconnect / transfer / conference)",
                state=str(consult.state),
            )
        return True

    async def _transferred_out(self, agent_id: str, call: CallRecord, consult: CallRecord) -> None:
        """A 1.1 consultative transfer to an external number completed: the caller talks to
        that number through the switch's trunk; the agent's part is over (ACW)."""
        c = self.centre
        to = consult.destination
        assert isinstance(to, NumberDestination)
        actions = c.end_agent_part(call, agent_id, contact="transferred")

        async def first() -> None:
            at = c.clock.wall()
            await c.store_event(
                call.call_id,
                CallEventKind.TRANSFERRED,
                {"from_agent": agent_id, "to_number": to.number, "mode": "consultative"},
                at=at,
            )
            await c.store_event(consult.call_id, CallEventKind.RELEASED, {"by": "transfer"}, at=at)
            await c.store.close_call(consult.call_id, "consult_transferred", at)
            call.step(at, TrajectoryKind.TRANSFER, agent_id, f"consultative to {to.number}")
            c.monitors.agent_left(call.call_id, agent_id)
            self._push(
                agent_id,
                CallTransferred(
                    call_id=call.call_id, agent_id=agent_id, from_agent=agent_id, to=to
                ),
            )
            self._push(
                agent_id,
                CallConnectionCleared(
                    call_id=consult.call_id, agent_id=agent_id, cause=ClearCause.TRANSFERRED
                ),
            )
            call.consult_id = None
            self._remember(consult)
            c.forget(consult)
            call.agent_id, call.direct, call.from_agent = None, False, agent_id
            call.state, call.state_since = CallState.ESTABLISHED, at
            call.transfer_applied = True
            rec = c.agents.get(agent_id)
            if rec is not None and rec.call_id == call.call_id:
                rec.call_id = None

        await c.run(actions, ctx=c.ctx(agent_id), first=first)

    # ------------------------------------------------------------------ failures / ends

    async def _failed(
        self,
        call: CallRecord,
        consult: CallRecord,
        cause: ClearCause,
        detail: str | None,
        *,
        target_reason: str | None = None,
    ) -> None:
        """The consultation could not be set up (or was cancelled while ringing): the
        consulted agent is freed, the consulting agent told; the original stays held."""
        c = self.centre
        target_id = consult.agent_id
        actions = (
            c.end_direct(consult, target_id, acw=False, reason=target_reason)
            if target_id is not None
            else []
        )

        async def first() -> None:
            await c.store_event(
                consult.call_id,
                CallEventKind.RONA,
                {"agent_id": target_id, "cause": str(cause)},
            )
            await c.store.close_call(consult.call_id, "consult_failed", c.clock.wall())
            if consult.call_id in self._quiet:  # the desktops never heard of it
                self._detach(call, consult)
                return
            self._push(
                target_id,
                CallDiverted(
                    call_id=consult.call_id,
                    agent_id=target_id or "",
                    reason=DivertReason.NO_ANSWER
                    if cause is ClearCause.NO_ANSWER
                    else DivertReason.REROUTED,
                ),
            )
            self._push(
                consult.from_agent,
                CallFailed(
                    call_id=consult.call_id,
                    agent_id=consult.from_agent or "",
                    cause=cause,
                    detail=detail,
                ),
            )
            self._detach(call, consult)

        await c.run(actions, ctx=c.ctx(target_id), first=first)

    async def _cleared(self, call: CallRecord, consult: CallRecord, by: str) -> None:
        """An answered consultation ended; the original call stays held."""
        c = self.centre
        target_id = consult.agent_id
        actions = c.end_direct(consult, target_id, acw=False) if target_id is not None else []

        async def first() -> None:
            at = c.clock.wall()
            await c.store_event(consult.call_id, CallEventKind.RELEASED, {"by": by}, at=at)
            await c.store.close_call(consult.call_id, "consult", at)
            for agent in (target_id, consult.from_agent):
                self._push(
                    agent,
                    CallConnectionCleared(
                        call_id=consult.call_id,
                        agent_id=agent or "",
                        released_by=PartyRole.CONSULT if by == "consult" else PartyRole.AGENT,
                    ),
                )
            self._detach(call, consult)

        await c.run(actions, ctx=c.ctx(target_id), first=first)

    def _detach(self, call: CallRecord, consult: CallRecord) -> None:
        self._remember(consult)
        if call.consult_id == consult.call_id:
            call.consult_id = None
        target = self.centre.agents.get(consult.agent_id or "")
        if target is not None and target.call_id == consult.call_id:
            target.call_id = None
        self.centre.forget(consult)

    async def drop(self, call: CallRecord, detail: str) -> None:
        """End the consultation of ``call`` (the original call ends or the switch is lost)."""
        consult = self.centre.calls.get(call.consult_id or "")
        if consult is None:
            call.consult_id = None
            return
        if consult.state is CallState.OFFERED:
            await self._failed(call, consult, ClearCause.FAILED, detail)
        else:
            await self._cleared(call, consult, "system")

    async def withdraw(self, consult: CallRecord, reason: str) -> None:
        """The consulted agent's desktop vanished while the consultation rang."""
        c = self.centre
        call = c.calls.get(consult.consult_of or "")
        action: SwitchAction = (
            ConsultDrop(consult_call_id=consult.call_id)
            if consult.call_id in self._v11
            else Hangup(leg=LegRole.CONSULT, cause=ClearCause.NO_ANSWER)
        )
        with contextlib.suppress(DomainError):
            c.switches.send(consult.switch_id, consult.consult_of or consult.call_id, action)
        if call is None:
            c.forget(consult)
            return
        await self._failed(call, consult, ClearCause.NO_ANSWER, reason, target_reason=reason)

    # ------------------------------------------------------------------ switch events

    async def leg_event(self, call: CallRecord, consult: CallRecord, ev: SwitchCallEvent) -> None:
        """An event of the consult leg (reported on the original call with ``leg=consult``
        or on the consultation's own call id)."""
        c = self.centre
        K = SwitchCallEventKind
        if ev.kind in (K.ANSWERED, K.BRIDGED):
            if consult.state is not CallState.OFFERED:
                return
            target_id = consult.agent_id
            actions = (
                c.call_engine(c.engine.agent_not_ready, target_id, DIRECT_CALL_REASON, c.now())
                if target_id is not None
                else []
            )

            async def first() -> None:
                await c.store_event(
                    consult.call_id, CallEventKind.ANSWERED, {"agent_id": target_id}, at=ev.at
                )
                consult.state, consult.state_since, consult.answered = (
                    CallState.ESTABLISHED,
                    ev.at,
                    True,
                )
                consult.step(ev.at, TrajectoryKind.ANSWER, target_id, "consult")
                for agent in (target_id, consult.from_agent):
                    if agent is None:
                        continue
                    self._push(
                        agent, CallEstablished(call_id=consult.call_id, agent_id=agent or "")
                    )

            await c.run(actions, ctx=c.ctx(target_id), first=first)
        elif ev.kind is K.FAILED or (ev.kind is K.RELEASED and consult.state is CallState.OFFERED):
            cause = ev.cause or ClearCause.NO_ANSWER
            reason = "ring-no-answer" if cause is ClearCause.NO_ANSWER else None
            await self._failed(call, consult, cause, ev.detail, target_reason=reason)
        elif ev.kind is K.RELEASED:
            await self._cleared(call, consult, ev.leg.value)
        # held / retrieved / recording of the consult leg: acknowledged only

    # ------------------------------------------------------------------ reconnect

    async def reconnect(self, agent_id: str, call_id: str, consult_call_id: str) -> None:
        """Drop the consultation (ringing or answered) and retrieve the original call."""
        c = self.centre
        call, consult = self._pair(agent_id, call_id, consult_call_id)
        timeout = c.domain.command_timeout
        if consult.call_id in self._v11:
            await self._completed_by(
                call, consult, ConsultDrop(consult_call_id=consult.call_id), timeout
            )
        else:
            await c.switches.command(
                call.switch_id, call.call_id, Hangup(leg=LegRole.CONSULT), timeout=timeout
            )
        if call.consult_id == consult.call_id:
            if consult.state is CallState.OFFERED:
                await self._failed(call, consult, ClearCause.NORMAL, "reconnected")
            else:
                await self._cleared(call, consult, "agent")
        if call.state is CallState.HELD:
            await c.switches.command(
                call.switch_id, call.call_id, Unhold(agent_id=agent_id), timeout=timeout
            )
            await c.apply_hold(call, held=False, at=c.clock.wall())

    # ------------------------------------------------------------------ transfer

    async def transfer(self, agent_id: str, call_id: str, consult_call_id: str) -> None:
        """Complete a consultative transfer: the caller goes to the consulted agent."""
        c = self.centre
        call, consult = self._pair(agent_id, call_id, consult_call_id)
        if consult.state is not CallState.ESTABLISHED:
            raise invalid_state(
                "the consultation is not answered yet", consult_call_id=consult_call_id
            )
        target_id = consult.agent_id
        reported = False
        if consult.call_id in self._v11:
            self._handed_over[call.call_id] = agent_id
            try:
                reported = await self._completed_by(
                    call,
                    consult,
                    TransferConsult(consult_call_id=consult.call_id),
                    c.domain.command_timeout,
                )
            except DomainError:
                self._handed_over.pop(call.call_id, None)
                raise
            if target_id is None:
                if call.consult_id == consult.call_id and not call.closed:
                    await self._transferred_out(agent_id, call, consult)
                    if reported:
                        call.transfer_applied = False
                return
        else:
            assert target_id is not None
            contact = c.switches.contact(c.agents[target_id].extension or target_id)
            await c.switches.command(
                call.switch_id,
                call.call_id,
                TransferCall(
                    destination=AgentDestination(agent_id=target_id), agent_sip_contact=contact
                ),
                timeout=c.domain.command_timeout,
            )
        if call.consult_id != consult.call_id or call.closed:
            return  # the call or the consultation ended meanwhile
        assert target_id is not None
        target = c.agents[target_id]
        actions = c.end_agent_part(call, agent_id, contact="transferred")
        to = AgentDestination(agent_id=target_id)

        async def first() -> None:
            at = c.clock.wall()
            await c.store_event(
                call.call_id,
                CallEventKind.TRANSFERRED,
                {"from_agent": agent_id, "to_agent": target_id, "mode": "consultative"},
                at=at,
            )
            await c.store_event(consult.call_id, CallEventKind.RELEASED, {"by": "transfer"}, at=at)
            await c.store.close_call(consult.call_id, "consult_transferred", at)
            if call.state is CallState.HELD:  # the caller is connected again (hold ends)
                await c.store_event(
                    call.call_id, CallEventKind.RETRIEVED, {"agent_id": target_id}, at=at
                )
            call.step(at, TrajectoryKind.TRANSFER, agent_id, f"consultative to {target_id}")
            c.monitors.agent_left(call.call_id, agent_id)
            self._push(
                agent_id,
                CallTransferred(
                    call_id=call.call_id, agent_id=agent_id, from_agent=agent_id, to=to
                ),
            )
            self._push(
                agent_id,
                CallConnectionCleared(
                    call_id=consult.call_id, agent_id=agent_id, cause=ClearCause.TRANSFERRED
                ),
            )
            call.consult_id = None
            self._remember(consult)
            c.forget(consult)
            call.agent_id, call.direct, call.from_agent = target_id, True, agent_id
            call.state, call.state_since = CallState.ESTABLISHED, at
            call.transfer_applied = True
            target.call_id = call.call_id
            self._push(
                target_id,
                CallTransferred(
                    call_id=consult.call_id,
                    agent_id=target_id,
                    from_agent=agent_id,
                    to=to,
                    new_call_id=call.call_id,
                ),
            )
            self._push(target_id, c.delivered(call, target))
            self._push(target_id, CallEstablished(call_id=call.call_id, agent_id=target_id))

        await c.run(actions, ctx=c.ctx(agent_id), first=first)
        if reported:  # the switch's `transferred` came before its ack: nothing more to skip
            call.transfer_applied = False

    # ------------------------------------------------------------------ conference

    def parties(self, call: CallRecord) -> tuple[Party, ...]:
        return (
            Party(role=PartyRole.CALLER, number=call.caller),
            Party(role=PartyRole.AGENT, agent_id=call.agent_id),
            Party(role=PartyRole.CONSULT, agent_id=call.conferenced_with),
        )

    async def conference(self, agent_id: str, call_id: str, consult_call_id: str) -> None:
        """Join the held call and the answered consultation into a three-way conference."""
        c = self.centre
        call, consult = self._pair(agent_id, call_id, consult_call_id)
        if consult.state is not CallState.ESTABLISHED:
            raise invalid_state(
                "the consultation is not answered yet", consult_call_id=consult_call_id
            )
        target_id = consult.agent_id
        if target_id is None:
            raise _unavailable(
                "a conference with an external number is not supported yet",
                consult_call_id=consult_call_id,
            )
        action = Conference(consult_call_id=consult.call_id)
        if consult.call_id in self._v11:
            await self._completed_by(call, consult, action, c.domain.command_timeout)
        else:
            await c.switches.command(
                call.switch_id, call.call_id, action, timeout=c.domain.command_timeout
            )
        if call.consult_id != consult.call_id or call.closed:
            return
        target = c.agents[target_id]

        async def first() -> None:
            at = c.clock.wall()
            await c.store_event(
                call.call_id,
                CallEventKind.CONFERENCED,
                {"agent_id": agent_id, "with_agent": target_id},
                at=at,
            )
            if call.state is CallState.HELD:
                await c.store_event(
                    call.call_id, CallEventKind.RETRIEVED, {"agent_id": agent_id}, at=at
                )
            await c.store_event(
                consult.call_id, CallEventKind.RELEASED, {"by": "conference"}, at=at
            )
            await c.store.close_call(consult.call_id, "consult_conferenced", at)
            call.step(at, TrajectoryKind.CONFERENCE, agent_id, f"with {target_id}")
            call.consult_id = None
            self._remember(consult, merged_into=call.call_id)
            c.forget(consult)
            call.conferenced_with = target_id
            call.state, call.state_since = CallState.CONFERENCED, at
            target.call_id = call.call_id
            parties = self.parties(call)
            self._push(
                agent_id,
                CallConnectionCleared(call_id=consult.call_id, agent_id=agent_id),
            )
            self._push(
                agent_id, CallConferenced(call_id=call.call_id, agent_id=agent_id, parties=parties)
            )
            self._push(
                target_id, CallConnectionCleared(call_id=consult.call_id, agent_id=target_id)
            )
            self._push(target_id, c.delivered(call, target))
            self._push(
                target_id,
                CallConferenced(call_id=call.call_id, agent_id=target_id, parties=parties),
            )

        await c.run((), first=first)

    async def leave_conference(self, call: CallRecord, agent_id: str, at: float) -> None:
        """One agent hung up: the call goes on between the caller and the other agent."""
        c = self.centre
        other = call.conferenced_with if agent_id == call.agent_id else call.agent_id
        actions: list[Action] = c.end_agent_part(call, agent_id, contact="conference_left")

        async def first() -> None:
            if agent_id == call.agent_id and other is not None:
                # the conference's first agent left: the call is now the other agent's
                await c.store_event(
                    call.call_id,
                    CallEventKind.TRANSFERRED,
                    {"from_agent": agent_id, "to_agent": other, "mode": "conference_left"},
                    at=at,
                )
                call.step(at, TrajectoryKind.TRANSFER, agent_id, f"left conference to {other}")
                call.agent_id, call.direct, call.from_agent = other, True, agent_id
            c.monitors.agent_left(call.call_id, agent_id)
            call.conferenced_with = None
            call.state, call.state_since = CallState.ESTABLISHED, at
            rec = c.agents.get(agent_id)
            if rec is not None and rec.call_id == call.call_id:
                rec.call_id = None
            self._push(agent_id, CallConnectionCleared(call_id=call.call_id, agent_id=agent_id))
            self._push(other, CallEstablished(call_id=call.call_id, agent_id=other or ""))

        await c.run(actions, ctx=c.ctx(agent_id), first=first)

    # ------------------------------------------------------------------ blind transfer to an agent

    def reserve_transfer_target(self, agent_id: str, target_id: str) -> list[Action]:
        """``call.single_step_transfer`` to an agent: the target must be logged on and
        ready (``destination_unavailable`` otherwise, nothing sent). Returns the engine
        actions that keep it from being offered anything else while the transfer rings
        (not ready ``consult_offered``, as for a consultation)."""
        c = self.centre
        if target_id == agent_id:
            raise _unavailable("an agent cannot transfer a call to itself", agent_id=agent_id)
        target = c.agent(target_id)
        state = c.engine.agent_state(target.agent_id)
        if state != EngineState.READY:
            raise _unavailable(f"agent {target_id} is not ready", agent_id=target_id, state=state)
        return c.call_engine(c.engine.agent_not_ready, target_id, CONSULT_OFFERED_REASON, c.now())

    async def release_transfer_target(self, call: CallRecord, target_id: str) -> None:
        """The transfer command failed: the reserved target is ready again."""
        c = self.centre
        if call.agent_id == target_id and call.state is CallState.OFFERED:
            return  # the switch reported the transfer anyway: its end frees the target
        await c.run(c.end_direct(call, target_id, acw=False), ctx=c.ctx(target_id))

    async def transfer_offered(
        self, call: CallRecord, target_id: str, from_agent: str | None, at: float
    ) -> None:
        """The switch reported a blind transfer to ``target_id`` (it rings the target's
        softphone): the call is the target's direct call, offered (the engine keeps the
        target not ready); the target's desktop gets ``agent.reserved`` and the screen
        pop with ``from_agent``. A target the server did not reserve (not ready, logged
        off) is left alone: the call is then only the switch's until it ends."""
        c = self.centre
        target = c.agents.get(target_id)
        if target is None or call.closed:
            return
        actions: list[Action] = []
        if c.direct_reason(target_id) != CONSULT_OFFERED_REASON:
            if c.engine.agent_state(target_id) != EngineState.READY:
                log.warning("%s: transferred to %s, who is not ready", call.call_id, target_id)
                return
            actions = c.call_engine(
                c.engine.agent_not_ready, target_id, CONSULT_OFFERED_REASON, c.now()
            )

        async def first() -> None:
            await c.store_event(call.call_id, CallEventKind.OFFERED, {"agent_id": target_id}, at=at)
            call.step(at, TrajectoryKind.OFFER, target_id, "transfer")
            call.agent_id, call.state, call.state_since = target_id, CallState.OFFERED, at
            call.direct, call.from_agent = True, from_agent
            target.call_id = call.call_id
            self._push(
                target_id,
                AgentReserved(
                    agent_id=target_id,
                    call_id=call.call_id,
                    expires_at=c.clock.wall() + c.domain.ring_timeout,
                ),
            )
            self._push(target_id, c.delivered(call, target))

        await c.run(actions, ctx=c.ctx(target_id), first=first)

    def transfer_ringing(self, call: CallRecord) -> bool:
        """Whether ``call`` is a blind transfer ringing its target (a direct offer)."""
        return call.direct and call.state is CallState.OFFERED and call.consult_of is None

    async def transfer_answered(self, call: CallRecord, ev: SwitchCallEvent) -> None:
        """The target's softphone answered the transferred call: busy on it (direct)."""
        c = self.centre
        target_id = call.agent_id
        if target_id is None or (ev.agent_id is not None and ev.agent_id != target_id):
            raise invalid_state(f"call {call.call_id} is not offered to {ev.agent_id}")
        actions = c.call_engine(c.engine.agent_not_ready, target_id, DIRECT_CALL_REASON, c.now())

        async def first() -> None:
            await c.store_event(
                call.call_id, CallEventKind.ANSWERED, {"agent_id": target_id}, at=ev.at
            )
            call.state, call.state_since, call.answered = CallState.ESTABLISHED, ev.at, True
            call.step(ev.at, TrajectoryKind.ANSWER, target_id, "transfer")
            self._push(target_id, CallEstablished(call_id=call.call_id, agent_id=target_id))

        await c.run(actions, ctx=c.ctx(target_id), first=first)

    async def transfer_not_answered(self, call: CallRecord, ev: SwitchCallEvent) -> None:
        """The transfer's target did not answer (or refused): the target is freed (not
        ready ``ring-no-answer`` on no answer, like a consultation's target), the call
        waits in its queue again (the switch keeps it with music until an offer)."""
        c = self.centre
        target_id = call.agent_id
        assert target_id is not None
        cause = ev.cause or ClearCause.NO_ANSWER
        reason = "ring-no-answer" if cause is ClearCause.NO_ANSWER else None
        actions = c.end_direct(call, target_id, acw=False, reason=reason)

        async def first() -> None:
            await c.store_event(
                call.call_id, CallEventKind.RONA, {"agent_id": target_id, "cause": str(cause)}
            )
            call.agent_id, call.state, call.direct = None, None, False
            self._push(
                target_id,
                CallDiverted(
                    call_id=call.call_id,
                    agent_id=target_id,
                    reason=DivertReason.NO_ANSWER
                    if cause is ClearCause.NO_ANSWER
                    else DivertReason.REJECTED,
                ),
            )

        await c.run(actions, ctx=c.ctx(target_id), first=first)
        queue_id = call.queue_id
        tier_id = call.tier or c.domain.default_tier
        if call.closed or queue_id is None or tier_id is None:
            return
        spec = CallSpec(
            call_id=call.call_id,
            queue_id=queue_id,
            tier_id=tier_id,
            business_selection=call.business_selection or "",
            priority=call.priority,
        )
        call.queued = True
        await c.run(c.call_engine(c.engine.call_arrived, spec, c.now()))
