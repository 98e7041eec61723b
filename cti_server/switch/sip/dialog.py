"""SIP dialogs (RFC 3261 section 12) and UA-core timers.

A :class:`Dialog` holds call-id, tags, CSeq counters, route set and remote
target, and builds in-dialog requests (BYE, re-INVITE, INFO, ACK for 2xx)
with correct loose/strict routing. :class:`Retransmit2xx` resends a 2xx to
INVITE until the ACK arrives (RFC 3261 13.3.1.4). :class:`SessionTimer` is a
restartable expiry hook for RFC 4028 refreshes or an RTP-timeout reaper.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from cti_server.switch.sip.message import (
    Headers,
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    Uri,
    parse_name_addr,
)
from cti_server.switch.sip.transaction import Scheduler, TimerConfig, TimerHandle
from cti_server.switch.sip.transport import Channel, TransportError

log = logging.getLogger("switch.sip.dialog")

DialogId = tuple[str, str, str]


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Role(enum.Enum):
    UAC = "uac"
    UAS = "uas"


class DialogError(ValueError):
    """A message cannot create or continue a dialog."""


@dataclass(slots=True)
class Dialog:
    role: Role
    call_id: str
    local_tag: str
    remote_tag: str
    local: NameAddr
    remote: NameAddr
    remote_target: Uri
    local_seq: int
    remote_seq: int | None
    route_set: list[NameAddr] = field(default_factory=list)
    secure: bool = False
    state: DialogState = DialogState.EARLY
    local_contact: NameAddr | None = None
    invite_cseq: int | None = None

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    # -- creation -----------------------------------------------------------

    @classmethod
    def as_uas(cls, request: SipRequest, response: SipResponse) -> Dialog:
        """Dialog state for the UAS after sending a 1xx/2xx with a To tag (12.1.1)."""
        tag = response.to.tag
        remote_tag = request.from_.tag
        contacts = request.contacts
        if not tag or not remote_tag or not contacts:
            raise DialogError("dialog needs From tag, To tag and Contact")
        routes = [parse_name_addr(v) for v in request.headers.values("Record-Route")]
        return cls(
            role=Role.UAS,
            call_id=request.call_id,
            local_tag=tag,
            remote_tag=remote_tag,
            local=response.to,
            remote=request.from_,
            remote_target=contacts[0].uri,
            local_seq=0,
            remote_seq=request.cseq.number,
            route_set=routes,
            secure=request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if response.is_success else DialogState.EARLY,
            local_contact=response.contacts[0] if response.contacts else None,
            invite_cseq=request.cseq.number,
        )

    @classmethod
    def as_uac(cls, request: SipRequest, response: SipResponse) -> Dialog:
        """Dialog state for the UAC on a 1xx/2xx with a To tag (12.1.2)."""
        tag = response.to.tag
        local_tag = request.from_.tag
        contacts = response.contacts
        if not tag or not local_tag:
            raise DialogError("dialog needs From and To tags")
        if not contacts:
            raise DialogError("response has no Contact")
        routes = [parse_name_addr(v) for v in response.headers.values("Record-Route")]
        routes.reverse()
        return cls(
            role=Role.UAC,
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=tag,
            local=request.from_,
            remote=response.to,
            remote_target=contacts[0].uri,
            local_seq=request.cseq.number,
            remote_seq=None,
            route_set=routes,
            secure=request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if response.is_success else DialogState.EARLY,
            local_contact=request.contacts[0] if request.contacts else None,
            invite_cseq=request.cseq.number,
        )

    # -- in-dialog requests -------------------------------------------------

    def _request_uri_and_routes(self) -> tuple[Uri, list[str]]:
        """RFC 3261 12.2.1.1: loose routing if the first route has ``lr``."""
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if "lr" in first.uri.params:
            return self.remote_target, [str(r) for r in self.route_set]
        uri = first.uri  # strict router: it becomes the Request-URI
        routes = [str(r) for r in self.route_set[1:]]
        routes.append(f"<{self.remote_target}>")
        return uri, routes

    def next_hop(self) -> Uri:
        """The URI to resolve for sending (first Route, else the remote target)."""
        if self.route_set:
            return self.route_set[0].uri
        return self.remote_target

    def create_request(
        self,
        method: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> SipRequest:
        """A new in-dialog request (no Via: the stack adds it when sending)."""
        method = method.upper()
        if method in ("ACK", "CANCEL"):
            raise ValueError(f"use create_ack() / the transaction layer for {method}")
        if self.state is DialogState.TERMINATED:
            raise DialogError("dialog is terminated")
        self.local_seq += 1
        if method == "INVITE":
            self.invite_cseq = self.local_seq
        return self._build(method, self.local_seq, headers or [], body, content_type)

    def create_ack(
        self, cseq: int | None = None, body: bytes = b"", content_type: str | None = None
    ) -> SipRequest:
        """ACK for a 2xx to INVITE (13.2.2.4): new transaction, INVITE's CSeq number."""
        number = cseq if cseq is not None else self.invite_cseq
        if number is None:
            raise DialogError("no INVITE to acknowledge")
        return self._build("ACK", number, [], body, content_type)

    def _build(
        self,
        method: str,
        cseq: int,
        extra: list[tuple[str, str]],
        body: bytes,
        content_type: str | None,
    ) -> SipRequest:
        uri, routes = self._request_uri_and_routes()
        hdrs = Headers()
        for route in routes:
            hdrs.add("Route", route)
        hdrs.add("Max-Forwards", "70")
        hdrs.add("From", str(self.local.with_tag(self.local_tag)))
        hdrs.add("To", str(self.remote.with_tag(self.remote_tag)))
        hdrs.add("Call-ID", self.call_id)
        hdrs.add("CSeq", f"{cseq} {method}")
        if self.local_contact is not None and method in (
            "INVITE",
            "UPDATE",
            "SUBSCRIBE",
            "NOTIFY",
            "REFER",
        ):
            hdrs.add("Contact", str(self.local_contact))
        for name, value in extra:
            hdrs.add(name, value)
        if body:
            hdrs.set("Content-Type", content_type or "application/sdp")
        return SipRequest(method, uri, hdrs, body)

    # -- inbound in-dialog requests ------------------------------------------

    def accept_remote_cseq(self, request: SipRequest) -> bool:
        """Check and record the remote CSeq (12.2.2); ``False`` → answer 500."""
        if request.method in ("ACK", "CANCEL"):
            return True
        number = request.cseq.number
        if self.remote_seq is not None and number <= self.remote_seq:
            return False
        self.remote_seq = number
        return True

    def refresh_target(self, message: SipRequest | SipResponse) -> None:
        """Target refresh (re-INVITE / its 2xx / UPDATE): take the new Contact."""
        try:
            contacts = message.contacts
        except SipParseError:
            return
        if contacts:
            self.remote_target = contacts[0].uri

    def confirm(self) -> None:
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED


def dialog_id_of(message: SipRequest | SipResponse, *, inbound_request: bool) -> DialogId:
    """Dialog id from our point of view: for a request we received, local = To tag."""
    to_tag = message.to.tag or ""
    from_tag = message.from_.tag or ""
    if inbound_request:
        return (message.call_id, to_tag, from_tag)
    return (message.call_id, from_tag, to_tag)


class Retransmit2xx:
    """UAS core: resend a 2xx to INVITE (T1 doubling to T2) until ACK or 64*T1."""

    def __init__(
        self,
        response: SipResponse,
        channel: Channel,
        scheduler: Scheduler,
        timers: TimerConfig,
        on_timeout: Callable[[], None],
    ) -> None:
        self.response = response
        self.channel = channel
        self.scheduler = scheduler
        self.timers = timers
        self._on_timeout = on_timeout
        self._interval = timers.t1
        self._retransmit_handle: TimerHandle | None = None
        self._timeout_handle: TimerHandle | None = None
        self.done = False
        self.retransmissions = 0

    def start(self) -> None:
        if not self.channel.reliable:
            self._retransmit_handle = self.scheduler.call_later(self._interval, self._fire)
        self._timeout_handle = self.scheduler.call_later(self.timers.b, self._expire)

    def _fire(self) -> None:
        if self.done:
            return
        try:
            self.channel.send(self.response)
        except TransportError as exc:
            log.info("2xx retransmission failed: %s", exc)
        self.retransmissions += 1
        self._interval = min(self._interval * 2, self.timers.t2)
        self._retransmit_handle = self.scheduler.call_later(self._interval, self._fire)

    def resend(self) -> None:
        """A retransmitted INVITE arrived: send the 2xx again now."""
        if not self.done:
            try:
                self.channel.send(self.response)
            except TransportError as exc:
                log.info("2xx resend failed: %s", exc)

    def _expire(self) -> None:
        if self.done:
            return
        self.stop()
        self._on_timeout()

    def stop(self) -> None:
        """ACK received (or dialog gone)."""
        self.done = True
        for handle in (self._retransmit_handle, self._timeout_handle):
            if handle is not None:
                handle.cancel()


class SessionTimer:
    """Restartable expiry hook: call :meth:`refresh` on each session refresh or
    RTP activity report; ``on_expiry`` runs when ``interval`` passes without one."""

    def __init__(
        self, scheduler: Scheduler, interval: float, on_expiry: Callable[[], None]
    ) -> None:
        if interval <= 0:
            raise ValueError("session interval must be positive")
        self.scheduler = scheduler
        self.interval = interval
        self._on_expiry = on_expiry
        self._handle: TimerHandle | None = None
        self.expired = False

    def start(self) -> None:
        self.refresh()

    def refresh(self, interval: float | None = None) -> None:
        if self.expired:
            return
        if interval is not None:
            self.interval = interval
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self.scheduler.call_later(self.interval, self._fire)

    def restart(self, interval: float | None = None) -> None:
        """Arm again even after an expiry (a refresher's next round)."""
        self.expired = False
        self.refresh(interval)

    def _fire(self) -> None:
        self._handle = None
        self.expired = True
        self._on_expiry()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
