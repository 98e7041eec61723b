"""``SwitchApp``: rtpengine + DTMF listener + SIP stack with registrar + the call core.

The composition of one switch process (``python -m cti_server.switch`` builds one).
It launches and supervises its own rtpengine (``RtpEngineProcess``), receives
rtpengine's DTMF events, answers REGISTER with digest authentication against a
credentials callback and hands every call to :class:`SwitchCore`, which asks the
given :class:`Decider`. :meth:`SwitchApp.stop` hangs up every call and stops
everything it started.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cti_server.switch.core.b2bua import (
    CoreConfig,
    FlowPrefetch,
    FlowSource,
    SwitchCore,
    shipped_flow_source,
)
from cti_server.switch.core.queue import QueueFeatures, ensure_moh
from cti_server.switch.core.reaper import ReaperConfig, RtpReaper
from cti_server.switch.media.dtmf import DtmfEvent, DtmfListener
from cti_server.switch.media.mixer import DEFAULT_PORT_RANGE, Mixer, MixerError
from cti_server.switch.media.ng import MediaOptions
from cti_server.switch.media.process import RtpEngineConfig, RtpEngineProcess
from cti_server.switch.ports import CallControl, Decider, RegistrationReport
from cti_server.switch.sip import (
    DigestAuthenticator,
    Ha1,
    Registrar,
    RegistrationEvent,
    RegistrationKind,
    SipConfig,
    SipStack,
    TimerConfig,
)
from cti_server.switch.sip.timers import SessionTimerConfig
from cti_server.switch.sip.transaction import LoopScheduler
from cti_server.switch.sip.transport import TlsConfig

log = logging.getLogger("switch.app")

Credentials = Callable[[str], Awaitable["str | Ha1 | None"]]
"""``async (sip_user) -> password | Ha1 | None`` for the registrar's digest check."""


@dataclass(frozen=True, slots=True)
class SwitchAppConfig:
    """Where the switch listens and where its files are."""

    prompts_dir: Path
    moh_file: Path
    """Music on hold; the default music is generated there when the file is missing."""
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    """UDP and TCP port (0 = any free port, see :attr:`SwitchApp.sip_address`)."""
    advertised_host: str | None = None
    realm: str = "opencc"
    bindings_file: Path | None = None
    """Registrations persist here so a restart keeps knowing the agents' phones."""
    rtpengine: RtpEngineConfig = field(default_factory=RtpEngineConfig)
    recordings_dir: Path | None = None
    sip_timers: TimerConfig = field(default_factory=TimerConfig)
    ring_timeout: float = 20.0
    media: MediaOptions = field(default_factory=lambda: MediaOptions(inject_dtmf=True))
    queues: Mapping[str, QueueFeatures] = field(default_factory=dict)
    """Per-queue announcements and max wait → overflow (docs/switch.md, R-IVR-1..4)."""
    queue_default: QueueFeatures = field(default_factory=QueueFeatures)
    voicemail_dir: Path | None = None
    """Voicemail WAVs; None = ``<recordings_dir>/voicemail``, else ``<moh folder>/../voicemail``."""
    outbound_gateway: str | None = None
    """SIP URI template for outside numbers (``sip:{number}@gw.example:5060``); None = none."""
    mixer_ports: tuple[int, int] = DEFAULT_PORT_RANGE
    """UDP range of the RTP mixer of consultations, conferences and monitoring."""
    sip_tls_port: int | None = None
    """SIP over TLS listener (usually 5061; 0 = any free port; None = no TLS)."""
    sip_tls: TlsConfig | None = None
    """Certificate, key, CA and verification for TLS (required with ``sip_tls_port``)."""
    session_timers: SessionTimerConfig | None = field(default_factory=SessionTimerConfig)
    """RFC 4028 session timers on trunk calls (None: off)."""
    reaper: ReaperConfig | None = field(default_factory=ReaperConfig)
    """Hang up calls whose caller sends no RTP (None: off; docs/switch.md)."""
    srtp: str = "allow"
    """Callers' SDES-SRTP: ``allow``, ``require`` or ``refuse`` (:class:`CoreConfig`)."""
    prompt_cache_dir: Path | None = None
    """Prompts administrators uploaded, synced from the CTI server (``PromptSync``,
    R-IVR-5): searched before ``prompts_dir``. None: shipped prompts only."""
    record_calls: bool = False
    """Record every bridged agent call whose queue allows it into a WAV queued for
    upload in ``<recordings_dir>/outbox`` (R-SUP-3, :mod:`.recording`); needs
    ``recordings_dir``. ``python -m cti_server.switch`` turns it on (``switch.record_calls``)."""
    recording_workers: int = 1
    """Processes converting finished recordings (pcap → WAV) off the event loop."""


def _mixer(cfg: SwitchAppConfig) -> Mixer | None:
    """The RTP mixer on rtpengine's interface; None (multi-party calls refused
    ``unavailable``) when the interface or range is unusable."""
    try:
        return Mixer(host=cfg.rtpengine.interface, port_range=cfg.mixer_ports)
    except MixerError as exc:
        log.error("no RTP mixer (consult, conference, monitoring unavailable): %s", exc)
        return None


class SwitchApp:
    """One running switch (see the module docstring)."""

    def __init__(
        self,
        config: SwitchAppConfig,
        decider: Decider,
        credentials: Credentials,
        *,
        attach: Callable[[CallControl], None] | None = None,
        flows: FlowSource = shipped_flow_source,
        flow_prefetch: FlowPrefetch | None = None,
        on_recording: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.on_recording = on_recording
        """Called with a recording's id when its WAV is in the outbox (the uploader's
        ``wake``)."""
        self.decider = decider
        self.credentials = credentials
        self._attach = attach
        self.flows = flows
        self.flow_prefetch = flow_prefetch
        """Awaited on arrival before the flow starts (a ``FlowCache``; R-IVR-5)."""
        self.dtmf = DtmfListener(self._on_dtmf)
        self._engine: RtpEngineProcess | None = None
        self._core: SwitchCore | None = None
        self._stack: SipStack | None = None
        self._reaper: RtpReaper | None = None

    @property
    def core(self) -> SwitchCore:
        if self._core is None:
            raise RuntimeError("the switch is not started")
        return self._core

    @property
    def stack(self) -> SipStack:
        if self._stack is None:
            raise RuntimeError("the switch is not started")
        return self._stack

    @property
    def reaper(self) -> RtpReaper | None:
        """The RTP-timeout reaper (None when ``config.reaper`` is None)."""
        return self._reaper

    @property
    def engine(self) -> RtpEngineProcess:
        if self._engine is None:
            raise RuntimeError("the switch is not started")
        return self._engine

    @property
    def sip_address(self) -> tuple[str, int]:
        return self.stack.local_address("UDP")

    async def start(self) -> None:
        cfg = self.config
        try:
            dtmf_address = await self.dtmf.start(cfg.rtpengine.interface)
            engine_config = replace(
                cfg.rtpengine,
                dtmf_log_dest=dtmf_address,
                recording_dir=cfg.recordings_dir or cfg.rtpengine.recording_dir,
            )
            self._engine = RtpEngineProcess(engine_config, on_restart=self._media_restarted)
            await self._engine.start()
            moh = ensure_moh(cfg.moh_file)
            core = SwitchCore(
                self._engine.client,
                self.decider,
                CoreConfig(
                    prompts_dir=cfg.prompts_dir,
                    moh_file=moh,
                    sink_host=cfg.rtpengine.interface,
                    default_ring_timeout=cfg.ring_timeout,
                    media=cfg.media,
                    queues=cfg.queues,
                    queue_default=cfg.queue_default,
                    voicemail_dir=cfg.voicemail_dir
                    or (
                        cfg.recordings_dir / "voicemail"
                        if cfg.recordings_dir is not None
                        else cfg.moh_file.parent.parent / "voicemail"
                    ),
                    outbound_gateway=cfg.outbound_gateway,
                    srtp=cfg.srtp,
                    recordings_dir=engine_config.recording_dir,
                    record_calls=cfg.record_calls,
                    recording_workers=cfg.recording_workers,
                ),
                flows=self.flows,
                flow_prefetch=self.flow_prefetch,
                mixer=_mixer(cfg),
            )
            core.prompts.overlay = cfg.prompt_cache_dir  # uploaded prompts first (R-IVR-5)
            core.recorder.on_queued = self.on_recording
            await core.start()
            self._core = core
            if self._attach is not None:
                self._attach(core)
            registrar = Registrar(
                DigestAuthenticator(cfg.realm, self.credentials),
                LoopScheduler(),
                on_event=self._registration,
                store_path=cfg.bindings_file,
            )
            stack = SipStack(
                SipConfig(
                    host=cfg.sip_host,
                    udp_port=cfg.sip_port,
                    tcp_port=cfg.sip_port,
                    advertised_host=cfg.advertised_host,
                    timers=cfg.sip_timers,
                    tls_port=cfg.sip_tls_port,
                    tls=cfg.sip_tls,
                    session_timers=cfg.session_timers,
                ),
                handler=core,
                registrar=registrar,
            )
            core.attach(stack)
            self._stack = stack
            await stack.start()
            if cfg.reaper is not None:
                self._reaper = RtpReaper(core, cfg.reaper)
                self._reaper.start()
        except BaseException:
            await self.stop()
            raise
        host, port = stack.local_address("UDP")
        log.info(
            "switch ready: SIP on %s:%d (UDP+TCP), rtpengine ng %s",
            host,
            port,
            self._engine.ng_address,
        )

    def _on_dtmf(self, event: DtmfEvent) -> None:
        if self._core is not None:
            self._core.on_dtmf_event(event)

    async def stop(self) -> None:
        """Hang up every call, then stop SIP, rtpengine and the DTMF listener."""
        if self._reaper is not None:
            await self._reaper.close()
            self._reaper = None
        if self._core is not None and self._stack is not None:
            await self._core.close()
        if self._stack is not None:
            await self._stack.close()
            self._stack = None
        elif self._core is not None:
            await self._core.close()
        self._core = None
        if self._engine is not None:
            await self._engine.stop()
            self._engine = None
        await self.dtmf.aclose()

    async def _media_restarted(self, count: int) -> None:
        # rtpengine lost every call: end them (their media is gone).
        if self._core is not None:
            log.error("rtpengine restarted (%d): hanging up its lost calls", count)
            await self._core.media_lost()

    def _registration(self, event: RegistrationEvent) -> None:
        binding = event.binding
        registered = event.kind in (RegistrationKind.REGISTERED, RegistrationKind.REFRESHED)
        try:
            self.decider.registration(
                RegistrationReport(
                    sip_user=event.aor,
                    registered=registered,
                    contact=str(binding.contact.uri),
                    expires_seconds=binding.remaining(time.time()) if registered else 0,
                    user_agent=binding.user_agent,
                )
            )
        except Exception:
            log.exception("decider.registration failed for %s", event)
