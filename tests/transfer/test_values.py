"""Reading cell values: what is accepted (and as what), and what is refused with which advice."""

import datetime
import itertools
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import translation

from crm.lib.spreadsheet import safe_cell
from crm.transfer.values import (
    BadValue,
    clean_text,
    parse_bool,
    parse_currency,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    reject_formula,
    unescape_formula,
)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _refused(function, *args, **kwargs) -> str:
    with pytest.raises(BadValue) as caught:
        function(*args, **kwargs)
    assert caught.value.message == str(caught.value)
    return caught.value.message


# --- Formulas --------------------------------------------------------------------------------


def _strings() -> list[str]:
    """Every string up to four characters over an alphabet of formula starts, apostrophes,
    spaces, letters and digits: all the ways a cell can begin."""
    alphabet = "'=+-@\t\ra1 "
    return [
        "".join(chars) for size in range(5) for chars in itertools.product(alphabet, repeat=size)
    ]


def test_unescape_formula_inverts_safe_cell_for_every_short_string():
    for text in _strings():
        assert unescape_formula(safe_cell(text)) == text, repr(text)


@pytest.mark.parametrize(
    "text",
    ["=SUM(A1:A2)", "'=SUM(A1:A2)", "''=x", "'", "''", "'quoted'", "-12.5", "@home", "\tx", "王'"],
)
def test_unescape_formula_inverts_safe_cell(text):
    assert unescape_formula(safe_cell(text)) == text


def test_safe_cell_output_never_starts_like_a_formula():
    for text in _strings():
        assert not safe_cell(text).startswith(("=", "+", "-", "@", "\t", "\r")), repr(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'=1+1", "=1+1"),
        ("'-5", "-5"),
        ("''=x", "'=x"),
        ("'abc", "'abc"),  # not something our exports escape: kept as typed
        ("'", "'"),
        ("abc", "abc"),
        ("", ""),
    ],
)
def test_unescape_formula(text, expected):
    assert unescape_formula(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "张三",
        "-12.5",
        "+12",
        "-0.5",
        "+86 139 0000 1111",
        "+86-139-0000-1111",
        "+1 (555) 123-4567",
        "-",
        "--",
        " - ",
        "'=cmd",  # escaped: stays text
        "a=b",
        "email@example.com",
    ],
)
def test_reject_formula_lets_text_numbers_and_phones_through(text):
    reject_formula(text)


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        '=HYPERLINK("http://evil","click")',
        "=cmd|' /C calc'!A0",
        "+SUM(A1)",
        "-2+3",
        "-1+cmd|' /C calc'!A0",
        "@SUM(1)",
        "@home",
        " =1+1",
        "+86 139 0000 1111 =A1",
        "-abc",
    ],
)
def test_reject_formula_refuses_formulas(text):
    message = _refused(reject_formula, text)
    assert "formula" in message
    assert "apostrophe" in message


# --- Dates -----------------------------------------------------------------------------------

MARCH_5 = datetime.date(2024, 3, 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", MARCH_5),
        ("2024-3-5", MARCH_5),
        ("2024/3/5", MARCH_5),
        ("2024/03/05", MARCH_5),
        ("2024.3.5", MARCH_5),
        ("20240305", MARCH_5),
        ("2024年3月5日", MARCH_5),
        ("2024 年 3 月 5 日", MARCH_5),
        ("2024年03月05号", MARCH_5),
        ("２０２４－０３－０５", MARCH_5),  # full-width
        ("05.03.2024", MARCH_5),  # day first with dots
        ("5.3.2024", MARCH_5),
        ("2024-03-05 10:30", MARCH_5),
        ("2024-03-05 10:30:00", MARCH_5),
        ("2024-03-05T10:30:00Z", MARCH_5),
        ("2024/3/5 23:59:59.999", MARCH_5),
        ("  2024-03-05  ", MARCH_5),
        ("25/03/2024", datetime.date(2024, 3, 25)),  # day first: 25 is no month
        ("03/25/2024", datetime.date(2024, 3, 25)),  # month first
        ("05/05/2024", datetime.date(2024, 5, 5)),  # the same either way
        ("45356", MARCH_5),  # Excel serial number
        ("45356.0", MARCH_5),
        ("45356.4375", MARCH_5),  # serial with a time
        ("1", datetime.date(1900, 1, 1)),
        ("59", datetime.date(1900, 2, 28)),
        ("61", datetime.date(1900, 3, 1)),
        ("2958465", datetime.date(9999, 12, 31)),
        ("2024-02-29", datetime.date(2024, 2, 29)),
        ("2000-02-29", datetime.date(2000, 2, 29)),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("yesterday", "2024-03-05"),
        ("2024-13-01", "not a date that exists"),
        ("2024-04-31", "not a date that exists"),
        ("2023-02-29", "not a leap year"),
        ("1900-02-29", "not a leap year"),
        ("2100-02-29", "not a leap year"),
        ("03/05/2024", "2024-03-05 or 2024-05-03"),
        ("1/2/2024", "2024-01-02 or 2024-02-01"),
        ("13/13/2024", "not a date"),
        ("00/05/2024", "not a date"),
        ("5/0/2024", "not a date"),
        ("60", "29 February 1900"),
        ("0", "not a date"),
        ("2958466", "not a date"),
        ("1985", "year on its own"),
        ("2024", "year on its own"),
        ("2024-03", "not a date"),
        ("24/3/5", "not a date"),
        ("2024-03-05 25:00", "time that does not exist"),
        ("2024-03-05 10:75", "time that does not exist"),
        ("2024-03/05", "not a date"),
        ("-45356", "not a date"),
    ],
)
def test_parse_date_refuses(text, says):
    assert says in _refused(parse_date, text)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2024-03-05", SHANGHAI, datetime.datetime(2024, 3, 5, tzinfo=SHANGHAI)),
        ("2024-03-05 10:30", SHANGHAI, datetime.datetime(2024, 3, 5, 10, 30, tzinfo=SHANGHAI)),
        ("2024/3/5 10:30:15", SHANGHAI, datetime.datetime(2024, 3, 5, 10, 30, 15, tzinfo=SHANGHAI)),
        ("2024-03-05T10:30", SHANGHAI, datetime.datetime(2024, 3, 5, 10, 30, tzinfo=SHANGHAI)),
        ("2024年3月5日 8:05", SHANGHAI, datetime.datetime(2024, 3, 5, 8, 5, tzinfo=SHANGHAI)),
        ("05.03.2024 10:30", SHANGHAI, datetime.datetime(2024, 3, 5, 10, 30, tzinfo=SHANGHAI)),
        ("2024/3/5 2:30 PM", SHANGHAI, datetime.datetime(2024, 3, 5, 14, 30, tzinfo=SHANGHAI)),
        ("2024/3/5 12:10 am", SHANGHAI, datetime.datetime(2024, 3, 5, 0, 10, tzinfo=SHANGHAI)),
        ("45356.4375", SHANGHAI, datetime.datetime(2024, 3, 5, 10, 30, tzinfo=SHANGHAI)),
        ("45356", SHANGHAI, datetime.datetime(2024, 3, 5, tzinfo=SHANGHAI)),
        ("20240305", SHANGHAI, datetime.datetime(2024, 3, 5, tzinfo=SHANGHAI)),
        (
            "2024-03-05T10:30:00Z",
            SHANGHAI,
            datetime.datetime(2024, 3, 5, 10, 30, tzinfo=datetime.UTC),
        ),
        (
            "2024-03-05 10:30:00+08:00",
            NEW_YORK,
            datetime.datetime(2024, 3, 5, 2, 30, tzinfo=datetime.UTC),
        ),
        ("2024-07-01 09:00", NEW_YORK, datetime.datetime(2024, 7, 1, 13, 0, tzinfo=datetime.UTC)),
        ("2024-01-01 09:00", NEW_YORK, datetime.datetime(2024, 1, 1, 14, 0, tzinfo=datetime.UTC)),
    ],
)
def test_parse_datetime(text, tz, expected):
    value = parse_datetime(text, tz)
    assert value.tzinfo is not None
    assert value == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("2024-03-05 24:00", "time that does not exist"),
        ("2024-03-05 13:00 PM", "time that does not exist"),
        ("03/05/2024 10:00", "2024-03-05 or 2024-05-03"),
        ("noon", "not a date"),
    ],
)
def test_parse_datetime_refuses(text, says):
    assert says in _refused(parse_datetime, text, SHANGHAI)


# --- Amounts and numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234", Decimal("1234.00")),
        ("1,234.50", Decimal("1234.50")),
        ("1,234,567.5", Decimal("1234567.50")),
        ("¥1,234.5", Decimal("1234.50")),
        ("￥12", Decimal("12.00")),
        ("$3.20", Decimal("3.20")),
        ("US$ 3.20", Decimal("3.20")),
        ("12.5元", Decimal("12.50")),
        ("RMB 88", Decimal("88.00")),
        ("€9.99", Decimal("9.99")),
        ("１２３．４", Decimal("123.40")),  # full-width
        ("-3", Decimal("-3.00")),
        ("−3", Decimal("-3.00")),  # typographic minus
        ("-¥12", Decimal("-12.00")),
        ("¥-12", Decimal("-12.00")),
        ("+5", Decimal("5.00")),
        (".5", Decimal("0.50")),
        ("12.", Decimal("12.00")),
        ("12.500", Decimal("12.50")),  # zeros beyond the places are harmless
        ("0", Decimal("0.00")),
        ("-0", Decimal("0.00")),
        ("  42  ", Decimal("42.00")),
        ("9999999999.99", Decimal("9999999999.99")),
    ],
)
def test_parse_decimal(text, expected):
    value = parse_decimal(text)
    assert value == expected
    assert str(value) == str(expected)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("abc", "not a number"),
        ("12.345", "more than 2 decimal places"),
        ("1.234,5", "1234.5"),
        ("12,5", "12.5"),
        ("1.234.567,89", "1234567.89"),
        ("NaN", "not a number"),
        ("inf", "not a number"),
        ("-Infinity", "not a number"),
        ("1.5E+3", "scientific notation"),
        ("1.39E+10", "scientific notation"),
        ("10000000000", "too large"),
        ("12 34", "not a number"),
        ("1,23,456", "not a number"),
        ("$", "empty"),
        ("--5", "not a number"),
        ("5-", "not a number"),
    ],
)
def test_parse_decimal_refuses(text, says):
    assert says in _refused(parse_decimal, text)


def test_parse_decimal_places_and_digits():
    assert parse_decimal("0.125", places=3) == Decimal("0.125")
    assert parse_decimal("7", places=0) == Decimal("7")
    assert "more than 0 decimal places" in _refused(parse_decimal, "7.5", places=0)
    assert "at most 3 digits" in _refused(parse_decimal, "1000", places=2, max_digits=5)
    assert parse_decimal("999.99", places=2, max_digits=5) == Decimal("999.99")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", 3), ("3.0", 3), ("3.00", 3), ("-7", -7), ("1,200", 1200), ("０", 0), (" 42 ", 42)],
)
def test_parse_int(text, expected):
    assert parse_int(text) == expected


@pytest.mark.parametrize(
    ("text", "kwargs", "says"),
    [
        ("3.5", {}, "not a whole number"),
        ("three", {}, "not a number"),
        ("", {}, "empty"),
        ("1e3", {}, "scientific notation"),
        ("-1", {"minimum": 0}, "least allowed is 0"),
        ("101", {"maximum": 100}, "most allowed is 100"),
        ("9" * 30, {}, "too large"),
    ],
)
def test_parse_int_refuses(text, kwargs, says):
    assert says in _refused(parse_int, text, **kwargs)


def test_parse_int_bounds_are_inclusive():
    assert parse_int("0", minimum=0, maximum=5) == 0
    assert parse_int("5", minimum=0, maximum=5) == 5


# --- Currencies, yes/no, text ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "HKD"),  # the default
        ("  ", "HKD"),
        ("CNY", "CNY"),
        ("cny", "CNY"),
        ("usd", "USD"),
        ("Eur", "EUR"),
        ("CHF", "CHF"),
        ("人民币", "CNY"),
        ("RMB", "CNY"),
        ("rmb", "CNY"),
        ("元", "CNY"),
        ("¥", "CNY"),
        ("￥", "CNY"),
        ("美元", "USD"),
        ("US$", "USD"),
        ("港币", "HKD"),
        ("HK$", "HKD"),
        ("欧元", "EUR"),
        ("€", "EUR"),
        ("日元", "JPY"),
        ("£", "GBP"),
    ],
)
def test_parse_currency(text, expected):
    assert parse_currency(text, "HKD") == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [("$", "USD or HKD"), ("CYN", "3-letter code"), ("dollars", "3-letter code"), ("XX", "CNY")],
)
def test_parse_currency_refuses(text, says):
    assert says in _refused(parse_currency, text, "CNY")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[
            (t, True)
            for t in ["yes", "YES", "Yes", "y", "Y", "true", "TRUE", "1", "1.0", "是", "√"]
        ],
        *[(t, False) for t in ["no", "NO", "n", "N", "false", "FALSE", "0", "0.0", "否", "×"]],
    ],
)
def test_parse_bool(text, expected):
    assert parse_bool(text) is expected


@pytest.mark.parametrize("text", ["", "maybe", "2", "yes please", "有"])
def test_parse_bool_refuses(text):
    assert "yes or no" in _refused(parse_bool, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  张三  ", "张三"),
        ("Cafe\u0301", "Café"),  # decomposed accent composed (NFC)
        ("line one\r\nline two", "line one\nline two"),
        ("a\tb", "a\tb"),
        ("emoji 👍🏽", "emoji 👍🏽"),
        ("", ""),
    ],
)
def test_clean_text(text, expected):
    assert clean_text(text, max_length=50) == expected


@pytest.mark.parametrize("text", ["bell\x07", "esc\x1b[31m", "del\x7f", "c1\x85x", "\udc80"])
def test_clean_text_refuses_control_characters(text):
    assert "control character" in _refused(clean_text, text, max_length=50)


def test_clean_text_refuses_a_null_character_in_the_forms_words():
    assert _refused(clean_text, "a\x00b", max_length=50) == (
        "This text contains a null character (U+0000); remove it."
    )


def test_clean_text_length_counts_characters_after_trimming():
    assert clean_text("  " + "字" * 10 + "  ", max_length=10) == "字" * 10
    assert "Keep it to 10 characters (it has 11)." in _refused(clean_text, "字" * 11, max_length=10)


def test_messages_are_translated():
    with translation.override("zh-hans"):
        message = _refused(parse_bool, "maybe")
    assert "maybe" in message
    assert "yes or no" not in message
