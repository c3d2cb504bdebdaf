"""A customer's preferred language (Customer.language): one of the site's languages
(settings.LANGUAGES), by code, or "" when not known. The form offers the codes; an import also
takes the languages' usual names in either language (language_read)."""

from django.conf import settings

# Names an import cell may give, case-folded, for each code. A code of its own always reads.
_NAMES: dict[str, str] = {
    "english": "en",
    "英文": "en",
    "英语": "en",
    "zh": "zh-hans",
    "zh-cn": "zh-hans",
    "zh_cn": "zh-hans",
    "zh-hans": "zh-hans",
    "zh_hans": "zh-hans",
    "chinese": "zh-hans",
    "simplified chinese": "zh-hans",
    "中文": "zh-hans",
    "简体中文": "zh-hans",
    "汉语": "zh-hans",
}


def language_codes() -> tuple[str, ...]:
    return tuple(code for code, _label in settings.LANGUAGES)


def language_read(text: str) -> str | None:
    """The code a cell names ("" for an empty cell), or None when it names no language of ours."""
    folded = text.strip().casefold()
    if not folded:
        return ""
    codes = language_codes()
    if folded in codes:
        return folded
    code = _NAMES.get(folded)
    return code if code in codes else None
