"""Digest authentication: RFC worked examples, server verification, client answers.

Issue 5: registrar for agent softphones with digest authentication.
"""

from __future__ import annotations

import asyncio

import pytest

from cti_server.switch.sip.auth import (
    AuthError,
    ClientCredentials,
    DigestAuthenticator,
    Ha1,
    Verdict,
    authorization_for,
    compute_ha1,
    compute_response,
    parse_digest,
    pick_challenge,
)
from cti_server.switch.sip.message import Headers, SipRequest, parse_uri


def test_sip_auth_rfc2617_mufasa_example() -> None:
    """RFC 2617 section 3.5: the classic worked example."""
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    response = compute_response(
        ha1=ha1,
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_sip_auth_rfc7616_examples(algorithm: str, expected: str) -> None:
    """RFC 7616 section 3.9.1: MD5 and SHA-256 responses for the same request."""
    ha1 = compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    response = compute_response(
        ha1=ha1,
        method="GET",
        uri="/dir/index.html",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        algorithm=algorithm,
        qop="auth",
        nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert response == expected


def test_sip_auth_parse_digest_handles_quoted_commas() -> None:
    params = parse_digest('Digest realm="a, b", nonce="n", qop="auth,auth-int", algorithm=MD5')
    assert params == {"realm": "a, b", "nonce": "n", "qop": "auth,auth-int", "algorithm": "MD5"}
    with pytest.raises(AuthError):
        parse_digest("Basic dXNlcjpwYXNz")
    with pytest.raises(AuthError):
        parse_digest('Digest realm="unterminated')


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def register_request(authorization: str | None = None, uri: str = "sip:opencc") -> SipRequest:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx"),
            ("From", "<sip:1001@opencc>;tag=a"),
            ("To", "<sip:1001@opencc>"),
            ("Call-ID", "c1"),
            ("CSeq", "1 REGISTER"),
        ]
    )
    if authorization:
        headers.add("Authorization", authorization)
    return SipRequest("REGISTER", parse_uri(uri), headers)


def make_authenticator(clock: Clock, secret: str | Ha1 = "pw") -> DigestAuthenticator:
    async def lookup(user: str) -> str | Ha1 | None:
        return secret if user == "1001" else None

    return DigestAuthenticator("opencc", lookup, nonce_ttl=60, clock=clock)


def answer(
    auth: DigestAuthenticator,
    password: str,
    *,
    algorithm: str = "SHA-256",
    creds: ClientCredentials | None = None,
    stale: bool = False,
) -> tuple[str, str]:
    challenges = auth.challenge(stale=stale)
    wanted = [c for c in challenges if f"algorithm={algorithm}" in c]
    challenge = parse_digest(wanted[0])
    creds = creds or ClientCredentials("1001", password)
    value = authorization_for(challenge, method="REGISTER", uri="sip:opencc", credentials=creds)
    return value, challenge["nonce"]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_sip_auth_server_accepts_right_password(algorithm: str) -> None:
    auth = make_authenticator(Clock())
    value, _ = answer(auth, "pw", algorithm=algorithm)
    result = asyncio.run(auth.verify(register_request(value)))
    assert result.verdict is Verdict.OK and result.username == "1001"


def test_sip_auth_server_accepts_ha1_instead_of_password() -> None:
    ha1 = Ha1({"MD5": compute_ha1("1001", "opencc", "pw", "MD5")})
    auth = make_authenticator(Clock(), ha1)
    value, _ = answer(auth, "pw", algorithm="MD5")
    assert asyncio.run(auth.verify(register_request(value))).ok
    sha_value, _ = answer(auth, "pw", algorithm="SHA-256")
    assert asyncio.run(auth.verify(register_request(sha_value))).verdict is Verdict.FAILED


def test_sip_auth_server_rejects_wrong_password_and_unknown_user() -> None:
    auth = make_authenticator(Clock())
    value, _ = answer(auth, "nope")
    assert asyncio.run(auth.verify(register_request(value))).verdict is Verdict.FAILED
    challenge = parse_digest(auth.challenge()[0])
    other = authorization_for(
        challenge, method="REGISTER", uri="sip:opencc", credentials=ClientCredentials("9999", "pw")
    )
    assert asyncio.run(auth.verify(register_request(other))).verdict is Verdict.FAILED


def test_sip_auth_replayed_nonce_count_is_rejected() -> None:
    """Replay protection: the same nc twice fails, a higher nc on the same nonce passes."""
    auth = make_authenticator(Clock())
    creds = ClientCredentials("1001", "pw")
    value, nonce = answer(auth, "pw", creds=creds)
    request = register_request(value)
    assert asyncio.run(auth.verify(request)).ok
    assert asyncio.run(auth.verify(request)).verdict is Verdict.REPLAY
    again = authorization_for(
        parse_digest(auth.challenge()[0]) | {"nonce": nonce},
        method="REGISTER",
        uri="sip:opencc",
        credentials=creds,
    )
    assert "nc=00000002" in again
    assert asyncio.run(auth.verify(register_request(again))).ok


def test_sip_auth_expired_nonce_is_stale_and_challenge_says_so() -> None:
    clock = Clock()
    auth = make_authenticator(clock)
    value, _ = answer(auth, "pw")
    clock.now += 61
    assert asyncio.run(auth.verify(register_request(value))).verdict is Verdict.STALE
    assert all("stale=true" in c for c in auth.challenge(stale=True))
    # A wrong password on an expired nonce is a failure, not "stale".
    bad, _ = answer(auth, "nope")
    clock.now += 61
    assert asyncio.run(auth.verify(register_request(bad))).verdict is Verdict.FAILED


def test_sip_auth_forged_nonce_and_uri_mismatch_are_refused() -> None:
    auth = make_authenticator(Clock())
    challenge = parse_digest(auth.challenge()[0]) | {"nonce": "Zm9yZ2Vk"}
    forged = authorization_for(
        challenge, method="REGISTER", uri="sip:opencc", credentials=ClientCredentials("1001", "pw")
    )
    assert asyncio.run(auth.verify(register_request(forged))).verdict is Verdict.FAILED
    value, _ = answer(auth, "pw")
    wrong_uri = register_request(value, uri="sip:elsewhere")
    assert asyncio.run(auth.verify(wrong_uri)).verdict is Verdict.BAD
    assert asyncio.run(auth.verify(register_request())).verdict is Verdict.MISSING
    garbage = register_request('Digest username="1001", realm="opencc"')
    assert asyncio.run(auth.verify(garbage)).verdict is Verdict.BAD


def test_sip_auth_client_prefers_sha256() -> None:
    auth = make_authenticator(Clock())
    chosen = pick_challenge(auth.challenge())
    assert chosen["algorithm"] == "SHA-256"
    with pytest.raises(AuthError):
        pick_challenge(['Digest realm="x", nonce="y", algorithm=SHA-512-256'])
