"""Normalising what people type for phones, emails and names. Imports no app.

One implementation for every caller: the forms, the seeder and the imports, which call these
a hundred thousand times a file, so the costly ones (phonenumbers and pypinyin, ~15 µs a value)
are cached and take fast paths that give exactly what the slow ones give
(tests/transfer/test_import_engine.py compares them)."""

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.core.validators import EmailValidator
from pypinyin import Style
from pypinyin.converter import UltimateConverter
from pypinyin.core import Pinyin

# Bounded caches: an import file's values, where a check and its commit read the same file in
# the same process.
_CACHE_SIZE = 131_072


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


@functools.lru_cache(maxsize=64)
def _fast_rules(
    region: str,
) -> tuple[int, re.Pattern[str], re.Pattern[str], Any, tuple[int, ...]] | None:
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    metadata = PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None or metadata.mobile is None or metadata.country_code is None:
        return None
    if len(COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, ())) != 1:
        return None  # shared country codes (+1, +7...): the region needs the slow path
    mobile = metadata.mobile.national_number_pattern
    general = metadata.general_desc.national_number_pattern if metadata.general_desc else None
    if not mobile or not general:
        return None
    strip = metadata.national_prefix_for_parsing or metadata.national_prefix
    return (
        metadata.country_code,
        re.compile(mobile),
        re.compile(general),
        re.compile(strip) if strip else None,
        tuple(metadata.mobile.possible_length or ()),
    )


_SEPARATORS = str.maketrans("", "", " -().")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def phone_e164(raw: str, region: str) -> str:
    """E.164 of `raw` as phone_normalise gives it; InvalidPhone otherwise. Plain mobile numbers
    of the region take a fast path on phonenumbers' own metadata; anything else goes the slow
    way."""
    rules = _fast_rules(region)
    if rules is not None:
        country, mobile, general, strip, lengths = rules
        text = raw.strip().translate(_SEPARATORS)
        prefix = f"+{country}"
        if text.startswith(prefix):
            text = text[len(prefix) :]
        elif text.startswith("+"):
            text = ""
        if (
            text.isascii()
            and text.isdigit()
            and len(text) in lengths
            and not (strip is not None and strip.match(text))
            and general.fullmatch(text)
            and mobile.fullmatch(text)
        ):
            return f"+{country}{text}"
    return phone_normalise(raw, default_region=region).e164


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


def _compiled(pattern: Any) -> re.Pattern[str]:
    return re.compile(pattern.pattern, pattern.flags)


class _EmailValidator(EmailValidator):
    """Django's validate_email (what the customer form uses) with its patterns compiled once:
    the lazy patterns' proxies cost more than the matching, a hundred thousand times over."""

    user_regex = _compiled(EmailValidator.user_regex)
    domain_regex = _compiled(EmailValidator.domain_regex)
    literal_regex = _compiled(EmailValidator.literal_regex)


validate_email = _EmailValidator(message=EmailValidator.message, code=EmailValidator.code)


# customers.models.Customer.name_sort's length (tests/customers check they agree). A key is capped
# rather than the column widened: a name of 200 characters can grow sevenfold (pinyin of every
# character, or NFKC expanding U+FDFA into 18 letters), and an unbounded key would outgrow the
# btree index the list pages by (2,704 bytes a row). The first 600 characters decide any order.
NAME_SORT_MAX_LENGTH = 600


def name_sort_capped(key: str) -> str:
    return key[:NAME_SORT_MAX_LENGTH].rstrip()


class _CachingConverter(UltimateConverter):
    """pypinyin's converter (what lazy_pinyin builds for every call) with its answers for a
    segment of text kept: names share surnames and given-name characters, so most segments
    come back again."""

    @functools.lru_cache(maxsize=65_536)  # noqa: B019  (one instance, kept for the process)
    def _cached(
        self, words: str, style: Style, heteronym: bool, errors: Any, strict: bool
    ) -> tuple[tuple[str, ...], ...]:
        found = super().convert(words, style, heteronym, errors, strict)
        return tuple(tuple(item) for item in found)

    def convert(
        self,
        words: str,
        style: Style,
        heteronym: bool,
        errors: Any,
        strict: bool = True,
        **kwargs: Any,
    ) -> list[list[str]]:
        if kwargs or not isinstance(errors, str):
            return super().convert(words, style, heteronym, errors, strict, **kwargs)
        return [list(item) for item in self._cached(words, style, heteronym, errors, strict)]


# lazy_pinyin's defaults, through one converter that remembers segments.
_PINYIN = Pinyin(_CachingConverter(v_to_u=False, neutral_tone_with_five=False, tone_sandhi=False))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def name_sort_key(name: str) -> str:
    """A form of a name that sorts and searches the way people expect in both scripts:
    compatibility-normalised, lower-cased, and with Chinese names led by their pinyin written
    as a pinyin keyboard takes it ("欧阳娜娜" becomes "ouyangnana 欧阳娜娜"), so "ouyang" finds
    欧阳娜娜 and lists sort by pinyin."""
    folded = unicodedata.normalize("NFKC", name).casefold().strip()
    if any("\u3400" <= ch <= "\u9fff" for ch in folded):
        parts = _PINYIN.lazy_pinyin(folded, style=Style.NORMAL, errors="default", strict=True)
        pinyin = "".join(part.strip() for part in parts if part.strip())
        return name_sort_capped(f"{pinyin} {folded}")
    return name_sort_capped(folded)
