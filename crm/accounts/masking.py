"""Masking personal data for users without "see personal data".

One place decides: `shown(user, kind, value)`. Pages use the `pii` template filter, and exports
and reports (later) call `shown` too, so no path shows more than the page would."""

from typing import Any

from django.utils.translation import gettext_lazy as _

from crm.accounts.permissions import can_view_personal_data
from crm.lib.contacts import phone_display

MASK = "•"
KINDS = {
    "phone": _("Phone numbers"),
    "email": _("Email addresses"),
    "birthday": _("Birthdays"),
    "address": _("Addresses"),
}


def mask_phone(value: str) -> str:
    """Keep the country code and the last four digits: enough to tell numbers apart on a call
    ("the one ending 5678"), not enough to dial or search for."""
    digits = [ch for ch in value if ch.isdigit()]
    if len(digits) <= 4:
        return MASK * 4
    prefix = "+" if value.strip().startswith("+") else ""
    country = "".join(digits[:2]) if prefix else ""
    hidden = len(digits) - 4 - len(country)
    return f"{prefix}{country}{' ' if country else ''}{MASK * max(hidden, 3)}{''.join(digits[-4:])}"


def mask_email(value: str) -> str:
    local, _sep, domain = value.partition("@")
    if not domain:
        return MASK * 4
    tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
    return f"{local[:1]}{MASK * 3}@{MASK * 3}{'.' + tld if tld else ''}"


def mask_birthday(value: Any) -> str:
    return f"{MASK * 4}-{MASK * 2}-{MASK * 2}"


def mask_address(value: str) -> str:
    return MASK * 6


_MASKERS = {
    "phone": mask_phone,
    "email": mask_email,
    "birthday": mask_birthday,
    "address": mask_address,
}


def shown(user: Any, kind: str, value: Any) -> Any:
    """The value as this user may see it."""
    if kind not in _MASKERS:
        raise ValueError(f"unknown personal data kind: {kind}")
    if value in (None, ""):
        return value
    if can_view_personal_data(user):
        return phone_display(str(value)) if kind == "phone" else value
    return _MASKERS[kind](str(value) if kind != "birthday" else value)
