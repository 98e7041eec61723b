"""Interop with a real SIP peer: sipp as caller, callee and registering softphone.

R-IN-3 (the switch knows which agents are reachable), R-IN-8 (calls set up and
torn down), issue 5 (registrar with digest authentication, trunk INVITE/CANCEL/BYE).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cti_server.switch.sip.auth import DigestAuthenticator, Ha1
from cti_server.switch.sip.dialog import Dialog
from cti_server.switch.sip.message import SipRequest
from cti_server.switch.sip.registrar import Registrar, RegistrationEvent, RegistrationKind
from cti_server.switch.sip.sdp import audio_answer, audio_offer, parse_sdp
from cti_server.switch.sip.stack import BaseCallHandler, IncomingCall, SipStack
from cti_server.switch.sip.transaction import LoopScheduler
from tests.cti_server.switch.sip.conftest import StackFactory
from tests.cti_server.switch.sip.sip_support import SIPP, free_port, requires_sipp, run_sipp

pytestmark = [requires_sipp, pytest.mark.asyncio]

PASSWORDS = {"1001": "s3cret-1001", "1002": "s3cret-1002"}


class AnsweringHandler(BaseCallHandler):
    """Rings, then answers with a G.711 SDP answer (or keeps ringing)."""

    def __init__(self, *, answer: bool = True) -> None:
        self.answer = answer
        self.calls: list[IncomingCall] = []
        self.byes: list[Dialog] = []
        self.cancelled: list[IncomingCall] = []

    async def on_invite(self, call: IncomingCall) -> None:
        self.calls.append(call)
        call.ring()
        if self.answer:
            assert call.offer is not None
            call.answer(audio_answer(call.offer, "127.0.0.1", 40_000))

    async def on_cancel(self, call: IncomingCall) -> None:
        self.cancelled.append(call)

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        self.byes.append(dialog)


async def lookup(user: str) -> str | Ha1 | None:
    return PASSWORDS.get(user)


def registrar_for(events: list[RegistrationEvent], algorithms: tuple[str, ...]) -> Registrar:
    return Registrar(
        authenticator=DigestAuthenticator("opencc", lookup, algorithms=algorithms),
        scheduler=LoopScheduler(),
        min_expires=1,
        default_expires=300,
        on_event=events.append,
    )


REGISTER_TEMPLATE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register with digest">
  <send retrans="500">
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:{user}@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{user}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Expires: {expires}
      Max-Forwards: 70
      User-Agent: sipp-softphone
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[

      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:{user}@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{user}@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Expires: {expires}
      [authentication username={user} password={password}]
      Max-Forwards: 70
      User-Agent: sipp-softphone
      Content-Length: 0

    ]]>
  </send>
  <recv response="{final}"/>
</scenario>
"""


def register_scenario(
    tmp_path: Path, user: str, password: str, *, expires: int = 300, final: int = 200
) -> Path:
    path = tmp_path / f"register-{user}-{expires}-{final}.xml"
    path.write_text(
        REGISTER_TEMPLATE.format(user=user, password=password, expires=expires, final=final)
    )
    return path


def udp_target(stack: SipStack) -> str:
    host, port = stack.local_address("UDP")
    return f"{host}:{port}"


async def test_sip_sipp_registers_with_md5_digest_and_binding_is_listed(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """An agent softphone registers through a 401 challenge; the switch lists it (R-IN-3)."""
    events: list[RegistrationEvent] = []
    registrar = registrar_for(events, ("MD5",))
    stack = await make_stack(registrar=registrar)
    scenario = register_scenario(tmp_path, "1001", PASSWORDS["1001"])
    run = await run_sipp([udp_target(stack), "-sf", str(scenario), "-m", "1"], tmp_path)
    assert run.returncode == 0, run.output
    assert run.successful == 1 and run.failed == 0
    bindings = registrar.contacts("sip:1001@127.0.0.1")
    assert len(bindings) == 1
    assert bindings[0].contact.uri.user == "1001"
    assert bindings[0].user_agent == "sipp-softphone"
    assert [e.kind for e in events] == [RegistrationKind.REGISTERED]


async def test_sip_sipp_wrong_password_is_challenged_again_and_not_bound(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """A wrong password never creates a binding; the phone gets a fresh 401."""
    events: list[RegistrationEvent] = []
    registrar = registrar_for(events, ("MD5",))
    stack = await make_stack(registrar=registrar)
    scenario = register_scenario(tmp_path, "1001", "wrong-password", final=401)
    run = await run_sipp([udp_target(stack), "-sf", str(scenario), "-m", "1"], tmp_path)
    assert run.returncode == 0, run.output
    assert registrar.contacts("1001") == []
    assert events == []


async def test_sip_sipp_unregister_and_expiry_raise_events(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """Expires: 0 removes the binding; a 1 s binding expires by itself (events for both)."""
    events: list[RegistrationEvent] = []
    registrar = registrar_for(events, ("MD5",))
    stack = await make_stack(registrar=registrar)
    target = udp_target(stack)
    reg = register_scenario(tmp_path, "1001", PASSWORDS["1001"])
    unreg = register_scenario(tmp_path, "1001", PASSWORDS["1001"], expires=0)
    short = register_scenario(tmp_path, "1002", PASSWORDS["1002"], expires=1)
    phone_port = free_port()  # the same softphone (same Contact) registers, then unregisters
    for scenario in (reg, unreg, short):
        run = await run_sipp(
            [target, "-sf", str(scenario), "-m", "1"], tmp_path, local_port=phone_port
        )
        assert run.returncode == 0, run.output
    assert registrar.contacts("1001") == []
    assert registrar.is_registered("1002")
    await asyncio.sleep(1.3)
    assert not registrar.is_registered("1002")
    assert [(e.kind, e.aor) for e in events] == [
        (RegistrationKind.REGISTERED, "1001"),
        (RegistrationKind.UNREGISTERED, "1001"),
        (RegistrationKind.REGISTERED, "1002"),
        (RegistrationKind.EXPIRED, "1002"),
    ]


async def test_sip_sipp_uac_call_is_answered_and_hung_up(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """sipp's built-in UAC: INVITE → 100/180/200 with SDP → ACK → BYE → 200 (R-IN-8)."""
    handler = AnsweringHandler()
    stack = await make_stack(handler=handler)
    run = await run_sipp(
        [udp_target(stack), "-sn", "uac", "-m", "1", "-d", "100", "-s", "4000"], tmp_path
    )
    assert run.returncode == 0, run.output
    assert run.successful == 1 and run.failed == 0
    assert len(handler.calls) == 1
    call = handler.calls[0]
    assert call.offer is not None and call.offer.audio is not None
    assert call.request.uri.user == "4000"
    assert call.acked.is_set()
    await asyncio.sleep(0.05)
    assert len(handler.byes) == 1
    assert stack.dialogs == {}


async def test_sip_sipp_uac_calls_over_tcp(make_stack: StackFactory, tmp_path: Path) -> None:
    """The same call over TCP (one connection, Content-Length framing)."""
    handler = AnsweringHandler()
    stack = await make_stack(handler=handler)
    host, port = stack.local_address("TCP")
    run = await run_sipp(
        [f"{host}:{port}", "-sn", "uac", "-t", "t1", "-m", "1", "-d", "100"], tmp_path
    )
    assert run.returncode == 0, run.output
    assert len(handler.calls) == 1 and len(handler.byes) == 1


CANCEL_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="cancel before answer">
  <send retrans="500">
    <![CDATA[

      INVITE sip:4000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-cancel-[call_number];rport
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:4000@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <send>
    <![CDATA[

      CANCEL sip:4000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-cancel-[call_number];rport
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:4000@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[

      ACK sip:4000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-cancel-[call_number];rport
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:4000@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="200"/>
</scenario>
"""


async def test_sip_sipp_cancel_before_answer_gets_487(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """A caller hanging up while ringing: 200 for CANCEL, 487 for the INVITE, ACK absorbed."""
    handler = AnsweringHandler(answer=False)
    stack = await make_stack(handler=handler)
    scenario = tmp_path / "cancel.xml"
    scenario.write_text(CANCEL_SCENARIO)
    run = await run_sipp([udp_target(stack), "-sf", str(scenario), "-m", "1"], tmp_path)
    assert run.returncode == 0, run.output
    assert len(handler.calls) == 1
    assert len(handler.cancelled) == 1
    assert handler.calls[0].cancelled.is_set()
    assert stack.dialogs == {}
    # The non-2xx ACK matched the INVITE server transaction (Confirmed, not a new request).
    assert stack.layer.absorbed_retransmissions == 0


async def test_sip_stack_calls_sipp_uas(make_stack: StackFactory, tmp_path: Path) -> None:
    """Our UAC → sipp's built-in UAS: INVITE/180/200/ACK, then our BYE gets 200."""
    stack = await make_stack()
    assert SIPP is not None
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        SIPP,
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(free_port()),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "15s",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        await asyncio.sleep(0.3)  # let sipp bind
        offer = audio_offer("127.0.0.1", 30_000)
        result = await stack.invite(f"sip:service@127.0.0.1:{port}", sdp=offer)
        assert result.status == 200
        assert result.dialog is not None
        assert result.answer is not None and result.answer.audio is not None
        bye = await stack.bye(result.dialog)
        assert bye.status == 200
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, out.decode(errors="replace")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert parse_sdp(result.response.body).audio is not None
