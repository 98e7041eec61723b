"""HTTP digest authentication for SIP (RFC 3261 22, RFC 2617, RFC 7616, RFC 8760).

Server side: :class:`DigestAuthenticator` issues 401/407 challenges (nonce +
opaque, ``qop=auth``, MD5 and SHA-256), verifies answers against a credential
lookup, reports expired nonces with ``stale=true`` and rejects replays by
tracking the nonce count per nonce.

Client side: :func:`authorization_for` answers a challenge from an upstream
trunk; :class:`ClientCredentials` keeps the nonce count across requests.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cti_server.switch.sip.message import SipRequest, _split_unquoted, quote, unquote

ALGORITHMS = {
    "MD5": hashlib.md5,
    "MD5-SESS": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-256-SESS": hashlib.sha256,
}


class AuthError(ValueError):
    """A malformed challenge or Authorization header."""


def _h(algorithm: str, data: str) -> str:
    try:
        factory = ALGORITHMS[algorithm.upper()]
    except KeyError as exc:
        raise AuthError(f"unsupported digest algorithm {algorithm!r}") from exc
    return factory(data.encode("utf-8")).hexdigest()


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    return _h(algorithm, f"{username}:{realm}:{password}")


def compute_response(
    *,
    ha1: str,
    method: str,
    uri: str,
    nonce: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The ``response`` value (RFC 2617 3.2.2.1, RFC 7616 3.4.1); ``ha1`` is H(A1)
    for the base algorithm (the ``-sess`` variants are derived here)."""
    if algorithm.upper().endswith("-SESS"):
        if cnonce is None:
            raise AuthError("-sess algorithms need a cnonce")
        ha1 = _h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        if nc is None or cnonce is None:
            raise AuthError("qop needs nc and cnonce")
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def parse_digest(value: str) -> dict[str, str]:
    """Parse ``Digest a=b, c="d"`` into a dict with lower-case keys."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise AuthError(f"not a Digest header: {scheme!r}")
    params: dict[str, str] = {}
    try:
        for raw_part in _split_unquoted(rest, ","):
            part = raw_part.strip()
            if not part:
                continue
            name, eq, raw = part.partition("=")
            if not eq or not name.strip():
                raise AuthError(f"bad digest parameter {part!r}")
            params[name.strip().lower()] = unquote(raw.strip())
    except ValueError as exc:
        if isinstance(exc, AuthError):
            raise
        raise AuthError(str(exc)) from exc
    return params


_UNQUOTED = frozenset({"algorithm", "qop_token", "nc", "stale"})


def format_digest(params: dict[str, str]) -> str:
    parts = []
    for name, value in params.items():
        if name in ("algorithm", "nc", "stale") or (
            name == "qop" and "," not in value and "response" in params
        ):
            parts.append(f"{name}={value}")
        else:
            parts.append(f"{name}={quote(value)}")
    return "Digest " + ", ".join(parts)


# ---------------------------------------------------------------------------
# server side


@dataclass(frozen=True, slots=True)
class Ha1:
    """Pre-hashed credentials per algorithm (``{"MD5": hex, "SHA-256": hex}``) for a realm."""

    by_algorithm: dict[str, str]


CredentialLookup = Callable[[str], Awaitable["str | Ha1 | None"]]
"""``async def credentials(user) -> password | Ha1 | None``."""


class Verdict(enum.Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials for our realm: challenge
    STALE = "stale"  # right password, expired nonce: challenge with stale=true
    FAILED = "failed"  # wrong password / unknown user: challenge again or 403
    REPLAY = "replay"  # nonce count reused
    BAD = "bad"  # malformed header: 400


@dataclass(frozen=True, slots=True)
class AuthResult:
    verdict: Verdict
    username: str | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


@dataclass(slots=True)
class _NonceState:
    issued: float
    last_nc: int = 0


@dataclass
class DigestAuthenticator:
    """Issues and checks digest challenges for one realm."""

    realm: str
    credentials: CredentialLookup
    # MD5 first: many phones (and sipp) answer only the first challenge and know only MD5.
    algorithms: tuple[str, ...] = ("MD5", "SHA-256")
    nonce_ttl: float = 300.0
    clock: Callable[[], float] = time.time
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    opaque: str = field(default_factory=lambda: secrets.token_hex(8))
    max_nonces: int = 100_000
    _nonces: dict[str, _NonceState] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for algorithm in self.algorithms:
            if algorithm.upper() not in ALGORITHMS:
                raise ValueError(f"unsupported digest algorithm {algorithm!r}")

    # nonce = base64(timestamp ":" random ":" hmac) — verifiable without state;
    # the state map only tracks nonce counts for replay protection.
    def _new_nonce(self) -> str:
        now = self.clock()
        token = f"{now:.3f}:{secrets.token_hex(8)}"
        mac = hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()[:32]
        nonce = base64.b64encode(f"{token}:{mac}".encode()).decode()
        self._prune(now)
        self._nonces[nonce] = _NonceState(issued=now)
        return nonce

    def _nonce_issued(self, nonce: str) -> float | None:
        try:
            raw = base64.b64decode(nonce.encode(), validate=True).decode()
            stamp, rand, mac = raw.split(":")
            issued = float(stamp)
        except ValueError:
            return None
        expected = hmac.new(self.secret, f"{stamp}:{rand}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected[:32], mac):
            return None
        return issued

    def _prune(self, now: float) -> None:
        if len(self._nonces) < self.max_nonces // 2 and len(self._nonces) % 256:
            return
        horizon = now - self.nonce_ttl
        for nonce in [n for n, s in self._nonces.items() if s.issued < horizon]:
            del self._nonces[nonce]
        while len(self._nonces) >= self.max_nonces:
            del self._nonces[next(iter(self._nonces))]

    def challenge(self, *, stale: bool = False) -> list[str]:
        """``WWW-Authenticate`` / ``Proxy-Authenticate`` values, one per algorithm."""
        nonce = self._new_nonce()
        values = []
        for algorithm in self.algorithms:
            params = {
                "realm": self.realm,
                "nonce": nonce,
                "opaque": self.opaque,
                "algorithm": algorithm,
                "qop": "auth",
            }
            if stale:
                params["stale"] = "true"
            values.append(format_digest(params))
        return values

    async def verify(self, request: SipRequest, *, proxy: bool = False) -> AuthResult:
        """Check the request's Authorization (or Proxy-Authorization) for our realm."""
        header = "Proxy-Authorization" if proxy else "Authorization"
        candidates: list[dict[str, str]] = []
        for value in request.headers.get_all(header):
            try:
                params = parse_digest(value)
            except AuthError as exc:
                return AuthResult(Verdict.BAD, reason=str(exc))
            if params.get("realm") == self.realm:
                candidates.append(params)
        if not candidates:
            return AuthResult(Verdict.MISSING)
        return await self._check(request, candidates[0])

    async def _check(self, request: SipRequest, params: dict[str, str]) -> AuthResult:
        username = params.get("username")
        nonce = params.get("nonce")
        uri = params.get("uri")
        response = params.get("response")
        if not username or not nonce or not uri or not response:
            return AuthResult(Verdict.BAD, username, "missing digest parameter")
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in {a.upper() for a in self.algorithms}:
            return AuthResult(Verdict.BAD, username, f"algorithm {algorithm} not offered")
        if params.get("opaque", self.opaque) != self.opaque:
            return AuthResult(Verdict.FAILED, username, "opaque mismatch")
        qop = params.get("qop")
        if qop != "auth":
            return AuthResult(Verdict.BAD, username, "qop=auth is required")
        nc_text = params.get("nc", "")
        cnonce = params.get("cnonce")
        if len(nc_text) != 8 or not cnonce:
            return AuthResult(Verdict.BAD, username, "bad nc or cnonce")
        try:
            nc = int(nc_text, 16)
        except ValueError:
            return AuthResult(Verdict.BAD, username, "bad nc")
        if str(request.uri) != uri and uri.split(";")[0] != str(request.uri).split(";")[0]:
            return AuthResult(Verdict.BAD, username, "digest uri does not match Request-URI")
        issued = self._nonce_issued(nonce)
        if issued is None:
            return AuthResult(Verdict.FAILED, username, "nonce not issued by us")
        secret = await self.credentials(username)
        if secret is None:
            return AuthResult(Verdict.FAILED, username, "unknown user")
        base = algorithm.removesuffix("-SESS")
        if isinstance(secret, Ha1):
            ha1 = secret.by_algorithm.get(base)
            if ha1 is None:
                return AuthResult(Verdict.FAILED, username, f"no {base} HA1 for user")
        else:
            ha1 = compute_ha1(username, self.realm, secret, base)
        expected = compute_response(
            ha1=ha1,
            method=request.method,
            uri=uri,
            nonce=nonce,
            algorithm=algorithm,
            qop=qop,
            nc=nc_text,
            cnonce=cnonce,
        )
        if not hmac.compare_digest(expected, response.lower()):
            return AuthResult(Verdict.FAILED, username, "wrong response")
        now = self.clock()
        state = self._nonces.get(nonce)
        if now - issued > self.nonce_ttl or state is None:
            return AuthResult(Verdict.STALE, username, "nonce expired")
        if nc <= state.last_nc:
            return AuthResult(Verdict.REPLAY, username, "nonce count reused")
        state.last_nc = nc
        return AuthResult(Verdict.OK, username)


# ---------------------------------------------------------------------------
# client side


@dataclass
class ClientCredentials:
    """Username/password for an upstream realm; counts nonce uses (``nc``)."""

    username: str
    password: str
    _counts: dict[str, int] = field(default_factory=dict, repr=False)

    def next_nc(self, nonce: str) -> str:
        count = self._counts.get(nonce, 0) + 1
        self._counts = {nonce: count}
        return f"{count:08x}"


def pick_challenge(values: list[str]) -> dict[str, str]:
    """Choose the strongest supported challenge (SHA-256 before MD5, RFC 8760)."""
    parsed: list[dict[str, str]] = []
    for value in values:
        try:
            parsed.append(parse_digest(value))
        except AuthError:
            continue
    supported = [p for p in parsed if p.get("algorithm", "MD5").upper() in ALGORITHMS]
    if not supported:
        raise AuthError("no supported digest challenge")
    supported.sort(key=lambda p: 0 if p.get("algorithm", "MD5").upper().startswith("SHA") else 1)
    return supported[0]


def authorization_for(
    challenge: dict[str, str],
    *,
    method: str,
    uri: str,
    credentials: ClientCredentials,
    cnonce: str | None = None,
) -> str:
    """``Authorization`` value answering ``challenge`` (qop=auth when offered)."""
    realm = challenge.get("realm", "")
    nonce = challenge.get("nonce")
    if not nonce:
        raise AuthError("challenge without nonce")
    algorithm = challenge.get("algorithm", "MD5")
    base = algorithm.upper().removesuffix("-SESS")
    ha1 = compute_ha1(credentials.username, realm, credentials.password, base)
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    params = {
        "username": credentials.username,
        "realm": realm,
        "nonce": nonce,
        "uri": uri,
    }
    if "auth" in qops:
        cnonce = cnonce or secrets.token_hex(8)
        nc = credentials.next_nc(nonce)
        params["response"] = compute_response(
            ha1=ha1,
            method=method,
            uri=uri,
            nonce=nonce,
            algorithm=algorithm,
            qop="auth",
            nc=nc,
            cnonce=cnonce,
        )
        params.update({"algorithm": algorithm, "cnonce": cnonce, "qop": "auth", "nc": nc})
    elif qops:
        raise AuthError(f"unsupported qop {qops!r}")
    else:
        params["response"] = compute_response(
            ha1=ha1, method=method, uri=uri, nonce=nonce, algorithm=algorithm
        )
        params["algorithm"] = algorithm
    if "opaque" in challenge:
        params["opaque"] = challenge["opaque"]
    return format_digest(params)
