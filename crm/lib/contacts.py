"""Normalising what people type for phones, emails and names. Imports no app."""

import unicodedata
from dataclasses import dataclass

import phonenumbers
from pypinyin import lazy_pinyin


class InvalidPhone(ValueError):
    pass


@dataclass(frozen=True)
class Phone:
    raw: str
    e164: str

    @property
    def digits(self) -> str:
        return self.e164.lstrip("+")


def phone_normalise(raw: str, *, default_region: str) -> Phone:
    """E.164 for any way a number is written ("138 1234 5678", "+86-138...", "0086 138...").

    `default_region` (ISO 3166 code such as "CN") applies to numbers without a country code."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, default_region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(str(exc)) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("not a valid phone number")
    return Phone(
        raw=raw.strip(),
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
    )


def phone_display(e164: str) -> str:
    """International format for reading ("+86 138 1234 5678")."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def digits_only(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def email_normalise(raw: str) -> str:
    return raw.strip().lower()


# customers.models.Customer.name_sort's length (tests/customers check they agree). A key is capped
# rather than the column widened: a name of 200 characters can grow sevenfold (pinyin of every
# character, or NFKC expanding U+FDFA into 18 letters), and an unbounded key would outgrow the
# btree index the list pages by (2,704 bytes a row). The first 600 characters decide any order.
NAME_SORT_MAX_LENGTH = 600


def name_sort_capped(key: str) -> str:
    return key[:NAME_SORT_MAX_LENGTH].rstrip()


def name_sort_key(name: str) -> str:
    """A form of a name that sorts and searches the way people expect in both scripts:
    compatibility-normalised, lower-cased, and with Chinese names led by their pinyin written
    as a pinyin keyboard takes it ("欧阳娜娜" becomes "ouyangnana 欧阳娜娜"), so "ouyang" finds
    欧阳娜娜 and lists sort by pinyin."""
    folded = unicodedata.normalize("NFKC", name).casefold().strip()
    if any("\u3400" <= ch <= "\u9fff" for ch in folded):
        pinyin = "".join(part.strip() for part in lazy_pinyin(folded) if part.strip())
        return name_sort_capped(f"{pinyin} {folded}")
    return name_sort_capped(folded)
