"""The rules of surveys, as pure functions: who may be asked now, in which language, and
which comment holds a complaint keyword (support.feedback_services decides with them)."""

from collections.abc import Sequence

from support.feedback_selectors import ContactFacts
from support.models_feedback import SurveyInvitation


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


def survey_language(name: str, tenant_language: str) -> str:
    """The customer's language as far as the record tells (customers keep no language of
    their own yet): a name in Chinese characters reads Chinese, one in Latin letters English,
    anything else the workspace's language. The page offers the other language too."""
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
