"""Recording search and playback (R-SUP-3) on SQLite and PostgreSQL: the recording
reaching the server in chunks (resume, retry, corrupt upload), the search page's
filters and paging, the WAV streamed with ``Range``, access by role and region with
every refusal and every play audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import struct
import wave
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from cti_server.store import recordings as store_rec
from cti_server.store.models import AuditEntry, Call, CallRecording, CallRecordingChunk
from cti_server.web import recordings_data as rd
from tests.cti_server.web.web_support import ADMIN, AGENT_SH, TEAM_LEAD, WebStack

T0 = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)


def tone_wav(seconds: float, freq: float = 440.0) -> bytes:
    frames = int(8000 * seconds)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / 8000)))
        for i in range(frames)
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples)
    return out.getvalue()


def add_call(
    engine: sa.Engine,
    call_id: str,
    *,
    agent: str | None = "1001",
    customer: str | None = "C000001",
    tier: str = "vip",
    queue: str = "q_broadband",
    disposition: str = "resolved",
    at: dt.datetime = T0,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Call).values(
                id=call_id,
                switch_id="sw1",
                caller_number="13800000000",
                called_number="10000",
                customer_id=customer,
                tier_id=tier,
                queue_id=queue,
                agent_id=agent,
                arrived_at=at,
                answered_at=at + dt.timedelta(seconds=20),
                released_at=at + dt.timedelta(seconds=140),
                disposition=disposition,
                trajectory=[],
                updated_at=at,
            )
        )


def audits(engine: sa.Engine, action: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditEntry.actor, AuditEntry.entity_id, AuditEntry.after)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        ).all()
    return [{"actor": a, "entity_id": e, **(after or {})} for a, e, after in rows]


# --- the recording reaching the server ------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_chunked_upload_resumes_retries_and_rejects_a_corrupt_file(
    backend: str, make_web_db: Callable[[str], sa.Engine], request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        import os

        if not os.environ.get("OPENCC_TEST_PG_URL"):
            pytest.skip("OPENCC_TEST_PG_URL not set")
    engine = make_web_db(backend)
    sessions = sessionmaker(engine)
    add_call(engine, "CALL-UP-1")
    wav = tone_wav(5.0)  # 80 044 bytes: three chunks
    sha = hashlib.sha256(wav).hexdigest()
    common: dict[str, Any] = {
        "recording_id": "REC-UP-1",
        "call_id": "CALL-UP-1",
        "switch_id": "sw1",
        "size": len(wav),
        "sha256": sha,
        "seconds": 5.0,
    }
    c = store_rec.CHUNK_BYTES
    first = store_rec.put_chunk(sessions, offset=0, data=wav[:c], **common)
    assert (first.received, first.complete) == (c, False)
    # the link dropped: the same chunk again is acknowledged, nothing doubled
    again = store_rec.put_chunk(sessions, offset=0, data=wav[:c], **common)
    assert again.received == c
    # a gap is refused with the offset to resume from
    with pytest.raises(store_rec.UploadRejected) as gap:
        store_rec.put_chunk(sessions, offset=2 * c, data=wav[2 * c :], **common)
    assert gap.value.expected == c
    store_rec.put_chunk(sessions, offset=c, data=wav[c : 2 * c], **common)
    done = store_rec.put_chunk(sessions, offset=2 * c, data=wav[2 * c :], **common)
    assert done.complete and done.received == len(wav)
    with engine.connect() as conn:
        stored = b"".join(
            conn.execute(
                sa.select(CallRecordingChunk.data)
                .where(CallRecordingChunk.recording_id == "REC-UP-1")
                .order_by(CallRecordingChunk.offset)
            ).scalars()
        )
        state = conn.execute(
            sa.select(CallRecording.state).where(CallRecording.id == "REC-UP-1")
        ).scalar_one()
    assert stored == wav and state == "complete"
    assert [a["entity_id"] for a in audits(engine, "recording_received")] == ["REC-UP-1"]

    # a file whose bytes do not match the announced SHA-256 is thrown away
    bad = {**common, "recording_id": "REC-UP-2", "sha256": "0" * 64}
    store_rec.put_chunk(sessions, offset=0, data=wav[:c], **bad)
    store_rec.put_chunk(sessions, offset=c, data=wav[c : 2 * c], **bad)
    with pytest.raises(store_rec.UploadRejected) as corrupt:
        store_rec.put_chunk(sessions, offset=2 * c, data=wav[2 * c :], **bad)
    assert corrupt.value.field == "sha256" and corrupt.value.expected == 0
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(CallRecording.state, CallRecording.received).where(
                CallRecording.id == "REC-UP-2"
            )
        ).one()
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(CallRecordingChunk)
            .where(CallRecordingChunk.recording_id == "REC-UP-2")
        ).scalar_one()
    assert tuple(row) == ("receiving", 0) and left == 0
    # bad input: typed errors, nothing stored
    for kwargs, field in (
        ({"offset": -1, "data": b"x"}, "offset"),
        ({"offset": 0, "data": b"x" * (c + 1)}, "data"),
        ({"offset": 0, "data": b"x", "sha256": "XYZ"}, "sha256"),
        ({"offset": 0, "data": b"x", "recording_id": "../etc"}, "recording_id"),
    ):
        with pytest.raises(store_rec.UploadRejected) as refused:
            store_rec.put_chunk(sessions, **{**common, "recording_id": "REC-UP-3", **kwargs})
        assert refused.value.field == field
    with engine.connect() as conn:
        assert (
            conn.scalar(sa.select(CallRecording.id).where(CallRecording.id == "REC-UP-3")) is None
        )


# --- search ---------------------------------------------------------------------------------


def test_search_filters_paging_and_the_call_page(web: WebStack) -> None:
    engine = web.engine
    sessions = sessionmaker(engine)
    for n in range(23):
        add_call(
            engine,
            f"CALL-S-{n:02d}",
            agent="1002" if n % 2 else "1001",
            tier="normal" if n % 3 == 0 else "vip",
            disposition="callback" if n == 5 else "resolved",
            at=T0 + dt.timedelta(days=n // 10, minutes=n),
        )
    wav = tone_wav(1.0)
    store_rec.store_recording(
        sessions, recording_id="REC-S-04", call_id="CALL-S-04", wav=wav, seconds=1.0
    )
    store_rec.store_recording(
        sessions, recording_id="REC-S-07", call_id="CALL-S-07", wav=wav, seconds=1.0
    )
    lead = web.login(TEAM_LEAD, lang="en")

    page1 = lead.get("/ui/recordings?from=2026-11-03&to=2026-11-05")
    assert page1.status_code == 200
    assert page1.text.count('data-call="CALL-S-') == 20
    assert "Page 1 of 2" in page1.text or "1 / 2" in page1.text or "of 2" in page1.text
    page2 = lead.get("/ui/recordings?from=2026-11-03&to=2026-11-05&page=2")
    assert page2.text.count('data-call="CALL-S-') == 3
    assert 'data-call="CALL-S-00"' in page2.text  # oldest last

    def ids(query: str) -> set[str]:
        html = lead.get(f"/ui/recordings?{query}").text
        return {part.split('"')[0] for part in html.split('data-call="')[1:]}

    assert ids("recorded=yes") == {"CALL-S-04", "CALL-S-07"}
    assert "CALL-S-04" not in ids("recorded=no&from=2026-11-03")
    assert ids("disposition=callback") == {"CALL-S-05"}
    assert ids("from=2026-11-05&to=2026-11-05") == {"CALL-S-20", "CALL-S-21", "CALL-S-22"}
    assert ids("agent=1002&tier=normal&from=2026-11-03") == {
        f"CALL-S-{n:02d}" for n in range(23) if n % 2 and n % 3 == 0
    }
    bad = lead.get("/ui/recordings?from=2026-11-05&to=2026-11-03")
    assert bad.status_code == 400 and "The start date is after the end date." in bad.text

    call = lead.get("/ui/recordings/calls/CALL-S-04")
    assert call.status_code == 200
    assert 'src="/ui/recordings/REC-S-04/audio"' in call.text
    assert "<audio controls" in call.text
    assert lead.get("/ui/recordings/calls/NO-SUCH-CALL").status_code == 404


# --- playback -------------------------------------------------------------------------------


def test_audio_streams_with_range_and_every_play_is_audited(web: WebStack) -> None:
    engine = web.engine
    add_call(engine, "CALL-P-1")
    wav = tone_wav(4.5)  # 72 044 bytes, three chunks
    store_rec.store_recording(
        sessionmaker(engine), recording_id="REC-P-1", call_id="CALL-P-1", wav=wav
    )
    admin = web.login(ADMIN)
    url = "/ui/recordings/REC-P-1/audio"

    whole = admin.get(url)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.content == wav
    with wave.open(io.BytesIO(whole.content)) as w:
        assert (w.getframerate(), w.getnframes()) == (8000, 36000)

    # a range across a chunk boundary
    part = admin.get(url, headers={"Range": "bytes=32760-32779"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 32760-32779/{len(wav)}"
    assert part.content == wav[32760:32780]
    tail = admin.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == wav[-100:]
    open_end = admin.get(url, headers={"Range": "bytes=70000-"})
    assert open_end.status_code == 206 and open_end.content == wav[70000:]
    beyond = admin.get(url, headers={"Range": f"bytes={len(wav)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(wav)}"

    plays = audits(engine, "recording_play")
    assert [(p["actor"], p["entity_id"], p["range"]) for p in plays] == [
        (ADMIN, "REC-P-1", f"0-{len(wav) - 1}"),
        (ADMIN, "REC-P-1", "32760-32779"),
        (ADMIN, "REC-P-1", f"{len(wav) - 100}-{len(wav) - 1}"),
        (ADMIN, "REC-P-1", f"70000-{len(wav) - 1}"),
    ]
    assert admin.get("/ui/recordings/NOPE/audio").status_code == 404


def test_agents_and_other_regions_are_refused_and_audited(web: WebStack) -> None:
    engine = web.engine
    sessions = sessionmaker(engine)
    add_call(engine, "CALL-SH", agent="1001", customer="C000001")  # 上海 customer
    add_call(engine, "CALL-SZ", agent="1006", customer="C000002")  # 深圳 customer
    add_call(engine, "CALL-SZ-NC", agent="1006", customer=None)  # caller not a customer
    wav = tone_wav(0.5)
    for call in ("CALL-SH", "CALL-SZ", "CALL-SZ-NC"):
        store_rec.store_recording(sessions, recording_id=f"REC-{call}", call_id=call, wav=wav)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE agents SET region = '上海' WHERE id = :id"), {"id": TEAM_LEAD})

    agent = web.login(AGENT_SH, lang="en")
    page = agent.get("/ui/recordings")
    assert page.status_code == 403
    audio = agent.get("/ui/recordings/REC-CALL-SH/audio")
    assert audio.status_code == 403 and audio.content != wav
    assert web.refusals(actor=AGENT_SH, reason="role", entity_id="/ui/recordings/REC-CALL-SH/audio")

    lead = web.login(TEAM_LEAD, lang="en")  # now a 上海 team lead
    listed = lead.get("/ui/recordings?recorded=yes").text
    assert 'data-call="CALL-SH"' in listed
    assert 'data-call="CALL-SZ"' not in listed and 'data-call="CALL-SZ-NC"' not in listed
    assert lead.get("/ui/recordings/REC-CALL-SH/audio").content == wav
    for call in ("CALL-SZ", "CALL-SZ-NC"):
        refused = lead.get(f"/ui/recordings/REC-{call}/audio")
        assert refused.status_code == 403 and b"RIFF" not in refused.content
        assert web.refusals(
            actor=TEAM_LEAD, reason="region", entity_id=f"/ui/recordings/REC-{call}/audio"
        )
        assert lead.get(f"/ui/recordings/calls/{call}").status_code == 403
    assert [p["entity_id"] for p in audits(engine, "recording_play")] == ["REC-CALL-SH"]
    anonymous = web.anonymous().get("/ui/recordings/REC-CALL-SH/audio")
    assert anonymous.status_code == 403
    assert web.refusals(actor="anonymous", reason="login")


def test_range_parsing() -> None:
    assert rd.parse_range(None, 100) is None
    assert rd.parse_range("bytes=0-9", 100) == (0, 9, True)
    assert rd.parse_range("bytes=90-200", 100) == (90, 99, True)
    assert rd.parse_range("bytes=-10", 100) == (90, 99, True)
    assert rd.parse_range("bytes=-500", 100) == (0, 99, True)
    assert rd.parse_range("bytes=5-", 100) == (5, 99, True)
    assert rd.parse_range("bytes=0-1,5-6", 100) is None  # several ranges: whole file
    assert rd.parse_range("items=0-1", 100) is None
    with pytest.raises(rd.RangeNotSatisfiable):
        rd.parse_range("bytes=100-", 100)
    with pytest.raises(rd.RangeNotSatisfiable):
        rd.parse_range("bytes=-0", 100)
    big = 5 * rd.MAX_RANGE_BYTES
    assert rd.parse_range("bytes=0-", big) == (0, rd.MAX_RANGE_BYTES - 1, True)
