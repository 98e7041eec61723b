"""RFC 4028 session timers between two of our stacks on real sockets (short intervals).

The callee plays the switch (``SipConfig.session_timers``); the caller is a plain
stack that adds ``Session-Expires``/``Supported: timer`` by hand and refreshes (or
not) with UPDATE. Proven: 422 + Min-SE for a too-small interval; the 2xx carries the
negotiated interval; the switch refreshes when asked (UPDATE, or re-INVITE with the
same SDP when the caller does not allow UPDATE); a caller that refreshes keeps its
call; one that stops gets BYE (``Reason: … session expired``) after
``N - min(32, N/3)`` and the handler hears ``on_session_expired``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from cti_server.switch.sip.dialog import Dialog
from cti_server.switch.sip.message import Headers, SipRequest, parse_uri
from cti_server.switch.sip.sdp import SessionDescription, audio_answer, audio_offer, parse_sdp
from cti_server.switch.sip.stack import BaseCallHandler, IncomingCall, SipConfig, SipStack
from cti_server.switch.sip.timers import (
    SessionIntervalTooSmall,
    SessionTimerConfig,
    SessionTimerError,
    expiry_delay,
    negotiate,
    parse_session_expires,
)
from tests.cti_server.switch.sip.conftest import StackFactory
from tests.cti_server.switch.sip.sip_support import FAST

TEST_TIMERS = SessionTimerConfig(min_se=2, default_interval=None)


class Handler(BaseCallHandler):
    def __init__(self) -> None:
        self.calls: list[IncomingCall] = []
        self.byes: list[tuple[Dialog, SipRequest]] = []
        self.reinvites: list[bytes] = []
        self.expired: list[Dialog] = []

    async def on_invite(self, call: IncomingCall) -> None:
        self.calls.append(call)
        call.ring()
        assert call.offer is not None
        call.answer(audio_answer(call.offer, "127.0.0.1", 41_000))

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        self.byes.append((dialog, request))

    async def on_reinvite(self, dialog: Dialog, request: SipRequest) -> SessionDescription | None:
        self.reinvites.append(request.body)
        return audio_answer(parse_sdp(request.body), "127.0.0.1", 42_000)

    async def on_session_expired(self, dialog: Dialog) -> None:
        self.expired.append(dialog)


async def switch_stack(handler: Handler, config: SessionTimerConfig = TEST_TIMERS) -> SipStack:
    stack = SipStack(
        SipConfig(host="127.0.0.1", udp_port=0, tcp_port=None, timers=FAST, session_timers=config),
        handler=handler,
    )
    await stack.start()
    return stack


async def wait_until(predicate: Callable[[], object], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


@pytest.mark.asyncio
async def test_sip_session_timer_422_then_negotiated_interval(make_stack: StackFactory) -> None:
    handler = Handler()
    switch = await switch_stack(handler)
    try:
        caller = await make_stack()
        host, port = switch.local_address("UDP")
        target = f"sip:4000@{host}:{port}"
        small = await caller.invite(
            target,
            sdp=audio_offer("127.0.0.1", 30_000),
            headers=[("Supported", "timer"), ("Session-Expires", "1")],
        )
        assert small.status == 422
        assert small.response.headers.get("Min-SE") == "2"
        assert handler.calls == []

        retry = await caller.invite(
            target,
            sdp=audio_offer("127.0.0.1", 30_000),
            headers=[("Supported", "timer"), ("Session-Expires", "3;refresher=uac")],
        )
        assert retry.status == 200 and retry.dialog is not None
        assert retry.response.headers.get("Session-Expires") == "3;refresher=uac"
        assert retry.response.headers.get("Require") == "timer"
        await caller.bye(retry.dialog)
    finally:
        await switch.close()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_sip_session_timer_switch_refreshes_when_asked(make_stack: StackFactory) -> None:
    """refresher=uas: the switch sends UPDATE every N/2; the call outlives N."""
    handler = Handler()
    switch = await switch_stack(handler)
    try:
        caller_handler = Handler()
        caller = await make_stack(handler=caller_handler)
        host, port = switch.local_address("UDP")
        result = await caller.invite(
            f"sip:4000@{host}:{port}",
            sdp=audio_offer("127.0.0.1", 30_000),
            headers=[("Supported", "timer"), ("Session-Expires", "2;refresher=uas")],
        )
        assert result.status == 200 and result.dialog is not None
        assert result.response.headers.get("Session-Expires") == "2;refresher=uas"
        dialog = result.dialog
        first_seq = dialog.remote_seq or 0
        # Each UPDATE from the switch raises the caller's view of the remote CSeq.
        assert await wait_until(lambda: (dialog.remote_seq or 0) >= first_seq + 3, 4.0)
        assert caller_handler.byes == [] and handler.expired == []
        assert dialog.id in caller.dialogs
        assert switch.session_timers is not None
        session = next(iter(switch.session_timers.sessions.values()))
        assert session.refreshes_sent >= 3 and session.use_update

        # A caller that does not allow UPDATE is refreshed by re-INVITE with the same SDP.
        session.use_update = False
        assert await wait_until(lambda: len(caller_handler.reinvites) >= 2, 3.0)
        assert caller_handler.reinvites[0] == caller_handler.reinvites[1]
        assert parse_sdp(caller_handler.reinvites[0]).audio is not None
        assert caller_handler.byes == [] and dialog.id in caller.dialogs
        await caller.bye(dialog)
        timers = switch.session_timers
        assert await wait_until(lambda: timers.sessions == {}, 2.0)
    finally:
        await switch.close()


@pytest.mark.asyncio
async def test_sip_session_timer_caller_refreshes_then_stops_and_gets_bye(
    make_stack: StackFactory,
) -> None:
    """refresher=uac: UPDATEs keep the call past N; silence → BYE after N - N/3."""
    handler = Handler()
    switch = await switch_stack(handler)
    try:
        caller_handler = Handler()
        caller = await make_stack(handler=caller_handler)
        host, port = switch.local_address("UDP")
        result = await caller.invite(
            f"sip:4000@{host}:{port}",
            sdp=audio_offer("127.0.0.1", 30_000),
            headers=[("Supported", "timer"), ("Session-Expires", "2;refresher=uac")],
        )
        assert result.status == 200 and result.dialog is not None
        dialog = result.dialog
        loop = asyncio.get_running_loop()
        for _ in range(5):  # 5 x 0.6 s = 3 s > N = 2 s
            await asyncio.sleep(0.6)
            refresh = await caller.request(
                dialog, "UPDATE", headers=[("Session-Expires", "2;refresher=uac")]
            )
            assert refresh.status == 200
            assert refresh.headers.get("Session-Expires") == "2;refresher=uac"
        assert caller_handler.byes == [] and handler.expired == []

        stopped = loop.time()
        assert await wait_until(lambda: bool(caller_handler.byes), 4.0)
        waited = loop.time() - stopped
        assert expiry_delay(2) - 0.2 <= waited <= expiry_delay(2) + 1.0
        _, bye = caller_handler.byes[0]
        assert "session expired" in (bye.headers.get("Reason") or "")
        assert len(handler.expired) == 1
        assert switch.dialogs == {} and caller.dialogs == {}
    finally:
        await switch.close()


@pytest.mark.asyncio
async def test_sip_session_timer_reinvite_refresh_counts(make_stack: StackFactory) -> None:
    """A re-INVITE from the caller is a refresh too (and its 2xx carries the timer)."""
    handler = Handler()
    switch = await switch_stack(handler)
    try:
        caller = await make_stack(handler=Handler())
        host, port = switch.local_address("UDP")
        offer = audio_offer("127.0.0.1", 30_000)
        result = await caller.invite(
            f"sip:4000@{host}:{port}",
            sdp=offer,
            headers=[("Supported", "timer"), ("Session-Expires", "2")],
        )
        assert result.status == 200 and result.dialog is not None
        assert result.response.headers.get("Session-Expires") == "2;refresher=uac"
        for _ in range(3):
            await asyncio.sleep(0.8)
            again = await caller.request(
                result.dialog, "INVITE", body=offer, headers=[("Session-Expires", "2")]
            )
            assert again.status == 200
            assert again.headers.get("Session-Expires") == "2;refresher=uac"
        assert handler.expired == [] and len(handler.reinvites) == 3
        await caller.bye(result.dialog)
    finally:
        await switch.close()


@pytest.mark.asyncio
async def test_sip_session_timer_proxy_requested_timer_makes_switch_refresh(
    make_stack: StackFactory,
) -> None:
    """Session-Expires without ``Supported: timer`` (a proxy asked): only the switch can
    refresh, so it does, and no ``Require: timer`` is sent to the caller."""
    handler = Handler()
    switch = await switch_stack(handler)
    try:
        caller = await make_stack()
        host, port = switch.local_address("UDP")
        headers = Headers(
            [
                ("From", "<sip:c@127.0.0.1>;tag=p1"),
                ("To", "<sip:4000@127.0.0.1>"),
                ("Call-ID", "proxy-se-1"),
                ("CSeq", "1 INVITE"),
                ("Contact", str(caller.contact("UDP"))),
                ("Session-Expires", "2;refresher=uac"),
                ("Content-Type", "application/sdp"),
            ]
        )
        request = SipRequest(
            "INVITE",
            parse_uri(f"sip:4000@{host}:{port}"),
            headers,
            audio_offer("127.0.0.1", 1).to_bytes(),
        )
        response = await caller.send(request)
        assert response.status == 200
        assert response.headers.get("Session-Expires") == "2;refresher=uas"
        assert response.headers.get("Require") is None
        assert switch.session_timers is not None
        session = next(iter(switch.session_timers.sessions.values()))
        assert session.we_refresh
    finally:
        await switch.close()


def test_sip_session_timer_negotiation_rules() -> None:
    def invite(*headers: tuple[str, str]) -> SipRequest:
        return SipRequest(
            "INVITE",
            parse_uri("sip:4000@127.0.0.1"),
            Headers([("Call-ID", "x"), ("CSeq", "1 INVITE"), *headers]),
        )

    config = SessionTimerConfig(min_se=90, default_interval=1800, max_interval=3600)
    assert negotiate(invite(), config) is None  # nobody asked, caller cannot refresh
    imposed = negotiate(invite(("Supported", "timer, 100rel")), config)
    assert imposed is not None and (imposed.interval, imposed.refresher) == (1800, "uac")
    capped = negotiate(invite(("k", "timer"), ("x", "7200"), ("Min-SE", "120")), config)
    assert capped is not None and capped.interval == 3600 and capped.peer_supports
    with pytest.raises(SessionIntervalTooSmall) as too_small:
        negotiate(invite(("Session-Expires", "60")), config)
    assert too_small.value.min_se == 90
    with pytest.raises(SessionTimerError):
        parse_session_expires("soon")
    with pytest.raises(SessionTimerError):
        parse_session_expires("1800;refresher=proxy")
    assert str(parse_session_expires("1800 ; refresher=UAS")) == "1800;refresher=uas"
    assert expiry_delay(1800) == 1768 and expiry_delay(90) == 60
    with pytest.raises(ValueError, match="min_se"):
        SessionTimerConfig(min_se=90, default_interval=30)
