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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cti_server.switch.core.b2bua import CoreConfig, FlowSource, SwitchCore, shipped_flow_source
from cti_server.switch.core.queue import ensure_moh
from cti_server.switch.media.dtmf import DtmfEvent, DtmfListener
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
from cti_server.switch.sip.transaction import LoopScheduler

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
    ) -> None:
        self.config = config
        self.decider = decider
        self.credentials = credentials
        self._attach = attach
        self.flows = flows
        self.dtmf = DtmfListener(self._on_dtmf)
        self._engine: RtpEngineProcess | None = None
        self._core: SwitchCore | None = None
        self._stack: SipStack | None = None

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
                ),
                flows=self.flows,
            )
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
                ),
                handler=core,
                registrar=registrar,
            )
            core.attach(stack)
            self._stack = stack
            await stack.start()
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
