"""Messages for values refused anywhere (a form, a service, an import row), written once so
every path that makes the same check says the same thing. Each returns the text in the active
language; callers add the field or row it belongs to. Imports no app."""

from django.utils.translation import gettext as _


def too_long(limit: int, length: int) -> str:
    return _("Keep it to %(max)d characters (it has %(length)d).") % {
        "max": limit,
        "length": length,
    }


def null_character() -> str:
    return _("This text contains a null character (U+0000); remove it.")


def not_a_phone(shown: str) -> str:
    return _("“%(phone)s” is not a phone number we can dial.") % {"phone": shown}


def not_an_email(shown: str) -> str:
    return _("“%(email)s” is not an email address.") % {"email": shown}


def quoted(value: str, message: str) -> str:
    """A message about one item of a list of values (one of several emails), naming it
    (shortened past 60 characters)."""
    shown = value if len(value) <= 60 else value[:60] + "…"
    return f"“{shown}”: {message}"


def date_help() -> str:
    return _("Write dates as 2024-03-05.")


def not_a_date(shown: str) -> str:
    return _("“%(value)s” is not a date we can read. %(help)s") % {
        "value": shown,
        "help": date_help(),
    }
