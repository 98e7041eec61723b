"""Consultation, consultative transfer, three-way conference and reconnect (R-IN-8).

The switch models a consultation as a third leg of the original call (``leg=consult``):
the CTI server holds the agent's leg (``hold``) and rings the consulted agent on the
original call (``offer_to_agent``); it completes a transfer with ``transfer`` to that
agent, joins everyone with ``conference{consult_call_id}`` and drops the consultation
with ``hangup{leg: consult}``. For the desktops the consultation is a call of its own
(``consult_call_id``, ``consult_of``). The consulted agent is not routed by the engine:
while the consultation rings and runs the engine keeps that agent not ready with the
system reasons ``consult_offered`` / ``direct_call`` (reserved / busy on the wire), so no
other call is offered meanwhile. Every desktop request is answered after the switch
acknowledged its commands; see docs/cti_server.md for the sequences.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from cti_server.routing import Action
from cti_server.routing import AgentState as EngineState
from cti_server.store import CallEventKind
from cti_server.ws import DomainError
from shared.ids import new_id
from shared.protocol.agent import AgentReserved
from shared.protocol.base import Event
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
    Party,
    PartyRole,
    TrajectoryKind,
)
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import (
    Conference,
    Hangup,
    Hold,
    LegRole,
    OfferToAgent,
    SwitchCallEvent,
    SwitchCallEventKind,
    TransferCall,
    Unhold,
)

from .config import CONSULT_OFFERED_REASON, DIRECT_CALL_REASON
from .errors import invalid_state
from .model import CallRecord

if TYPE_CHECKING:
    from .centre import ContactCentre


def _unavailable(message: str, **detail: str) -> DomainError:
    return DomainError(ErrorCode.DESTINATION_UNAVAILABLE, message, dict(detail))


class Consultations:
    """The consultation requests of the desktops and the consult-leg events of the switch."""

    def __init__(self, centre: ContactCentre) -> None:
        self.centre = centre

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
        if not isinstance(destination, AgentDestination):
            raise _unavailable(
                f"consultation to a {destination.__struct_config__.tag} destination is not "
                "supported yet (agents only; use call.single_step_transfer for queues)",
                kind=str(destination.__struct_config__.tag),
            )
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
                f"agent {target.agent_id} has no registered softphone", agent_id=target.agent_id
            )
        if c.switches.session(call.switch_id) is None:
            raise DomainError(
                ErrorCode.UNAVAILABLE,
                f"switch {call.switch_id} is not connected",
                {"switch": call.switch_id},
            )
        wall = c.clock.wall()
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
            agent_id=target.agent_id,
            state=CallState.OFFERED,
            state_since=wall,
            direct=True,
            consult_of=call.call_id,
            from_agent=agent_id,
            destination=destination,
            trajectory=list(call.trajectory),
        )
        # reserve the target in the engine at once (no await before): nothing else rings it
        actions = c.call_engine(
            c.engine.agent_not_ready, target.agent_id, CONSULT_OFFERED_REASON, c.now()
        )
        call.consult_id = consult.call_id
        c.track(consult)
        target.call_id = consult.call_id
        await c.run(actions, ctx=c.ctx(target.agent_id))
        timeout = c.domain.command_timeout
        try:
            if call.state is CallState.ESTABLISHED:
                await c.switches.command(
                    call.switch_id, call.call_id, Hold(agent_id=agent_id), timeout=timeout
                )
                await c.apply_hold(call, held=True, at=c.clock.wall())

            async def ring() -> None:
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
                await c.store_event(
                    consult.call_id, CallEventKind.OFFERED, {"agent_id": target.agent_id}
                )
                consult.step(c.clock.wall(), TrajectoryKind.OFFER, target.agent_id, "consult")
                self._push(
                    target.agent_id,
                    AgentReserved(
                        agent_id=target.agent_id,
                        call_id=consult.call_id,
                        expires_at=c.clock.wall() + c.domain.ring_timeout,
                    ),
                )
                self._push(target.agent_id, c.delivered(consult, target))
                self._push(
                    agent_id,
                    CallOriginated(
                        call_id=consult.call_id,
                        agent_id=agent_id,
                        destination=destination,
                        consult_of=call.call_id,
                    ),
                )

            await c.run((), first=ring)
            await c.switches.command(
                call.switch_id,
                call.call_id,
                OfferToAgent(
                    agent_id=target.agent_id,
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
        with contextlib.suppress(DomainError):
            c.switches.send(
                consult.switch_id,
                consult.consult_of or consult.call_id,
                Hangup(leg=LegRole.CONSULT, cause=ClearCause.NO_ANSWER),
            )
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
            assert target_id is not None
            actions = c.call_engine(
                c.engine.agent_not_ready, target_id, DIRECT_CALL_REASON, c.now()
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
        assert target_id is not None
        target = c.agents[target_id]
        contact = c.switches.contact(target.extension or target_id)
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
        actions = c.end_agent_part(call, agent_id)
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
        assert target_id is not None
        await c.switches.command(
            call.switch_id,
            call.call_id,
            Conference(consult_call_id=consult.call_id),
            timeout=c.domain.command_timeout,
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
        actions: list[Action] = c.end_agent_part(call, agent_id)

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
