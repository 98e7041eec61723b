"""The switch (排队机): ``python -m cti_server.switch`` / ``cti-switch``.

Runs a :class:`~cti_server.switch.core.SwitchApp`: its own rtpengine, SIP on
``switch.sip_host:switch.sip_port`` (UDP and TCP) with a registrar for the agents'
softphones, the IVR, queues with music on hold and bridging. Agents' SIP
passwords come from ``--sip-users FILE`` (TOML, ``user = "password"``) and/or
``--demo`` (agents 1001-1010, password ``demo``).

Decisions (R-IN-3, docs/switch_link.md): by default the switch connects to the CTI
server (``switch.cti_url``, ``switch.token``, switch id ``--switch-id``, default the
host name) through :class:`~cti_server.switch.decider.FailoverDecider`: the CTI link
while it is up, the fallback ACD (default flow, one FIFO per queue the default flow
names, registered agents) while it is down, with its journal in
``<data_dir>/switch/<switch_id>.journal.jsonl``. ``--standalone`` runs without any
CTI server (:class:`~cti_server.switch.core.StandaloneDecider`). SIGINT/SIGTERM hang
up every call and stop cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import socket
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from cti_server.switch.core import StandaloneDecider, SwitchApp, SwitchAppConfig
from cti_server.switch.core.queue import QueueConfigError, QueueFeatures, load_queue_file
from cti_server.switch.core.reaper import ReaperConfig
from cti_server.switch.decider import FailoverDecider, Mode
from cti_server.switch.fallback import FallbackAcd, FallbackQueue
from cti_server.switch.flows import FlowCache
from cti_server.switch.journal import Journal, JournalError
from cti_server.switch.link import CtiLink, LinkState
from cti_server.switch.media.process import RtpEngineConfig, RtpEngineError
from cti_server.switch.ports import CallControl, CommandFailed, Decider
from cti_server.switch.prompt_sync import DEFAULT_INTERVAL as PROMPT_SYNC_INTERVAL
from cti_server.switch.prompt_sync import PromptSync
from cti_server.switch.recording_upload import RecordingUploader
from cti_server.switch.sip import Ha1
from cti_server.switch.sip.transport import TlsConfig
from shared.clock import SystemClock
from shared.config import Settings
from shared.entry import parser_for, start
from shared.ivr.library import DEFAULT_FLOW, load_shipped_flow, shipped_flow_names
from shared.ivr.model import CallbackNode, Flow, QueueNode
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import SwitchAction

log = logging.getLogger("switch")

EXIT_START_FAILED = 1
EXIT_BAD_USERS = 2
EXIT_BAD_OPTION = 2
DEMO_AGENTS = {str(n): "demo" for n in range(1001, 1011)}
ROOT = Path(__file__).resolve().parents[2]


class SipUsersError(ValueError):
    """The ``--sip-users`` file is unreadable or not ``user = "password"`` lines."""


class SwitchIdError(ValueError):
    """The switch id cannot identify this switch on the switch link."""


RTP_PORTS = 8000
"""RTP ports rtpengine may use; the media default (200) allows only ~50 calls."""


def load_sip_users(path: Path) -> dict[str, str]:
    """Read a TOML file of ``user = "password"`` pairs."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SipUsersError(f"cannot read SIP users from {path}: {exc}") from exc
    users: dict[str, str] = {}
    for user, password in data.items():
        if not isinstance(password, str) or not password:
            raise SipUsersError(f"{path}: {user!r} needs a non-empty password string")
        users[str(user)] = password
    return users


def check_switch_id(switch_id: str) -> str:
    """The switch id as the link and the journal's file name need it (1-64 characters,
    no spaces, no path separators); raises :class:`SwitchIdError`."""
    if not 0 < len(switch_id) <= 64 or any(ch.isspace() or ch in "/\\" for ch in switch_id):
        raise SwitchIdError(
            f"switch id must be 1-64 characters without spaces or slashes: {switch_id!r}"
        )
    if switch_id in (".", ".."):
        raise SwitchIdError(f"switch id {switch_id!r} is not a usable name")
    return switch_id


def default_switch_id() -> str:
    """The host name (the first label, so it stays short and stable)."""
    return socket.gethostname().split(".")[0] or "switch"


def fallback_queues(default: Flow, others: Iterable[Flow] = ()) -> list[FallbackQueue]:
    """The fallback ACD's queues: every queue the default flow hands callers to (its
    business selections and skills lead there too), in the flow's order; if the default
    flow names none, every queue the ``others`` name. The first is the default queue."""
    for flows in ((default,), tuple(others)):
        selections: dict[str, set[str]] = {}
        for flow in flows:
            for node in flow.nodes.values():
                if not isinstance(node, QueueNode | CallbackNode) or not node.queue:
                    continue
                names = selections.setdefault(node.queue, set())
                if node.business_selection:
                    names.add(node.business_selection)
                if isinstance(node, QueueNode) and node.skill:
                    names.add(node.skill)
        if selections:
            return [FallbackQueue(q, selections=frozenset(s)) for q, s in selections.items()]
    raise ValueError("no flow names a queue: the fallback ACD has nowhere to put callers")


def shipped_fallback_queues() -> list[FallbackQueue]:
    """:func:`fallback_queues` of the shipped ``default`` flow (then the other shipped
    flows)."""
    others = [load_shipped_flow(n) for n in shipped_flow_names() if n != DEFAULT_FLOW]
    return fallback_queues(load_shipped_flow(DEFAULT_FLOW), others)


class LateControl:
    """The :class:`CallControl` of a core that does not exist yet: the deciders are built
    before :class:`SwitchApp` creates its core in ``start()``; ``attach`` connects it."""

    def __init__(self) -> None:
        self._core: CallControl | None = None

    def attach(self, core: CallControl) -> None:
        self._core = core

    async def execute(self, call_id: str, action: SwitchAction) -> None:
        if self._core is None:
            raise CommandFailed(ErrorCode.UNAVAILABLE, "the switch's call core is not running")
        await self._core.execute(call_id, action)

    def registered_contacts(self) -> Mapping[str, str]:
        return {} if self._core is None else self._core.registered_contacts()


def app_config(settings: Settings) -> SwitchAppConfig:
    switch = settings.switch
    data_dir = Path(settings.paths.data_dir)
    ng_host, _, ng_port = switch.rtpengine_ng.rpartition(":")
    return SwitchAppConfig(
        prompts_dir=ROOT / "resources" / "prompts",
        moh_file=data_dir / "moh" / "default.wav",
        sip_host=switch.sip_host,
        sip_port=switch.sip_port,
        bindings_file=data_dir / "switch" / "bindings.json",
        rtpengine=RtpEngineConfig(
            interface=switch.sip_host if switch.sip_host != "0.0.0.0" else "127.0.0.1",
            ng_host=ng_host or "127.0.0.1",
            ng_port=int(ng_port) if ng_port.isdigit() else 0,
            # 4 RTP ports per bridged call (two legs, RTP + RTCP): room for ~2,000 calls.
            rtp_port_count=RTP_PORTS,
        ),
        recordings_dir=Path(switch.recordings_dir or data_dir / "recordings"),
        outbound_gateway=switch.outbound_gateway or None,
        mixer_ports=mixer_port_range(switch.mixer_ports),
        prompt_cache_dir=prompt_cache_dir(settings),
        record_calls=switch.record_calls,
        recording_workers=switch.recording_workers,
    )


def mixer_port_range(text: str) -> tuple[int, int]:
    """``"7000-7999"`` → ``(7000, 7999)``; raises ``ValueError`` for an empty or reversed range."""
    low_text, _, high_text = text.partition("-")
    low, high = int(low_text), int(high_text)
    if not 1024 <= low < high <= 65535:
        raise ValueError(f"switch.mixer_ports {text!r}: need 1024 <= LOW < HIGH <= 65535")
    return low, high


def journal_path(settings: Settings, switch_id: str) -> Path:
    return Path(settings.paths.data_dir) / "switch" / f"{switch_id}.journal.jsonl"


class TlsOptionError(ValueError):
    """``--sip-tls-*`` options that cannot work (a TLS port without certificate)."""


def _setting(settings: Settings, name: str) -> object:
    """An optional ``switch.<name>`` setting (None while the settings do not define it)."""
    return getattr(settings.switch, name, None)


def tls_overrides(args: object, settings: Settings) -> dict[str, object]:
    """``sip_tls_port``/``sip_tls`` of :class:`SwitchAppConfig` from ``--sip-tls-*`` (or the
    ``switch.sip_tls_*`` settings); raises :class:`TlsOptionError`."""

    def pick(option: str, setting: str) -> object:
        value = getattr(args, option, None)
        return value if value not in (None, "") else _setting(settings, setting)

    port = pick("sip_tls_port", "sip_tls_port")
    if port in (None, "", -1):
        return {}
    cert, key, ca = (pick(f"sip_tls_{n}", f"sip_tls_{n}") for n in ("cert", "key", "ca"))
    if not cert or not key:
        raise TlsOptionError("SIP over TLS needs --sip-tls-cert FILE and --sip-tls-key FILE")
    verify_setting = _setting(settings, "sip_tls_verify")
    verify = not getattr(args, "sip_tls_no_verify", False) and verify_setting is not False
    for label, path in (("certificate", cert), ("key", key), ("CA bundle", ca)):
        if path and not Path(str(path)).is_file():
            raise TlsOptionError(f"TLS {label} {path} is not a readable file")
    tls = TlsConfig(
        cert=Path(str(cert)),
        key=Path(str(key)),
        ca=Path(str(ca)) if ca else None,
        verify=verify,
    )
    return {"sip_tls_port": int(str(port)), "sip_tls": tls}


def media_safety_overrides(args: object) -> dict[str, object]:
    """``--rtp-timeout`` (0 = no reaper) and ``--srtp`` as :class:`SwitchAppConfig` fields."""
    overrides: dict[str, object] = {}
    timeout = getattr(args, "rtp_timeout", None)
    if timeout is not None:
        overrides["reaper"] = None if timeout <= 0 else ReaperConfig(timeout=float(timeout))
    srtp = getattr(args, "srtp", None)
    if srtp is not None:
        overrides["srtp"] = srtp
    return overrides


def flow_cache_dir(settings: Settings) -> Path:
    """Where the switch keeps the IVR flow versions it fetched (R-IVR-5)."""
    return Path(settings.paths.data_dir) / "switch" / "flows"


def prompt_cache_dir(settings: Settings) -> Path:
    """Where the switch keeps the prompts administrators uploaded (R-IVR-5)."""
    return Path(settings.paths.data_dir) / "switch" / "prompts"


def prompt_sync_interval(args: object, settings: Settings) -> float:
    """Seconds between prompt syncs: ``--prompt-sync-interval``, else the
    ``switch.prompt_sync_interval`` setting, else 60; raises ``ValueError`` below 1."""
    value = getattr(args, "prompt_sync_interval", None)
    if value is None:
        value = _setting(settings, "prompt_sync_interval")
    interval = float(str(value)) if value not in (None, "") else PROMPT_SYNC_INTERVAL
    if not interval >= 1.0:
        raise ValueError(f"the prompt sync interval must be at least 1 second, not {value}")
    return interval


def build_failover(
    settings: Settings,
    switch_id: str,
    control: CallControl,
    *,
    ring_timeout: float,
    queues: Sequence[FallbackQueue] | None = None,
) -> FailoverDecider:
    """The CTI link and the fallback ACD behind one :class:`FailoverDecider`.

    Raises :class:`~cti_server.switch.journal.JournalError` / ``OSError`` when the
    journal cannot be opened."""
    clock = SystemClock()
    journal = Journal(journal_path(settings, switch_id), clock=clock)
    try:
        link = CtiLink(
            settings.switch.cti_url,
            settings.switch.token,
            switch_id,
            control,
            clock=clock,
            journal=journal,
        )
        fallback = FallbackAcd(
            clock,
            DEFAULT_FLOW,
            list(queues) if queues is not None else shipped_fallback_queues(),
            control=control,
            journal=journal,
            ring_timeout=ring_timeout,
        )
    except BaseException:
        journal.close()
        raise
    return FailoverDecider(link, fallback)


def mode_logger(link: CtiLink, queues: Sequence[str]) -> Callable[[Mode], None]:
    """Log every mode change clearly (not the switch's own shutdown)."""
    url = link.url

    def changed(mode: Mode) -> None:
        if link.state is LinkState.CLOSED:
            return
        if mode is Mode.CTI:
            log.warning("CTI mode: the CTI link to %s is up; the CTI server routes calls", url)
        else:
            log.warning(
                "FALLBACK mode: the CTI link to %s is down; the switch's fallback ACD routes "
                "new calls to its registered agents (queues %s)",
                url,
                ", ".join(queues),
            )

    return changed


async def run_switch(
    settings: Settings,
    users: dict[str, str],
    *,
    standalone: bool = True,
    switch_id: str | None = None,
    outbound_gateway: str | None = None,
    queue_features: tuple[dict[str, QueueFeatures], QueueFeatures] | None = None,
    overrides: Mapping[str, object] | None = None,
    prompt_interval: float = PROMPT_SYNC_INTERVAL,
) -> int:
    async def credentials(user: str) -> str | Ha1 | None:
        return users.get(user)

    config = app_config(settings)
    if outbound_gateway:
        config = dataclasses.replace(config, outbound_gateway=outbound_gateway)
    if queue_features is not None:  # --queues FILE (R-IVR-1..4)
        config = dataclasses.replace(
            config, queues=queue_features[0], queue_default=queue_features[1]
        )
    if overrides:  # --sip-tls-*, --rtp-timeout, --srtp
        config = dataclasses.replace(config, **overrides)  # type: ignore[arg-type]
    (Path(settings.paths.data_dir) / "switch").mkdir(parents=True, exist_ok=True)
    decider: Decider
    failover: FailoverDecider | None = None
    attach: Callable[[CallControl], None]
    if standalone:
        plain = StandaloneDecider()
        decider, attach = plain, plain.attach
    else:
        late = LateControl()
        sid = switch_id or default_switch_id()
        try:
            failover = build_failover(settings, sid, late, ring_timeout=config.ring_timeout)
        except (JournalError, OSError, ValueError) as exc:
            log.error("the switch could not start: %s", exc)
            return EXIT_START_FAILED
        failover.on_mode(mode_logger(failover.link, list(failover.fallback.queues)))
        decider, attach = failover, late.attach
    # R-IVR-5: flows fetched from the CTI server, cached on disk; standalone (and a
    # link that is down) runs the last fetched versions, else the shipped flows
    flows = FlowCache(flow_cache_dir(settings))
    if failover is not None:
        flows.attach(failover.link.fetch_flow)
    # R-IVR-5: prompts administrators uploaded, synced into a cache the IVR searches
    # first; standalone (and a link that is down) keeps playing the cached ones
    prompt_sync = PromptSync(prompt_cache_dir(settings), interval=prompt_interval)
    if failover is not None:
        prompt_sync.attach(failover.link)
    # R-SUP-3: finished call recordings queued in <recordings_dir>/outbox go to the CTI
    # server over the link; they wait on disk while it is down or standalone
    uploader = RecordingUploader(config.recordings_dir or Path(settings.paths.data_dir))
    if failover is not None:
        uploader.attach(failover.link)
    app = SwitchApp(
        config,
        decider,
        credentials,
        attach=attach,
        flows=flows,
        flow_prefetch=flows.prefetch,
        on_recording=lambda _: uploader.wake(),  # a finished call's WAV: upload now
    )
    try:
        await app.start()
    except (RtpEngineError, OSError) as exc:
        log.error("the switch could not start: %s", exc)
        if failover is not None:
            await failover.close()
        return EXIT_START_FAILED
    host, port = app.sip_address
    if failover is None:
        log.warning(
            "switch ready on sip:%s:%d in standalone (no-CTI) mode: %d SIP user(s)",
            host,
            port,
            len(users),
        )
    else:
        await failover.start()
        prompt_sync.start()
        uploader.start()
        log.warning(
            "switch ready on sip:%s:%d as switch %r of the CTI server %s: %d SIP user(s); "
            "fallback ACD until the CTI link is up (journal %s)",
            host,
            port,
            failover.link.switch_id,
            settings.switch.cti_url,
            len(users),
            failover.fallback.journal.path,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping the switch")
        await prompt_sync.close()
        await uploader.close()
        await app.stop()  # hangs up every call: the deciders hear the releases
        if failover is not None:
            await failover.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = parser_for("cti-switch", "The switch: SIP trunk and registrar, IVR, queues, media.")
    parser.add_argument(
        "--sip-users",
        type=Path,
        metavar="FILE",
        help='TOML file of agent SIP users: user = "password" per line',
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="let the demo agents 1001-1010 register with password 'demo'",
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="run without any CTI server (default flow, one FIFO over registered agents)",
    )
    parser.add_argument(
        "--outbound-gateway",
        metavar="URI",
        help="SIP URI template for calls to outside numbers (transfer/consult to a number, "
        "the IVR's transfer to a number), e.g. 'sip:{number}@gw.example:5060'",
    )
    parser.add_argument(
        "--queues",
        type=Path,
        metavar="FILE",
        help="TOML file of queue announcements and max wait → overflow ([default], "
        "[queues.<id>]: announce_every, max_wait, overflow = 'voicemail' …; docs/switch.md)",
    )
    tls = parser.add_argument_group("SIP over TLS (RFC 3261 section 26)")
    tls.add_argument(
        "--sip-tls-port",
        type=int,
        metavar="PORT",
        help="listen for SIP over TLS on switch.sip_host:PORT (usually 5061)",
    )
    tls.add_argument("--sip-tls-cert", metavar="FILE", help="PEM certificate chain")
    tls.add_argument("--sip-tls-key", metavar="FILE", help="PEM private key")
    tls.add_argument("--sip-tls-ca", metavar="FILE", help="PEM CAs trusted for peers")
    tls.add_argument(
        "--sip-tls-no-verify",
        action="store_true",
        help="do not verify the certificates of TLS peers we connect to (lab only)",
    )
    parser.add_argument(
        "--rtp-timeout",
        type=float,
        metavar="SECONDS",
        help="hang up calls whose caller sent no RTP for this long (default 60; 0 = never)",
    )
    parser.add_argument(
        "--srtp",
        choices=("allow", "require", "refuse"),
        help="callers' SDES-SRTP: allow (default), require or refuse",
    )
    parser.add_argument(
        "--prompt-sync-interval",
        type=float,
        metavar="SECONDS",
        help="how often to fetch the prompts administrators uploaded from the CTI server "
        "(default 60; also on every link-up)",
    )
    parser.add_argument(
        "--switch-id",
        metavar="ID",
        help="this switch's id on the CTI link and its journal's name (default: host name)",
    )
    started = start("switch", parser, argv, sections=["log", "paths", "switch"])
    if isinstance(started, int):
        return started
    args, loaded = started
    try:
        mixer_port_range(loaded.settings.switch.mixer_ports)
    except ValueError as exc:
        print(f"cti-switch: {exc}", file=sys.stderr)
        return EXIT_BAD_OPTION
    switch_id: str | None = None
    if not args.standalone:
        try:
            switch_id = check_switch_id(args.switch_id or default_switch_id())
        except SwitchIdError as exc:
            print(f"cti-switch: {exc}", file=sys.stderr)
            return EXIT_BAD_OPTION
    users: dict[str, str] = dict(DEMO_AGENTS) if args.demo else {}
    if args.sip_users is not None:
        try:
            users.update(load_sip_users(args.sip_users))
        except SipUsersError as exc:
            print(f"cti-switch: {exc}", file=sys.stderr)
            return EXIT_BAD_USERS
    if not users:
        log.warning("no SIP users (--sip-users FILE or --demo): no agent can register")
    try:
        overrides = tls_overrides(args, loaded.settings) | media_safety_overrides(args)
    except TlsOptionError as exc:
        print(f"cti-switch: {exc}", file=sys.stderr)
        return EXIT_BAD_OPTION
    try:
        prompt_interval = prompt_sync_interval(args, loaded.settings)
    except ValueError as exc:
        print(f"cti-switch: {exc}", file=sys.stderr)
        return EXIT_BAD_OPTION
    queue_features: tuple[dict[str, QueueFeatures], QueueFeatures] | None = None
    if args.queues is not None:
        try:
            queue_features = load_queue_file(args.queues)
        except QueueConfigError as exc:
            print(f"cti-switch: {exc}", file=sys.stderr)
            return EXIT_BAD_OPTION
    return asyncio.run(
        run_switch(
            loaded.settings,
            users,
            standalone=args.standalone,
            switch_id=switch_id,
            outbound_gateway=args.outbound_gateway,
            queue_features=queue_features,
            overrides=overrides,
            prompt_interval=prompt_interval,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
