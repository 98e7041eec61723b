"""Registrar behaviour (RFC 3261 section 10) with digest auth, under a fake clock.

R-IN-3: the switch always knows which agents are reachable, with or without
the CTI server — bindings, expiry events, persistence across restarts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cti_server.switch.sip.auth import (
    ClientCredentials,
    DigestAuthenticator,
    Ha1,
    authorization_for,
    parse_digest,
)
from cti_server.switch.sip.message import Headers, SipRequest, SipResponse, parse_uri
from cti_server.switch.sip.registrar import Registrar, RegistrationEvent, RegistrationKind
from tests.cti_server.switch.sip.sip_support import FakeClock

PASSWORDS = {"1001": "pw1", "1002": "pw2"}


async def lookup(user: str) -> str | Ha1 | None:
    return PASSWORDS.get(user)


class Phone:
    """A minimal registering UA that answers challenges."""

    def __init__(self, registrar: Registrar, user: str, password: str, host: str = "10.0.0.5"):
        self.registrar = registrar
        self.user = user
        self.creds = ClientCredentials(user, password)
        self.host = host
        self.cseq = 0
        self.call_id = f"reg-{user}-{host}"

    def request(self, contacts: list[str], expires: int | None, auth: str | None) -> SipRequest:
        self.cseq += 1
        headers = Headers(
            [
                ("Via", f"SIP/2.0/UDP {self.host}:5060;branch=z9hG4bK{self.cseq}"),
                ("From", f"<sip:{self.user}@opencc>;tag=ph"),
                ("To", f"<sip:{self.user}@opencc>"),
                ("Call-ID", self.call_id),
                ("CSeq", f"{self.cseq} REGISTER"),
            ]
        )
        for contact in contacts:
            headers.add("Contact", contact)
        if expires is not None:
            headers.add("Expires", str(expires))
        if auth:
            headers.add("Authorization", auth)
        return SipRequest("REGISTER", parse_uri("sip:opencc"), headers)

    def register(self, contacts: list[str] | None = None, expires: int | None = 300) -> SipResponse:
        contacts = contacts if contacts is not None else [f"<sip:{self.user}@{self.host}:5060>"]
        first = asyncio.run(self.registrar.handle(self.request(contacts, expires, None)))
        if first.status != 401:
            return first
        challenge = parse_digest(first.headers.get_all("WWW-Authenticate")[0])
        auth = authorization_for(
            challenge, method="REGISTER", uri="sip:opencc", credentials=self.creds
        )
        return asyncio.run(self.registrar.handle(self.request(contacts, expires, auth)))


def make(
    clock: FakeClock,
    events: list[RegistrationEvent],
    store: Path | None = None,
) -> Registrar:
    return Registrar(
        authenticator=DigestAuthenticator("opencc", lookup, clock=clock.time),
        scheduler=clock,
        min_expires=60,
        max_expires=3600,
        default_expires=600,
        on_event=events.append,
        store_path=store,
        clock=clock.time,
    )


def test_sip_registrar_register_lists_binding_and_reports_event() -> None:
    clock, events = FakeClock(now=1000.0), []
    registrar = make(clock, events)
    response = Phone(registrar, "1001", "pw1").register()
    assert response.status == 200
    assert response.contacts[0].params["expires"] == "300"
    assert response.headers.get("Date")
    assert [b.contact.uri.host for b in registrar.contacts("sip:1001@opencc")] == ["10.0.0.5"]
    assert registrar.aors() == ["1001"]
    assert [e.kind for e in events] == [RegistrationKind.REGISTERED]


def test_sip_registrar_without_credentials_is_challenged() -> None:
    clock, events = FakeClock(now=1000.0), []
    registrar = make(clock, events)
    phone = Phone(registrar, "1001", "pw1")
    response = asyncio.run(registrar.handle(phone.request(["<sip:1001@h>"], 300, None)))
    assert response.status == 401
    challenges = [parse_digest(v) for v in response.headers.get_all("WWW-Authenticate")]
    assert [c["algorithm"] for c in challenges] == ["MD5", "SHA-256"]
    assert all(c["qop"] == "auth" and c["opaque"] and c["nonce"] for c in challenges)
    assert registrar.contacts("1001") == []


def test_sip_registrar_wrong_password_401_then_403() -> None:
    clock, events = FakeClock(now=1000.0), []
    registrar = make(clock, events)
    phone = Phone(registrar, "1001", "wrong")
    assert [phone.register().status for _ in range(3)] == [401, 401, 403]
    assert registrar.contacts("1001") == [] and events == []
    assert Phone(registrar, "1001", "pw1").register().status == 200


def test_sip_registrar_user_cannot_register_someone_elses_aor() -> None:
    clock, events = FakeClock(now=1000.0), []
    registrar = make(clock, events)
    phone = Phone(registrar, "1002", "pw2")
    phone.user = "1001"  # To: 1001 but credentials of 1002
    assert phone.register().status == 403


def test_sip_registrar_interval_too_brief_423() -> None:
    clock, events = FakeClock(now=1000.0), []
    registrar = make(clock, events)
    response = Phone(registrar, "1001", "pw1").register(expires=30)
    assert response.status == 423 and response.headers.get("Min-Expires") == "60"


def test_sip_registrar_several_contacts_refresh_unregister_and_wildcard() -> None:
    clock, events = FakeClock(now=1000.0), []
    registrar = make(clock, events)
    phone = Phone(registrar, "1001", "pw1")
    both = ["<sip:1001@10.0.0.5:5060>;q=0.5", "<sip:1001@10.0.0.6:5060>;expires=120"]
    assert phone.register(both, expires=300).status == 200
    bindings = registrar.contacts("1001")
    assert [b.contact.uri.host for b in bindings] == ["10.0.0.6", "10.0.0.5"]  # q order
    assert {b.remaining(clock.now) for b in bindings} == {120, 300}
    assert phone.register(["<sip:1001@10.0.0.6:5060>"], expires=600).status == 200
    assert events[-1].kind is RegistrationKind.REFRESHED
    assert phone.register(["<sip:1001@10.0.0.5:5060>"], expires=0).status == 200
    assert [b.contact.uri.host for b in registrar.contacts("1001")] == ["10.0.0.6"]
    assert phone.register(["*"], expires=300).status == 400  # * needs Expires: 0
    assert phone.register(["*"], expires=0).status == 200
    assert registrar.contacts("1001") == []
    assert [e.kind for e in events].count(RegistrationKind.UNREGISTERED) == 2


def test_sip_registrar_out_of_order_cseq_is_refused() -> None:
    clock, events = FakeClock(now=1000.0), []
    registrar = make(clock, events)
    phone = Phone(registrar, "1001", "pw1")
    assert phone.register().status == 200
    phone.cseq = 0  # a delayed, older REGISTER of the same Call-ID
    assert phone.register().status == 500


def test_sip_registrar_binding_expires_with_event() -> None:
    clock, events = FakeClock(now=1000.0), []
    registrar = make(clock, events)
    Phone(registrar, "1001", "pw1").register(expires=60)
    clock.advance(59)
    assert registrar.is_registered("1001")
    clock.advance(2)
    assert not registrar.is_registered("1001")
    assert [e.kind for e in events] == [RegistrationKind.REGISTERED, RegistrationKind.EXPIRED]


def test_sip_registrar_bindings_survive_restart(tmp_path: Path) -> None:
    store = tmp_path / "bindings.json"
    clock, events = FakeClock(now=1000.0), []
    first = make(clock, events, store)
    Phone(first, "1001", "pw1").register(expires=300)
    Phone(first, "1002", "pw2", host="10.0.0.7").register(expires=60)
    first.close()
    clock.advance(100)  # restart 100 s later: 1002 expired meanwhile
    again = make(clock, [], store)
    assert again.aors() == ["1001"]
    assert again.contacts("1001")[0].remaining(clock.now) == 200
    clock.advance(201)
    assert again.aors() == []
