"""Banners: CTI offline until the link is back, then "back" for 10 s; a switch in
fallback until normal; a major outage until acknowledged, other notices for 30 s."""

from __future__ import annotations

from agent_desktop.model.banners import BannerModel, BannerSeverity
from shared.protocol.codec import decode_server, encode
from shared.protocol.session import EventSequencer
from shared.protocol.system import NoticeSeverity, SwitchMode, SystemMode, SystemNotice

T0 = 1_767_225_600.0


class Server:
    def __init__(self) -> None:
        self.seq = EventSequencer(capacity=100)

    def send(self, event, at: float = T0):
        return decode_server(encode(self.seq.stamp(event, at)))


def keys(model: BannerModel, now: float) -> list[str]:
    return [b.text_key for b in model.visible(now)]


def test_cti_offline_stays_until_the_link_is_back_then_back_for_ten_seconds() -> None:
    model = BannerModel()
    model.link_up(T0)  # the first connection announces nothing
    assert keys(model, T0) == []
    model.link_down(T0)
    model.link_down(T0 + 5)  # reconnect attempts fail again: still down since T0
    (banner,) = model.visible(T0 + 3600)
    assert (banner.text_key, banner.severity, banner.since) == (
        "cti_offline",
        BannerSeverity.ERROR,
        T0,
    )
    assert model.link_is_down
    assert not model.acknowledge(banner.banner_id)  # cannot be dismissed by hand
    model.link_up(T0 + 4000)
    assert not model.link_is_down
    assert keys(model, T0 + 4009.9) == ["cti_back"]
    assert keys(model, T0 + 4010) == []
    model.link_up(T0 + 4020)
    assert keys(model, T0 + 4020) == []


def test_switch_fallback_until_normal_then_back_briefly() -> None:
    srv, model = Server(), BannerModel()
    model.apply(
        srv.send(
            SystemMode(switch_id="sw1", mode=SwitchMode.FALLBACK, since=T0, detail="CTI lost")
        ),
        now=T0,
    )
    model.apply(srv.send(SystemMode(switch_id="sw1", mode=SwitchMode.FALLBACK, since=T0 + 9)))
    (banner,) = model.visible(T0 + 600)
    assert (banner.text_key, banner.title, banner.detail, banner.since) == (
        "switch_fallback",
        "sw1",
        "CTI lost",
        T0,
    )
    # Another switch that is normal shows nothing.
    model.apply(srv.send(SystemMode(switch_id="sw2", mode=SwitchMode.NORMAL, since=T0)), now=T0)
    assert keys(model, T0 + 600) == ["switch_fallback"]
    model.apply(
        srv.send(SystemMode(switch_id="sw1", mode=SwitchMode.NORMAL, since=T0 + 700)),
        now=T0 + 700,
    )
    assert keys(model, T0 + 705) == ["switch_back"]
    assert keys(model, T0 + 711) == []


def test_major_outage_until_acknowledged_info_for_thirty_seconds() -> None:
    srv, model = Server(), BannerModel()
    outage = srv.send(
        SystemNotice(
            notice_id="N1",
            title="Broadband outage in 上海",
            body="Fibre cut; ETA 18:00",
            severity=NoticeSeverity.MAJOR_OUTAGE,
            created_at=T0,
        )
    )
    info = srv.send(SystemNotice(notice_id="N2", title="New price list", created_at=T0))
    model.apply(outage, now=T0)
    model.apply(info, now=T0 + 1)
    model.link_down(T0 + 2)
    shown = model.visible(T0 + 5)
    assert [b.banner_id for b in shown] == ["notice:N1", "cti", "notice:N2"]  # most urgent first
    assert shown[0].needs_ack and shown[0].detail == "Fibre cut; ETA 18:00"
    assert keys(model, T0 + 31) == ["notice", "cti_offline"]  # info expired, outage stays
    assert keys(model, T0 + 86400).count("notice") == 1
    assert model.acknowledge("notice:N1")
    assert not model.acknowledge("notice:N1")
    model.apply(outage, now=T0 + 90000)  # the same notice again (resume): stays dismissed
    assert keys(model, T0 + 90000) == ["cti_offline"]


def test_without_a_receive_time_the_events_own_time_counts() -> None:
    srv, model = Server(), BannerModel()
    model.apply(srv.send(SystemNotice(notice_id="N3", title="Hi", created_at=T0)))
    assert keys(model, T0 + 29) == ["notice"]
    assert keys(model, T0 + 30) == []
