"""Helpers for the call-core tests: a recording decider, SIP phones with RTP legs."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cti_server.switch.media.ng import NgClient
from cti_server.switch.media.rtp import goertzel_power, rms
from cti_server.switch.media.testing import Leg, audio_sdp, media_ports
from cti_server.switch.ports import CallReport, LookupResult, RegistrationReport, RouteQuery
from cti_server.switch.sip import (
    BaseCallHandler,
    ClientCredentials,
    Dialog,
    IncomingCall,
    SessionDescription,
    SipConfig,
    SipRequest,
    SipStack,
    parse_sdp,
)
from cti_server.switch.sip.transaction import TimerConfig
from shared.protocol.switch import LegRole, RouteResponse, RouteStage, SwitchCallEventKind

FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5, d=0.5)


@dataclass
class RecordingDecider:
    """A boundary fake of the deciders: route answers from a table, reports recorded."""

    answers: dict[RouteStage, Callable[[RouteQuery], RouteResponse]] = field(default_factory=dict)
    queries: list[RouteQuery] = field(default_factory=list)
    reports: list[CallReport] = field(default_factory=list)
    registrations: list[RegistrationReport] = field(default_factory=list)

    async def route(self, query: RouteQuery) -> RouteResponse:
        self.queries.append(query)
        answer = self.answers.get(query.stage)
        return answer(query) if answer is not None else RouteResponse(queue_id=query.queue_id)

    async def lookup(self, call_id: str, service: str, args: Mapping[str, str]) -> LookupResult:
        return LookupResult(error="not in this test")

    def report(self, report: CallReport) -> None:
        self.reports.append(report)

    def registration(self, report: RegistrationReport) -> None:
        self.registrations.append(report)

    def kinds(self, leg: LegRole | None = None) -> list[SwitchCallEventKind]:
        return [r.kind for r in self.reports if leg is None or r.leg is leg]

    def find(self, kind: SwitchCallEventKind, leg: LegRole = LegRole.CALLER) -> CallReport | None:
        return next((r for r in self.reports if r.kind is kind and r.leg is leg), None)

    async def wait_for(
        self, kind: SwitchCallEventKind, leg: LegRole = LegRole.CALLER, timeout: float = 10.0
    ) -> CallReport:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            found = self.find(kind, leg)
            if found is not None:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind} report for the {leg} leg; got {self.kinds()}")


class Phone(BaseCallHandler):
    """A SIP phone for tests: our SipStack plus an RTP leg we own.

    As an agent softphone it registers with digest and rings; ``answer_after``
    (seconds, None = never) decides whether it picks up.
    """

    def __init__(self, user: str, *, answer_after: float | None = 0.2) -> None:
        self.user = user
        self.answer_after = answer_after
        self.stack: SipStack | None = None
        self.leg: Leg | None = None
        self.invites: list[IncomingCall] = []
        self.dialog: Dialog | None = None
        self.bye = asyncio.Event()
        self.answered = asyncio.Event()
        self.reinvites = 0
        self.reinvite_offers: list[SessionDescription] = []
        self.accept_reinvites = True
        """False: answer re-INVITEs 488 (a phone that cannot change its media)."""

    @classmethod
    async def open(cls, user: str, *, answer_after: float | None = 0.2) -> Phone:
        phone = cls(user, answer_after=answer_after)
        config = SipConfig(host="127.0.0.1", udp_port=0, tcp_port=None, user=user, timers=FAST)
        phone.stack = SipStack(config, handler=phone)
        await phone.stack.start()
        phone.leg = await Leg.open()
        return phone

    async def close(self) -> None:
        if self.stack is not None:
            await self.stack.close()
        if self.leg is not None:
            await self.leg.close()

    # --- as an agent softphone ---------------------------------------------------------

    async def register(self, switch: tuple[str, int], password: str) -> int:
        assert self.stack is not None
        return await self.stack.register(
            switch, ClientCredentials(self.user, password), expires=300
        )

    async def on_invite(self, call: IncomingCall) -> None:
        assert self.leg is not None and call.offer is not None
        self.invites.append(call)
        call.ring()
        if self.answer_after is None:
            return
        await asyncio.sleep(self.answer_after)
        if call.cancelled.is_set():
            return
        self.leg.remote = ("127.0.0.1", media_ports(call.offer.to_text())[0])
        self.dialog = call.answer(audio_sdp(self.leg.port, 7).encode())
        self.answered.set()

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        self.bye.set()

    async def on_reinvite(self, dialog: Dialog, request: SipRequest) -> SessionDescription | None:
        """A re-INVITE (the switch moving us onto its mixer): send our RTP to the new
        address, answer with the same port."""
        assert self.leg is not None
        ports = media_ports(request.body.decode(errors="replace"))
        if not ports or not self.accept_reinvites:
            return None
        self.leg.remote = ("127.0.0.1", ports[0])
        self.reinvites += 1
        self.reinvite_offers.append(parse_sdp(request.body))
        return parse_sdp(audio_sdp(self.leg.port, 7))

    # --- as a caller --------------------------------------------------------------------

    async def call(self, switch: tuple[str, int], number: str = "10086") -> int:
        assert self.stack is not None and self.leg is not None
        host, port = switch
        result = await self.stack.invite(
            f"sip:{number}@{host}:{port}",
            sdp=audio_sdp(self.leg.port, 1).encode(),
            from_uri=f"sip:{self.user}@127.0.0.1",
        )
        if result.dialog is not None and result.answer is not None:
            self.dialog = result.dialog
            self.leg.remote = ("127.0.0.1", media_ports(result.answer.to_text())[0])
        return result.status

    async def hang_up(self) -> None:
        assert self.stack is not None and self.dialog is not None
        await self.stack.bye(self.dialog)


def tone_level(leg: Leg, frequency: float) -> float:
    """About the amplitude of ``frequency`` in what the leg received (averaged over all
    of it; a tone heard half the time at 8000 gives about 4000, silence about 0)."""
    samples = leg.pcmu_samples()
    return 2 * math.sqrt(goertzel_power(samples, frequency)) if samples else 0.0


async def exchange_tones(tones: Mapping[Leg, float], seconds: float = 0.8) -> None:
    """Clear every leg's buffer, let each send its tone in real time (20 ms packets, all
    at once), then wait for the last packets to cross."""
    for leg in tones:
        leg.received.clear()
    await asyncio.gather(
        *(leg.send(leg.tone_packets(freq, seconds), interval=0.02) for leg, freq in tones.items())
    )
    await asyncio.sleep(0.3)


def find_report(
    decider: RecordingDecider,
    kind: SwitchCallEventKind,
    leg: LegRole = LegRole.CALLER,
    *,
    call_id: str | None = None,
    agent_id: str | None = None,
) -> CallReport | None:
    """The first report of ``kind`` on ``leg`` (and ``call_id`` / ``agent_id`` if given)."""
    for r in decider.reports:
        if r.kind is kind and r.leg is leg:
            if call_id is not None and r.call_id != call_id:
                continue
            if agent_id is not None and r.agent_id != agent_id:
                continue
            return r
    return None


async def wait_report(
    decider: RecordingDecider,
    kind: SwitchCallEventKind,
    leg: LegRole = LegRole.CALLER,
    *,
    call_id: str | None = None,
    agent_id: str | None = None,
    timeout: float = 10.0,
) -> CallReport:
    """Wait for :func:`find_report` to find one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        found = find_report(decider, kind, leg, call_id=call_id, agent_id=agent_id)
        if found is not None:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(
        f"no {kind} report for the {leg} leg ({call_id=}, {agent_id=}); got "
        f"{[(r.kind.value, r.leg.value, r.agent_id) for r in decider.reports]}"
    )


async def media_calls_gone(client: NgClient, timeout: float = 3.0) -> bool:
    """True once rtpengine has no call left (the core deletes it just after its reports)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await client.list_calls() == []:
            return True
        await asyncio.sleep(0.05)
    return False


async def heard_level(leg: Leg, seconds: float) -> float:
    """RMS of the PCMU the leg receives during the next ``seconds``."""
    leg.received.clear()
    await asyncio.sleep(seconds)
    return rms(leg.pcmu_samples())
