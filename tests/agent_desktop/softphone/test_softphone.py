"""The softphone on real pjsua2 against the project's own SIP stack (the switch's
registrar and INVITEs with RTP legs we own): registration with digest, ringing with the
CTI call id, two-way audio through the bridge, mute, RFC 4733 DTMF, remote hang-up, the
4-call cap and the local loop test. Only the sound hardware is replaced (BufferBackend)."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.softphone import (
    BufferBackend,
    QtAudioBackend,
    SoftCall,
    Softphone,
    SoftphoneConfig,
    SoftphoneError,
    UnknownCallError,
    pcm,
)
from cti_server.switch.media.rtp import dominant_frequency, goertzel_power, rms
from tests.agent_desktop.softphone.sip_peer import PeerCall, SwitchPeer

USER = "1001"
PASSWORD = "s3cret"


@pytest.fixture(scope="module")
def peer() -> Iterator[SwitchPeer]:
    switch = SwitchPeer({USER: PASSWORD, "1002": "other"})
    switch.start()
    yield switch
    switch.stop()


def config(peer: SwitchPeer, user: str = USER, password: str = PASSWORD) -> SoftphoneConfig:
    host, port = peer.address
    return SoftphoneConfig(host, port, user, password, local_host="127.0.0.1", expires=120)


class Recorder:
    """Every signal of one softphone, with the thread each arrived on."""

    def __init__(self, phone: Softphone) -> None:
        self.registrations: list[tuple[bool, str]] = []
        self.incoming: list[SoftCall] = []
        self.changes: list[tuple[str, str]] = []
        self.levels: list[tuple[float, float]] = []
        self.threads: set[int] = set()
        phone.registration_changed.connect(self._reg)
        phone.incoming.connect(self._incoming)
        phone.call_changed.connect(self._changed)
        phone.levels.connect(self._levels)

    def _reg(self, ok: bool, detail: str) -> None:
        self.threads.add(threading.get_ident())
        self.registrations.append((ok, detail))

    def _incoming(self, call: SoftCall) -> None:
        self.threads.add(threading.get_ident())
        self.incoming.append(call)

    def _changed(self, key: str, state: str) -> None:
        self.threads.add(threading.get_ident())
        self.changes.append((key, state))

    def _levels(self, mic: float, speaker: float) -> None:
        self.threads.add(threading.get_ident())
        self.levels.append((mic, speaker))


@pytest.fixture
def phone(qtbot: QtBot, peer: SwitchPeer) -> Iterator[tuple[Softphone, BufferBackend, Recorder]]:
    backend = BufferBackend()
    softphone = Softphone(backend)
    recorder = Recorder(softphone)
    softphone.start(config(peer))
    qtbot.waitUntil(lambda: bool(recorder.registrations), timeout=5000)
    assert recorder.registrations[0] == (True, "200 OK")
    yield softphone, backend, recorder
    softphone.shutdown()
    assert softphone.off_thread_callbacks == 0
    assert recorder.threads <= {threading.get_ident()}


def ring(
    qtbot: QtBot, peer: SwitchPeer, recorder: Recorder, cti_id: str | None
) -> tuple[PeerCall, SoftCall]:
    before = len(recorder.incoming)
    call = peer.invite(USER, cti_id)
    qtbot.waitUntil(lambda: len(recorder.incoming) > before, timeout=5000)
    qtbot.waitUntil(lambda: 180 in call.provisional_statuses(), timeout=3000)
    return call, recorder.incoming[-1]


def answer(qtbot: QtBot, phone: Softphone, call: PeerCall, soft: SoftCall) -> None:
    phone.answer(soft.key)
    qtbot.waitUntil(lambda: call.result.done() and call.dialog is not None, timeout=5000)
    qtbot.waitUntil(lambda: phone.call_state(soft.key) == "confirmed", timeout=3000)


def heard(samples: list[int], frequency: float) -> float:
    return 2 * (goertzel_power(samples, frequency) ** 0.5) if samples else 0.0


def test_registers_with_digest_and_unregisters_on_shutdown(qtbot: QtBot, peer: SwitchPeer) -> None:
    softphone = Softphone(BufferBackend())
    recorder = Recorder(softphone)
    softphone.start(config(peer))
    qtbot.waitUntil(lambda: bool(recorder.registrations), timeout=5000)
    assert recorder.registrations == [(True, "200 OK")]
    assert softphone.registered
    assert peer.registered(USER)
    with pytest.raises(SoftphoneError):
        softphone.start(config(peer))
    softphone.shutdown()
    assert not peer.registered(USER), "shutdown must unregister (REGISTER Expires: 0)"
    assert recorder.registrations[-1] == (False, "unregistered")
    assert recorder.threads == {threading.get_ident()}
    assert softphone.off_thread_callbacks == 0
    softphone.shutdown()  # idempotent


def test_wrong_password_reports_the_status_and_retries_with_backoff(
    qtbot: QtBot, peer: SwitchPeer
) -> None:
    softphone = Softphone(BufferBackend())
    softphone.backoff_first = 0.2
    recorder = Recorder(softphone)
    try:
        softphone.start(config(peer, user="1002", password="wrong"))
        qtbot.waitUntil(lambda: len(recorder.registrations) >= 2, timeout=5000)
        ok, detail = recorder.registrations[0]
        # the registrar challenges again (401), then forbids (403) after 3 failures
        assert not ok and detail[:3] in ("401", "403"), detail
        assert not recorder.registrations[1][0]  # the retry came, and failed again
        assert not softphone.registered and not peer.registered("1002")
    finally:
        softphone.shutdown()


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="port"):
        SoftphoneConfig("127.0.0.1", 70000, USER, PASSWORD)
    with pytest.raises(ValueError, match="transport"):
        SoftphoneConfig("127.0.0.1", 5060, USER, PASSWORD, transport="tcp")
    with pytest.raises(ValueError, match="user"):
        SoftphoneConfig("127.0.0.1", 5060, "10 01", PASSWORD)


def test_call_rings_answers_and_carries_audio_mute_dtmf_and_remote_bye(
    qtbot: QtBot, peer: SwitchPeer, phone: tuple[Softphone, BufferBackend, Recorder]
) -> None:
    softphone, backend, recorder = phone
    call, soft = ring(qtbot, peer, recorder, "c-42")
    assert soft.cti_call_id == "c-42"
    assert soft.remote == "13800138000"
    assert recorder.changes == [(soft.key, "ringing")]
    assert backend.ringing, "the ringer plays while the call rings"
    assert not call.result.done(), "no final answer before the agent answers"

    answer(qtbot, softphone, call, soft)
    assert call.status == 200
    assert "PCMU/8000" in call.answer_sdp and "telephone-event" in call.answer_sdp
    assert not backend.ringing
    assert (soft.key, "confirmed") in recorder.changes

    # caller → agent: a 1 kHz tone arrives in the speaker buffer
    backend.received.clear()
    sending = peer.send_tone(call, 1000.0, 0.5)
    qtbot.waitUntil(sending.done, timeout=3000)
    qtbot.waitUntil(lambda: len(backend.received) >= 6400, timeout=3000)
    got = list(pcm.samples(bytes(backend.received)))
    assert abs(dominant_frequency(got) - 1000.0) <= 10
    assert any(speaker > 0.3 for _, speaker in recorder.levels), recorder.levels[-5:]

    # agent → caller: a 600 Hz tone fed to the mic side is heard by the peer
    peer.clear(call)
    backend.send(pcm.tone(600.0, 0.6, 8000))
    qtbot.wait(800)
    samples = call.pcmu()
    assert len(samples) >= 3200
    assert abs(dominant_frequency(samples) - 600.0) <= 10
    assert heard(samples, 600.0) > 2000
    assert any(mic > 0.3 for mic, _ in recorder.levels), "the VU meter shows the voice"

    # mute: the same tone no longer reaches the caller
    softphone.set_mute(True)
    assert softphone.muted
    peer.clear(call)
    backend.send(pcm.tone(600.0, 0.6, 8000))
    qtbot.wait(800)
    muted = call.pcmu()
    assert heard(muted, 600.0) < 100, heard(muted, 600.0)
    assert rms(muted) < 100
    assert recorder.levels[-1][0] == 0.0, "muted: the mic meter drops to zero"
    softphone.set_mute(False)
    peer.clear(call)
    backend.send(pcm.tone(600.0, 0.4, 8000))
    qtbot.wait(600)
    assert heard(call.pcmu(), 600.0) > 2000, "unmute gives the voice back"

    # DTMF as RFC 4733
    peer.clear(call)
    softphone.send_dtmf(soft.key, "1#")
    qtbot.waitUntil(lambda: call.dtmf_digits() == "1#", timeout=3000)
    qtbot.wait(300)  # the end packets' retransmissions
    events = call.telephone_events()
    for bad in ("", "1x", "12e", "a"):
        with pytest.raises(ValueError):
            softphone.send_dtmf(soft.key, bad)
    qtbot.wait(300)
    assert call.telephone_events() == events, "nothing is sent for bad digits"
    with pytest.raises(UnknownCallError):
        softphone.send_dtmf("sip-nope", "1")

    # the caller hangs up: disconnected, and the pjsua2 call object is freed
    assert softphone._session is not None
    holder = weakref.ref(softphone._session.calls[soft.key])
    bye = peer.bye(call)
    qtbot.waitUntil(bye.done, timeout=3000)
    assert bye.result() == 200
    qtbot.waitUntil(lambda: (soft.key, "disconnected") in recorder.changes, timeout=3000)
    assert softphone.calls() == []
    gc.collect()
    assert holder() is None
    with pytest.raises(UnknownCallError):
        softphone.answer(soft.key)
    assert recorder.threads == {threading.get_ident()}
    assert softphone.off_thread_callbacks == 0


def test_declined_ringing_call_and_call_without_cti_id(
    qtbot: QtBot, peer: SwitchPeer, phone: tuple[Softphone, BufferBackend, Recorder]
) -> None:
    softphone, backend, recorder = phone
    call, soft = ring(qtbot, peer, recorder, None)
    assert soft.cti_call_id is None
    softphone.hangup(soft.key)
    qtbot.waitUntil(call.result.done, timeout=3000)
    assert call.status == 603
    qtbot.waitUntil(lambda: (soft.key, "disconnected") in recorder.changes, timeout=3000)
    assert not backend.ringing
    assert backend.ring_changes == [True, False]


def test_remote_hold_and_resume_change_the_call_state(
    qtbot: QtBot, peer: SwitchPeer, phone: tuple[Softphone, BufferBackend, Recorder]
) -> None:
    softphone, _, recorder = phone
    call, soft = ring(qtbot, peer, recorder, "c-hold")
    answer(qtbot, softphone, call, soft)
    busy = softphone.test_call()
    assert not busy.ok and busy.code == "busy", "no loop test over a live call"
    hold = peer.reinvite(call, "sendonly", 2)
    qtbot.waitUntil(hold.done, timeout=3000)
    assert "a=recvonly" in hold.result().to_text()
    qtbot.waitUntil(lambda: softphone.call_state(soft.key) == "held", timeout=3000)
    resume = peer.reinvite(call, "sendrecv", 3)
    qtbot.waitUntil(resume.done, timeout=3000)
    qtbot.waitUntil(lambda: softphone.call_state(soft.key) == "confirmed", timeout=3000)
    states = [state for key, state in recorder.changes if key == soft.key]
    assert states == ["ringing", "confirmed", "held", "confirmed"]
    softphone.hangup(soft.key)
    qtbot.waitUntil(lambda: peer.got_bye(call), timeout=3000)


def test_a_fifth_call_is_refused_with_486(
    qtbot: QtBot,
    peer: SwitchPeer,
    phone: tuple[Softphone, BufferBackend, Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    softphone, _, recorder = phone
    calls = [ring(qtbot, peer, recorder, f"c-{i}")[0] for i in range(4)]
    assert len(softphone.calls()) == 4
    fifth = peer.invite(USER, "c-5")
    qtbot.waitUntil(fifth.result.done, timeout=5000)
    assert fifth.status == 486
    assert len(recorder.incoming) == 4, "no pop-up for the refused call"
    assert "486" in caplog.text and "at most 4 calls" in caplog.text
    for call in calls:
        assert not call.result.done()


def test_loop_test_call_hears_its_tone_through_the_bridge(qtbot: QtBot) -> None:
    backend = BufferBackend()
    softphone = Softphone(backend)
    result = softphone.test_call()
    assert result.ok and result.code == "ok", result
    assert result.heard_hz is not None and abs(result.heard_hz - 1000.0) <= 10
    assert result.delay_ms is not None and result.delay_ms < 200
    back = list(pcm.samples(bytes(backend.received)))
    assert abs(dominant_frequency(back) - 1000.0) <= 10, "the tone came back to the buffer"
    assert result.devices.ok
    softphone.shutdown()


def test_qt_backend_without_devices_degrades_cleanly(qtbot: QtBot, peer: SwitchPeer) -> None:
    softphone = Softphone(QtAudioBackend())
    devices = softphone.devices()
    assert devices.mics == () and devices.speakers == ()  # this machine has no sound card
    check = softphone.device_check()
    assert check.mic == check.speaker == check.ringer == "no device"
    assert not check.ok
    with pytest.raises(ValueError, match="unknown microphone"):
        softphone.set_devices("usb-headset", None, None)
    result = softphone.test_call(seconds=0.3)
    assert result.ok, result  # the bridge works; the devices are reported missing
    assert result.code == "no_device" and "no device" in result.detail
    recorder = Recorder(softphone)
    softphone.start(config(peer))
    qtbot.waitUntil(lambda: bool(recorder.registrations), timeout=5000)
    call, soft = ring(qtbot, peer, recorder, "c-qt")
    answer(qtbot, softphone, call, soft)
    softphone.hangup(soft.key)
    qtbot.waitUntil(lambda: (soft.key, "disconnected") in recorder.changes, timeout=3000)
    qtbot.waitUntil(lambda: peer.got_bye(call), timeout=3000)
    softphone.shutdown()
