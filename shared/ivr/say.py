"""Reading numbers, money amounts and digit strings out as prompt sequences.

Prompt ids are shared by both languages (``num_3`` is "three" in English and
"三" in Chinese); each language uses the subset its grammar needs:

* English: ``num_0`` … ``num_19``, ``num_20`` … ``num_90``, ``num_hundred``,
  ``num_thousand``, ``num_million``, ``num_billion``, ``num_point``,
  ``num_minus``, ``num_and``; money: ``cur_yuan``, ``cur_cent``, ``cur_cents``.
  1234.5 → one thousand two hundred thirty four point five.
* Chinese: ``num_0`` … ``num_9`` (零…九), ``num_10`` (十), ``num_hundred`` (百),
  ``num_thousand`` (千), ``num_wan`` (万), ``num_yi`` (亿), ``num_liang`` (两),
  ``num_point`` (点), ``num_minus`` (负); money: ``cur_yuan`` (元), ``cur_jiao``
  (角), ``cur_fen`` (分); digit strings read 1 as ``num_yao`` (幺) as on the phone.
  1234.5 → 一千二百三十四点五; 123.40 (amount) → 一百二十三元四角;
  10.05 (amount) → 十元零五分; 20000 → 两万.

Integers up to 999,999,999,999 are read as numbers; longer values are read digit
by digit. Amounts are rounded half-up to the cent (分).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from shared.ivr.model import Language, SayFormat

LIMIT = 10**12
"""Integer parts at or above this are read digit by digit."""

NUMBER_PROMPTS: dict[str, dict[Language, str]] = {
    **{
        f"num_{n}": {"en": en, "zh": zh}
        for n, (en, zh) in enumerate(
            [
                ("zero", "零"),
                ("one", "一"),
                ("two", "二"),
                ("three", "三"),
                ("four", "四"),
                ("five", "五"),
                ("six", "六"),
                ("seven", "七"),
                ("eight", "八"),
                ("nine", "九"),
                ("ten", "十"),
                ("eleven", "十一"),
                ("twelve", "十二"),
                ("thirteen", "十三"),
                ("fourteen", "十四"),
                ("fifteen", "十五"),
                ("sixteen", "十六"),
                ("seventeen", "十七"),
                ("eighteen", "十八"),
                ("nineteen", "十九"),
            ]
        )
    },
    **{
        f"num_{n * 10}": {"en": en, "zh": zh}
        for n, (en, zh) in enumerate(
            [
                ("twenty", "二十"),
                ("thirty", "三十"),
                ("forty", "四十"),
                ("fifty", "五十"),
                ("sixty", "六十"),
                ("seventy", "七十"),
                ("eighty", "八十"),
                ("ninety", "九十"),
            ],
            start=2,
        )
    },
    "num_hundred": {"en": "hundred", "zh": "百"},
    "num_thousand": {"en": "thousand", "zh": "千"},
    "num_million": {"en": "million", "zh": "百万"},
    "num_billion": {"en": "billion", "zh": "十亿"},
    "num_wan": {"en": "ten thousand", "zh": "万"},
    "num_yi": {"en": "hundred million", "zh": "亿"},
    "num_liang": {"en": "two", "zh": "两"},
    "num_yao": {"en": "one", "zh": "幺"},
    "num_point": {"en": "point", "zh": "点"},
    "num_minus": {"en": "minus", "zh": "负"},
    "num_and": {"en": "and", "zh": "和"},
    "cur_yuan": {"en": "yuan", "zh": "元"},
    "cur_jiao": {"en": "jiao", "zh": "角"},
    "cur_fen": {"en": "fen", "zh": "分"},
    "cur_cent": {"en": "cent", "zh": "分"},
    "cur_cents": {"en": "cents", "zh": "分"},
}
"""Every prompt a read-out can use, with its text per language (for the prompt generator)."""


class UnreadableValue(ValueError):
    """The value is not a number (or not digits, for the ``digits`` format)."""


def _parse(value: str) -> Decimal:
    text = value.strip().replace(",", "")
    if not text or len(text) > 40:
        raise UnreadableValue(f"not a number: {value!r}")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise UnreadableValue(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise UnreadableValue(f"not a number: {value!r}")
    if number and not -20 <= number.adjusted() < 32:
        raise UnreadableValue(f"too large or too small to read out: {value!r}")
    return number


def _digit(ch: str, language: Language) -> str:
    if language == "zh" and ch == "1":
        return "num_yao"
    return f"num_{ch}"


def digits(value: str, language: Language) -> list[str]:
    """Read a digit string (account, phone number) key by key; other characters are skipped."""
    result = [_digit(ch, language) for ch in value if ch in "0123456789"]
    if not result:
        raise UnreadableValue(f"no digits in {value!r}")
    return result


# --- English --------------------------------------------------------------------


def _en_below_thousand(n: int) -> list[str]:
    out: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        out += [f"num_{hundreds}", "num_hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        out.append(f"num_{tens * 10}")
        if ones:
            out.append(f"num_{ones}")
    elif rest:
        out.append(f"num_{rest}")
    return out


def _en_integer(n: int) -> list[str]:
    if n == 0:
        return ["num_0"]
    out: list[str] = []
    for scale, word in ((10**9, "num_billion"), (10**6, "num_million"), (10**3, "num_thousand")):
        part, n = divmod(n, scale)
        if part:
            out += [*_en_below_thousand(part), word]
    return out + _en_below_thousand(n)


# --- Chinese --------------------------------------------------------------------


def _zh_section(n: int, *, leading: bool) -> list[str]:
    """0 < n < 10000, read with 千百十; ``leading`` marks the first section spoken."""
    out: list[str] = []
    pending_zero = False
    for unit_value, unit in ((1000, "num_thousand"), (100, "num_hundred"), (10, "num_10")):
        d = (n // unit_value) % 10
        if d == 0:
            if out:
                pending_zero = True
            continue
        if pending_zero:
            out.append("num_0")
            pending_zero = False
        if unit == "num_10" and d == 1 and leading and not out:
            out.append("num_10")  # 十二, not 一十二, at the very start
            continue
        if d == 2 and leading and not out and unit != "num_10":
            out += ["num_liang", unit]  # 两百, 两千 at the start
            continue
        out += [f"num_{d}", unit]
    ones = n % 10
    if ones:
        if pending_zero:
            out.append("num_0")
        out.append(f"num_{ones}")
    return out


def _zh_integer(n: int) -> list[str]:
    if n == 0:
        return ["num_0"]
    sections: list[int] = []
    while n:
        n, section = divmod(n, 10_000)
        sections.append(section)
    units = ["", "num_wan", "num_yi"]
    out: list[str] = []
    need_zero = False
    for index in range(len(sections) - 1, -1, -1):
        section = sections[index]
        if section == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or section < 1000):
            out.append("num_0")
        need_zero = False
        out += _zh_section(section, leading=not out)
        if units[index]:
            out.append(units[index])
    if sections[-1] == 2 and len(sections) > 1:
        out[0] = "num_liang"  # 两万, 两亿
    return out


# --- public ---------------------------------------------------------------------


def _integer(n: int, language: Language) -> list[str]:
    return _zh_integer(n) if language == "zh" else _en_integer(n)


def number(value: str, language: Language) -> list[str]:
    """Read a (possibly signed, possibly fractional) number; fraction digits one by one."""
    parsed = _parse(value)
    whole, _, fraction = format(abs(parsed), "f").partition(".")
    out = ["num_minus"] if parsed < 0 else []
    if int(whole) >= LIMIT:
        out += [f"num_{ch}" for ch in whole]
    else:
        out += _integer(int(whole), language)
    if fraction:
        out.append("num_point")
        out += [f"num_{ch}" for ch in fraction]
    return out


def amount(value: str, language: Language) -> list[str]:
    """Read a money amount in yuan, rounded half-up to the fen."""
    parsed = _parse(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    out = ["num_minus"] if parsed < 0 else []
    cents_total = int(abs(parsed) * 100)
    whole, cents = divmod(cents_total, 100)
    if whole >= LIMIT:
        return out + [f"num_{ch}" for ch in str(whole)] + ["cur_yuan"]
    if language == "zh":
        jiao, fen = divmod(cents, 10)
        if whole:
            out += [*_zh_integer(whole), "cur_yuan"]
        if jiao:
            out += [f"num_{jiao}", "cur_jiao"]
        if fen:
            if whole and not jiao:
                out.append("num_0")  # 十元零五分
            out += [f"num_{fen}", "cur_fen"]
        if not whole and not cents:
            out += ["num_0", "cur_yuan"]
        return out
    if whole or not cents:
        out += [*_en_integer(whole), "cur_yuan"]
    if cents:
        if whole:
            out.append("num_and")
        out += [*_en_integer(cents), "cur_cent" if cents == 1 else "cur_cents"]
    return out


def say(value: str, fmt: SayFormat, language: Language) -> list[str]:
    """The prompt ids that read ``value`` in ``fmt``; raises :class:`UnreadableValue`."""
    if fmt == "digits":
        return digits(value, language)
    if fmt == "amount":
        return amount(value, language)
    return number(value, language)


def prompts_for(language: Language) -> frozenset[str]:
    """Every prompt id a read-out in ``language`` may produce."""
    if language == "zh":
        ids = {f"num_{n}" for n in range(11)} | {
            "num_hundred",
            "num_thousand",
            "num_wan",
            "num_yi",
            "num_liang",
            "num_yao",
            "num_point",
            "num_minus",
            "cur_yuan",
            "cur_jiao",
            "cur_fen",
        }
    else:
        ids = {f"num_{n}" for n in range(20)} | {f"num_{n * 10}" for n in range(2, 10)}
        ids |= {
            "num_hundred",
            "num_thousand",
            "num_million",
            "num_billion",
            "num_point",
            "num_minus",
            "num_and",
            "cur_yuan",
            "cur_cent",
            "cur_cents",
        }
    return frozenset(ids)
