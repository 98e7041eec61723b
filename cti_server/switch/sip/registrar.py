"""Registrar for agent softphones (RFC 3261 section 10) with digest authentication.

Bindings per address-of-record with expiry, ``*`` unregister, Min-Expires
(423), several contacts, CSeq ordering per Call-ID, events on register /
refresh / unregister / expiry, and optional JSON persistence so a switch
restart keeps its bindings.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

from cti_server.switch.sip.auth import DigestAuthenticator, Verdict
from cti_server.switch.sip.message import (
    NameAddr,
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    parse_name_addr,
)
from cti_server.switch.sip.transaction import Scheduler, TimerHandle

log = logging.getLogger("switch.sip.registrar")


class RegistrationKind(enum.Enum):
    REGISTERED = "registered"
    REFRESHED = "refreshed"
    UNREGISTERED = "unregistered"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an address of record."""

    aor: str
    contact: NameAddr
    expires_at: float
    call_id: str
    cseq: int
    source: tuple[str, str, int] | None = None  # (transport, ip, port) it came from
    user_agent: str | None = None
    registered_at: float = 0.0

    @property
    def q(self) -> float:
        value = self.contact.params.get("q")
        try:
            return float(value) if value is not None else 1.0
        except ValueError:
            return 1.0

    def remaining(self, now: float) -> int:
        return max(0, round(self.expires_at - now))

    def to_json(self) -> dict[str, object]:
        return {
            "aor": self.aor,
            "contact": str(self.contact),
            "expires_at": self.expires_at,
            "call_id": self.call_id,
            "cseq": self.cseq,
            "source": list(self.source) if self.source else None,
            "user_agent": self.user_agent,
            "registered_at": self.registered_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Binding:
        source = data.get("source")
        src: tuple[str, str, int] | None = None
        if isinstance(source, list) and len(source) == 3:
            src = (str(source[0]), str(source[1]), int(source[2]))
        ua = data.get("user_agent")
        return cls(
            aor=str(data["aor"]),
            contact=parse_name_addr(str(data["contact"])),
            expires_at=float(str(data["expires_at"])),
            call_id=str(data["call_id"]),
            cseq=int(str(data["cseq"])),
            source=src,
            user_agent=str(ua) if ua is not None else None,
            registered_at=float(str(data.get("registered_at", 0.0))),
        )


@dataclass(frozen=True, slots=True)
class RegistrationEvent:
    kind: RegistrationKind
    aor: str
    binding: Binding


EventCallback = Callable[[RegistrationEvent], None]


class RegistrarError(ValueError):
    """Bad registrar configuration or unreadable binding store."""


@dataclass
class Registrar:
    """REGISTER handling; ``await handle(request, source)`` returns the response to send."""

    authenticator: DigestAuthenticator | None
    scheduler: Scheduler
    domains: frozenset[str] = frozenset()
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    on_event: EventCallback | None = None
    store_path: Path | None = None
    clock: Callable[[], float] = time.time
    max_failures_before_403: int = 3
    _bindings: dict[str, dict[str, Binding]] = field(default_factory=dict, init=False)
    _timers: dict[tuple[str, str], TimerHandle] = field(default_factory=dict, init=False)
    _failures: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise RegistrarError("need 0 < min_expires <= default_expires <= max_expires")
        if self.store_path is not None:
            self._load()

    # -- queries ------------------------------------------------------------

    def contacts(self, aor: str) -> list[Binding]:
        """Live bindings of ``aor`` (``sip:user@domain`` or just ``user``), best q first."""
        now = self.clock()
        bindings = [
            b for b in self._bindings.get(self._norm(aor), {}).values() if b.expires_at > now
        ]
        return sorted(bindings, key=lambda b: (-b.q, -b.registered_at))

    def aors(self) -> list[str]:
        now = self.clock()
        return sorted(
            a for a, bs in self._bindings.items() if any(b.expires_at > now for b in bs.values())
        )

    def is_registered(self, aor: str) -> bool:
        return bool(self.contacts(aor))

    @staticmethod
    def _norm(aor: str) -> str:
        """Bindings are keyed by user part only (one switch, one agent namespace)."""
        text = aor.strip()
        if ":" in text:
            text = text.split(":", 1)[1]
        return text.split("@", 1)[0].lower()

    # -- REGISTER -----------------------------------------------------------

    async def handle(
        self, request: SipRequest, source: tuple[str, str, int] | None = None
    ) -> SipResponse:
        if request.method != "REGISTER":
            return make_response(request, 405, headers=[("Allow", "REGISTER")])
        try:
            to = request.to
        except SipParseError:
            return make_response(request, 400, "Bad To")
        if to.uri.scheme not in ("sip", "sips") or not to.uri.user:
            return make_response(request, 404, "Unknown AOR")
        if self.domains and to.uri.host not in self.domains:
            return make_response(request, 404, "Domain Not Served")
        user = to.uri.user
        aor_key = self._norm(user)

        if self.authenticator is not None:
            result = await self.authenticator.verify(request)
            if result.verdict is Verdict.BAD:
                return make_response(request, 400, f"Bad Authorization ({result.reason})")
            if result.verdict is Verdict.REPLAY:
                return self._challenge(request, stale=False)
            if result.verdict is Verdict.STALE:
                return self._challenge(request, stale=True)
            if result.verdict is Verdict.FAILED:
                count = self._failures.get(aor_key, 0) + 1
                self._failures[aor_key] = count
                log.info("REGISTER for %s failed auth (%s)", user, result.reason)
                if count >= self.max_failures_before_403:
                    return make_response(request, 403, "Forbidden")
                return self._challenge(request)
            if result.verdict is Verdict.MISSING:
                return self._challenge(request)
            if self._norm(result.username or "") != aor_key:
                return make_response(request, 403, "Username Does Not Match AOR")
            self._failures.pop(aor_key, None)

        return self._apply(request, aor_key, source)

    def _challenge(self, request: SipRequest, *, stale: bool = False) -> SipResponse:
        assert self.authenticator is not None
        headers = [("WWW-Authenticate", v) for v in self.authenticator.challenge(stale=stale)]
        return make_response(request, 401, headers=headers)

    def _apply(
        self, request: SipRequest, aor: str, source: tuple[str, str, int] | None
    ) -> SipResponse:
        now = self.clock()
        raw_contacts = request.headers.values("Contact")
        expires_header = request.headers.get("Expires")
        header_expires: int | None = None
        if expires_header is not None:
            if not expires_header.strip().isdigit():
                return make_response(request, 400, "Bad Expires")
            header_expires = int(expires_header.strip())
        call_id = request.call_id
        cseq = request.cseq.number
        current = self._bindings.setdefault(aor, {})

        if "*" in [c.strip() for c in raw_contacts]:
            if len(raw_contacts) != 1 or header_expires != 0:
                return make_response(request, 400, "Wildcard Needs Expires 0")
            for key, binding in list(current.items()):
                if binding.call_id == call_id and cseq <= binding.cseq:
                    return make_response(request, 500, "Out Of Order")
                del current[key]
                self._cancel_timer(aor, key)
                self._emit(RegistrationKind.UNREGISTERED, binding)
            self._save()
            return self._ok(request, aor)

        try:
            contacts = request.contacts
        except SipParseError:
            return make_response(request, 400, "Bad Contact")
        changes: list[tuple[str, int, NameAddr]] = []
        for contact in contacts:
            value = contact.params.get("expires")
            if value is not None:
                if not value.isdigit():
                    return make_response(request, 400, "Bad Contact Expires")
                expires = int(value)
            elif header_expires is not None:
                expires = header_expires
            else:
                expires = self.default_expires
            if 0 < expires < self.min_expires:
                return make_response(request, 423, headers=[("Min-Expires", str(self.min_expires))])
            expires = min(expires, self.max_expires)
            key = self._contact_key(contact)
            existing = current.get(key)
            if existing is not None and existing.call_id == call_id and cseq <= existing.cseq:
                return make_response(request, 500, "Out Of Order")
            changes.append((key, expires, contact))

        user_agent = request.headers.get("User-Agent")
        for key, expires, contact in changes:
            existing = current.get(key)
            if expires == 0:
                if existing is not None:
                    del current[key]
                    self._cancel_timer(aor, key)
                    self._emit(RegistrationKind.UNREGISTERED, existing)
                continue
            params = {k: v for k, v in contact.params.items() if k != "expires"}
            binding = Binding(
                aor=aor,
                contact=NameAddr(contact.uri, contact.display_name, params),
                expires_at=now + expires,
                call_id=call_id,
                cseq=cseq,
                source=source,
                user_agent=user_agent,
                registered_at=existing.registered_at if existing else now,
            )
            current[key] = binding
            self._arm_timer(aor, key, expires)
            kind = RegistrationKind.REFRESHED if existing else RegistrationKind.REGISTERED
            self._emit(kind, binding)
        if not current:
            self._bindings.pop(aor, None)
        self._save()
        return self._ok(request, aor)

    @staticmethod
    def _contact_key(contact: NameAddr) -> str:
        uri = contact.uri
        return f"{uri.scheme}:{uri.user or ''}@{uri.host}:{uri.port or ''}"

    def _ok(self, request: SipRequest, aor: str) -> SipResponse:
        now = self.clock()
        headers: list[tuple[str, str]] = []
        for binding in self.contacts(aor):
            params = dict(binding.contact.params)
            params["expires"] = str(binding.remaining(now))
            headers.append(
                (
                    "Contact",
                    str(NameAddr(binding.contact.uri, binding.contact.display_name, params)),
                )
            )
        headers.append(("Date", formatdate(now, usegmt=True)))
        return make_response(request, 200, headers=headers)

    # -- expiry -------------------------------------------------------------

    def _arm_timer(self, aor: str, key: str, seconds: float) -> None:
        self._cancel_timer(aor, key)
        self._timers[(aor, key)] = self.scheduler.call_later(
            max(0.0, seconds), lambda: self._expire(aor, key)
        )

    def _cancel_timer(self, aor: str, key: str) -> None:
        handle = self._timers.pop((aor, key), None)
        if handle is not None:
            handle.cancel()

    def _expire(self, aor: str, key: str) -> None:
        self._timers.pop((aor, key), None)
        bindings = self._bindings.get(aor)
        if not bindings or key not in bindings:
            return
        binding = bindings[key]
        remaining = binding.expires_at - self.clock()
        if remaining > 0:  # timer fired early (clock skew): re-arm
            self._arm_timer(aor, key, remaining)
            return
        del bindings[key]
        if not bindings:
            del self._bindings[aor]
        self._emit(RegistrationKind.EXPIRED, binding)
        self._save()

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def _emit(self, kind: RegistrationKind, binding: Binding) -> None:
        log.info("%s %s -> %s", kind.value, binding.aor, binding.contact.uri)
        if self.on_event is not None:
            try:
                self.on_event(RegistrationEvent(kind, binding.aor, binding))
            except Exception:
                log.exception("registration event callback failed")

    # -- persistence --------------------------------------------------------

    def _save(self) -> None:
        if self.store_path is None:
            return
        data = {
            "version": 1,
            "bindings": [b.to_json() for bs in self._bindings.values() for b in bs.values()],
        }
        directory = self.store_path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".bindings-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.store_path)
        except OSError:
            log.exception("could not persist registrar bindings to %s", self.store_path)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _load(self) -> None:
        assert self.store_path is not None
        if not self.store_path.exists():
            return
        try:
            data = json.loads(self.store_path.read_text(encoding="utf-8"))
            items = data["bindings"]
            bindings = [Binding.from_json(item) for item in items]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RegistrarError(f"unreadable binding store {self.store_path}: {exc}") from exc
        now = self.clock()
        for binding in bindings:
            if binding.expires_at <= now:
                continue
            key = self._contact_key(binding.contact)
            self._bindings.setdefault(binding.aor, {})[key] = binding
            self._arm_timer(binding.aor, key, binding.expires_at - now)
