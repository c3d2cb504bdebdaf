"""django-axes hooks: which email and address a sign-in attempt counts against, and the page a
locked-out sign-in gets. Named in settings (AXES_*_CALLABLE); the lockout rules are there too."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm.accounts.audit import client_ip


def normalise_email(value: object) -> str:
    """The form lower-cases and strips the address before authenticating; attempts and unlocks
    must use the same spelling, or "Admin@x" and "admin@x" would be counted apart."""
    return str(value or "").strip().lower()[:254]


def username_for(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The email an attempt is counted against: the form's cleaned value when axes has the
    credentials, the raw POST field otherwise (axes asks both ways)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials and credentials.get(field):
        return normalise_email(credentials[field])
    return normalise_email(request.POST.get(field) if request is not None else "")


def client_ip_for(request: HttpRequest) -> str | None:
    # One notion of "the client's address" for the audit log and for lockouts.
    return client_ip(request)


def cooloff_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """Our page for a refused sign-in: how long it lasts and whom to ask. 429, as axes does."""
    return render(
        request,
        "accounts/locked_out.html",
        {
            "email": username_for(request, credentials),
            "minutes": cooloff_minutes(),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
        },
        status=429,
    )
