"""CtiClient behaviour the desktop, switch and tools rely on."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from cti_server.ws import CtiServer, StaticAuthenticator, TransportConfig
from shared.cti_client import ConnectionLost, CtiClient, Resync
from shared.protocol.agent import AgentReady
from shared.protocol.call import CallAnswer, CallEstablished
from shared.protocol.handshake import ClientKind, PasswordCredentials
from tests.cti_server.ws.ws_support import (
    TEST_DEFAULTS,
    USERS,
    ClientFactory,
    ServerFactory,
    make_router,
)


@pytest.mark.asyncio
async def test_events_stream_and_end_on_close(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = await make_client(server)
    await client.request(lambda i: CallAnswer(id=i, call_id="c1"))
    await client.request(CallAnswer(id=0, call_id="c2"))
    seen = []
    async for item in client.events():
        assert isinstance(item, CallEstablished)
        seen.append(item.call_id)
        if len(seen) == 2:
            await client.close()
    assert seen == ["c1", "c2"]
    with pytest.raises(ConnectionLost):
        await client.next_event(timeout=1)
    with pytest.raises(ConnectionLost):
        await client.request(CallAnswer(id=0, call_id="c3"))


@pytest.mark.asyncio
async def test_request_ids_keep_counting_across_reconnects(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = await make_client(server)
    await client.ping()
    await client.reconnect()
    assert client.welcome is not None and client.welcome.id == 3  # hello 1, ping 2, hello 3
    pong = await client.ping()
    assert pong.id == 4 and client.rtt is not None and client.clock_offset is not None


@pytest.mark.asyncio
async def test_gap_in_sequence_is_signalled_and_stream_continues(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = await make_client(server)
    assert client.session_id is not None
    session = server.sessions.get(client.session_id)
    assert session is not None
    session.push(AgentReady(agent_id="1001"))
    assert (await client.next_event(timeout=3)).seq == 1  # type: ignore[union-attr]
    session.sequencer.stamp(AgentReady(agent_id="1001"), 0.0)  # seq 2 never sent
    session.push(AgentReady(agent_id="1001"))
    gap = await client.next_event(timeout=3)
    assert isinstance(gap, Resync) and "gap" in gap.reason
    after = await client.next_event(timeout=3)
    assert isinstance(after, AgentReady) and after.seq == 3
    assert client.last_seq == 3


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.asyncio
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_endpoint(tmp_path: Path) -> None:
    """R-SEC-1: the CTI link can be encrypted (wss://)."""
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    server = CtiServer(
        make_router(), StaticAuthenticator(USERS), config=TransportConfig(**TEST_DEFAULTS)
    )
    await server.start("127.0.0.1", 0, ssl=server_ctx)
    try:
        client = await CtiClient.connect(
            f"wss://127.0.0.1:{server.port}",
            PasswordCredentials(user_id="1001", password=USERS["1001"][0]),
            ClientKind.DESKTOP,
            ssl=client_ctx,
            heartbeat=False,
        )
        assert await client.request(CallAnswer(id=0, call_id="c1")) is None
        await client.close()
    finally:
        await server.stop()
