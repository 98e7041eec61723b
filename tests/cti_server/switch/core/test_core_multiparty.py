"""Consultation, consultative transfer, conference and listen/whisper/barge on a real
switch (R-IN-8, R-SUP-2): real SIP phones, a real rtpengine, the switch's RTP mixer.

Every party sends its own tone at the same time (caller 1000 Hz, agent 450 Hz,
consulted agent 1400 Hz, supervisor 1800 Hz); what each one hears is measured per
frequency, so a test proves who hears whom and who does not.
"""

from __future__ import annotations

import asyncio

import pytest

from cti_server.switch.core import SwitchApp
from cti_server.switch.core.calls import Phase
from cti_server.switch.media.testing import Leg, audio_sdp, media_ports
from cti_server.switch.ports import CommandFailed
from shared.protocol.call import (
    AgentDestination,
    ClearCause,
    NumberDestination,
    QueueDestination,
)
from shared.protocol.errors import ErrorCode
from shared.protocol.supervisor import MonitorMode
from shared.protocol.switch import (
    Conference,
    Consult,
    ConsultDrop,
    Hangup,
    Hold,
    LegRole,
    Monitor,
    MonitorStop,
    SwitchCallEventKind,
    TransferConsult,
    Unhold,
)
from tests.cti_server.switch.core.conftest import PhoneFactory, SwitchFactory
from tests.cti_server.switch.core.core_support import (
    Phone,
    RecordingDecider,
    exchange_tones,
    find_report,
    media_calls_gone,
    tone_level,
    wait_report,
)
from tests.cti_server.switch.core.test_core_call_path import hears_moh
from tests.cti_server.switch.core.test_core_transfer import (
    NUMBER,
    bridged_call,
    contact_of,
    with_gateway,
)

pytestmark = pytest.mark.asyncio

K = SwitchCallEventKind
C_HZ, A_HZ, B_HZ, S_HZ = 1000.0, 450.0, 1400.0, 1800.0
HEARD = 1500.0
"""Tone level above which a party clearly hears a tone (sent at 8000 for 0.8 s)."""
SILENT = 400.0
"""Tone level below which a party does not hear it."""
CONSULT_ID = "c-consult-0001"


def heard(leg: Leg) -> set[float]:
    """Which of the test tones ``leg`` heard; raises if one is in between (unclear)."""
    result: set[float] = set()
    for freq in (C_HZ, A_HZ, B_HZ, S_HZ):
        level = tone_level(leg, freq)
        assert level >= HEARD or level <= SILENT, f"{freq} Hz at level {level:.0f}: unclear"
        if level >= HEARD:
            result.add(freq)
    return result


def legs(*phones: Phone) -> list[Leg]:
    out = []
    for phone in phones:
        assert phone.leg is not None
        out.append(phone.leg)
    return out


async def start_consult(
    app: SwitchApp, decider: RecordingDecider, call_id: str, consulted: Phone
) -> None:
    await app.core.execute(
        call_id,
        Consult(
            consult_call_id=CONSULT_ID,
            destination=AgentDestination(agent_id="1002"),
            agent_sip_contact=contact_of(consulted),
        ),
    )
    await wait_report(decider, K.RINGING, LegRole.CONSULT, call_id=CONSULT_ID)
    answered = await wait_report(decider, K.ANSWERED, LegRole.CONSULT, call_id=CONSULT_ID)
    assert answered.agent_id == "1002"


@pytest.mark.slow
async def test_core_consult_caller_hears_music_then_drop_and_retrieve(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: consult → the caller is held (``held``) and hears music, neither agent;
    agent and consulted agent hear each other only. consult_drop → the consulted agent
    gets BYE (``released`` on the consult call), the caller stays held; unhold → caller
    and agent talk again through the mixer."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    consulted = await make_phone("1002")
    c, a, b = legs(caller, agent, consulted)

    await start_consult(app, decider, call_id, consulted)
    assert (await decider.wait_for(K.HELD)).agent_id == "1001"
    assert agent.reinvites == 1  # moved onto the mixer; the caller was not re-INVITEd
    first_offer = agent.invites[0].offer
    assert first_offer is not None
    moved = agent.reinvite_offers[0].origin  # same SDP session, next version (RFC 3264)
    assert moved.session_id == first_offer.origin.session_id
    assert moved.session_version == first_offer.origin.session_version + 1
    assert app.core.calls[call_id].phase is Phase.HELD
    await exchange_tones({c: C_HZ, a: A_HZ, b: B_HZ})
    assert heard(a) == {B_HZ}
    assert heard(b) == {A_HZ}
    assert heard(c) == set()
    assert await hears_moh(c)

    await app.core.execute(call_id, ConsultDrop(consult_call_id=CONSULT_ID))
    await asyncio.wait_for(consulted.bye.wait(), 3)
    released = await wait_report(decider, K.RELEASED, LegRole.CONSULT, call_id=CONSULT_ID)
    assert released.cause is ClearCause.NORMAL
    assert app.core.calls[call_id].phase is Phase.HELD
    assert await hears_moh(c)
    assert not agent.bye.is_set()

    await app.core.execute(call_id, Unhold(agent_id="1001"))
    await decider.wait_for(K.RETRIEVED)
    # Two parties left: back on the fast path (the agent re-INVITEd to rtpengine).
    assert app.core.calls[call_id].mix is None and agent.reinvites == 2
    assert agent.reinvite_offers[1].origin.session_version == moved.session_version + 1
    await exchange_tones({c: C_HZ, a: A_HZ})
    assert heard(c) == {A_HZ}
    assert heard(a) == {C_HZ}

    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)
    assert await media_calls_gone(app.engine.client)
    assert app.core.mixer is not None and app.core.mixer.rooms == {}


async def test_core_consult_then_transfer_connects_caller_and_consulted_agent(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: transfer_consult → the first agent gets BYE, ``transferred`` (agent 1002)
    on the call and ``released`` (transferred) on the consult call; caller and 1002 hear
    each other (back on the fast path); 1002 hanging up ends the call."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    consulted = await make_phone("1002")
    c, a, b = legs(caller, agent, consulted)
    await start_consult(app, decider, call_id, consulted)

    await app.core.execute(call_id, TransferConsult(consult_call_id=CONSULT_ID))
    await asyncio.wait_for(agent.bye.wait(), 3)
    transferred = await decider.wait_for(K.TRANSFERRED)
    assert (transferred.call_id, transferred.agent_id) == (call_id, "1002")
    done = await wait_report(decider, K.RELEASED, LegRole.CONSULT, call_id=CONSULT_ID)
    assert done.cause is ClearCause.TRANSFERRED
    assert app.core.calls[call_id].phase is Phase.BRIDGED
    assert app.core.calls[call_id].mix is None and consulted.reinvites == 1  # fast path
    # No ``released`` for 1001: deciders would take it for the end of the call.
    assert find_report(decider, K.RELEASED, LegRole.AGENT, agent_id="1001") is None

    await exchange_tones({c: C_HZ, b: B_HZ, a: A_HZ})
    assert heard(c) == {B_HZ}
    assert heard(b) == {C_HZ}
    assert a.received == [] or heard(a) == set()

    # 1002 is now the call's agent: hold works for it.
    await app.core.execute(call_id, Hold(agent_id="1002"))
    assert await hears_moh(c)
    await app.core.execute(call_id, Unhold(agent_id="1002"))

    await consulted.hang_up()
    await asyncio.wait_for(caller.bye.wait(), 3)
    assert (await decider.wait_for(K.RELEASED)).cause is ClearCause.NORMAL
    assert await media_calls_gone(app.engine.client)
    assert app.core.mixer is not None and app.core.mixer.rooms == {}


async def test_core_conference_everyone_hears_the_other_two_and_parties_leave(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: conference → ``conferenced``; each of caller, agent and consulted agent
    hears the other two and not itself. The consulted agent hangs up → ``released``
    (leg consult) on the call, caller and agent go on; the agent hangs up → the call
    ends."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    consulted = await make_phone("1002")
    c, a, b = legs(caller, agent, consulted)
    await start_consult(app, decider, call_id, consulted)

    await app.core.execute(call_id, Conference(consult_call_id=CONSULT_ID))
    assert (await decider.wait_for(K.CONFERENCED)).agent_id == "1002"
    await exchange_tones({c: C_HZ, a: A_HZ, b: B_HZ})
    assert heard(c) == {A_HZ, B_HZ}
    assert heard(a) == {C_HZ, B_HZ}
    assert heard(b) == {C_HZ, A_HZ}

    await consulted.hang_up()
    # Conferenced: the consultation is part of the call, so is the report.
    await wait_report(decider, K.RELEASED, LegRole.CONSULT, call_id=call_id)
    assert app.core.calls[call_id].mix is None and agent.reinvites == 2
    await exchange_tones({c: C_HZ, a: A_HZ})
    assert heard(c) == {A_HZ}
    assert heard(a) == {C_HZ}
    assert not caller.bye.is_set()

    await agent.hang_up()
    await asyncio.wait_for(caller.bye.wait(), 3)
    assert await media_calls_gone(app.engine.client)


async def test_core_conference_agent_leaves_caller_stays_with_consulted_agent(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: in a conference the agent hangs up → ``released`` for 1001 only; caller
    and 1002 keep talking; then the caller hangs up and 1002 gets BYE."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    consulted = await make_phone("1002")
    c, b = legs(caller, consulted)
    await start_consult(app, decider, call_id, consulted)
    await app.core.execute(call_id, Conference(consult_call_id=CONSULT_ID))

    await agent.hang_up()
    await wait_report(decider, K.RELEASED, LegRole.AGENT, agent_id="1001")
    await exchange_tones({c: C_HZ, b: B_HZ})
    assert heard(c) == {B_HZ}
    assert heard(b) == {C_HZ}
    assert not caller.bye.is_set() and not consulted.bye.is_set()

    await caller.hang_up()
    await asyncio.wait_for(consulted.bye.wait(), 3)
    assert await media_calls_gone(app.engine.client)


async def test_core_consulted_party_hangs_up_or_is_hung_up_caller_stays_held(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: the consulted agent hangs up → ``released`` on the consult call, the
    caller stays held with music, the agent stays; ``hangup`` of the consult leg by
    command does the same for a second consultation; the caller hanging up during a
    consultation ends every leg."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    consulted = await make_phone("1002")
    (c,) = legs(caller)
    await start_consult(app, decider, call_id, consulted)
    await consulted.hang_up()
    await wait_report(decider, K.RELEASED, LegRole.CONSULT, call_id=CONSULT_ID)
    assert app.core.calls[call_id].consult is None
    assert app.core.calls[call_id].phase is Phase.HELD
    assert await hears_moh(c)
    assert not agent.bye.is_set()

    decider.reports.clear()
    await start_consult(app, decider, call_id, consulted)
    assert decider.find(K.HELD) is None  # already held: not reported again
    await app.core.execute(call_id, Hangup(leg=LegRole.CONSULT))
    await wait_report(decider, K.RELEASED, LegRole.CONSULT, call_id=CONSULT_ID)

    decider.reports.clear()
    await start_consult(app, decider, call_id, consulted)
    consulted.bye.clear()
    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)
    await asyncio.wait_for(consulted.bye.wait(), 3)
    await wait_report(decider, K.RELEASED, LegRole.CONSULT, call_id=CONSULT_ID)
    assert await media_calls_gone(app.engine.client)
    assert app.core.mixer is not None and app.core.mixer.rooms == {}


@pytest.mark.slow
async def test_core_monitor_listen_whisper_barge_hearing_rules(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-SUP-2: listen → the supervisor hears caller and agent, nobody hears it; whisper
    (same monitor, no new INVITE) → the agent hears the supervisor, the caller does not;
    barge → all hear all; monitor_stop → the supervisor gets BYE, caller and agent go on."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    supervisor = await make_phone("2001")
    c, a, s = legs(caller, agent, supervisor)

    def monitor(mode: MonitorMode) -> Monitor:
        return Monitor(
            monitor_id="m-1",
            agent_id="1001",
            supervisor_id="2001",
            supervisor_contact=contact_of(supervisor),
            mode=mode,
        )

    await app.core.execute(call_id, monitor(MonitorMode.LISTEN))
    await wait_report(decider, K.RINGING, LegRole.SUPERVISOR, agent_id="2001")
    await wait_report(decider, K.ANSWERED, LegRole.SUPERVISOR, agent_id="2001")
    await exchange_tones({c: C_HZ, a: A_HZ, s: S_HZ})
    assert heard(s) == {C_HZ, A_HZ}
    assert heard(c) == {A_HZ}
    assert heard(a) == {C_HZ}

    await app.core.execute(call_id, monitor(MonitorMode.WHISPER))
    await exchange_tones({c: C_HZ, a: A_HZ, s: S_HZ})
    assert heard(s) == {C_HZ, A_HZ}
    assert heard(a) == {C_HZ, S_HZ}
    assert heard(c) == {A_HZ}

    await app.core.execute(call_id, monitor(MonitorMode.BARGE))
    await exchange_tones({c: C_HZ, a: A_HZ, s: S_HZ})
    assert heard(s) == {C_HZ, A_HZ}
    assert heard(a) == {C_HZ, S_HZ}
    assert heard(c) == {A_HZ, S_HZ}
    assert len(supervisor.invites) == 1 and supervisor.reinvites == 0

    await app.core.execute(call_id, MonitorStop(monitor_id="m-1"))
    await asyncio.wait_for(supervisor.bye.wait(), 3)
    await wait_report(decider, K.RELEASED, LegRole.SUPERVISOR, agent_id="2001")
    assert app.core.calls[call_id].mix is None and agent.reinvites == 2
    await exchange_tones({c: C_HZ, a: A_HZ})
    assert heard(c) == {A_HZ}
    assert heard(a) == {C_HZ}
    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)
    assert await media_calls_gone(app.engine.client)


async def test_core_monitored_call_hold_and_supervisor_hang_up(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-SUP-2, R-IN-8: hold while mixed plays music to the caller from the mixer; the
    supervisor hanging up only ends its own leg."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    supervisor = await make_phone("2001")
    (c,) = legs(caller)
    await app.core.execute(
        call_id,
        Monitor(
            monitor_id="m-2",
            agent_id="1001",
            supervisor_id="2001",
            supervisor_contact=contact_of(supervisor),
            mode=MonitorMode.LISTEN,
        ),
    )
    await wait_report(decider, K.ANSWERED, LegRole.SUPERVISOR, agent_id="2001")
    await app.core.execute(call_id, Hold(agent_id="1001"))
    await decider.wait_for(K.HELD)
    assert await hears_moh(c)
    await supervisor.hang_up()
    await wait_report(decider, K.RELEASED, LegRole.SUPERVISOR, agent_id="2001")
    assert app.core.calls[call_id].monitors == {}
    assert not agent.bye.is_set() and not caller.bye.is_set()
    await app.core.execute(call_id, Unhold(agent_id="1001"))
    await decider.wait_for(K.RETRIEVED)
    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)


async def test_core_multiparty_commands_refused_in_the_wrong_state(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """Typed refusals, nothing changed: consult on a queued call, transfer_consult /
    conference / consult_drop without a consultation, consult to a queue, monitor of an
    agent not on the call, monitor_stop of an unknown monitor, no mixer (unavailable)."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    other = await make_phone("13800000199")
    assert await other.call(app.sip_address) == 200
    queued = next(
        r.call_id for r in decider.reports if r.kind is K.ARRIVED and r.call_id != call_id
    )
    await wait_report(decider, K.QUEUE_ENTER, call_id=queued)

    async def refused(target: str, action: object) -> ErrorCode:
        with pytest.raises(CommandFailed) as exc:
            await app.core.execute(target, action)  # type: ignore[arg-type]
        return exc.value.code

    consult = Consult(
        consult_call_id=CONSULT_ID,
        destination=AgentDestination(agent_id="1002"),
        agent_sip_contact="sip:1002@127.0.0.1:5099",
    )
    assert await refused(queued, consult) is ErrorCode.INVALID_STATE
    assert (
        await refused(call_id, TransferConsult(consult_call_id=CONSULT_ID))
        is ErrorCode.INVALID_STATE
    )
    assert await refused(call_id, Conference(consult_call_id=CONSULT_ID)) is ErrorCode.INVALID_STATE
    assert (
        await refused(call_id, ConsultDrop(consult_call_id=CONSULT_ID)) is ErrorCode.INVALID_STATE
    )
    to_queue = Consult(consult_call_id=CONSULT_ID, destination=QueueDestination(queue_id="q"))
    assert await refused(call_id, to_queue) is ErrorCode.DESTINATION_UNAVAILABLE
    wrong_agent = Monitor(
        monitor_id="m-9",
        agent_id="1007",
        supervisor_id="2001",
        supervisor_contact="sip:2001@127.0.0.1:5098",
        mode=MonitorMode.LISTEN,
    )
    assert await refused(call_id, wrong_agent) is ErrorCode.INVALID_STATE
    assert await refused(call_id, MonitorStop(monitor_id="m-9")) is ErrorCode.INVALID_STATE
    assert await refused(call_id, Hangup(leg=LegRole.CONSULT)) is ErrorCode.INVALID_STATE
    mixer, app.core.mixer = app.core.mixer, None  # a switch without a mixer
    try:
        no_mixer = Monitor(
            monitor_id="m-8",
            agent_id="1001",
            supervisor_id="2001",
            supervisor_contact="sip:2001@127.0.0.1:5098",
            mode=MonitorMode.LISTEN,
        )
        assert await refused(call_id, no_mixer) is ErrorCode.UNAVAILABLE
    finally:
        app.core.mixer = mixer

    call = app.core.calls[call_id]
    assert call.phase is Phase.BRIDGED and call.mix is None and agent.reinvites == 0
    await caller.hang_up()
    await other.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)


async def test_core_consult_to_a_number_through_the_gateway_then_transfer(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: a consultation to an outside number needs the outbound gateway
    (destination_unavailable without one, nothing changed); with it the gateway gets
    the INVITE, agent and outside party talk while the caller hears music, and
    transfer_consult leaves caller and outside party talking (still mixed: the gateway
    is never re-INVITEd). A re-INVITE from the outside party is answered by its port."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    gateway = await make_phone("gw")
    c, a, g = legs(caller, agent, gateway)
    to_number = Consult(consult_call_id=CONSULT_ID, destination=NumberDestination(number=NUMBER))
    with pytest.raises(CommandFailed) as no_gateway:
        await app.core.execute(call_id, to_number)
    assert no_gateway.value.code is ErrorCode.DESTINATION_UNAVAILABLE
    assert app.core.calls[call_id].mix is None and agent.reinvites == 0

    with_gateway(app, gateway)
    await app.core.execute(call_id, to_number)
    answered = await wait_report(decider, K.ANSWERED, LegRole.CONSULT, call_id=CONSULT_ID)
    assert answered.agent_id is None
    assert gateway.invites[0].request.uri.user == NUMBER
    await exchange_tones({c: C_HZ, a: A_HZ, g: B_HZ})
    assert heard(a) == {B_HZ}
    assert heard(g) == {A_HZ}
    assert heard(c) == set()

    await app.core.execute(call_id, TransferConsult(consult_call_id=CONSULT_ID))
    await asyncio.wait_for(agent.bye.wait(), 3)
    assert (await decider.wait_for(K.TRANSFERRED)).agent_id is None
    assert gateway.reinvites == 0 and app.core.calls[call_id].mix is not None
    assert gateway.stack is not None and gateway.dialog is not None
    answer = await gateway.stack.reinvite(gateway.dialog, audio_sdp(g.port, 9).encode())
    assert media_ports(answer.to_text()) == [g.remote[1] if g.remote else 0]
    await exchange_tones({c: C_HZ, g: B_HZ})
    assert heard(c) == {B_HZ}
    assert heard(g) == {C_HZ}
    await caller.hang_up()
    await asyncio.wait_for(gateway.bye.wait(), 3)
    assert await media_calls_gone(app.engine.client)
    assert app.core.mixer is not None and app.core.mixer.rooms == {}


async def test_core_consult_refused_re_invite_leaves_the_call_as_it_was(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """An agent phone answering the move onto the mixer with 488 → the consult fails
    ``unavailable``, no consult leg is dialled, rtpengine still bridges caller and
    agent (tones both ways) and the mixer holds no room."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    consulted = await make_phone("1002")
    c, a = legs(caller, agent)
    agent.accept_reinvites = False
    with pytest.raises(CommandFailed) as refused:
        await app.core.execute(
            call_id,
            Consult(
                consult_call_id=CONSULT_ID,
                destination=AgentDestination(agent_id="1002"),
                agent_sip_contact=contact_of(consulted),
            ),
        )
    assert refused.value.code is ErrorCode.UNAVAILABLE
    assert "488" in refused.value.message
    call = app.core.calls[call_id]
    assert call.mix is None and call.consult is None and call.phase is Phase.BRIDGED
    assert consulted.invites == [] and decider.find(K.HELD) is None
    assert app.core.mixer is not None and app.core.mixer.rooms == {}
    await exchange_tones({c: C_HZ, a: A_HZ})
    assert heard(c) == {A_HZ}
    assert heard(a) == {C_HZ}
    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)


async def test_core_consult_from_a_held_call_moves_the_hold_onto_the_mixer(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: hold first (rtpengine blocks media, plays music), then consult: no second
    ``held``, the caller still hears music (now the mixer's) and nothing of the agents,
    who hear each other; the caller hanging up ends both agents' legs."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    consulted = await make_phone("1002")
    c, a, b = legs(caller, agent, consulted)
    await app.core.execute(call_id, Hold(agent_id="1001"))
    await decider.wait_for(K.HELD)
    await start_consult(app, decider, call_id, consulted)
    assert len([r for r in decider.reports if r.kind is K.HELD]) == 1
    await exchange_tones({c: C_HZ, a: A_HZ, b: B_HZ})
    assert heard(a) == {B_HZ}
    assert heard(b) == {A_HZ}
    assert heard(c) == set()
    assert await hears_moh(c)
    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)
    await asyncio.wait_for(consulted.bye.wait(), 3)
    assert await media_calls_gone(app.engine.client)


async def test_core_consult_no_answer_reports_failed_on_the_consult_call(
    make_switch: SwitchFactory, make_phone: PhoneFactory
) -> None:
    """R-IN-8: the consulted agent lets it ring → CANCEL, ``failed`` (no_answer) on the
    consult call, its mixer port is gone; the caller stays held with music."""
    decider = RecordingDecider()
    app, caller, agent, call_id = await bridged_call(make_switch, make_phone, decider)
    sleepy = await make_phone("1002", answer_after=None)
    (c,) = legs(caller)
    await app.core.execute(
        call_id,
        Consult(
            consult_call_id=CONSULT_ID,
            destination=AgentDestination(agent_id="1002"),
            agent_sip_contact=contact_of(sleepy),
            ring_timeout_seconds=0.6,
        ),
    )
    failed = await wait_report(decider, K.FAILED, LegRole.CONSULT, call_id=CONSULT_ID, timeout=6)
    assert (failed.cause, failed.agent_id) == (ClearCause.NO_ANSWER, "1002")
    assert sleepy.invites[0].cancelled.is_set()
    call = app.core.calls[call_id]
    assert call.consult is None and call.phase is Phase.HELD
    assert call.mix is not None and set(call.mix.room.labels) == {"caller", "agent:1001"}
    assert await hears_moh(c)
    await caller.hang_up()
    await asyncio.wait_for(agent.bye.wait(), 3)
