"""Plain data of the softphone: configuration, calls, devices and check results."""

from __future__ import annotations

from dataclasses import dataclass

DTMF_DIGITS = frozenset("0123456789*#ABCD")
MAX_CALLS = 4
"""The PyPI pjsua2 wheels are built for at most 4 calls per process."""


class SoftphoneError(RuntimeError):
    """An operation the softphone cannot do now (not started, call not answered …)."""


class UnknownCallError(SoftphoneError, KeyError):
    """No live call has this key (it ended or never existed)."""


@dataclass(frozen=True, slots=True)
class SoftphoneConfig:
    """Where and as whom the softphone registers.

    ``local_port`` 0 picks any free port; ``realm`` None answers any realm's challenge;
    ``local_host`` is the address put in Contact/SDP (None: the local address that routes
    to the registrar). Auto-answer is the UI's business, not the softphone's."""

    registrar_host: str
    registrar_port: int = 5060
    user: str = ""
    password: str = ""
    local_port: int = 0
    transport: str = "udp"
    realm: str | None = None
    expires: int = 300
    local_host: str | None = None
    display_name: str | None = None

    def __post_init__(self) -> None:
        if not self.registrar_host.strip():
            raise ValueError("registrar host is empty")
        if not 0 < self.registrar_port < 65536:
            raise ValueError(f"registrar port {self.registrar_port} out of range")
        if not 0 <= self.local_port < 65536:
            raise ValueError(f"local port {self.local_port} out of range")
        if not self.user or any(c in self.user for c in ' @:;<>"\r\n'):
            raise ValueError(f"bad SIP user {self.user!r}")
        if self.transport.lower() != "udp":
            raise ValueError(f"transport {self.transport!r} not supported (udp only)")
        if not 60 <= self.expires <= 86400:
            raise ValueError(f"registration expiry {self.expires} s out of 60..86400")

    @property
    def aor(self) -> str:
        port = "" if self.registrar_port == 5060 else f":{self.registrar_port}"
        return f"sip:{self.user}@{self.registrar_host}{port}"

    @property
    def registrar_uri(self) -> str:
        return f"sip:{self.registrar_host}:{self.registrar_port}"


@dataclass(frozen=True, slots=True)
class SoftCall:
    """A SIP call of the softphone. ``cti_call_id`` comes from the switch's
    ``X-OpenCC-Call-ID`` header (None when the INVITE had none); ``remote`` is the caller
    as shown to the agent (display name or user part), ``remote_uri`` the full SIP URI."""

    key: str
    cti_call_id: str | None
    remote: str
    remote_uri: str = ""


@dataclass(frozen=True, slots=True)
class AudioDevice:
    """One audio device: ``id`` is stable across runs (saved in prefs)."""

    id: str
    description: str
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class AudioDevices:
    """The choices for each role (ringer choices are the outputs)."""

    mics: tuple[AudioDevice, ...]
    speakers: tuple[AudioDevice, ...]
    ringers: tuple[AudioDevice, ...]


NO_DEVICE = "no device"


@dataclass(frozen=True, slots=True)
class DeviceCheck:
    """Which device each role uses now (its description, or ``NO_DEVICE``) and problems
    found opening them; calls still work without devices (the audio is just not heard)."""

    mic: str
    speaker: str
    ringer: str
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class TestCallResult:
    """Outcome of the local loop test: a tone sent into the conference bridge came back
    (``heard_hz`` near ``tone_hz``) after ``delay_ms``; ``devices`` says whether the
    agent could actually hear/speak (the bridge works even without devices)."""

    __test__ = False  # not a pytest class

    ok: bool
    code: str
    """``ok``, ``no_device`` (bridge works, a device is missing), ``no_tone`` (the tone
    did not come back) or ``busy`` (a call or another test is running): the UI
    translates by code; ``detail`` is English for the log."""
    detail: str
    tone_hz: float
    heard_hz: float | None
    delay_ms: float | None
    devices: DeviceCheck
