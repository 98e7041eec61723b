"""TransportConfig from the server settings, its derived values, and the metrics snapshot."""

from __future__ import annotations

import json

import pytest

from cti_server.ws import TransportConfig, TransportStats
from shared.config import load_settings


def test_config_follows_the_server_settings() -> None:
    settings = load_settings(
        search_default_files=False,
        environ={},
        overrides=["server.heartbeat_interval=4", "server.outbox_limit=10"],
    ).settings
    cfg = TransportConfig.from_settings(settings.server, hello_timeout=2.0)
    assert cfg.heartbeat_interval == 4 and cfg.heartbeat_timeout == 12
    assert cfg.outbox_limit == 10
    assert cfg.replay_buffer == settings.server.replay_buffer
    assert cfg.disconnect_grace == settings.server.disconnect_grace
    assert cfg.max_frame_bytes == settings.server.max_frame_bytes
    assert cfg.hello_timeout == 2.0


def test_derived_limits() -> None:
    cfg = TransportConfig(max_frame_bytes=65536)
    assert cfg.hard_frame_limit == 4 * 65536
    assert TransportConfig(max_frame_bytes=1000).hard_frame_limit == 1000 + 65536
    assert TransportConfig(ws_max_size=5000, max_frame_bytes=1000).hard_frame_limit == 5000
    fast = TransportConfig(heartbeat_interval=0.1, disconnect_grace=10, hello_timeout=10)
    assert fast.tick == pytest.approx(0.075)
    assert TransportConfig().tick == 1.0


@pytest.mark.parametrize(
    "bad",
    [
        {"heartbeat_interval": 0},
        {"heartbeat_interval": 4000},
        {"outbox_limit": 0},
        {"max_frame_bytes": 2000, "ws_max_size": 1000},
    ],
)
def test_bad_values_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TransportConfig(**bad)  # type: ignore[arg-type]


def test_stats_snapshot_is_json_ready() -> None:
    stats = TransportStats()
    stats.errors_by_code["bad_json"] += 2
    stats.sessions_live, stats.sessions_detached = 3, 1
    data = stats.as_dict()
    assert data["errors_by_code"] == {"bad_json": 2}
    assert data["sessions"] == 4
    json.dumps(data)
