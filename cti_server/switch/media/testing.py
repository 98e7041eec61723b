"""Test kit for proving audio through rtpengine (used by the switch's tests).

A :class:`Leg` is a SIP party's media endpoint on a UDP socket we own: it sends
hand-built RTP (tones, RFC 4733 digits) and records what arrives, so a test can
decode the PCMU and check the tone frequency. :func:`setup_call` signals a
two-leg call through an :class:`~cti_server.switch.media.ng.NgClient`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cti_server.switch.media.ng import MediaOptions, NgClient
from cti_server.switch.media.rtp import (
    PT_PCMU,
    SAMPLES_PER_PACKET,
    RtpError,
    RtpPacket,
    dtmf_packets,
    pcmu_frames,
    tone,
    ulaw_decode,
)

_ssrc = itertools.count(0x1000)
PT_TELEPHONE_EVENT = 101


def audio_sdp(port: int, session: int, direction: str = "sendrecv") -> str:
    """A minimal PCMU + telephone-event/101 offer or answer for a leg at 127.0.0.1:port."""
    return (
        "v=0\r\n"
        f"o=- {session} 1 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=ptime:20\r\n"
        f"a={direction}\r\n"
    )


def media_ports(sdp: str) -> list[int]:
    """Ports of every m=audio line, in order."""
    return [int(p) for p in re.findall(r"^m=audio (\d+) ", sdp, re.MULTILINE)]


class _LegProtocol(asyncio.DatagramProtocol):
    def __init__(self, leg: Leg) -> None:
        self.leg = leg

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        try:
            self.leg.received.append(RtpPacket.parse(data))
        except RtpError:
            self.leg.junk += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.leg.lost.done():
            self.leg.lost.set_result(None)


class Leg:
    """A SIP party's media endpoint: a UDP socket we own that sends and records RTP."""

    def __init__(self) -> None:
        self.received: list[RtpPacket] = []
        self.junk = 0
        self.ssrc = next(_ssrc)
        self.seq = 0
        self.ts = 0
        self.remote: tuple[str, int] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    @classmethod
    async def open(cls) -> Leg:
        leg = cls()
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _LegProtocol(leg), local_addr=("127.0.0.1", 0)
        )
        leg.transport = transport
        leg.port = int(transport.get_extra_info("sockname")[1])
        return leg

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            await self.lost

    async def send(self, packets: Iterable[RtpPacket], interval: float = 0.005) -> None:
        assert self.transport is not None
        assert self.remote is not None, "leg has no remote (rtpengine) port yet"
        for pkt in packets:
            self.transport.sendto(pkt.to_bytes(), self.remote)
            await asyncio.sleep(interval)

    def tone_packets(self, frequency: float, seconds: float) -> list[RtpPacket]:
        packets = []
        for payload in pcmu_frames(tone(frequency, seconds)):
            packets.append(RtpPacket(PT_PCMU, self.seq, self.ts, self.ssrc, payload))
            self.seq += 1
            self.ts += SAMPLES_PER_PACKET
        return packets

    def dtmf_packets(self, digit: str, duration_ms: int = 100) -> list[RtpPacket]:
        """RFC 4733 packets (PT 101) continuing this leg's sequence and clock."""
        packets = dtmf_packets(
            digit,
            payload_type=PT_TELEPHONE_EVENT,
            ssrc=self.ssrc,
            first_sequence=self.seq,
            timestamp=self.ts,
            duration_ms=duration_ms,
        )
        self.seq += len(packets)
        self.ts += duration_ms * 8
        return packets

    async def send_tone(self, frequency: float, seconds: float = 0.3) -> None:
        await self.send(self.tone_packets(frequency, seconds))

    def pcmu_samples(self) -> list[int]:
        return ulaw_decode(b"".join(p.payload for p in self.received if p.payload_type == PT_PCMU))

    async def wait_packets(self, count: int, timeout: float = 2.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count and loop.time() < deadline:
            await asyncio.sleep(0.01)


@dataclass
class Call:
    """A relayed call: caller (from-tag) and agent (to-tag) legs through rtpengine."""

    call_id: str
    caller_tag: str
    agent_tag: str
    caller: Leg
    agent: Leg


_call_ids = itertools.count(1)


async def setup_call(
    client: NgClient,
    caller: Leg,
    agent: Leg,
    options: MediaOptions | None = None,
) -> Call:
    """offer (caller's SDP) then answer (agent's SDP); point each leg at its rtpengine port."""
    options = options or MediaOptions()
    call = Call(f"test-call-{next(_call_ids)}", "caller-tag", "agent-tag", caller, agent)
    offer = await client.offer(audio_sdp(caller.port, 1), call.call_id, call.caller_tag, options)
    answer = await client.answer(
        audio_sdp(agent.port, 2), call.call_id, call.caller_tag, call.agent_tag, options
    )
    # The rewritten offer goes to the agent: its port is where the agent sends.
    agent.remote = ("127.0.0.1", media_ports(offer.sdp)[0])
    caller.remote = ("127.0.0.1", media_ports(answer.sdp)[0])
    assert agent.remote[1] not in (caller.port, agent.port)
    return call
