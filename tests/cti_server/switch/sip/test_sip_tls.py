"""SIP over TLS (RFC 3261 section 26) between two of our stacks on real sockets.

A throwaway CA and server certificates are made with the ``openssl`` CLI per test
session. A call (INVITE/200/ACK, re-INVITE, BYE) and a digest REGISTER run over
TLS with Via ``SIP/2.0/TLS``; the registrar then reaches the phone over the very
connection it registered on. A certificate from an unknown CA, or one for another
host name, is refused with :class:`TlsHandshakeError` and nothing is sent.
sipp has no TLS here unless it was built with OpenSSL: that test skips then.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
from argparse import Namespace
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from cti_server.switch.__main__ import (
    EXIT_BAD_OPTION,
    TlsOptionError,
    main,
    media_safety_overrides,
    tls_overrides,
)
from cti_server.switch.sip.auth import ClientCredentials, DigestAuthenticator, Ha1
from cti_server.switch.sip.dialog import Dialog
from cti_server.switch.sip.message import Headers, SipRequest, parse_uri
from cti_server.switch.sip.registrar import Registrar
from cti_server.switch.sip.sdp import SessionDescription, audio_answer, audio_offer, parse_sdp
from cti_server.switch.sip.stack import BaseCallHandler, IncomingCall, SipConfig, SipStack
from cti_server.switch.sip.transaction import LoopScheduler
from cti_server.switch.sip.transport import TlsConfig, TlsConfigError, TlsHandshakeError
from shared.config import Settings
from tests.cti_server.switch.sip.sip_support import FAST, SIPP, free_port
from tests.e2e.e2e_support import free_port as free_udp_and_tcp_port

OPENSSL = shutil.which("openssl")
ROOT = Path(__file__).resolve().parents[4]
TlsStacks = Callable[..., Awaitable[SipStack]]
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="the openssl CLI is not installed")


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path
    rogue_cert: Path
    rogue_key: Path
    wrong_host_cert: Path
    wrong_host_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _make_leaf(directory: Path, name: str, ca: tuple[Path, Path], san: str) -> tuple[Path, Path]:
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
    ext = directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext),
        cwd=directory,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = _make_ca(directory, "test-ca")
    other = _make_ca(directory, "other-ca")
    cert, key = _make_leaf(directory, "switch", ca, "IP:127.0.0.1,DNS:localhost")
    rogue_cert, rogue_key = _make_leaf(directory, "rogue", other, "IP:127.0.0.1")
    wrong_cert, wrong_key = _make_leaf(directory, "elsewhere", ca, "DNS:sip.example.org")
    return Pki(ca[0], cert, key, other[0], rogue_cert, rogue_key, wrong_cert, wrong_key)


class Handler(BaseCallHandler):
    def __init__(self) -> None:
        self.calls: list[IncomingCall] = []
        self.byes: list[Dialog] = []
        self.reinvites = 0

    async def on_invite(self, call: IncomingCall) -> None:
        self.calls.append(call)
        call.ring()
        assert call.offer is not None
        call.answer(audio_answer(call.offer, "127.0.0.1", 41_000))

    async def on_bye(self, dialog: Dialog, request: SipRequest) -> None:
        self.byes.append(dialog)

    async def on_reinvite(self, dialog: Dialog, request: SipRequest) -> SessionDescription | None:
        self.reinvites += 1
        return audio_answer(parse_sdp(request.body), "127.0.0.1", 41_000)


@pytest_asyncio.fixture
async def stacks() -> AsyncIterator[TlsStacks]:
    made: list[SipStack] = []

    async def factory(
        tls: TlsConfig, handler: BaseCallHandler | None = None, **kwargs: object
    ) -> SipStack:
        config = SipConfig(
            host="127.0.0.1", udp_port=0, tcp_port=None, tls_port=0, tls=tls, timers=FAST
        )
        stack = SipStack(config, handler=handler, **kwargs)  # type: ignore[arg-type]
        await stack.start()
        made.append(stack)
        return stack

    yield factory
    for stack in made:
        await stack.close()


@pytest.mark.asyncio
async def test_sip_tls_call_between_our_stacks(pki: Pki, stacks: TlsStacks) -> None:
    """INVITE → 200 → ACK, hold re-INVITE and BYE over one verified TLS connection."""
    server_tls = TlsConfig(cert=pki.cert, key=pki.key, ca=pki.ca)
    callee_handler, caller_handler = Handler(), Handler()
    callee = await stacks(server_tls, callee_handler)
    caller = await stacks(server_tls, caller_handler)
    host, port = callee.local_address("TLS")
    offer = audio_offer("127.0.0.1", 30_000)
    result = await caller.invite(f"sip:4000@{host}:{port};transport=tls", sdp=offer)
    assert result.status == 200 and result.dialog is not None
    call = callee_handler.calls[0]
    assert await call.wait_ack(2)
    assert call.request.top_via.transport == "TLS"
    assert call.tx.channel.transport_name == "TLS"
    assert "transport=tls" in str(call.request.contacts[0].uri)

    reinvite = await caller.request(result.dialog, "INVITE", body=offer)
    assert reinvite.status == 200 and callee_handler.reinvites == 1

    assert call.dialog is not None
    bye = await callee.bye(call.dialog)  # callee → caller: reuses the caller's connection
    assert bye.status == 200
    for _ in range(100):
        if caller_handler.byes:
            break
        await asyncio.sleep(0.01)
    assert len(caller_handler.byes) == 1
    assert caller.tls is not None and caller.tls.connection_count == 1
    assert callee.tls is not None and callee.tls.connection_count == 1


@pytest.mark.asyncio
async def test_sip_tls_register_then_switch_reaches_phone(pki: Pki, stacks: TlsStacks) -> None:
    """REGISTER with digest over TLS (R-IN-3); the binding is a TLS contact the
    registrar's stack calls back over the registering connection."""

    async def lookup(user: str) -> str | Ha1 | None:
        return "pw" if user == "1001" else None

    registrar = Registrar(DigestAuthenticator("opencc", lookup), LoopScheduler())
    tls = TlsConfig(cert=pki.cert, key=pki.key, ca=pki.ca)
    server = await stacks(tls, registrar=registrar)
    phone_handler = Handler()
    phone = await stacks(tls, phone_handler)
    host, port = server.local_address("TLS")
    headers = Headers(
        [
            ("From", f"<sip:1001@{host}>;tag=r1"),
            ("To", f"<sip:1001@{host}>"),
            ("Call-ID", "reg-tls-1001"),
            ("CSeq", "1 REGISTER"),
            ("Contact", str(phone.contact("TLS"))),
            ("Expires", "120"),
        ]
    )
    request = SipRequest("REGISTER", parse_uri(f"sip:{host}:{port};transport=tls"), headers)
    response = await phone.send(request, credentials=ClientCredentials("1001", "pw"))
    assert response.status == 200
    bindings = registrar.contacts("1001")
    assert len(bindings) == 1
    assert bindings[0].contact.uri.transport == "TLS"

    result = await server.invite(bindings[0].contact.uri, sdp=audio_offer("127.0.0.1", 30_002))
    assert result.status == 200 and len(phone_handler.calls) == 1
    assert phone_handler.calls[0].request.top_via.transport == "TLS"
    assert result.dialog is not None
    await server.bye(result.dialog)
    assert server.tls is not None and server.tls.connection_count == 1  # reused


@pytest.mark.asyncio
async def test_sip_tls_unknown_ca_is_refused(pki: Pki, stacks: TlsStacks) -> None:
    """A server whose certificate comes from a CA we do not trust: typed error, no call."""
    rogue_handler = Handler()
    rogue = await stacks(TlsConfig(cert=pki.rogue_cert, key=pki.rogue_key), rogue_handler)
    caller = await stacks(TlsConfig(cert=pki.cert, key=pki.key, ca=pki.ca))
    host, port = rogue.local_address("TLS")
    with pytest.raises(TlsHandshakeError, match=r"certificate verify failed|unable to get local"):
        await caller.invite(
            f"sip:4000@{host}:{port};transport=tls", sdp=audio_offer("127.0.0.1", 1)
        )
    assert rogue_handler.calls == []
    assert caller.tls is not None and caller.tls.connection_count == 0

    # The same server is accepted by a caller that does not verify (lab set-ups).
    lax = await stacks(TlsConfig(cert=pki.cert, key=pki.key, verify=False), Handler())
    result = await lax.invite(
        f"sip:4000@{host}:{port};transport=tls", sdp=audio_offer("127.0.0.1", 1)
    )
    assert result.status == 200 and len(rogue_handler.calls) == 1
    assert result.dialog is not None
    await lax.bye(result.dialog)


@pytest.mark.asyncio
async def test_sip_tls_wrong_host_name_is_refused(pki: Pki, stacks: TlsStacks) -> None:
    """Trusted CA but the certificate names another host: refused (hostname check)."""
    elsewhere = await stacks(TlsConfig(cert=pki.wrong_host_cert, key=pki.wrong_host_key), Handler())
    caller = await stacks(TlsConfig(cert=pki.cert, key=pki.key, ca=pki.ca))
    host, port = elsewhere.local_address("TLS")
    with pytest.raises(TlsHandshakeError, match=r"127\.0\.0\.1"):
        await caller.invite(
            f"sip:4000@{host}:{port};transport=tls", sdp=audio_offer("127.0.0.1", 1)
        )


@pytest.mark.asyncio
async def test_sip_tls_mutual_tls_refuses_client_without_trusted_cert(
    pki: Pki, stacks: TlsStacks
) -> None:
    """``require_client_cert``: a client whose certificate the server does not trust is
    refused during the handshake; a trusted one gets through."""
    server_handler = Handler()
    server = await stacks(
        TlsConfig(cert=pki.cert, key=pki.key, ca=pki.ca, require_client_cert=True),
        server_handler,
    )
    host, port = server.local_address("TLS")
    rogue = await stacks(TlsConfig(cert=pki.rogue_cert, key=pki.rogue_key, ca=pki.ca))
    target = f"sip:4000@{host}:{port};transport=tls"
    # TLS 1.3: the client may only learn of the refusal after its handshake looked
    # done; then the INVITE dies with the connection (local 408). Either way no call.
    try:
        outcome = await rogue.invite(target, sdp=audio_offer("127.0.0.1", 1))
    except TlsHandshakeError:
        refused = "handshake"
    else:
        refused = "timeout" if outcome.status == 408 else f"answered {outcome.status}"
    assert refused in ("handshake", "timeout")
    assert server_handler.calls == []
    trusted = await stacks(TlsConfig(cert=pki.cert, key=pki.key, ca=pki.ca))
    result = await trusted.invite(target, sdp=audio_offer("127.0.0.1", 1))
    assert result.status == 200 and len(server_handler.calls) == 1


def test_sip_tls_bad_certificate_files_are_a_typed_error(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match="certificate and a private key"):
        TlsConfig(cert=pki.cert).server_context()
    with pytest.raises(TlsConfigError, match="cannot load TLS certificate"):
        TlsConfig(cert=tmp_path / "missing.pem", key=pki.key).server_context()
    with pytest.raises(TlsConfigError, match="cannot load TLS certificate"):
        TlsConfig(cert=pki.cert, key=pki.rogue_key).server_context()  # key does not match
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TlsConfigError, match="CA bundle"):
        TlsConfig(ca=garbage).client_context()


@pytest.mark.skipif(SIPP is None, reason="sipp is not installed")
def test_sip_tls_sipp_interop_needs_a_tls_build() -> None:
    """sipp ``-t l1`` only works when sipp was compiled with OpenSSL."""
    assert SIPP is not None
    probe = subprocess.run(
        [SIPP, "-t", "l1", "-sn", "uac", "127.0.0.1:9", "-m", "1", "-timeout", "1s", "-nostdin"],
        capture_output=True,
        check=False,
        text=True,
        timeout=20,
    )
    if "compile SIPp with OpenSSL" in probe.stdout + probe.stderr:
        pytest.skip("this sipp is built without TLS (needs OpenSSL): TLS interop not testable")
    pytest.fail("sipp supports TLS here: add the sipp-over-TLS scenario (docs/sip.md)")


def test_sip_tls_cli_options_build_the_config(pki: Pki, tmp_path: Path) -> None:
    """``--sip-tls-*`` → ``SwitchAppConfig.sip_tls_port``/``sip_tls``; bad ones exit 2."""
    settings = Settings()
    assert tls_overrides(Namespace(sip_tls_port=None), settings) == {}
    options = Namespace(
        sip_tls_port=5061,
        sip_tls_cert=str(pki.cert),
        sip_tls_key=str(pki.key),
        sip_tls_ca=str(pki.ca),
        sip_tls_no_verify=False,
    )
    assert tls_overrides(options, settings) == {
        "sip_tls_port": 5061,
        "sip_tls": TlsConfig(cert=pki.cert, key=pki.key, ca=pki.ca, verify=True),
    }
    options.sip_tls_ca = str(tmp_path / "nope.pem")
    with pytest.raises(TlsOptionError, match="CA bundle"):
        tls_overrides(options, settings)
    assert media_safety_overrides(Namespace(rtp_timeout=0, srtp="require")) == {
        "reaper": None,
        "srtp": "require",
    }
    argv = ["--standalone", "--set", f"paths.data_dir={tmp_path}", "--sip-tls-port", "5061"]
    assert main(argv) == EXIT_BAD_OPTION  # no certificate: refused before starting


@pytest.mark.asyncio
async def test_sip_tls_switch_process_accepts_register_over_tls(
    pki: Pki, tmp_path: Path, stacks: TlsStacks
) -> None:
    """``python -m cti_server.switch --sip-tls-port …``: a phone registers over TLS."""
    if shutil.which("rtpengine") is None and not Path("/usr/bin/rtpengine").exists():
        pytest.skip("rtpengine not installed")
    # the switch listens on sip_port over UDP *and* TCP: a port free for both (workers
    # of the test run pick ports at the same time)
    tls_port, udp_port = free_port(socket.SOCK_STREAM), free_udp_and_tcp_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cti_server.switch", "--demo", "--standalone",
        "--set", f"switch.sip_port={udp_port}", "--set", "switch.rtpengine_ng=127.0.0.1:0",
        "--set", f"paths.data_dir={tmp_path}",
        "--sip-tls-port", str(tls_port), "--sip-tls-cert", str(pki.cert),
        "--sip-tls-key", str(pki.key), "--sip-tls-ca", str(pki.ca),
        cwd=ROOT, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "".join(lines)
            lines.append(line)
            if "standalone (no-CTI) mode" in line:
                break
        phone = await stacks(TlsConfig(cert=pki.cert, key=pki.key, ca=pki.ca))
        headers = Headers(
            [
                ("From", "<sip:1004@127.0.0.1>;tag=r4"),
                ("To", "<sip:1004@127.0.0.1>"),
                ("Call-ID", "reg-tls-1004"),
                ("CSeq", "1 REGISTER"),
                ("Contact", str(phone.contact("TLS"))),
                ("Expires", "60"),
            ]
        )
        uri = parse_uri(f"sip:127.0.0.1:{tls_port};transport=tls")
        response = await phone.send(
            SipRequest("REGISTER", uri, headers), credentials=ClientCredentials("1004", "demo")
        )
        assert response.status == 200
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0
