"""Reading the values of import cells: dates, amounts, numbers, currencies, yes/no and text.

Pure functions from the cell's text (as ``crm.transfer.reading`` yields it) to a Python value, or
``BadValue`` whose message says, in words a store manager understands, what is wrong and how to
write the value instead. They accept what people and spreadsheets commonly write (Chinese dates
and currency names, full-width digits, thousands separators, Excel serial dates) and refuse
what is ambiguous rather than guess: 03/05/2024 could be March or May, "$" could be US or Hong
Kong dollars, "1.234,5" could be a thousand or one.

Phones and emails are normalised by ``crm.lib.contacts``, not here.
"""

import datetime
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext as _

from crm.lib import validation_messages
from crm.lib.spreadsheet import FORMULA_STARTS


class BadValue(ValueError):
    """A cell that cannot be read; ``message`` says why and how to write it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _shown(text: str) -> str:
    """The value as quoted in a message: shortened, so a pasted paragraph stays readable."""
    text = text.strip()
    return text if len(text) <= 40 else text[:39] + "…"


def _normal(text: str) -> str:
    """Full-width digits, letters and punctuation as their ordinary forms (NFKC), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


# --- Formulas ----------------------------------------------------------------------------------


def unescape_formula(text: str) -> str:
    """Undo ``crm.lib.spreadsheet.safe_cell``: drop the one apostrophe our exports put before a
    cell that would start like a formula, so exporting and importing again changes nothing."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS):
        return text[1:]
    return text


# A number or a phone written with a sign ("-12.5", "+86 139 0000 1111", "+1 (555) 123-4567"):
# digits and separators only, nothing a spreadsheet could call or refer to.
_SIGNED_NUMBER = re.compile(r"[+-][\d\s().,/-]*\d[\d\s().,/-]*")
_DASHES = re.compile(r"-+")


def reject_formula(text: str) -> None:
    """Refuse a cell that a spreadsheet would run as a formula when the record is exported and
    opened again: imports never store formulas. Call it on the cell as read, before
    ``unescape_formula``: a cell our export escaped starts with an apostrophe and passes."""
    stripped = text.strip()
    if not stripped.startswith(("=", "+", "-", "@")):
        return
    if _SIGNED_NUMBER.fullmatch(stripped) or _DASHES.fullmatch(stripped):
        return
    raise BadValue(
        _(
            "“%(value)s” starts with “%(sign)s”, so a spreadsheet would run it as a formula."
            " We do not import formulas: type the value itself, or put an apostrophe (') in"
            " front to keep it as text."
        )
        % {"value": _shown(stripped), "sign": stripped[0]}
    )


# --- Dates -------------------------------------------------------------------------------------

_TIME = r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?\s*([AaPp][Mm])?)?"
_ZONE = r"\s*(Z|[+-]\d{2}:?\d{2})?"
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME + _ZONE)
_CHINESE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?" + _TIME + _ZONE)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})" + _TIME + _ZONE)
_DOTS_DAY_FIRST = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})" + _TIME + _ZONE)
_YEAR_LAST = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{4})" + _TIME + _ZONE)
_SERIAL = re.compile(r"(\d{1,7})(?:\.(\d+))?")
_EXCEL_MAX_SERIAL = 2_958_465  # 9999-12-31
_EXCEL_EPOCH = datetime.date(1899, 12, 30)


def _date_help() -> str:
    return validation_messages.date_help()


def _not_a_date(text: str) -> BadValue:
    return BadValue(validation_messages.not_a_date(_shown(text)))


def _make_date(text: str, year: int, month: int, day: int) -> datetime.date:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        if month == 2 and day == 29 and 1 <= year <= 9999:
            raise BadValue(
                _("%(year)s is not a leap year, so it has no 29 February.") % {"year": year}
            ) from None
        raise BadValue(
            _("“%(value)s” is not a date that exists. %(help)s")
            % {"value": _shown(text), "help": _date_help()}
        ) from None


def _serial_parts(text: str, whole: str, fraction: str | None) -> tuple[datetime.date, float]:
    """An Excel serial number as its date and the fraction of the day after it."""
    serial = int(whole)
    if 1900 <= serial <= 2100 and not fraction:
        # A year on its own would be serial day 1900-ish: 1905 for "1985". Nobody means that.
        raise BadValue(
            _("“%(value)s” looks like a year on its own. Write the whole date, such as 2024-03-05.")
            % {"value": _shown(text)}
        )
    if not 1 <= serial <= _EXCEL_MAX_SERIAL:
        raise _not_a_date(text)
    if serial == 60:
        raise BadValue(
            _(
                "Excel date number 60 is 29 February 1900, a day that did not exist (an old"
                " Excel mistake). %(help)s"
            )
            % {"help": _date_help()}
        )
    # Excel counts 1900-01-01 as day 1 and wrongly includes 1900-02-29 (day 60): days before
    # it count from 1899-12-31, later ones from 1899-12-30.
    if serial < 60:
        day = datetime.date(1899, 12, 31) + datetime.timedelta(days=serial)
    else:
        day = _EXCEL_EPOCH + datetime.timedelta(days=serial)
    return day, float("0." + fraction) if fraction else 0.0


_Parsed = tuple[datetime.date, tuple[str | None, ...]]


def _parse_day(text: str) -> _Parsed:
    """The date and the time groups (hour, minute, second, fraction, am/pm, zone) of ``text``."""
    if match := _YEAR_FIRST.fullmatch(text):
        year, _sep, month, day = match.groups()[:4]
        return _make_date(text, int(year), int(month), int(day)), match.groups()[4:]
    if match := _CHINESE.fullmatch(text):
        year, month, day = match.groups()[:3]
        return _make_date(text, int(year), int(month), int(day)), match.groups()[3:]
    if match := _COMPACT.fullmatch(text):
        year, month, day = match.groups()[:3]
        return _make_date(text, int(year), int(month), int(day)), match.groups()[3:]
    if match := _DOTS_DAY_FIRST.fullmatch(text):
        day, month, year = match.groups()[:3]
        return _make_date(text, int(year), int(month), int(day)), match.groups()[3:]
    if match := _YEAR_LAST.fullmatch(text):
        first, _sep, second, year = match.groups()[:4]
        a, b = int(first), int(second)
        if not a or not b or (a > 12 and b > 12):
            raise _not_a_date(text)
        if a > 12 and b <= 12:
            month, day = b, a  # 25/03/2024: day first
        elif (b > 12 and a <= 12) or a == b:
            month, day = a, b  # 03/25/2024: month first; 03/03/2024 either way
        else:
            raise BadValue(
                _(
                    "“%(value)s” could be %(one)s or %(other)s. Write dates with the year"
                    " first, as %(one)s."
                )
                % {
                    "value": _shown(text),
                    "one": f"{year}-{a:02d}-{b:02d}",
                    "other": f"{year}-{b:02d}-{a:02d}",
                }
            )
        return _make_date(text, int(year), month, day), match.groups()[4:]
    raise _not_a_date(text)


def parse_date(text: str) -> datetime.date:
    """A calendar date from the ways people and spreadsheets write one (any time is ignored):
    2024-03-05, 2024/3/5, 2024.3.5, 20240305, 2024年3月5日, 05.03.2024 (day first), 03/05/2024
    only when unambiguous, and Excel serial numbers (45356)."""
    value = _normal(text)
    if not value:
        raise BadValue(_("The date is empty. %(help)s") % {"help": _date_help()})
    if match := _SERIAL.fullmatch(value):
        if len(match.group(1)) == 8 and not match.group(2):
            return _parse_day(value)[0]  # 20240305
        return _serial_parts(value, match.group(1), match.group(2))[0]
    day, times = _parse_day(value)
    if times[0] is not None:
        _time_of(value, times)  # a time that cannot be is a sign of a wrong column
    return day


def _time_of(text: str, groups: tuple[str | None, ...]) -> tuple[datetime.time, str | None]:
    hour_text, minute_text, second_text, fraction_text, meridiem, zone = groups
    if hour_text is None:
        return datetime.time(0, 0), zone
    hour, minute = int(hour_text), int(minute_text or 0)
    second = int(second_text or 0)
    micro = int((fraction_text or "0").ljust(6, "0"))
    if meridiem:
        if not 1 <= hour <= 12:
            raise _bad_time(text)
        hour = hour % 12 + (12 if meridiem.lower() == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise _bad_time(text)
    return datetime.time(hour, minute, second, micro), zone


def _bad_time(text: str) -> BadValue:
    return BadValue(
        _("“%(value)s” has a time that does not exist. Write it as 2024-03-05 14:30.")
        % {"value": _shown(text)}
    )


def _zone_of(zone: str) -> datetime.tzinfo:
    if zone == "Z":
        return datetime.UTC
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return datetime.timezone(sign * offset)


def parse_datetime(text: str, tz: datetime.tzinfo) -> datetime.datetime:
    """An aware date and time: the forms of ``parse_date`` with an optional time (14:30,
    14:30:15, 2:30 PM) and an optional offset (Z, +08:00); a date alone means midnight. Without
    an offset the time is in ``tz`` (the tenant's time zone)."""
    value = _normal(text)
    if not value:
        raise BadValue(_("The date is empty. %(help)s") % {"help": _date_help()})
    if match := _SERIAL.fullmatch(value):
        if len(match.group(1)) == 8 and not match.group(2):
            day, groups = _parse_day(value)
        else:
            day, fraction = _serial_parts(value, match.group(1), match.group(2))
            seconds = round(fraction * 86400)  # Excel's binary fractions: to the second
            moment = datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(
                seconds=seconds
            )
            return timezone.make_aware(moment, tz)
    else:
        day, groups = _parse_day(value)
    time_of_day, zone = _time_of(value, groups)
    moment = datetime.datetime.combine(day, time_of_day)
    if zone:
        return moment.replace(tzinfo=_zone_of(zone))
    return timezone.make_aware(moment, tz)


# --- Numbers -----------------------------------------------------------------------------------

_CURRENCY_AFFIXES = re.compile(
    r"^(?:RMB|CNY|US\$|HK\$|[¥$€£])\s*|\s*(?:元|RMB|CNY|[¥$€£])$", re.IGNORECASE
)
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_EUROPEAN = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})*,\d+|[+-]?\d+,\d{1,2}")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")


def _number_text(text: str) -> str:
    """The cell as plain digits with an optional sign and decimal point, or BadValue."""
    value = _normal(text).replace("\u2212", "-")  # the typographic minus sign
    sign = ""
    for _round in range(3):  # "-¥12", "¥-12", "US$ 3.20", "12.5元"
        if value[:1] in ("+", "-") and not sign:
            sign, value = value[0], value[1:].strip()
        stripped = _CURRENCY_AFFIXES.sub("", value, count=1).strip()
        if stripped == value:
            break
        value = stripped
    value = sign + value
    if _PLAIN.fullmatch(value):
        return value
    if _GROUPED.fullmatch(value):
        return value.replace(",", "")
    if not value:
        raise BadValue(_("The number is empty."))
    if _EUROPEAN.fullmatch(value):
        written = value.replace(".", "").replace(",", ".")
        raise BadValue(
            _(
                "“%(value)s” uses a comma for decimals. Write it with a point and no thousands"
                " separator: %(example)s."
            )
            % {"value": _shown(text), "example": written}
        )
    if _SCIENTIFIC.fullmatch(value):
        raise BadValue(
            _(
                "“%(value)s” is in scientific notation, which Excel uses when a column is too"
                " narrow and which may have lost digits. Write the number out in full."
            )
            % {"value": _shown(text)}
        )
    raise BadValue(_("“%(value)s” is not a number.") % {"value": _shown(text)})


def parse_decimal(text: str, *, places: int = 2, max_digits: int = 12) -> Decimal:
    """An amount such as 1234, 1,234.50, ¥1,234.5, ￥12, $3.20, 12.5元 or -3, with at most
    ``places`` decimal places (trailing zeros beyond them are fine) and ``max_digits`` digits."""
    number = _number_text(text)
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise BadValue(_("“%(value)s” is not a number.") % {"value": _shown(text)}) from None
    if not value.is_finite():
        raise BadValue(_("“%(value)s” is not a number.") % {"value": _shown(text)})
    if value and value.adjusted() >= max_digits - places:
        raise BadValue(
            _("“%(value)s” is too large: at most %(digits)s digits before the decimal point.")
            % {"value": _shown(text), "digits": max_digits - places}
        )
    rounded = value.quantize(Decimal(1).scaleb(-places))
    if rounded != value:
        raise BadValue(
            _("“%(value)s” has more than %(places)s decimal places.")
            % {"value": _shown(text), "places": places}
        )
    return rounded if rounded else abs(rounded)  # never "-0.00"


def parse_int(text: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number ("3", "3.0", "1,200"), within ``minimum`` and ``maximum`` when given."""
    number = _number_text(text)
    whole, _point, fraction = number.partition(".")
    if fraction.strip("0"):
        raise BadValue(_("“%(value)s” is not a whole number.") % {"value": _shown(text)})
    if len(whole.lstrip("+-")) > 18:
        raise BadValue(_("“%(value)s” is too large.") % {"value": _shown(text)})
    value = int(whole or "0") if whole not in ("+", "-") else 0
    if minimum is not None and value < minimum:
        raise BadValue(
            _("%(value)s is too small: the least allowed is %(minimum)s.")
            % {"value": value, "minimum": minimum}
        )
    if maximum is not None and value > maximum:
        raise BadValue(
            _("%(value)s is too large: the most allowed is %(maximum)s.")
            % {"value": value, "maximum": maximum}
        )
    return value


# --- Currencies --------------------------------------------------------------------------------

# ISO 4217 codes in use (2024), so a typo such as "CYN" is caught rather than stored.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR
    ZMW ZWL
    """.split()  # noqa: SIM905
)

CURRENCY_NAMES = {
    "人民币": "CNY",
    "rmb": "CNY",
    "元": "CNY",
    "¥": "CNY",
    "cn¥": "CNY",
    "美元": "USD",
    "美金": "USD",
    "us$": "USD",
    "港币": "HKD",
    "港元": "HKD",
    "hk$": "HKD",
    "欧元": "EUR",
    "€": "EUR",
    "日元": "JPY",
    "円": "JPY",
    "英镑": "GBP",
    "£": "GBP",
    "新台币": "TWD",
    "台币": "TWD",
    "nt$": "TWD",
    "澳门元": "MOP",
    "澳门币": "MOP",
    "新加坡元": "SGD",
    "s$": "SGD",
    "澳元": "AUD",
    "a$": "AUD",
    "加元": "CAD",
    "c$": "CAD",
    "韩元": "KRW",
    "₩": "KRW",
}


def parse_currency(text: str, default: str) -> str:
    """An ISO 4217 code from a code in any case or a common name or symbol; ``default`` (the
    tenant's currency) when the cell is empty. "$" alone is refused: it is several currencies."""
    value = _normal(text)
    if not value:
        return default
    key = value.casefold()
    if key in CURRENCY_NAMES:
        return CURRENCY_NAMES[key]
    if value.upper() in ISO_4217:
        return value.upper()
    if value == "$":
        raise BadValue(
            _("“$” could be US, Hong Kong or another dollar. Write the code, such as USD or HKD.")
        )
    raise BadValue(
        _("“%(value)s” is not a currency we know. Use a 3-letter code such as CNY, USD or HKD.")
        % {"value": _shown(text)}
    )


# --- Yes / no ----------------------------------------------------------------------------------

_TRUE = frozenset({"yes", "y", "true", "t", "1", "1.0", "是", "对", "√", "✓", "✔"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "0.0", "否", "不", "不是", "×", "✗", "✘"})


def parse_bool(text: str) -> bool:
    """yes/no, y/n, true/false, 1/0, 是/否 (and ✓/×), in any case."""
    value = _normal(text).casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadValue(
        _("“%(value)s” is not yes or no. Write yes or no (or 是 / 否).") % {"value": _shown(text)}
    )


# --- Text --------------------------------------------------------------------------------------

_NEWLINES = re.compile(r"\r\n?")


def clean_text(text: str, *, max_length: int) -> str:
    """The text trimmed and in Unicode NFC, with Windows line breaks as plain ones; refused
    when it holds control characters (other than tabs and line breaks) or is too long."""
    value = unicodedata.normalize("NFC", _NEWLINES.sub("\n", text)).strip()
    for ch in value:
        if ch in "\t\n":
            continue
        if ch == "\x00":
            # What forms and services say of it too (crm.lib.columns.text_error).
            raise BadValue(validation_messages.null_character())
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs"):
            raise BadValue(
                _(
                    "This text contains an invisible control character (%(code)s), usually a"
                    " sign of a damaged file or a wrong encoding. Retype it."
                )
                % {"code": f"U+{ord(ch):04X}"}
            )
    if len(value) > max_length:
        # The message every other path (forms, services) gives for a value too long.
        raise BadValue(validation_messages.too_long(max_length, len(value)))
    return value
