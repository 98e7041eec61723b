"""docs/protocol.md documents every message type and every error code."""

from __future__ import annotations

import re
from pathlib import Path

from shared.protocol import MESSAGE_TYPES, ErrorCode

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def test_every_message_type_has_a_row_in_the_message_tables() -> None:
    rows = set(re.findall(r"^\| `([a-z_.]+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    assert set(MESSAGE_TYPES) <= rows, sorted(set(MESSAGE_TYPES) - rows)


def test_every_error_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [code.value for code in ErrorCode if f"`{code.value}`" not in text]
    assert not missing
