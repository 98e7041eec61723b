"""Typed, layered configuration shared by every process.

Layers, lowest first (a later layer wins key by key):

1. defaults written in the structs below (everything on one machine, SQLite
   under the per-user data folder);
2. the machine-wide file (``site_config_dir/opencc.toml``: ``/etc/xdg/opencc``
   on Linux, ``%ProgramData%\\opencc`` on Windows, where the MSI writes it);
3. the per-user file (``user_config_dir/opencc.toml``), or instead of both
   files the one named by ``--config`` or ``OPENCC_CONFIG``;
4. environment variables ``OPENCC_<SECTION>__<KEY>`` (e.g.
   ``OPENCC_SERVER__WS_PORT=9000``); other ``OPENCC_`` variables that do not
   start with a section name (``OPENCC_PYTHON``, ``OPENCC_TEST_PG_URL``) are
   not settings and are left alone;
5. command-line ``--set section.key=value`` (repeatable).

Every value remembers which layer gave it, and :func:`render` prints the
result at start-up with secrets masked. Any bad key or value raises
:class:`ConfigError` naming the layer (file path, variable or argument) and the
key; nothing is silently ignored.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import platformdirs

APP_NAME = "opencc"
ENV_PREFIX = "OPENCC_"
CONFIG_FILE_NAME = "opencc.toml"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class LogSettings(_Section, frozen=True):
    level: LogLevel = "INFO"
    json: bool = False


class PathSettings(_Section, frozen=True):
    #: Where databases, recordings and caches live; empty = the per-user data folder.
    data_dir: str = ""


class DatabaseSettings(_Section, frozen=True):
    #: SQLAlchemy URL; empty = SQLite file ``opencc.sqlite3`` in ``paths.data_dir``.
    url: str = ""
    echo: bool = False


class ServerSettings(_Section, frozen=True):
    """The CTI server: WebSocket CTI protocol and the HTTP side."""

    host: str = "127.0.0.1"
    ws_port: Port = 8765
    http_port: Port = 8080
    heartbeat_interval: PositiveFloat = 15.0
    #: Seconds a vanished desktop keeps its agent state before being logged off.
    disconnect_grace: PositiveFloat = 30.0
    max_frame_bytes: PositiveInt = 65536
    #: Events queued for one slow client before it is dropped.
    outbox_limit: PositiveInt = 1000
    #: Events kept per session for replay after a reconnect.
    replay_buffer: PositiveInt = 2000
    #: Token switches present on the switch link.
    switch_token: str = "demo-switch-token"
    #: Signs the web panels' session cookies (docs/web.md); empty = a random secret kept
    #: in ``<data_dir>/web-secret``, so sessions survive a restart of this server.
    web_secret: str = ""
    #: Time zone the web panels show times in (IANA name, e.g. ``Asia/Shanghai``).
    web_timezone: str = "UTC"


class SwitchSettings(_Section, frozen=True):
    """The switch (排队机): SIP, media engine and its CTI link."""

    sip_host: str = "127.0.0.1"
    sip_port: Port = 5060
    rtpengine_ng: str = "127.0.0.1:2223"
    cti_url: str = "ws://127.0.0.1:8765"
    token: str = "demo-switch-token"
    #: Folder for call recordings; empty = ``<data_dir>/recordings``.
    recordings_dir: str = ""
    #: Record every bridged agent call whose queue allows it (R-SUP-3): a stereo WAV
    #: (caller left, agent right) uploaded to the CTI server when the call ends.
    record_calls: bool = True
    #: Processes converting finished recordings (rtpengine pcap → WAV).
    recording_workers: Annotated[int, msgspec.Meta(ge=1, le=8)] = 1
    #: SIP over TLS (docs/sip.md): port, -1 = no TLS listener, 0 = any free port.
    sip_tls_port: Annotated[int, msgspec.Meta(ge=-1, le=65535)] = -1
    #: PEM certificate chain and key of the TLS listener (needed when the port is set).
    sip_tls_cert: str = ""
    sip_tls_key: str = ""
    #: CA bundle to verify peers with; empty = the system's.
    sip_tls_ca: str = ""
    #: Verify the peer's certificate (turn off only for tests).
    sip_tls_verify: bool = True
    #: Where calls to outside numbers go (transfers, consultations, flows): a SIP URI
    #: template such as ``sip:{number}@gw.example:5060``; empty = no outside calls.
    outbound_gateway: str = ""
    #: UDP ports of the conference mixer (consult, conference, listen/whisper/barge).
    mixer_ports: Annotated[
        str, msgspec.Meta(pattern=r"^[0-9]{1,5}-[0-9]{1,5}$", description="LOW-HIGH")
    ] = "7000-7999"


class DesktopSettings(_Section, frozen=True):
    """The agent desktop."""

    server_url: str = "ws://127.0.0.1:8765"
    web_url: str = "http://127.0.0.1:8080"
    sip_registrar: str = "127.0.0.1:5060"
    auto_answer: bool = False
    language: str = "zh_CN"


class Settings(_Section, frozen=True):
    log: LogSettings = LogSettings()
    paths: PathSettings = PathSettings()
    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    switch: SwitchSettings = SwitchSettings()
    desktop: DesktopSettings = DesktopSettings()


SECTIONS: dict[str, type[_Section]] = {f.name: f.type for f in msgspec.structs.fields(Settings)}

_SECRET_WORDS = ("password", "token", "secret", "key")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@]+:)(?P<pw>[^@]+)(?P<tail>@)", re.I)


class ConfigError(ValueError):
    """A configuration layer holds a key or value that cannot be used."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class LoadedSettings:
    """The settings plus, for every ``section.key``, the layer that set it."""

    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)
    files: tuple[Path, ...] = ()

    def source_of(self, dotted_key: str) -> str:
        return self.sources.get(dotted_key, "default")


def default_files() -> list[Path]:
    """The machine-wide and per-user files, in layer order."""
    return [
        Path(platformdirs.site_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILE_NAME,
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILE_NAME,
    ]


def _field_names(section: str) -> set[str]:
    return {f.name for f in msgspec.structs.fields(SECTIONS[section])}


def _check_key(source: str, section: str, key: str) -> None:
    if section not in SECTIONS:
        raise ConfigError(
            source,
            f"{section}.{key}" if key else section,
            f"unknown section (known: {', '.join(sorted(SECTIONS))})",
        )
    if key not in _field_names(section):
        raise ConfigError(
            source,
            f"{section}.{key}",
            f"unknown key (known: {', '.join(sorted(_field_names(section)))})",
        )


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    source = f"file {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "-", f"not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(source, "-", f"cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "-", "not UTF-8 text") from exc
    out: dict[str, dict[str, Any]] = {}
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(source, section, "expected a [section] table")
        for key in values:
            _check_key(source, section, key)
        out[section] = dict(values)
    return out


def _parse_assignment(source: str, text: str) -> tuple[str, str, str]:
    dotted, sep, value = text.partition("=")
    section, dot, key = dotted.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ConfigError(source, text, "expected section.key=value")
    _check_key(source, section, key)
    return section, key, value.strip()


def load_settings(
    *,
    config_file: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
    search_default_files: bool = True,
) -> LoadedSettings:
    """Build the settings from every layer; see the module docstring."""
    env = os.environ if environ is None else environ
    raw: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    sources: dict[str, str] = {}

    def put(section: str, key: str, value: Any, source: str) -> None:
        raw[section][key] = value
        sources[f"{section}.{key}"] = source

    explicit = config_file if config_file is not None else env.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"file {path}", "-", "does not exist")
        files = [path]
    else:
        files = [p for p in default_files() if search_default_files and p.is_file()]
    for path in files:
        for section, values in _read_file(path).items():
            for key, value in values.items():
                put(section, key, value, f"file {path}")

    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}CONFIG":
            continue
        section, sep, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if not sep:
            # Not a setting (OPENCC_PYTHON, OPENCC_TEST_PG_URL …) unless it looks like a
            # mistyped one (OPENCC_SERVER_WS_PORT): that is an error, not silence.
            if section.split("_", 1)[0] in SECTIONS:
                raise ConfigError(f"env {name}", name, f"expected {ENV_PREFIX}<SECTION>__<KEY>")
            continue
        _check_key(f"env {name}", section, key)
        put(section, key, env[name], f"env {name}")

    for text in overrides:
        section, key, value = _parse_assignment(f"--set {text}", text)
        put(section, key, value, f"--set {section}.{key}")

    sections: dict[str, _Section] = {}
    for name, cls in SECTIONS.items():
        try:
            sections[name] = msgspec.convert(raw[name], cls, strict=False)
        except msgspec.ValidationError as exc:
            key = _key_from_error(str(exc))
            source = sources.get(f"{name}.{key}", "defaults") if key else "configuration"
            raise ConfigError(source, f"{name}.{key}" if key else name, str(exc)) from exc
    settings = Settings(**sections)  # type: ignore[arg-type]
    settings, derived = _derive(settings)
    for dotted in derived:
        sources[dotted] = "derived from paths.data_dir"
    return LoadedSettings(settings=settings, sources=sources, files=tuple(files))


def _key_from_error(message: str) -> str:
    match = re.search(r"at `\$\.([A-Za-z0-9_]+)", message)
    return match.group(1) if match else ""


def _derive(settings: Settings) -> tuple[Settings, list[str]]:
    """Fill the empty path-like defaults from the data folder."""
    derived: list[str] = []
    paths = settings.paths
    if paths.data_dir:
        paths = msgspec.structs.replace(paths, data_dir=str(Path(paths.data_dir).expanduser()))
    else:
        paths = msgspec.structs.replace(
            paths, data_dir=platformdirs.user_data_dir(APP_NAME, appauthor=False)
        )
        derived.append("paths.data_dir")
    data_dir = Path(paths.data_dir)
    database = settings.database
    if not database.url:
        database = msgspec.structs.replace(
            database, url=f"sqlite:///{(data_dir / 'opencc.sqlite3').as_posix()}"
        )
        derived.append("database.url")
    switch = settings.switch
    if not switch.recordings_dir:
        switch = msgspec.structs.replace(switch, recordings_dir=str(data_dir / "recordings"))
        derived.append("switch.recordings_dir")
    return (
        msgspec.structs.replace(settings, paths=paths, database=database, switch=switch),
        derived,
    )


def is_secret(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def mask(key: str, value: Any) -> str:
    """The value as printed: secrets as ``***``, passwords inside URLs masked."""
    if is_secret(key):
        return "***" if value else "''"
    text = str(value)
    return _URL_PASSWORD.sub(r"\g<head>***\g<tail>", text)


def render(loaded: LoadedSettings, sections: Sequence[str] | None = None) -> str:
    """Human-readable listing, one ``section.key = value  (source)`` per line."""
    lines = []
    if loaded.files:
        lines.append("config files: " + ", ".join(str(p) for p in loaded.files))
    else:
        lines.append("config files: none (defaults, environment and command line only)")
    for name in sections or list(SECTIONS):
        section = getattr(loaded.settings, name)
        for f in msgspec.structs.fields(section):
            dotted = f"{name}.{f.name}"
            value = mask(f.name, getattr(section, f.name))
            lines.append(f"  {dotted:<28} = {value:<40} ({loaded.source_of(dotted)})")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The configuration options every entry point shares."""
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--config", metavar="FILE", help="read this TOML file instead of the machine and user files"
    )
    group.add_argument(
        "--set",
        dest="overrides",
        metavar="SECTION.KEY=VALUE",
        action="append",
        default=[],
        help="override one setting (repeatable)",
    )
    group.add_argument("--log-json", action="store_true", help="log JSON lines")
    group.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    group.add_argument(
        "--print-config", action="store_true", help="print the effective configuration and exit"
    )


def from_arguments(args: argparse.Namespace) -> LoadedSettings:
    """Settings from parsed :func:`add_arguments` options (plus files and env)."""
    overrides = list(args.overrides)
    if args.log_json:
        overrides.append("log.json=true")
    if args.log_level:
        overrides.append(f"log.level={args.log_level}")
    return load_settings(config_file=args.config, overrides=overrides)
