"""Files uploaded for an import, waiting for their mapping or their job (the tier import
and the outbound list import both use it).

The request body is streamed to a temporary file (never held in memory), refused when
its type is not one the importer reads, when it is empty or over ``max_bytes``; an upload
belongs to the user who sent it and is forgotten (its file deleted) after
:data:`UPLOAD_TTL` unless a job took it. Refusals name a catalogue text
``<prefix>_err_type`` / ``_too_large`` / ``_empty`` (or the one given for a suffix).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import tempfile
import threading
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cti_server.store.models import utcnow

UPLOAD_TTL = dt.timedelta(hours=2)


@dataclass(slots=True)
class Upload:
    id: str
    actor: str
    name: str
    path: Path
    size: int
    created_at: dt.datetime


class UploadRefused(Exception):
    """An upload the server does not take: ``key`` is the catalogue text."""

    def __init__(self, key: str, status: int = 422, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.params = params


class UploadShelf:
    """Uploads by id, thread-safe (jobs take them from worker threads)."""

    def __init__(
        self,
        prefix: str,
        suffixes: Collection[str],
        *,
        refused: Mapping[str, str] | None = None,
        upload_dir: Path | None = None,
        max_bytes: int = 1 << 30,
    ) -> None:
        self.prefix = prefix
        self.suffixes = frozenset(suffixes)
        self.refused = dict(refused or {})
        """Suffix → the catalogue text that explains why that type is refused."""
        self.upload_dir = upload_dir
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._uploads: dict[str, Upload] = {}

    async def receive(
        self, chunks: AsyncIterator[bytes], *, actor: str, name: str, declared: int | None
    ) -> Upload:
        """Stream the request body to a file (:class:`UploadRefused` for what is not taken)."""
        base = Path(name.replace("\\", "/")).name.strip() or "upload.csv"
        suffix = Path(base).suffix.lower()
        if suffix in self.refused:
            raise UploadRefused(self.refused[suffix])
        if suffix not in self.suffixes:
            raise UploadRefused(f"{self.prefix}_err_type")
        too_large = f"{self.prefix}_err_too_large"
        if declared is not None and declared > self.max_bytes:
            raise UploadRefused(too_large, 413, mb=self.max_bytes >> 20)
        if self.upload_dir is not None:
            self.upload_dir.mkdir(parents=True, exist_ok=True)
        self._expire()
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, deleted later
            prefix=f"{self.prefix}-upload-", suffix=suffix, dir=self.upload_dir, delete=False
        )
        path = Path(handle.name)
        size = 0
        try:
            with handle:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadRefused(too_large, 413, mb=self.max_bytes >> 20)
                    await asyncio.to_thread(handle.write, chunk)
            if size == 0:
                raise UploadRefused(f"{self.prefix}_err_empty")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        upload = Upload(secrets.token_hex(8), actor, base, path, size, utcnow())
        self.put_back(upload)
        return upload

    def get(self, upload_id: str, actor: str) -> Upload:
        """The upload, only for the user who sent it (``LookupError`` otherwise)."""
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.actor != actor:
            raise LookupError(upload_id)
        return upload

    def take(self, upload_id: str) -> bool:
        """A job takes the upload (False: it was taken already)."""
        with self._lock:
            return self._uploads.pop(upload_id, None) is not None

    def put_back(self, upload: Upload) -> None:
        """Keep (again) an upload: a refused import can be retried without a new upload."""
        with self._lock:
            self._uploads[upload.id] = upload

    def discard_all(self) -> None:
        """Forget every upload and delete its file (the server stops)."""
        with self._lock:
            uploads = list(self._uploads.values())
            self._uploads.clear()
        for upload in uploads:
            upload.path.unlink(missing_ok=True)

    def _expire(self) -> None:
        limit = utcnow() - UPLOAD_TTL
        with self._lock:
            old = [u for u in self._uploads.values() if u.created_at < limit]
            for upload in old:
                del self._uploads[upload.id]
        for upload in old:
            upload.path.unlink(missing_ok=True)
