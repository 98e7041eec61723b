"""Transaction state machines under a fake clock (RFC 3261 section 17, RFC 6026).

Issue 5: calls from gateways over lossy UDP — retransmissions are sent on
schedule and duplicates absorbed, so a lost packet never loses a call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti_server.switch.sip.message import (
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from cti_server.switch.sip.transaction import (
    ServerTransaction,
    State,
    TimerConfig,
    TransactionLayer,
    build_cancel,
)
from cti_server.switch.sip.transport import Channel
from tests.cti_server.switch.sip.sip_support import RFC_INVITE, FakeClock, RecordingChannel

TIMERS = TimerConfig(t1=0.5, t2=4.0, t4=5.0, d=32.0)


def invite() -> SipRequest:
    msg = parse_message(RFC_INVITE)
    assert isinstance(msg, SipRequest)
    return msg


def options() -> SipRequest:
    data = RFC_INVITE.replace(b"INVITE sip:", b"OPTIONS sip:").replace(
        b"314159 INVITE", b"7 OPTIONS"
    )
    msg = parse_message(data)
    assert isinstance(msg, SipRequest)
    return msg


@dataclass
class RecordingTU:
    requests: list[ServerTransaction] = field(default_factory=list)
    acks: list[SipRequest] = field(default_factory=list)
    cancels: list[ServerTransaction] = field(default_factory=list)
    strays: list[SipResponse] = field(default_factory=list)
    auto_reply: int | None = None

    def on_request(self, transaction: ServerTransaction) -> None:
        self.requests.append(transaction)
        if self.auto_reply is not None:
            transaction.reply(self.auto_reply)

    def on_ack(self, request: SipRequest, channel: Channel) -> None:
        self.acks.append(request)

    def on_cancel(self, invite: ServerTransaction, cancel: SipRequest) -> None:
        self.cancels.append(invite)

    def on_stray_response(self, response: SipResponse, channel: Channel) -> None:
        self.strays.append(response)


def send_times(clock: FakeClock, channel: RecordingChannel, until: float) -> list[float]:
    """Advance in small steps, noting when the channel sent something."""
    times: list[float] = []
    count = len(channel.sent)
    while clock.now < until:
        clock.advance(0.125)
        while len(channel.sent) > count:
            times.append(round(clock.now, 3))
            count += 1
    return times


def test_sip_transaction_invite_client_timer_a_doubles_and_timer_b_times_out() -> None:
    clock = FakeClock()
    layer = TransactionLayer(RecordingTU(), clock, TIMERS)
    channel = RecordingChannel()
    timeouts: list[bool] = []
    tx = layer.send_request(invite(), channel, lambda r: None, lambda: timeouts.append(True))
    assert len(channel.sent) == 1
    times = send_times(clock, channel, 40.0)
    assert times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # A: T1, 2T1, 4T1 … (no cap)
    assert timeouts == [True]  # B = 64*T1 = 32 s
    assert tx.state is State.TERMINATED and layer.client == {}


def test_sip_transaction_non_invite_client_timer_e_caps_at_t2() -> None:
    clock = FakeClock()
    layer = TransactionLayer(RecordingTU(), clock, TIMERS)
    channel = RecordingChannel()
    layer.send_request(options(), channel, lambda r: None, lambda: None)
    times = send_times(clock, channel, 16.0)
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]  # capped at T2 = 4 s


def test_sip_transaction_reliable_transport_never_retransmits() -> None:
    clock = FakeClock()
    layer = TransactionLayer(RecordingTU(), clock, TIMERS)
    channel = RecordingChannel(reliable=True)
    timeouts: list[bool] = []
    layer.send_request(invite(), channel, lambda r: None, lambda: timeouts.append(True))
    clock.advance(40)
    assert len(channel.sent) == 1 and timeouts == [True]


def test_sip_transaction_invite_client_acks_non_2xx_and_absorbs_repeats() -> None:
    clock = FakeClock()
    layer = TransactionLayer(RecordingTU(), clock, TIMERS)
    channel = RecordingChannel()
    request = invite()
    request.headers.prepend("Via", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKclient1")
    got: list[int] = []
    tx = layer.send_request(request, channel, lambda r: got.append(r.status), lambda: None)
    ringing = make_response(request, 180, to_tag="t1")
    layer.receive(ringing, channel)
    busy = make_response(request, 486, to_tag="t1")
    layer.receive(busy, channel)
    ack = channel.sent[-1]
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert ack.top_via.branch == "z9hG4bKclient1"  # same transaction as the INVITE
    assert ack.to.tag == "t1" and ack.cseq.number == request.cseq.number
    layer.receive(busy, channel)  # retransmitted 486 → ACK again, TU not told twice
    assert got == [180, 486]
    assert [m.method for m in channel.sent if isinstance(m, SipRequest)].count("ACK") == 2
    assert tx.state is State.COMPLETED
    clock.advance(32.1)  # timer D
    assert tx.state is State.TERMINATED


def test_sip_transaction_invite_client_passes_2xx_retransmissions_up() -> None:
    """RFC 6026 Accepted: every 2xx reaches the TU (which re-sends its ACK)."""
    clock = FakeClock()
    layer = TransactionLayer(RecordingTU(), clock, TIMERS)
    channel = RecordingChannel()
    request = invite()
    request.headers.prepend("Via", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKclient2")
    got: list[int] = []
    layer.send_request(request, channel, lambda r: got.append(r.status), lambda: None)
    ok = make_response(request, 200, to_tag="t2")
    layer.receive(ok, channel)
    layer.receive(ok, channel)
    assert got == [200, 200]
    assert [m for m in channel.sent if isinstance(m, SipRequest) and m.method == "ACK"] == []


def test_sip_transaction_server_absorbs_retransmitted_invite() -> None:
    clock = FakeClock()
    tu = RecordingTU()
    layer = TransactionLayer(tu, clock, TIMERS)
    channel = RecordingChannel()
    layer.receive(invite(), channel)
    assert len(tu.requests) == 1
    assert [m.status for m in channel.sent if isinstance(m, SipResponse)] == [100]
    tu.requests[0].reply(180, to_tag="x")
    layer.receive(invite(), channel)  # duplicate: last provisional again, TU not told
    assert len(tu.requests) == 1
    assert [m.status for m in channel.sent if isinstance(m, SipResponse)] == [100, 180, 180]
    assert layer.absorbed_retransmissions == 1


def test_sip_transaction_server_retransmits_final_until_ack() -> None:
    clock = FakeClock()
    tu = RecordingTU()
    layer = TransactionLayer(tu, clock, TIMERS, auto_trying=False)
    channel = RecordingChannel()
    request = invite()
    layer.receive(request, channel)
    tx = tu.requests[0]
    tx.reply(486, to_tag="x")
    times = send_times(clock, channel, 8.0)
    assert times == [0.5, 1.5, 3.5, 7.5]  # G: T1 doubling, capped at T2
    ack = parse_message(
        RFC_INVITE.replace(b"INVITE sip:", b"ACK sip:").replace(b"314159 INVITE", b"314159 ACK")
    )
    layer.receive(ack, channel)
    assert tx.state is State.CONFIRMED
    assert tu.acks == []  # non-2xx ACK belongs to the transaction
    sent = len(channel.sent)
    clock.advance(10)
    assert len(channel.sent) == sent and tx.state is State.TERMINATED  # timer I


def test_sip_transaction_server_timer_h_gives_up_without_ack() -> None:
    clock = FakeClock()
    tu = RecordingTU()
    layer = TransactionLayer(tu, clock, TIMERS, auto_trying=False)
    channel = RecordingChannel()
    layer.receive(invite(), channel)
    tx = tu.requests[0]
    fired: list[bool] = []
    tx.on_ack_timeout = lambda: fired.append(True)
    tx.reply(603)
    clock.advance(32.1)
    assert fired == [True] and tx.state is State.TERMINATED and layer.server == {}


def test_sip_transaction_non_invite_server_timer_j() -> None:
    clock = FakeClock()
    tu = RecordingTU(auto_reply=200)
    layer = TransactionLayer(tu, clock, TIMERS)
    channel = RecordingChannel()
    layer.receive(options(), channel)
    layer.receive(options(), channel)
    assert len(tu.requests) == 1
    assert [m.status for m in channel.sent if isinstance(m, SipResponse)] == [200, 200]
    clock.advance(32.1)
    assert layer.server == {}


def test_sip_transaction_cancel_matches_invite_and_sends_487() -> None:
    clock = FakeClock()
    tu = RecordingTU()
    layer = TransactionLayer(tu, clock, TIMERS)
    channel = RecordingChannel()
    request = invite()
    layer.receive(request, channel)
    tu.requests[0].reply(180, to_tag="x")
    layer.receive(build_cancel(request), channel)
    statuses = [(m.status, m.cseq.method) for m in channel.sent if isinstance(m, SipResponse)]
    assert statuses[-2:] == [(200, "CANCEL"), (487, "INVITE")]
    assert tu.cancels == [tu.requests[0]] and tu.requests[0].cancelled


def test_sip_transaction_cancel_without_invite_gets_481() -> None:
    clock = FakeClock()
    tu = RecordingTU()
    layer = TransactionLayer(tu, clock, TIMERS)
    channel = RecordingChannel()
    layer.receive(build_cancel(invite()), channel)
    assert [m.status for m in channel.sent if isinstance(m, SipResponse)] == [481]
    assert tu.cancels == []


def test_sip_transaction_ack_for_2xx_goes_to_the_tu() -> None:
    clock = FakeClock()
    tu = RecordingTU()
    layer = TransactionLayer(tu, clock, TIMERS)
    channel = RecordingChannel()
    layer.receive(invite(), channel)
    tu.requests[0].reply(200, to_tag="x")
    ack = parse_message(
        RFC_INVITE.replace(b"INVITE sip:", b"ACK sip:")
        .replace(b"314159 INVITE", b"314159 ACK")
        .replace(b"z9hG4bK776asdhds", b"z9hG4bKnewbranch")
    )
    layer.receive(ack, channel)
    assert len(tu.acks) == 1


def test_sip_transaction_handler_crash_answers_500() -> None:
    class Crashing(RecordingTU):
        def on_request(self, transaction: ServerTransaction) -> None:
            raise RuntimeError("boom")

    layer = TransactionLayer(Crashing(), FakeClock(), TIMERS)
    channel = RecordingChannel()
    layer.receive(options(), channel)
    assert [m.status for m in channel.sent if isinstance(m, SipResponse)] == [500]
