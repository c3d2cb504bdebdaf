"""How often a password reset link may be asked for: each request sends an email, so without a
limit anyone could flood a staff member's inbox (or our mail quota) from the public form. Counted
in the cache (keys carry the schema, like the lockout's), per email and address and per address."""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from crm.accounts.audit import client_ip
from crm.accounts.lockout import normalise_email


def _key(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"password-reset:{digest}"


def _count(key: str, window: int) -> int:
    # add() starts the window once; incr() never extends it.
    cache.add(key, 0, window)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        return 1


def reset_allowed(request: HttpRequest, email: object) -> bool:
    """Count this request; False once the email-and-address or the address alone has asked
    more often than the settings allow within the window."""
    window = settings.PASSWORD_RESET_WINDOW_SECONDS
    ip = client_ip(request) or ""
    per_email = _count(_key("email", normalise_email(email), ip), window)
    per_ip = _count(_key("ip", ip), window)
    return (
        per_email <= settings.PASSWORD_RESET_PER_EMAIL and per_ip <= settings.PASSWORD_RESET_PER_IP
    )
