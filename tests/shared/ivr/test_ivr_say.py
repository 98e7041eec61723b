"""Number, amount and digit read-outs as prompt sequences (balance read-out, R-IVR-1)."""

from __future__ import annotations

import pytest

from shared.ivr.say import NUMBER_PROMPTS, UnreadableValue, prompts_for, say


def ids(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1234.5", "num_1 num_thousand num_2 num_hundred num_30 num_4 num_point num_5"),
        ("0", "num_0"),
        ("15", "num_15"),
        ("110", "num_1 num_hundred num_10"),
        ("1005", "num_1 num_thousand num_5"),
        ("100500", "num_1 num_hundred num_thousand num_5 num_hundred"),
        ("2000000", "num_2 num_million"),
        ("-3.25", "num_minus num_3 num_point num_2 num_5"),
        ("1,024", "num_1 num_thousand num_20 num_4"),
    ],
)
def test_english_numbers(value: str, expected: str) -> None:
    assert say(value, "number", "en") == ids(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # 一千二百三十四点五
        ("1234.5", "num_1 num_thousand num_2 num_hundred num_3 num_10 num_4 num_point num_5"),
        ("10", "num_10"),  # 十, not 一十
        ("12", "num_10 num_2"),  # 十二
        ("110", "num_1 num_hundred num_1 num_10"),  # 一百一十
        ("1005", "num_1 num_thousand num_0 num_5"),  # 一千零五
        ("1050", "num_1 num_thousand num_0 num_5 num_10"),  # 一千零五十
        ("200", "num_liang num_hundred"),  # 两百
        ("20", "num_2 num_10"),  # 二十
        ("20000", "num_liang num_wan"),  # 两万
        ("12000", "num_1 num_wan num_2 num_thousand"),  # 一万二千
        ("100500", "num_10 num_wan num_0 num_5 num_hundred"),  # 十万零五百
        ("100000005", "num_1 num_yi num_0 num_5"),  # 一亿零五
        ("100001000", "num_1 num_yi num_0 num_1 num_thousand"),  # 一亿零一千
        ("-0.5", "num_minus num_0 num_point num_5"),
    ],
)
def test_chinese_numbers(value: str, expected: str) -> None:
    assert say(value, "number", "zh") == ids(expected)


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        # 一百二十三元四角
        ("123.4", "zh", "num_1 num_hundred num_2 num_10 num_3 cur_yuan num_4 cur_jiao"),
        (
            "123.45",
            "zh",
            "num_1 num_hundred num_2 num_10 num_3 cur_yuan num_4 cur_jiao num_5 cur_fen",
        ),
        ("10.05", "zh", "num_10 cur_yuan num_0 num_5 cur_fen"),  # 十元零五分
        ("0.5", "zh", "num_5 cur_jiao"),
        ("0", "zh", "num_0 cur_yuan"),
        ("2000.456", "zh", "num_liang num_thousand cur_yuan num_4 cur_jiao num_6 cur_fen"),
        ("-8", "zh", "num_minus num_8 cur_yuan"),
        ("123.4", "en", "num_1 num_hundred num_20 num_3 cur_yuan num_and num_40 cur_cents"),
        ("1.01", "en", "num_1 cur_yuan num_and num_1 cur_cent"),
        ("0.05", "en", "num_5 cur_cents"),
        (
            "1234.5",
            "en",
            "num_1 num_thousand num_2 num_hundred num_30 num_4 cur_yuan num_and num_50 cur_cents",
        ),
    ],
)
def test_amounts(value: str, language: str, expected: str) -> None:
    assert say(value, "amount", language) == ids(expected)  # type: ignore[arg-type]


def test_digits_read_one_as_yao_in_chinese() -> None:
    assert say("13800", "digits", "zh") == ids("num_yao num_3 num_8 num_0 num_0")
    assert say("13800", "digits", "en") == ids("num_1 num_3 num_8 num_0 num_0")


def test_huge_numbers_fall_back_to_digits() -> None:
    assert say("1234567890123", "number", "en") == [f"num_{d}" for d in "1234567890123"]


@pytest.mark.parametrize("value", ["", "abc", "1.2.3", "NaN", "Infinity", "1e999999999"])
def test_unreadable_values_raise_a_typed_error(value: str) -> None:
    with pytest.raises(UnreadableValue):
        say(value, "amount", "zh")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_read_out_prompt_has_text(language: str) -> None:
    for value in ("0", "7", "19", "99", "101", "2222", "10010", "987654321012", "3.14", "-1"):
        for fmt in ("number", "amount", "digits"):
            for pid in say(value, fmt, language):  # type: ignore[arg-type]
                assert pid in prompts_for(language)  # type: ignore[arg-type]
                assert pid in NUMBER_PROMPTS
