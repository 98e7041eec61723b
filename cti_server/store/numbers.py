"""Caller-number normalisation (R-TIER-2: tier identified from the caller number).

Every number stored in ``customer_numbers`` and every number looked up goes
through :func:`normalise`, so ``"+86 138-0013-8000"``, ``"008613800138000"``
and ``"13800138000"`` are the same key. Rules, in order:

1. Unicode NFKC (full-width digits and ``＋`` become ASCII), a leading
   ``tel:`` is dropped and ``sip:user@host`` keeps ``user``.
2. Spaces (incl. no-break and ideographic), ``-``, ``.``, ``/``, ``(`` and
   ``)`` are removed. What is left must be digits with at most one leading
   ``+``; anything else (letters, ``*``, ``#``, "anonymous") is rejected.
3. ``00`` (international access prefix) becomes ``+``.
4. International numbers with country code 86 become Chinese national form:
   mobiles (``1[3-9]`` + 9 digits) and ``400``/``800`` numbers are kept as
   they are, other numbers are landlines and get the trunk prefix ``0``
   (``+86 10 1234 5678`` -> ``01012345678``); a redundant ``(0)`` after
   ``+86`` is tolerated (``+86 (0)10 …`` -> ``010…``).
5. 13-digit ``861[3-9]…`` without ``+`` (as some switches send it) is a
   Chinese mobile in international form and loses the ``86``.
6. Other international numbers stay ``+CC…`` (7..15 digits, E.164); national
   numbers are kept as dialled (3..16 digits, so service codes like ``95555``
   work). Local numbers without an area code are not expanded: import them
   the way the switch presents them.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidNumber

_SEPARATORS = re.compile(r"[\s\u00a0\u3000\-./()]+")
_SHAPE = re.compile(r"\+?\d+")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_CN_NON_GEOGRAPHIC = re.compile(r"[48]00\d{7}")

CHINA_COUNTRY_CODE = "86"
MIN_NATIONAL_DIGITS = 3
MAX_NATIONAL_DIGITS = 16
MIN_INTERNATIONAL_DIGITS = 7
MAX_INTERNATIONAL_DIGITS = 15  # E.164


def _china_national(digits: str, raw: object) -> str:
    """National form of the digits that followed ``+86``."""
    if not digits:
        raise InvalidNumber(raw, "nothing after the country code +86")
    keep = (
        digits.startswith("0")  # "+86 (0)10 ..." already has the trunk prefix
        or _CN_MOBILE.fullmatch(digits)
        or _CN_NON_GEOGRAPHIC.fullmatch(digits)
    )
    national = digits if keep else "0" + digits
    if not MIN_NATIONAL_DIGITS + 1 <= len(national) <= 12:
        raise InvalidNumber(raw, f"{len(national)} digits is not a Chinese number")
    return national


def normalise(raw: str) -> str:
    """The canonical form of a caller number; raises :class:`InvalidNumber`."""
    if not isinstance(raw, str):
        raise InvalidNumber(raw, f"expected text, got {type(raw).__name__}")
    text = unicodedata.normalize("NFKC", raw).strip()
    lowered = text.lower()
    if lowered.startswith("tel:"):
        text = text[4:]
    elif lowered.startswith(("sip:", "sips:")):
        text = text.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
    text = _SEPARATORS.sub("", text)
    if not text:
        raise InvalidNumber(raw, "empty")
    if not _SHAPE.fullmatch(text):
        raise InvalidNumber(raw, "only digits, an optional leading + and separators are allowed")
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if digits.startswith("0"):
            raise InvalidNumber(raw, "a country code cannot start with 0")
        if digits.startswith(CHINA_COUNTRY_CODE):
            return _china_national(digits[len(CHINA_COUNTRY_CODE) :], raw)
        if not MIN_INTERNATIONAL_DIGITS <= len(digits) <= MAX_INTERNATIONAL_DIGITS:
            raise InvalidNumber(
                raw,
                f"international numbers have {MIN_INTERNATIONAL_DIGITS}.."
                f"{MAX_INTERNATIONAL_DIGITS} digits, got {len(digits)}",
            )
        return text
    if len(text) == 13 and text.startswith(CHINA_COUNTRY_CODE) and _CN_MOBILE.fullmatch(text[2:]):
        return text[2:]
    if not MIN_NATIONAL_DIGITS <= len(text) <= MAX_NATIONAL_DIGITS:
        raise InvalidNumber(
            raw,
            f"national numbers have {MIN_NATIONAL_DIGITS}..{MAX_NATIONAL_DIGITS} digits, "
            f"got {len(text)}",
        )
    return text


def try_normalise(raw: str) -> str | None:
    """:func:`normalise`, or ``None`` for an invalid number (anonymous callers...)."""
    try:
        return normalise(raw)
    except InvalidNumber:
        return None
