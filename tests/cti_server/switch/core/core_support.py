"""Helpers for the call-core tests: a recording decider, SIP phones with RTP legs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cti_server.switch.media.rtp import rms
from cti_server.switch.media.testing import Leg, audio_sdp, media_ports
from cti_server.switch.ports import CallReport, LookupResult, RegistrationReport, RouteQuery
from cti_server.switch.sip import (
    BaseCallHandler,
    ClientCredentials,
    Dialog,
    IncomingCall,
    SipConfig,
    SipRequest,
    SipStack,
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


async def heard_level(leg: Leg, seconds: float) -> float:
    """RMS of the PCMU the leg receives during the next ``seconds``."""
    leg.received.clear()
    await asyncio.sleep(seconds)
    return rms(leg.pcmu_samples())
