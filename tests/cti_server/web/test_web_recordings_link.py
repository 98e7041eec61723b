"""A finished call recording travels from the switch's disk to the team lead's browser
(R-SUP-3): the switch's RecordingUploader sends it over the real CTI link
(``switch.recording_put``, chunks of 32 KiB) to a real CTI server, resumes after a
lost link and a partial upload, and the web panel on the same database plays it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from cti_server.store.models import CallRecording
from cti_server.store.recordings import CHUNK_BYTES, put_chunk
from cti_server.switch.link import CtiLink
from cti_server.switch.recording_upload import OUTBOX, RecordingUploader, queue_recording
from shared.protocol.errors import ErrorCode, ProtocolError
from shared.protocol.switch import RecordingReceipt, SwitchRecordingPut
from tests.cti_server.http.http_support import running_stack
from tests.cti_server.switch.link.link_support import FakeControl, Server, make_link, until
from tests.cti_server.web.conftest import FAST_HASHER
from tests.cti_server.web.test_web_recordings import add_call, tone_wav
from tests.cti_server.web.web_support import TEAM_LEAD, WebStack

pytestmark = pytest.mark.asyncio


class CountingLink:
    """The real link, remembering the offsets of the chunks the server answered."""

    def __init__(self, link: CtiLink) -> None:
        self.link = link
        self.offsets: list[int] = []

    async def put_recording_chunk(self, chunk: SwitchRecordingPut) -> RecordingReceipt:
        receipt = await self.link.put_recording_chunk(chunk)
        self.offsets.append(chunk.offset)
        return receipt

    def on_state_change(self, callback: Callable[[bool], None]) -> None:
        self.link.on_state_change(callback)


def _stored(engine: sa.Engine, recording_id: str) -> tuple[str, int] | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(CallRecording.state, CallRecording.received).where(
                CallRecording.id == recording_id
            )
        ).one_or_none()
    return None if row is None else (row[0], row[1])


async def test_recording_reaches_the_server_over_the_link_and_plays_in_the_panel(
    make_web_db: Callable[[str], sa.Engine], tmp_path: Path
) -> None:
    engine = make_web_db("sqlite")
    add_call(engine, "CALL-LINK-1")
    add_call(engine, "CALL-LINK-2")
    server = Server(engine)
    await server.start()
    link = make_link(server.url, FakeControl(), None)
    counting = CountingLink(link)
    recordings = tmp_path / "switch" / "recordings"
    uploader = RecordingUploader(recordings, interval=60.0)
    uploader.attach(counting)
    await link.start()
    try:
        await link.wait_up(3.0)
        # a 5 s recording (80 044 bytes: three chunks) finished on the switch
        wav = tone_wav(5.0)
        finished = tmp_path / "call.wav"
        finished.write_bytes(wav)
        queue_recording(
            recordings,
            recording_id="REC-LINK-1",
            call_id="CALL-LINK-1",
            wav=finished,
            seconds=5.0,
            started_at=1_795_000_000.0,
        )
        report = await uploader.upload_now()
        assert report.uploaded == ["REC-LINK-1"]
        assert counting.offsets == [0, CHUNK_BYTES, 2 * CHUNK_BYTES]
        assert list((recordings / OUTBOX).iterdir()) == []  # the local copy is gone
        assert _stored(engine, "REC-LINK-1") == ("complete", len(wav))

        # the server already holds the first chunk of the next one (an upload cut off
        # before the switch saw the answer): the uploader goes on from there
        second = tone_wav(4.5, freq=660.0)
        put_chunk(
            sessionmaker(engine),
            recording_id="REC-LINK-2",
            call_id="CALL-LINK-2",
            switch_id="sw-link-test",
            size=len(second),
            sha256=hashlib.sha256(second).hexdigest(),
            offset=0,
            data=second[:CHUNK_BYTES],
        )
        (tmp_path / "two.wav").write_bytes(second)
        queue_recording(
            recordings, recording_id="REC-LINK-2", call_id="CALL-LINK-2", wav=tmp_path / "two.wav"
        )
        # ... but first the server goes away: the recording waits on the switch's disk
        await server.stop()
        await until(lambda: not link.up, timeout=5.0)
        counting.offsets.clear()
        waiting = await uploader.upload_now()
        assert waiting.waiting == ["REC-LINK-2"] and waiting.uploaded == []
        assert (recordings / OUTBOX / "REC-LINK-2.wav").read_bytes() == second
        # the server is back; the link-up starts a round at once
        await server.start()
        uploader.start()
        await until(lambda: uploader.uploaded == 2, timeout=10.0)
        assert counting.offsets == [0, CHUNK_BYTES, 2 * CHUNK_BYTES]  # 0 acknowledged again
        assert _stored(engine, "REC-LINK-2") == ("complete", len(second))

        # refusals travel as typed errors: a gap names the offset to resume from
        third = tone_wav(3.0)
        with pytest.raises(ProtocolError) as gap:
            await link.put_recording_chunk(
                SwitchRecordingPut(
                    id=0,
                    recording_id="REC-LINK-3",
                    call_id="CALL-LINK-2",
                    size=len(third),
                    sha256=hashlib.sha256(third).hexdigest(),
                    offset=CHUNK_BYTES,
                    data=base64.b64encode(third[CHUNK_BYTES : 2 * CHUNK_BYTES]).decode(),
                )
            )
        assert gap.value.code is ErrorCode.INVALID_FIELD
        assert gap.value.detail == {"field": "offset", "expected": 0}
    finally:
        await uploader.close()
        await link.close()
        await server.stop()

    # the team lead plays both in the web panel served from the same database
    with ExitStack() as stack:
        web = WebStack(stack.enter_context(running_stack(engine, FAST_HASHER)))
        lead = web.login(TEAM_LEAD, lang="en")
        page = lead.get("/ui/recordings/calls/CALL-LINK-1")
        assert 'src="/ui/recordings/REC-LINK-1/audio"' in page.text
        assert lead.get("/ui/recordings/REC-LINK-1/audio").content == wav
        part = lead.get("/ui/recordings/REC-LINK-2/audio", headers={"Range": "bytes=40000-40009"})
        assert part.status_code == 206 and part.content == second[40000:40010]


async def test_a_recording_the_server_refuses_is_set_aside(tmp_path: Path) -> None:
    """A refusal for good (not a gap) moves the files to ``rejected/``; the others go on."""

    class Refusing:
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def put_recording_chunk(self, chunk: SwitchRecordingPut) -> RecordingReceipt:
            self.sent.append(chunk.recording_id)
            if chunk.recording_id == "BAD":
                raise ProtocolError(
                    ErrorCode.INVALID_FIELD, "another recording has this id", detail={"field": "x"}
                )
            return RecordingReceipt(
                recording_id=chunk.recording_id, received=chunk.size, complete=True
            )

        def on_state_change(self, callback: Callable[[bool], None]) -> None:
            pass

    folder = tmp_path / "rec"
    for name in ("BAD", "GOOD"):
        (tmp_path / f"{name}.wav").write_bytes(tone_wav(0.1))
        queue_recording(folder, recording_id=name, call_id="C1", wav=tmp_path / f"{name}.wav")
    uploader = RecordingUploader(folder)
    link = Refusing()
    uploader.attach(link)
    report = await uploader.upload_now()
    assert sorted(link.sent) == ["BAD", "GOOD"]
    assert (report.rejected, report.uploaded) == (["BAD"], ["GOOD"])
    assert sorted(p.name for p in (folder / "rejected").iterdir()) == ["BAD.json", "BAD.wav"]
    assert list((folder / OUTBOX).iterdir()) == []
    with pytest.raises(ValueError, match="recording id"):
        queue_recording(folder, recording_id="../x", call_id="C1", wav=tmp_path / "none.wav")
