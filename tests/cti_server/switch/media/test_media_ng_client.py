"""ng client behaviour against a fake UDP responder: framing, retransmission, typed errors."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from cti_server.switch.media.bencode import decode, encode
from cti_server.switch.media.ng import (
    CallNotFoundError,
    CodecOptions,
    MediaOptions,
    NgClient,
    NgCommandError,
    NgProtocolError,
    NgTimeoutError,
    build_answer,
    build_delete,
    build_offer,
    check_reply,
    encode_message,
    parse_message,
)

type Responder = Callable[[bytes, bytes], bytes | None]
"""(cookie, body) -> full reply datagram, or None to stay silent."""


class FakeNg(asyncio.DatagramProtocol):
    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.received.append(data)
        cookie, _, body = data.partition(b" ")
        reply = self.respond(cookie, body)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def fake_server(respond: Responder) -> AsyncIterator[tuple[FakeNg, int]]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: FakeNg(respond), local_addr=("127.0.0.1", 0)
    )
    try:
        yield proto, int(transport.get_extra_info("sockname")[1])
    finally:
        transport.close()
        await asyncio.sleep(0)


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_media_ng_offer_message_carries_b2bua_defaults() -> None:
    msg = build_offer("v=0\r\n", "call-1", "ft", MediaOptions(record_call=True, inject_dtmf=True))
    assert msg["command"] == "offer"
    assert msg["ICE"] == "remove"
    assert msg["transport protocol"] == "RTP/AVP"
    assert msg["replace"] == ["origin", "session connection"]
    assert msg["record call"] == "yes"
    assert msg["flags"] == ["inject DTMF"]
    options = MediaOptions(
        codec=CodecOptions(mask=("PCMA",), transcode=("PCMU",)),
        dtmf_log_dest=("127.0.0.1", 9),
        extra={"ICE": "force"},
    )
    msg = build_answer("v=0\r\n", "c", "ft", "tt", options)
    assert msg["to-tag"] == "tt"
    assert msg["codec"] == {"mask": ["PCMA"], "transcode": ["PCMU"]}
    assert msg["DTMF-log-dest"] == "127.0.0.1:9"
    assert msg["ICE"] == "force"  # extra wins


def test_media_ng_delete_is_immediate_and_fatal_by_default() -> None:
    """rtpengine keeps deleted calls 30 s unless 'delete delay' is 0."""
    assert build_delete("c") == {
        "command": "delete",
        "call-id": "c",
        "delete delay": 0,
        "flags": ["fatal"],
    }


def test_media_ng_framing_and_reply_checks() -> None:
    assert encode_message(b"ab_1", {"command": "ping"}) == b"ab_1 d7:command4:pinge"
    assert parse_message(b"ab_1 d6:result4:ponge") == (b"ab_1", {b"result": b"pong"})
    with pytest.raises(NgProtocolError):
        parse_message(b"nospace")
    with pytest.raises(NgProtocolError):
        parse_message(b"c li1ee")
    with pytest.raises(NgProtocolError):
        check_reply("ping", {b"result": b"ok"})
    with pytest.raises(NgProtocolError):
        check_reply("offer", {})
    with pytest.raises(CallNotFoundError) as err:
        check_reply("query", {b"result": b"error", b"error-reason": b"Unknown call-id"})
    assert err.value.reason == "Unknown call-id"
    with pytest.raises(CallNotFoundError):  # 'play DTMF' capitalises it differently
        check_reply("play DTMF", {b"result": b"error", b"error-reason": b"Unknown call-ID"})
    with pytest.raises(NgCommandError) as cmd_err:
        check_reply("offer", {b"result": b"error", b"error-reason": b"Incomplete SDP"})
    assert not isinstance(cmd_err.value, CallNotFoundError)


@pytest.mark.asyncio
async def test_media_ng_retransmits_with_same_cookie_until_answered() -> None:
    """A lost request is resent with the same cookie, so rtpengine's reply cache dedups it."""
    seen: list[bytes] = []

    def respond(cookie: bytes, body: bytes) -> bytes | None:
        seen.append(cookie)
        if len(seen) < 3:
            return None  # drop the first two
        return cookie + b" " + encode({"result": "pong"})

    async with fake_server(respond) as (_, port):
        async with await NgClient.connect(
            "127.0.0.1", port, timeout=2.0, retransmit_interval=0.05
        ) as client:
            await client.ping()
            await client.ping()
        assert len(seen) == 4
        assert seen[0] == seen[1] == seen[2] != seen[3]


@pytest.mark.asyncio
async def test_media_ng_timeout_is_typed_when_nothing_listens() -> None:
    async with await NgClient.connect(
        "127.0.0.1", closed_udp_port(), timeout=0.3, retransmit_interval=0.05
    ) as client:
        with pytest.raises(NgTimeoutError, match="no reply to 'ping'"):
            await client.ping()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b" garbage", NgProtocolError),
        (b" li1ee", NgProtocolError),
        (b" d6:result", NgProtocolError),
        (b" d5:other2:okee", NgProtocolError),
        (b" d6:result4:weird", NgProtocolError),
        (b" d6:result5:error12:error-reason4:nopee", NgCommandError),
        (b" d6:result2:ok3:sdpi5ee", NgProtocolError),
        (b" d6:result2:oke", NgProtocolError),  # offer reply without sdp
    ],
)
async def test_media_ng_malformed_replies_raise_typed_errors(
    reply: bytes, error: type[Exception]
) -> None:
    async with fake_server(lambda cookie, body: cookie + reply) as (proto, port):
        async with await NgClient.connect("127.0.0.1", port, timeout=0.5) as client:
            with pytest.raises(error):
                await client.offer("v=0\r\n", "c", "ft")
        request = decode(proto.received[0].partition(b" ")[2])
        assert isinstance(request, dict) and request[b"command"] == b"offer"


@pytest.mark.asyncio
async def test_media_ng_ignores_unsolicited_datagrams() -> None:
    """A stray reply with an unknown cookie must not satisfy or break a pending request."""

    def respond(cookie: bytes, body: bytes) -> bytes | None:
        return None

    async with (
        fake_server(respond) as (proto, port),
        await NgClient.connect("127.0.0.1", port, timeout=1.0, retransmit_interval=0.1) as client,
    ):
        task = asyncio.create_task(client.ping())
        while not proto.received:
            await asyncio.sleep(0.01)
        assert proto.transport is not None
        addr = ("127.0.0.1", client._transport.get_extra_info("sockname")[1])
        proto.transport.sendto(b"stranger d6:result4:ponge", addr)
        proto.transport.sendto(b"no-separator", addr)
        await asyncio.sleep(0.05)
        assert not task.done()
        cookie = proto.received[0].partition(b" ")[0]
        proto.transport.sendto(cookie + b" d6:result4:ponge", addr)
        await task
        assert client.protocol_errors == 2
