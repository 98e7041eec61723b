"""The UA core on real sockets (127.0.0.1, port 0): transports, Via/rport, calls.

Issue 5: trunk side over UDP and TCP, CANCEL/BYE from either side, DTMF by
SIP INFO, hold by re-INVITE (R-IN-8), OPTIONS keep-alive, registrar auth.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from cti_server.switch.sip.auth import ClientCredentials, DigestAuthenticator, Ha1
from cti_server.switch.sip.dialog import Dialog
from cti_server.switch.sip.message import (
    Headers,
    SipRequest,
    SipResponse,
    parse_message,
    parse_uri,
    parse_via,
)
from cti_server.switch.sip.registrar import Registrar
from cti_server.switch.sip.sdp import (
    SessionDescription,
    audio_answer,
    audio_offer,
    with_direction,
)
from cti_server.switch.sip.stack import BaseCallHandler, IncomingCall
from cti_server.switch.sip.transaction import LoopScheduler, TimerConfig
from cti_server.switch.sip.transport import response_address, stamp_via
from tests.cti_server.switch.sip.conftest import StackFactory
from tests.cti_server.switch.sip.sip_support import RFC_INVITE


class Handler(BaseCallHandler):
    def __init__(self, *, answer: bool = True) -> None:
        self.answer = answer
        self.calls: list[IncomingCall] = []
        self.byes: list[Dialog] = []
        self.infos: list[bytes] = []
        self.reinvites: list[SessionDescription] = []
        self.cancelled: list[IncomingCall] = []

    async def on_invite(self, call: IncomingCall) -> None:
        self.calls.append(call)
        call.ring()
        if self.answer:
            assert call.offer is not None
            call.answer(audio_answer(call.offer, "127.0.0.1", 41_000))

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        self.byes.append(dialog)

    async def on_info(self, dialog: Dialog, request: SipRequest) -> None:
        self.infos.append(request.body)

    async def on_cancel(self, call: IncomingCall) -> None:
        self.cancelled.append(call)

    async def on_reinvite(self, dialog: Dialog, request: SipRequest) -> SessionDescription | None:
        from cti_server.switch.sip.sdp import parse_sdp

        offer = parse_sdp(request.body)
        self.reinvites.append(offer)
        return audio_answer(offer, "127.0.0.1", 41_000)


def test_sip_transport_via_received_and_rport() -> None:
    """RFC 3581: rport filled with the source port, response goes back to it."""
    request = parse_message(
        RFC_INVITE.replace(b"branch=z9hG4bK776asdhds", b"branch=z9hG4bK776asdhds;rport")
    )
    assert isinstance(request, SipRequest)
    stamp_via(request, ("203.0.113.7", 40_123))
    via = request.top_via
    assert via.received == "203.0.113.7" and via.rport == 40_123
    assert response_address(via, ("203.0.113.7", 40_123)) == ("203.0.113.7", 40_123)
    # Without rport: received host, Via port (default 5060).
    plain = parse_via("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKx;received=198.51.100.1")
    assert response_address(plain, ("198.51.100.1", 9999)) == ("198.51.100.1", 5060)
    same_host = parse_message(RFC_INVITE.replace(b"pc33.atlanta.com;", b"192.0.2.1:5070;"))
    assert isinstance(same_host, SipRequest)
    stamp_via(same_host, ("192.0.2.1", 5070))
    assert same_host.top_via.received is None  # nothing to add


def raw_invite(port: int, branch: str = "z9hG4bKraw1") -> bytes:
    sdp = audio_offer("127.0.0.1", 30_000).to_bytes()
    return (
        f"INVITE sip:4000@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
        f"From: <sip:caller@127.0.0.1>;tag=c1\r\n"
        f"To: <sip:4000@127.0.0.1>\r\n"
        f"Call-ID: raw-{branch}\r\n"
        f"CSeq: 1 INVITE\r\n"
        f"Contact: <sip:caller@127.0.0.1:{port}>\r\n"
        f"Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n"
    ).encode() + sdp


async def recv_all(sock: socket.socket, wait: float = 0.3) -> list[SipResponse]:
    loop = asyncio.get_running_loop()
    out: list[SipResponse] = []
    deadline = loop.time() + wait
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return out
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65_535), remaining)
        except TimeoutError:
            return out
        msg = parse_message(data)
        assert isinstance(msg, SipResponse)
        out.append(msg)


@pytest.mark.asyncio
async def test_sip_stack_absorbs_retransmitted_invite_over_udp(make_stack: StackFactory) -> None:
    """A caller resending its INVITE (lost 100) gets the last response again, one call only."""
    handler = Handler(answer=False)
    stack = await make_stack(handler=handler)
    target = stack.local_address("UDP")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        port = sock.getsockname()[1]
        sock.sendto(raw_invite(port), target)
        first = await recv_all(sock)
        sock.sendto(raw_invite(port), target)
        second = await recv_all(sock)
    assert [r.status for r in first] == [100, 180]
    assert [r.status for r in second] == [180]
    assert len(handler.calls) == 1
    assert stack.layer.absorbed_retransmissions == 1
    via = first[0].top_via
    assert via.rport == port and via.received == "127.0.0.1"


@pytest.mark.asyncio
async def test_sip_stack_survives_garbage_and_answers_options(make_stack: StackFactory) -> None:
    stack = await make_stack()
    target = stack.local_address("UDP")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sock.sendto(b"INVITE garbage\r\n\r\n", target)
        await asyncio.sleep(0.05)
    assert stack.udp is not None and stack.udp.parse_errors == 1
    other = await make_stack()
    host, port = target
    headers = Headers(
        [
            ("From", f"<sip:ping@{host}>;tag=p"),
            ("To", f"<sip:switch@{host}>"),
            ("Call-ID", "ping-1"),
            ("CSeq", "1 OPTIONS"),
        ]
    )
    response = await other.send(SipRequest("OPTIONS", parse_uri(f"sip:{host}:{port}"), headers))
    assert response.status == 200
    assert "INVITE" in (response.headers.get("Allow") or "")


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sip_stack_call_hold_info_and_remote_bye(
    make_stack: StackFactory, transport: str
) -> None:
    """Our UAC calls our UAS: answer, hold by re-INVITE, DTMF by INFO, BYE from the callee."""
    callee_handler = Handler()
    caller_handler = Handler()
    callee = await make_stack(handler=callee_handler)
    caller = await make_stack(handler=caller_handler)
    host, port = callee.local_address(transport.upper())
    offer = audio_offer("127.0.0.1", 30_000)
    result = await caller.invite(f"sip:4000@{host}:{port}", sdp=offer, transport=transport)
    assert result.status == 200 and result.dialog is not None
    assert result.answer is not None and result.answer.audio is not None
    call = callee_handler.calls[0]
    assert await call.wait_ack(2)

    hold = await caller.request(result.dialog, "INVITE", body=with_direction(offer, "sendonly"))
    assert hold.status == 200
    assert callee_handler.reinvites[0].audio is not None
    assert callee_handler.reinvites[0].direction(callee_handler.reinvites[0].audio) == "sendonly"

    info = await caller.request(
        result.dialog,
        "INFO",
        body=b"Signal=5\r\nDuration=160\r\n",
        content_type="application/dtmf-relay",
    )
    assert info.status == 200 and callee_handler.infos == [b"Signal=5\r\nDuration=160\r\n"]

    assert call.dialog is not None
    bye = await callee.bye(call.dialog)
    assert bye.status == 200
    await asyncio.sleep(0.05)
    assert len(caller_handler.byes) == 1
    assert caller.dialogs == {} and callee.dialogs == {}
    if transport == "tcp":
        assert caller.tcp is not None and caller.tcp.connection_count == 1  # reused


@pytest.mark.asyncio
async def test_sip_stack_cancel_while_ringing(make_stack: StackFactory) -> None:
    callee_handler = Handler(answer=False)
    callee = await make_stack(handler=callee_handler)
    caller = await make_stack()
    host, port = callee.local_address("UDP")
    outgoing = caller.start_invite(f"sip:4000@{host}:{port}", sdp=audio_offer("127.0.0.1", 1))
    for _ in range(50):
        if outgoing.provisional:
            break
        await asyncio.sleep(0.01)
    outgoing.cancel()
    result = await asyncio.wait_for(outgoing.result(), 2)
    assert result.status == 487 and result.dialog is None
    assert len(callee_handler.cancelled) == 1


@pytest.mark.asyncio
async def test_sip_stack_rejected_and_unanswered_calls(make_stack: StackFactory) -> None:
    """Default handler rejects with 480; a dead destination gives a local 408 (timer B)."""
    callee = await make_stack()
    caller = await make_stack(timers=TimerConfig(t1=0.01, t2=0.1, t4=0.1, d=0.1))
    host, port = callee.local_address("UDP")
    rejected = await caller.invite(f"sip:4000@{host}:{port}", sdp=audio_offer("127.0.0.1", 1))
    assert rejected.status == 480
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        dead_port = silent.getsockname()[1]
        timed_out = await caller.invite(f"sip:4000@127.0.0.1:{dead_port}")
    assert timed_out.status == 408  # timer B = 64*T1


@pytest.mark.asyncio
async def test_sip_stack_client_answers_registrar_challenge(make_stack: StackFactory) -> None:
    """Client-side digest (for upstream trunks) against our own registrar, SHA-256 chosen."""

    async def lookup(user: str) -> str | Ha1 | None:
        return "pw" if user == "trunk" else None

    registrar = Registrar(
        authenticator=DigestAuthenticator("opencc", lookup), scheduler=LoopScheduler()
    )
    server = await make_stack(registrar=registrar)
    client = await make_stack(user="trunk")
    host, port = server.local_address("UDP")
    contact = client.contact("UDP")
    headers = Headers(
        [
            ("From", f"<sip:trunk@{host}>;tag=t"),
            ("To", f"<sip:trunk@{host}>"),
            ("Call-ID", "reg-trunk"),
            ("CSeq", "1 REGISTER"),
            ("Contact", str(contact)),
            ("Expires", "120"),
        ]
    )
    request = SipRequest("REGISTER", parse_uri(f"sip:{host}:{port}"), headers)
    response = await client.send(request, credentials=ClientCredentials("trunk", "pw"))
    assert response.status == 200
    bindings = registrar.contacts("trunk")
    assert len(bindings) == 1 and bindings[0].contact.uri.port == contact.uri.port
