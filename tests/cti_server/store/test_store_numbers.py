"""Caller-number normalisation (R-TIER-2: the caller number identifies the tier)."""

from __future__ import annotations

import pytest

from cti_server.store import InvalidNumber, normalise, try_normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("8613800138000", "13800138000"),  # switches that drop the +
        ("(138) 0013 8000", "13800138000"),
        ("＋８６ １３８００１３８０００", "13800138000"),  # full-width input
        ("+86 10 1234 5678", "01012345678"),
        ("0086-10-12345678", "01012345678"),
        ("+86 (0)10 1234 5678", "01012345678"),
        ("+86 755 8888 9999", "075588889999"),
        ("010-12345678", "01012345678"),
        ("+86 400 123 4567", "4001234567"),
        ("400-123-4567", "4001234567"),
        ("95555", "95555"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("0014155552671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        ("tel:+86-138-0013-8000", "13800138000"),
        ("sip:+8613800138000@gw.example.com;user=phone", "13800138000"),
        ("  13800138000\u3000", "13800138000"),
    ],
)
def test_normalise_maps_equivalent_forms_to_one_key(raw: str, expected: str) -> None:
    """R-TIER-2: every written form of a caller number finds the same customer."""
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "empty"),
        ("  - ", "empty"),
        ("anonymous", "only digits"),
        ("138abc00138000", "only digits"),
        ("13800138000#", "only digits"),
        ("13+800138000", "only digits"),
        ("12", "3..16 digits"),
        ("12345678901234567", "3..16 digits"),
        ("+123", "7..15 digits"),
        ("+1234567890123456", "7..15 digits"),
        ("+0123456789", "country code"),
        ("+86", "nothing after"),
        ("+86 1", "not a Chinese number"),
    ],
)
def test_normalise_rejects_garbage_with_a_typed_error(raw: str, problem: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalise(raw)
    assert problem in info.value.problem
    assert isinstance(info.value, ValueError)
    assert try_normalise(raw) is None


def test_normalise_rejects_non_text() -> None:
    with pytest.raises(InvalidNumber, match="expected text"):
        normalise(13800138000)  # type: ignore[arg-type]
