"""Layered configuration: defaults < file < environment < command line, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, load_settings, mask, render


def _load(
    tmp_path: Path,
    file_text: str | None = None,
    env: dict[str, str] | None = None,
    overrides: tuple[str, ...] = (),
):
    env = {"OPENCC_PATHS__DATA_DIR": str(tmp_path / "data"), **(env or {})}
    config_file = None
    if file_text is not None:
        config_file = tmp_path / "opencc.toml"
        config_file.write_text(file_text, encoding="utf-8")
    return load_settings(
        config_file=config_file, environ=env, overrides=overrides, search_default_files=False
    )


def test_defaults_run_everything_locally_on_sqlite(tmp_path: Path) -> None:
    loaded = _load(tmp_path)
    s = loaded.settings
    assert s.server.host == "127.0.0.1"
    assert s.desktop.server_url == f"ws://127.0.0.1:{s.server.ws_port}"
    assert s.database.url == f"sqlite:///{(tmp_path / 'data' / 'opencc.sqlite3').as_posix()}"
    assert loaded.source_of("database.url") == "derived from paths.data_dir"
    assert loaded.source_of("server.ws_port") == "default"


def test_default_data_dir_is_per_user(tmp_path: Path) -> None:
    loaded = load_settings(environ={}, search_default_files=False)
    assert "opencc" in loaded.settings.paths.data_dir
    assert loaded.settings.paths.data_dir.startswith(str(Path.home()))
    assert loaded.settings.database.url.startswith("sqlite:///")


def test_home_in_data_dir_is_expanded(tmp_path: Path) -> None:
    loaded = load_settings(environ={"OPENCC_PATHS__DATA_DIR": "~/cc"}, search_default_files=False)
    assert loaded.settings.paths.data_dir == str(Path.home() / "cc")
    assert "~" not in loaded.settings.database.url


def test_later_layers_win_key_by_key(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        "[server]\nws_port = 9001\nhttp_port = 9002\nhost = '0.0.0.0'\n",
        env={"OPENCC_SERVER__HTTP_PORT": "9003", "OPENCC_SERVER__HOST": "10.0.0.1"},
        overrides=("server.host=192.0.2.7",),
    )
    s = loaded.settings.server
    assert (s.ws_port, s.http_port, s.host) == (9001, 9003, "192.0.2.7")
    assert loaded.source_of("server.ws_port").startswith("file ")
    assert loaded.source_of("server.http_port") == "env OPENCC_SERVER__HTTP_PORT"
    assert loaded.source_of("server.host") == "--set server.host"


def test_environment_strings_are_converted_to_typed_values(tmp_path: Path) -> None:
    s = _load(
        tmp_path, env={"OPENCC_LOG__JSON": "true", "OPENCC_SERVER__HEARTBEAT_INTERVAL": "2.5"}
    )
    assert s.settings.log.json is True
    assert s.settings.server.heartbeat_interval == 2.5


@pytest.mark.parametrize(
    ("kwargs", "source", "key"),
    [
        ({"file_text": "[server]\nws_prot = 1\n"}, "file", "server.ws_prot"),
        ({"file_text": "[nope]\na = 1\n"}, "file", "nope.a"),
        ({"file_text": "[server\n"}, "file", "-"),
        ({"file_text": "server = 3\n"}, "file", "server"),
        (
            {"env": {"OPENCC_SERVER__WS_PORT": "eighty"}},
            "env OPENCC_SERVER__WS_PORT",
            "server.ws_port",
        ),
        (
            {"env": {"OPENCC_SERVER__WS_PORT": "70000"}},
            "env OPENCC_SERVER__WS_PORT",
            "server.ws_port",
        ),
        (
            {"env": {"OPENCC_SERVER_WS_PORT": "1"}},
            "env OPENCC_SERVER_WS_PORT",
            "OPENCC_SERVER_WS_PORT",
        ),
        ({"overrides": ("log.level=LOUD",)}, "--set log.level", "log.level"),
        ({"overrides": ("loglevel",)}, "--set loglevel", "loglevel"),
    ],
)
def test_bad_configuration_names_its_layer_and_key(tmp_path: Path, kwargs, source, key) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, **kwargs)
    assert info.value.source.startswith(source)
    assert info.value.key == key
    assert key in str(info.value)


def test_other_opencc_variables_are_not_settings(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        env={"OPENCC_TEST_PG_URL": "postgresql://x", "OPENCC_PYTHON": "/usr/bin/python3.12"},
    )
    assert loaded.settings.server.ws_port == 8765


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "absent.toml", environ={})


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[switch]\nsip_port = 5080\n", encoding="utf-8")
    loaded = load_settings(environ={"OPENCC_CONFIG": str(path)}, search_default_files=False)
    assert loaded.settings.switch.sip_port == 5080
    assert loaded.files == (path,)


def test_render_masks_secrets_and_url_passwords(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        env={
            "OPENCC_SWITCH__TOKEN": "s3cr3t-token",
            "OPENCC_DATABASE__URL": "postgresql+psycopg://cc:hunter2@db.example/cc",
        },
    )
    text = render(loaded)
    assert "s3cr3t-token" not in text
    assert "hunter2" not in text
    assert "postgresql+psycopg://cc:***@db.example/cc" in text
    assert "switch.token" in text and "***" in text
    assert "(env OPENCC_SWITCH__TOKEN)" in text
    assert mask("url", "sqlite:///x.db") == "sqlite:///x.db"
