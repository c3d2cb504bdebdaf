"""The public web form's guards: the signed form timestamp (a minimum fill time and a maximum
age), the link-count limit, the rate limits per address and per contact, and the language the
page speaks. Limits come from settings when set there (SUPPORT_WEB_FORM_*), else the defaults
below.

A bot that posts without loading the form has no timestamp; one that fills the form at once is
faster than any person; one that replays an old form is past its age. The honeypot field (a
field people never see) is checked by the form. Counters live in the cache (Redis), whose keys
carry the schema, so two tenants never share one."""

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest

from crm.accounts.audit import client_ip
from crm.lib.tenancy import current_schema

if TYPE_CHECKING:
    from support.models_portal import WebFormSettings

SALT = "support.web_form"
SENT_SALT = "support.web_form.sent"

DEFAULTS = {
    "MIN_SECONDS": 3,  # nobody reads and fills the form faster
    "MAX_AGE_SECONDS": 2 * 60 * 60,
    "MAX_LINKS": 2,
    "WINDOW_SECONDS": 60 * 60,
    "PER_IP": 10,  # submissions from one address per window
    "PER_CONTACT": 3,  # tickets for one email or phone per window
}

LINK = re.compile(r"https?://|www\.|\[url", re.IGNORECASE)


def limit(name: str) -> int:
    return int(getattr(settings, f"SUPPORT_WEB_FORM_{name}", DEFAULTS[name]))


def form_stamp(now: float | None = None) -> str:
    """The signed moment the form was drawn, for this tenant."""
    return signing.dumps(
        {"t": now if now is not None else time.time(), "s": current_schema()}, salt=SALT
    )


def stamp_problem(stamp: str, now: float | None = None) -> str | None:
    """ "missing", "fast" or "old" when the stamp refuses the submission; None when it passes."""
    now = now if now is not None else time.time()
    try:
        data = signing.loads(stamp, salt=SALT)
    except signing.BadSignature:
        return "missing"
    if not isinstance(data, dict) or data.get("s") != current_schema():
        return "missing"
    started = data.get("t")
    if not isinstance(started, int | float):
        return "missing"
    if now - started > limit("MAX_AGE_SECONDS"):
        return "old"
    if now - started < limit("MIN_SECONDS"):
        return "fast"
    return None


def link_count(*texts: str) -> int:
    return sum(len(LINK.findall(text)) for text in texts)


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"web-form:{kind}:{digest}"


def _count(key: str, window: int) -> int:
    # add() starts the window once; incr() never extends it.
    cache.add(key, 0, window)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        return 1


def address_allowed(request: HttpRequest) -> bool:
    """Count one submission from the request's address; False past the limit."""
    ip = client_ip(request) or "unknown"
    return _count(_key("ip", ip), limit("WINDOW_SECONDS")) <= limit("PER_IP")


def contact_of(email: str, phone: str) -> str:
    """The contact a submission is counted against: the email normalised, else the phone in
    E.164 (so "138 1234 5678" and "+86 13812345678" count as one), else the phone as given."""
    from crm.lib.contacts import InvalidPhone, email_normalise, phone_e164
    from customers.services import tenant_phone_region

    if email.strip():
        return email_normalise(email)
    phone = phone.strip()
    try:
        return phone_e164(phone, tenant_phone_region())
    except InvalidPhone:
        return phone


def contact_allowed(contact: str) -> bool:
    """Count one ticket for this email or phone (normalised); False past the limit."""
    return _count(_key("contact", contact), limit("WINDOW_SECONDS")) <= limit("PER_CONTACT")


def sent_token(number: int) -> str:
    return signing.dumps({"n": number, "s": current_schema()}, salt=SENT_SALT)


def sent_number(token: str) -> int | None:
    """The ticket number a confirmation link names (signed, a day at most); None otherwise."""
    try:
        data: Any = signing.loads(token, salt=SENT_SALT, max_age=24 * 60 * 60)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("s") != current_schema():
        return None
    number = data.get("n")
    return number if type(number) is int else None


def page_language(request: HttpRequest) -> str:
    """The customer's language: the one they chose on the site (the language cookie), else
    the browser's first supported one, else the workspace's, else English."""
    from django.utils.translation import get_supported_language_variant
    from django.utils.translation.trans_real import parse_accept_lang_header

    supported = {code for code, _name in settings.LANGUAGES}

    def known(code: Any) -> str | None:
        if not code or not isinstance(code, str):
            return None
        try:
            variant = get_supported_language_variant(code.lower())
        except LookupError:
            return None
        return variant if variant in supported else None

    chosen = known(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
    if chosen:
        return chosen
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        if code == "*":
            continue
        # Browsers say zh-CN or zh; this site's Chinese is Simplified.
        lowered = code.lower()
        if lowered in ("zh", "zh-cn", "zh-sg") or lowered.startswith("zh-hans"):
            return "zh-hans"
        found = known(lowered)
        if found:
            return found
    return (
        known(getattr(getattr(request, "tenant", None), "language", None)) or settings.LANGUAGE_CODE
    )


def web_form_settings() -> "WebFormSettings":
    """The tenant's web form settings (the row, made on first use: a tenant older than the
    table has none)."""
    from support.models_portal import WebFormSettings

    found = WebFormSettings.objects.filter(id=1).first()
    return found or WebFormSettings.objects.get_or_create(id=1)[0]
