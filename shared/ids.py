"""Identifiers.

Call, contact and request ids are time-ordered (ULID layout: 48-bit millisecond
timestamp + 80 random bits, Crockford base32, 26 characters) so they sort by
creation time in databases and logs and can be generated on any node without
coordination.
"""

from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(now_ms: int | None = None) -> str:
    """A new time-ordered id; strictly increasing within this process."""
    global _last_ms, _last_rand
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        if ms <= _last_ms:
            # Same millisecond (or clock stepped back): keep order by bumping the random part.
            ms = _last_ms
            rand = _last_rand + 1
            if rand >= 1 << 80:
                ms += 1
                rand = int.from_bytes(os.urandom(10), "big") >> 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms, _last_rand = ms, rand
    return _encode(ms, 10) + _encode(rand, 16)


def is_id(text: str) -> bool:
    """Whether ``text`` has the shape of an id made by :func:`new_id`."""
    return bool(_ULID_RE.match(text))


def id_time_ms(text: str) -> int:
    """The millisecond timestamp inside an id."""
    if not is_id(text):
        raise ValueError(f"not an id: {text!r}")
    value = 0
    for ch in text[:10]:
        value = value * 32 + _ALPHABET.index(ch)
    return value
