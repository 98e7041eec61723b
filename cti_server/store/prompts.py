"""IVR prompts administrators upload (R-IVR-5), stored as files — no database table.

Shipped prompts are ``resources/prompts/<lang>/<id>.wav``; an upload for the same
language and id overrides the shipped one. Uploads live under the server's
``<data_dir>/prompts/<lang>/<id>.wav``, each with a sidecar ``<id>.json``
(``sha256``, ``size``, ``seconds``, ``format``, ``uploaded_by``, ``uploaded_at``).
Both files are written to a temporary name and renamed, so a reader never sees half a
prompt; every upload and delete leaves an audit-log row (entity ``prompt``, id
``<lang>/<id>``) in the same transaction as the rename.

A prompt must be a RIFF WAVE file, mono, 8000 Hz, 16-bit PCM or G.711 µ-law / A-law
(format tags 1 / 7 / 6), 0.1–300 seconds and at most 5 MB; the id matches
``^[a-z0-9_]{1,64}$`` and the language is one of ``shared.ivr.LANGUAGES``. Anything
else is a :class:`PromptRejected` naming the field and the problem, and nothing is
written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import struct
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shared.ivr.model import LANGUAGES

from .audit import audited

log = logging.getLogger("cti_server.prompts")

SHIPPED_PROMPTS = Path(__file__).resolve().parents[2] / "resources" / "prompts"
PROMPT_ID = re.compile(r"^[a-z0-9_]{1,64}\Z")
MAX_BYTES = 5 * 1024 * 1024
MIN_SECONDS = 0.1
MAX_SECONDS = 300.0
SAMPLE_RATE = 8000
CHUNK_BYTES = 32 * 1024
"""Largest chunk handed to a switch per ``switch.prompt_get`` (protocol 1.2)."""

WAV_PCM, WAV_ALAW, WAV_ULAW, WAV_EXTENSIBLE = 1, 6, 7, 0xFFFE
FORMATS = {(WAV_PCM, 16): "pcm16", (WAV_ULAW, 8): "ulaw", (WAV_ALAW, 8): "alaw"}


class PromptRejected(ValueError):
    """An upload (or a name) that is not a usable prompt; nothing was written.

    ``field`` is ``language``, ``prompt_id`` or ``body``; ``problem`` a short code
    (``unknown_language``, ``bad_id``, ``not_riff``, ``not_mono``, ``bad_rate``,
    ``bad_format``, ``too_short``, ``too_long``, ``too_large``, ``empty``).
    """

    def __init__(self, field: str, problem: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.problem = problem
        self.message = message


class PromptNotFound(LookupError):
    """No such (uploaded) prompt."""

    def __init__(self, language: str, prompt_id: str, what: str = "prompt") -> None:
        super().__init__(f"no {what} {language}/{prompt_id}")
        self.language = language
        self.prompt_id = prompt_id


@dataclass(frozen=True, slots=True)
class WavInfo:
    format: str
    """``pcm16``, ``ulaw`` or ``alaw``."""
    channels: int
    rate: int
    bits: int
    data_bytes: int
    seconds: float


@dataclass(frozen=True, slots=True)
class PromptInfo:
    language: str
    prompt_id: str
    source: str
    """``uploaded`` or ``shipped``."""
    sha256: str
    size: int
    seconds: float
    format: str = ""
    uploaded_by: str | None = None
    uploaded_at: str | None = None
    overrides_shipped: bool = False


def check_name(language: str, prompt_id: str) -> None:
    """:class:`PromptRejected` unless ``language`` / ``prompt_id`` are valid names."""
    if language not in LANGUAGES:
        raise PromptRejected(
            "language",
            "unknown_language",
            f"language {language!r} is not one of {', '.join(LANGUAGES)}",
        )
    if not PROMPT_ID.match(prompt_id):
        raise PromptRejected(
            "prompt_id",
            "bad_id",
            f"prompt id {prompt_id!r} must match ^[a-z0-9_]{{1,64}}$",
        )


def parse_wav(data: bytes) -> WavInfo:
    """The format of a WAV file's bytes, or :class:`PromptRejected` (field ``body``)."""

    def bad(problem: str, message: str) -> PromptRejected:
        return PromptRejected("body", problem, message)

    if not data:
        raise bad("empty", "the request body is empty: send the WAV file's bytes")
    if len(data) > MAX_BYTES:
        raise bad("too_large", f"{len(data)} bytes: a prompt may have {MAX_BYTES}")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise bad("not_riff", "not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int, int] | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise bad("bad_format", "the WAV fmt chunk is too short")
            tag, channels, rate, _byte_rate, align, bits = struct.unpack_from("<HHIIHH", body)
            if tag == WAV_EXTENSIBLE and len(body) >= 26:
                (tag,) = struct.unpack_from("<H", body, 24)
            fmt = (tag, channels, rate, bits, align)
        elif chunk_id == b"data":
            if fmt is None:
                raise bad("bad_format", "the WAV data chunk comes before its fmt chunk")
            return _check_format(fmt, len(body))
        offset += 8 + size + (size & 1)
    raise bad("bad_format" if fmt is not None else "not_riff", "the WAV has no data chunk")


def _check_format(fmt: tuple[int, int, int, int, int], data_bytes: int) -> WavInfo:
    tag, channels, rate, bits, _align = fmt
    if channels != 1:
        raise PromptRejected("body", "not_mono", f"{channels} channels: a prompt must be mono")
    if rate != SAMPLE_RATE:
        raise PromptRejected(
            "body", "bad_rate", f"{rate} Hz: a prompt must be sampled at {SAMPLE_RATE} Hz"
        )
    name = FORMATS.get((tag, bits))
    if name is None:
        raise PromptRejected(
            "body",
            "bad_format",
            f"format tag {tag} with {bits} bits: a prompt must be 16-bit PCM (1), "
            "G.711 µ-law (7) or A-law (6)",
        )
    seconds = data_bytes / (SAMPLE_RATE * bits // 8)
    if seconds < MIN_SECONDS:
        raise PromptRejected(
            "body", "too_short", f"{seconds:.3f} s: a prompt lasts at least {MIN_SECONDS} s"
        )
    if seconds > MAX_SECONDS:
        raise PromptRejected(
            "body", "too_long", f"{seconds:.1f} s: a prompt lasts at most {MAX_SECONDS:.0f} s"
        )
    return WavInfo(name, channels, rate, bits, data_bytes, round(seconds, 3))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class PromptStore:
    """Uploaded prompts under ``root`` over the shipped ones (see the module docstring).

    ``sessions`` (the configuration database) receives the audit rows; without it
    changes are only logged (tests of the read side)."""

    def __init__(
        self,
        root: Path,
        *,
        sessions: sessionmaker[Session] | None = None,
        shipped_root: Path = SHIPPED_PROMPTS,
    ) -> None:
        self.root = root
        self.sessions = sessions
        self.shipped_root = shipped_root
        self._lock = threading.Lock()
        self._shipped_cache: dict[tuple[str, int, int], PromptInfo] = {}

    # -- paths ------------------------------------------------------------------------

    def uploaded_path(self, language: str, prompt_id: str) -> Path:
        return self.root / language / f"{prompt_id}.wav"

    def _sidecar(self, language: str, prompt_id: str) -> Path:
        return self.root / language / f"{prompt_id}.json"

    def shipped_path(self, language: str, prompt_id: str) -> Path:
        return self.shipped_root / language / f"{prompt_id}.wav"

    # -- reading -----------------------------------------------------------------------

    def uploaded_info(self, language: str, prompt_id: str) -> PromptInfo | None:
        """The uploaded prompt's sidecar facts (recomputed if the sidecar is unusable)."""
        path = self.uploaded_path(language, prompt_id)
        if not path.is_file():
            return None
        meta: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self._sidecar(language, prompt_id).read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                meta = loaded
        try:
            size = path.stat().st_size
        except OSError:
            return None
        if not isinstance(meta.get("sha256"), str) or meta.get("size") != size:
            try:
                data = path.read_bytes()
            except OSError:
                return None
            meta = {**meta, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            with contextlib.suppress(PromptRejected):
                wav = parse_wav(data)
                meta.update(seconds=wav.seconds, format=wav.format)
        return PromptInfo(
            language=language,
            prompt_id=prompt_id,
            source="uploaded",
            sha256=str(meta["sha256"]),
            size=int(meta["size"]),
            seconds=float(meta.get("seconds") or 0.0),
            format=str(meta.get("format") or ""),
            uploaded_by=meta.get("uploaded_by"),
            uploaded_at=meta.get("uploaded_at"),
            overrides_shipped=self.shipped_path(language, prompt_id).is_file(),
        )

    def shipped_info(self, language: str, prompt_id: str) -> PromptInfo | None:
        path = self.shipped_path(language, prompt_id)
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        cached = self._shipped_cache.get(key)
        if cached is not None:
            return cached
        data = path.read_bytes()
        try:
            wav = parse_wav(data)
            seconds, fmt = wav.seconds, wav.format
        except PromptRejected:
            seconds, fmt = 0.0, ""
        info = PromptInfo(
            language=language,
            prompt_id=prompt_id,
            source="shipped",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            seconds=seconds,
            format=fmt,
        )
        self._shipped_cache[key] = info
        return info

    def _ids(self, root: Path, language: str) -> list[str]:
        folder = root / language
        if not folder.is_dir():
            return []
        return sorted(
            p.stem for p in folder.glob("*.wav") if p.is_file() and PROMPT_ID.match(p.stem)
        )

    def uploaded(self) -> list[PromptInfo]:
        """Every uploaded prompt, by language and id."""
        found: list[PromptInfo] = []
        for language in LANGUAGES:
            for prompt_id in self._ids(self.root, language):
                info = self.uploaded_info(language, prompt_id)
                if info is not None:
                    found.append(info)
        return found

    def listing(self) -> list[PromptInfo]:
        """Every prompt a switch plays: uploaded ones over the shipped ones."""
        found: list[PromptInfo] = []
        for language in LANGUAGES:
            ids = sorted(
                set(self._ids(self.root, language)) | set(self._ids(self.shipped_root, language))
            )
            for prompt_id in ids:
                info = self.effective(language, prompt_id)
                if info is not None:
                    found.append(info)
        return found

    def effective(self, language: str, prompt_id: str) -> PromptInfo | None:
        return self.uploaded_info(language, prompt_id) or self.shipped_info(language, prompt_id)

    def audio(self, language: str, prompt_id: str) -> tuple[PromptInfo, bytes]:
        """The WAV a switch plays for this prompt (uploaded over shipped)."""
        check_name(language, prompt_id)
        for info, path in (
            (self.uploaded_info(language, prompt_id), self.uploaded_path(language, prompt_id)),
            (self.shipped_info(language, prompt_id), self.shipped_path(language, prompt_id)),
        ):
            if info is not None:
                with contextlib.suppress(FileNotFoundError):
                    return info, path.read_bytes()
        raise PromptNotFound(language, prompt_id)

    def chunk(
        self, language: str, prompt_id: str, offset: int, limit: int = CHUNK_BYTES
    ) -> tuple[PromptInfo, bytes]:
        """Up to ``limit`` bytes of an uploaded prompt from ``offset``.

        Raises :class:`PromptNotFound` (no such upload) or :class:`PromptRejected`
        (field ``offset``: past the end)."""
        check_name(language, prompt_id)
        info = self.uploaded_info(language, prompt_id)
        if info is None:
            raise PromptNotFound(language, prompt_id, "uploaded prompt")
        if offset > info.size:
            raise PromptRejected(
                "offset", "past_end", f"offset {offset} is past the end ({info.size} bytes)"
            )
        try:
            with self.uploaded_path(language, prompt_id).open("rb") as f:
                f.seek(offset)
                data = f.read(min(limit, CHUNK_BYTES))
        except FileNotFoundError:
            raise PromptNotFound(language, prompt_id, "uploaded prompt") from None
        return info, data

    # -- changing ----------------------------------------------------------------------

    def save(self, actor: str, language: str, prompt_id: str, data: bytes) -> PromptInfo:
        """Validate and store an upload (replacing an earlier one), audited."""
        check_name(language, prompt_id)
        wav = parse_wav(data)
        meta = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "seconds": wav.seconds,
            "format": wav.format,
            "uploaded_by": actor,
            "uploaded_at": _now_iso(),
        }
        path = self.uploaded_path(language, prompt_id)
        sidecar = self._sidecar(language, prompt_id)
        with self._lock:
            before = self.uploaded_info(language, prompt_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(f".{path.name}.upload.tmp")
            staged_meta = sidecar.with_name(f".{sidecar.name}.upload.tmp")
            try:
                write_atomic(staged, data)
                write_atomic(staged_meta, json.dumps(meta, indent=1).encode())
                undo = _Snapshot(path, sidecar)
                try:
                    with self._audit(actor, "upload", language, prompt_id, before) as after:
                        os.replace(staged, path)
                        os.replace(staged_meta, sidecar)
                        after.update(meta)
                except BaseException:
                    undo.restore()  # the audit row was not written: neither is the prompt
                    raise
            finally:
                for leftover in (staged, staged_meta):
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
        info = self.uploaded_info(language, prompt_id)
        assert info is not None
        log.info(
            "prompt %s/%s uploaded by %s: %s, %.1f s, %d bytes",
            language,
            prompt_id,
            actor,
            wav.format,
            wav.seconds,
            len(data),
        )
        return info

    def delete(self, actor: str, language: str, prompt_id: str) -> PromptInfo | None:
        """Remove an upload (the shipped prompt, if any, plays again), audited.

        Returns the prompt now in effect (the shipped one or None); raises
        :class:`PromptNotFound` when nothing was uploaded."""
        check_name(language, prompt_id)
        path = self.uploaded_path(language, prompt_id)
        with self._lock:
            before = self.uploaded_info(language, prompt_id)
            if before is None:
                raise PromptNotFound(language, prompt_id, "uploaded prompt")
            undo = _Snapshot(path, self._sidecar(language, prompt_id))
            try:
                with self._audit(actor, "delete", language, prompt_id, before) as after:
                    path.unlink(missing_ok=True)
                    self._sidecar(language, prompt_id).unlink(missing_ok=True)
                    shipped = self.shipped_info(language, prompt_id)
                    after["now"] = "shipped" if shipped is not None else "none"
            except BaseException:
                undo.restore()
                raise
        log.info("prompt %s/%s: upload deleted by %s", language, prompt_id, actor)
        return self.shipped_info(language, prompt_id)

    @contextlib.contextmanager
    def _audit(
        self, actor: str, action: str, language: str, prompt_id: str, before: PromptInfo | None
    ) -> Any:
        old = _audit_view(before)
        if self.sessions is None:
            after: dict[str, Any] = {}
            yield after
            return
        with audited(
            self.sessions,
            actor=actor,
            action=action,
            entity="prompt",
            entity_id=f"{language}/{prompt_id}",
            before=old,
        ) as (_session, after):
            yield after


class _Snapshot:
    """The files of one prompt as they were, to put back when a change is not audited."""

    def __init__(self, *paths: Path) -> None:
        self._saved: list[tuple[Path, bytes | None]] = []
        for path in paths:
            try:
                self._saved.append((path, path.read_bytes()))
            except FileNotFoundError:
                self._saved.append((path, None))

    def restore(self) -> None:
        for path, data in self._saved:
            try:
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomic(path, data)
            except OSError as exc:
                log.error("prompt file %s not restored: %s", path, exc)


def _audit_view(info: PromptInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    view = asdict(info)
    for key in ("language", "prompt_id", "source", "overrides_shipped"):
        view.pop(key, None)
    return view
