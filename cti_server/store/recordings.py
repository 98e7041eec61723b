"""Call recordings the switch uploads to the server (R-SUP-3, ``switch.recording_put``).

The switch and the CTI server are separate processes, possibly on separate hosts, so
the server does not read the switch's folders: the switch uploads a finished recording
(an 8 kHz 16-bit mono WAV) in chunks of at most :data:`CHUNK_BYTES`. The bytes live in
the database (``call_recording_chunks``, one row per chunk) beside the call they belong
to, on SQLite and PostgreSQL alike: nothing to mount or back up apart from the
database. Chunks arrive in order; a chunk the server already has is acknowledged again
(a retried upload), one past the end of what it has is refused with the offset it
expects (the switch resumes from there). When the last byte arrives the SHA-256 of the
whole file is checked: a match makes the recording ``complete`` (playable) and writes
an audit row, a mismatch discards the bytes so the upload starts again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from . import audit
from .models import CallRecording, CallRecordingChunk, utcnow

CHUNK_BYTES = 32 * 1024
"""Largest chunk one upload carries (raw bytes, base64 on the link)."""
MAX_RECORDING_BYTES = 200 * 1024 * 1024
"""Largest recording accepted (about 3.6 hours of 8 kHz 16-bit mono)."""
_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}\Z")
_SHA = re.compile(r"^[0-9a-f]{64}\Z")


class UploadRejected(Exception):
    """A chunk the server cannot take; ``field`` names the bad part, ``expected`` is
    the offset the server wants next (resume from there)."""

    def __init__(self, field: str, message: str, expected: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.expected = expected


@dataclass(frozen=True, slots=True)
class UploadState:
    recording_id: str
    received: int
    size: int
    complete: bool


def put_chunk(
    sessions: sessionmaker[Session],
    *,
    recording_id: str,
    call_id: str,
    switch_id: str,
    size: int,
    sha256: str,
    offset: int,
    data: bytes,
    seconds: float | None = None,
    started_at: dt.datetime | None = None,
) -> UploadState:
    """Store bytes ``offset`` … of recording ``recording_id`` (see the module text)."""
    if not _ID.match(recording_id) or not _ID.match(call_id):
        raise UploadRejected("recording_id", "recording and call ids: 1-64 of A-Z a-z 0-9 _.:-")
    if not _SHA.match(sha256):
        raise UploadRejected("sha256", "sha256 must be 64 lower-case hex digits")
    if not 0 < size <= MAX_RECORDING_BYTES:
        raise UploadRejected("size", f"size must be 1..{MAX_RECORDING_BYTES} bytes")
    if len(data) > CHUNK_BYTES or (not data and offset < size):
        raise UploadRejected("data", f"a chunk carries 1..{CHUNK_BYTES} bytes")
    if offset < 0 or offset + len(data) > size:
        raise UploadRejected("offset", "the chunk lies outside the file")
    corrupt = False
    with sessions.begin() as session:
        row = session.get(CallRecording, recording_id, with_for_update=True)
        if row is None:
            row = CallRecording(
                id=recording_id,
                call_id=call_id,
                switch_id=switch_id,
                state="receiving",
                size=size,
                received=0,
                sha256=sha256,
                seconds=seconds,
                started_at=started_at,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
        elif row.call_id != call_id or row.size != size or row.sha256 != sha256:
            if row.state == "complete":
                raise UploadRejected("recording_id", "another recording has this id")
            # the switch started over with a different file under the same id
            session.execute(
                sa.delete(CallRecordingChunk).where(CallRecordingChunk.recording_id == row.id)
            )
            row.call_id, row.size, row.sha256, row.received = call_id, size, sha256, 0
            row.switch_id, row.seconds, row.started_at = switch_id, seconds, started_at
        if row.state == "complete" or offset + len(data) <= row.received:
            return UploadState(row.id, row.received, row.size, row.state == "complete")
        if offset != row.received:
            raise UploadRejected(
                "offset", f"expected offset {row.received}, got {offset}", expected=row.received
            )
        session.add(CallRecordingChunk(recording_id=row.id, offset=offset, data=bytes(data)))
        row.received = offset + len(data)
        if row.received == row.size:
            digest = hashlib.sha256()
            for piece in session.scalars(
                sa.select(CallRecordingChunk.data)
                .where(CallRecordingChunk.recording_id == row.id)
                .order_by(CallRecordingChunk.offset)
            ):
                digest.update(piece)
            if digest.hexdigest() != row.sha256:
                session.execute(
                    sa.delete(CallRecordingChunk).where(CallRecordingChunk.recording_id == row.id)
                )
                row.received = 0
                corrupt = True
            else:
                row.state = "complete"
                row.completed_at = utcnow()
                audit.record(
                    session,
                    actor=switch_id or "switch",
                    action="recording_received",
                    entity="call_recording",
                    entity_id=row.id,
                    after={"call_id": call_id, "size": size, "sha256": sha256, "seconds": seconds},
                )
        state = UploadState(row.id, row.received, row.size, row.state == "complete")
    if corrupt:  # the discarded bytes are committed: the upload starts again from 0
        raise UploadRejected("sha256", "the file does not match its SHA-256", expected=0)
    return state


def store_recording(
    sessions: sessionmaker[Session],
    *,
    recording_id: str,
    call_id: str,
    wav: bytes,
    switch_id: str = "",
    seconds: float | None = None,
) -> UploadState:
    """Store a whole file chunk by chunk (what the switch does over the link)."""
    sha = hashlib.sha256(wav).hexdigest()
    state = UploadState(recording_id, 0, len(wav), False)
    for offset in range(0, len(wav), CHUNK_BYTES):
        state = put_chunk(
            sessions,
            recording_id=recording_id,
            call_id=call_id,
            switch_id=switch_id,
            size=len(wav),
            sha256=sha,
            offset=offset,
            data=wav[offset : offset + CHUNK_BYTES],
            seconds=seconds,
        )
    return state


class RecordingStore:
    """What the link handler (``switch.recording_put``) needs: :func:`put_chunk` on the
    server's database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def put(
        self,
        *,
        recording_id: str,
        call_id: str,
        switch_id: str,
        size: int,
        sha256: str,
        offset: int,
        data: bytes,
        seconds: float | None = None,
        started_at: float | None = None,
    ) -> UploadState:
        """One chunk; ``started_at`` in epoch seconds (as on the wire)."""
        return put_chunk(
            self.sessions,
            recording_id=recording_id,
            call_id=call_id,
            switch_id=switch_id,
            size=size,
            sha256=sha256,
            offset=offset,
            data=data,
            seconds=seconds,
            started_at=(
                dt.datetime.fromtimestamp(started_at, dt.UTC) if started_at is not None else None
            ),
        )
