"""The switch side of the softphone tests, on the project's own SIP stack: a registrar
with digest authentication and INVITEs carrying an RTP leg we own, running on an asyncio
loop in a background thread (the Qt event loop owns the test thread)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from cti_server.switch.media.rtp import PT_PCMU, TelephoneEvent, ulaw_decode
from cti_server.switch.media.testing import PT_TELEPHONE_EVENT, Leg, audio_sdp, media_ports
from cti_server.switch.sip import (
    BaseCallHandler,
    Dialog,
    DigestAuthenticator,
    Ha1,
    OutgoingCall,
    Registrar,
    SipConfig,
    SipRequest,
    SipStack,
)
from cti_server.switch.sip.transaction import LoopScheduler, TimerConfig

FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5, d=0.5)
REALM = "opencc"
CALL_ID_HEADER = "X-OpenCC-Call-ID"


@dataclass
class PeerCall:
    """One INVITE the peer sent to the softphone, with its RTP leg."""

    leg: Leg
    outgoing: OutgoingCall
    result: concurrent.futures.Future[Any]
    dialog: Dialog | None = None
    status: int | None = None
    answer_sdp: str = ""
    byes: list[SipRequest] = field(default_factory=list)

    def provisional_statuses(self) -> list[int]:
        return [r.status for r in self.outgoing.provisional]

    def pcmu(self) -> list[int]:
        return ulaw_decode(
            b"".join(p.payload for p in list(self.leg.received) if p.payload_type == PT_PCMU)
        )

    def dtmf_digits(self) -> str:
        """Digits heard as RFC 4733 events (one per event end, retransmits folded)."""
        digits: list[str] = []
        seen: set[int] = set()
        for packet in list(self.leg.received):
            if packet.payload_type != PT_TELEPHONE_EVENT:
                continue
            event = TelephoneEvent.parse(packet.payload)
            if event.end and packet.timestamp not in seen:
                seen.add(packet.timestamp)
                digits.append(event.digit)
        return "".join(digits)

    def telephone_events(self) -> int:
        return sum(1 for p in list(self.leg.received) if p.payload_type == PT_TELEPHONE_EVENT)


class SwitchPeer(BaseCallHandler):
    def __init__(self, passwords: dict[str, str]) -> None:
        self.passwords = passwords
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sip-peer", daemon=True)
        self.stack: SipStack | None = None
        self.registrar: Registrar | None = None
        self.byes: list[str] = []
        self.legs: list[Leg] = []

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        async def lookup(user: str) -> str | Ha1 | None:
            return self.passwords.get(user)

        self.registrar = Registrar(
            authenticator=DigestAuthenticator(REALM, lookup),
            scheduler=LoopScheduler(),
            min_expires=60,
        )
        config = SipConfig(host="127.0.0.1", udp_port=0, tcp_port=None, user="switch", timers=FAST)
        self.stack = SipStack(config, handler=self, registrar=self.registrar)
        await self.stack.start()

    def stop(self) -> None:
        async def close() -> None:
            if self.stack is not None:
                await self.stack.close()
            for leg in self.legs:
                await leg.close()

        self.run(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    @property
    def address(self) -> tuple[str, int]:
        assert self.stack is not None
        host, port = self.stack.local_address("UDP")
        return host, port

    def registered(self, user: str) -> bool:
        async def check() -> bool:
            assert self.registrar is not None
            return self.registrar.is_registered(user)

        return bool(self.run(check()))

    # --- calls ---------------------------------------------------------------------

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        self.byes.append(dialog.call_id)

    def invite(self, user: str, cti_call_id: str | None, caller: str = "13800138000") -> PeerCall:
        """INVITE the softphone registered as ``user`` (PCMU + telephone-event offer)."""

        async def start() -> tuple[Leg, OutgoingCall]:
            assert self.stack is not None and self.registrar is not None
            contact = self.registrar.contacts(user)[0].contact.uri
            leg = await Leg.open()
            self.legs.append(leg)
            headers = [(CALL_ID_HEADER, cti_call_id)] if cti_call_id else []
            outgoing = self.stack.start_invite(
                contact,
                sdp=audio_sdp(leg.port, len(self.legs)).encode(),
                from_uri=f"sip:{caller}@127.0.0.1",
                display_name=None,
                headers=headers,
            )
            return leg, outgoing

        leg, outgoing = self.run(start())

        async def wait() -> Any:
            return await outgoing.result()

        call = PeerCall(leg, outgoing, self.submit(wait()))
        call.result.add_done_callback(lambda f: self._answered(call, f))
        return call

    def _answered(self, call: PeerCall, future: concurrent.futures.Future[Any]) -> None:
        if future.exception() is not None:
            return
        result = future.result()
        call.status = result.status
        call.dialog = result.dialog
        if result.answer is not None:
            call.answer_sdp = result.answer.to_text()
            call.leg.remote = ("127.0.0.1", media_ports(call.answer_sdp)[0])

    def send_tone(
        self, call: PeerCall, frequency: float, seconds: float
    ) -> concurrent.futures.Future[Any]:
        """Real-time 20 ms PCMU packets; the future ends when all are sent (the Qt test
        thread keeps running its event loop meanwhile)."""

        async def send() -> None:
            await call.leg.send(call.leg.tone_packets(frequency, seconds), interval=0.02)

        return self.submit(send())

    def got_bye(self, call: PeerCall) -> bool:
        return call.dialog is not None and call.dialog.call_id in self.byes

    def reinvite(
        self, call: PeerCall, direction: str, version: int
    ) -> concurrent.futures.Future[Any]:
        """Re-INVITE with the same leg and ``a=<direction>`` (sendonly = hold)."""

        async def reinvite() -> Any:
            assert self.stack is not None and call.dialog is not None
            sdp = audio_sdp(call.leg.port, 1, direction).replace(
                " 1 IN IP4", f" {version} IN IP4", 1
            )
            return await self.stack.reinvite(call.dialog, sdp.encode())

        return self.submit(reinvite())

    def clear(self, call: PeerCall) -> None:
        self.loop.call_soon_threadsafe(call.leg.received.clear)

    def bye(self, call: PeerCall) -> concurrent.futures.Future[Any]:
        """Send BYE; the future gives the final status (the Qt thread must keep
        pumping pjsua meanwhile, so this does not wait)."""

        async def bye() -> int:
            assert self.stack is not None and call.dialog is not None
            return (await self.stack.bye(call.dialog)).status

        return self.submit(bye())
