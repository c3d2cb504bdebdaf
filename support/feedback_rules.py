"""The rules of surveys, as pure functions: who may be asked now, in which language, and
which comment holds a complaint keyword (support.feedback_services decides with them)."""

from collections.abc import Sequence

from customers.languages import language_codes
from support.feedback_selectors import ContactFacts
from support.models_feedback import SurveyInvitation


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


def survey_language(*, language: str, name: str, tenant_language: str) -> str:
    """The language to ask the customer in: their preferred language (Customer.language) when
    the record has one; when it is not known, a guess from their name (Chinese characters read
    Chinese, Latin letters English); else the workspace's language. The page offers the other
    language too."""
    if language in language_codes():
        return language
    if _has_han(name):
        return "zh-hans"
    if any(ch.isascii() and ch.isalpha() for ch in name):
        return "en"
    return tenant_language


def skip_reason(facts: ContactFacts | None) -> str:
    """Why this customer may not be asked now ("" when they may)."""
    Skip = SurveyInvitation.Skip
    if facts is None or facts.erased:
        return Skip.ERASED
    if not facts.consent:
        return Skip.NO_CONSENT
    if not facts.email:
        return Skip.NO_EMAIL
    return Skip.NONE


def complaint_keyword(comment: str, keywords: Sequence[str]) -> str:
    """The first complaint keyword the comment holds (case-insensitive), or ""."""
    folded = comment.casefold()
    for keyword in keywords:
        if keyword and keyword.casefold() in folded:
            return keyword
    return ""
