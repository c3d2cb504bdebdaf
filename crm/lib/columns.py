"""What a database column can hold, read from the model field that defines it: the one place
forms, services, imports and filters check a value against before it reaches SQL. A value the
column cannot hold is a message for the user, never a database error (a 500, or a whole import
committed as "valid" that then fails). Imports no app: callers pass their model."""

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.utils.translation import gettext as _

from crm.lib import validation_messages

# Postgres integer columns (Django's IntegerField, PositiveIntegerField ...).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def max_length(model: type[models.Model], name: str) -> int | None:
    """The column's length limit in characters (None: unbounded text)."""
    return model._meta.get_field(name).max_length  # type: ignore[union-attr]


def integer_range(model: type[models.Model], name: str) -> tuple[int, int]:
    """The smallest and largest integer the column holds."""
    field = model._meta.get_field(name)
    internal = field.get_internal_type()
    top = INT64_MAX if internal in ("BigIntegerField", "PositiveBigIntegerField") else INT32_MAX
    if internal in ("SmallIntegerField", "PositiveSmallIntegerField"):
        top = 2**15 - 1
    bottom = 0 if internal.startswith("Positive") else -top - 1
    return bottom, top


def text_error(value: str, limit: int | None) -> str | None:
    """Why a text cannot be stored in a column of `limit` characters, or None if it can.
    Postgres text holds no NUL character whatever the length."""
    if "\x00" in value:
        return validation_messages.null_character()
    if limit is not None and len(value) > limit:
        return validation_messages.too_long(limit, len(value))
    return None


def text_validator(limit: int | None) -> Callable[[str], None]:
    """A form field validator giving text_error's message (in place of Django's own
    MaxLengthValidator, whose words differ from every other path's)."""

    def validate(value: str) -> None:
        message = text_error(value, limit)
        if message:
            raise ValidationError(message, code="max_length")

    return validate


def integer_error(value: int, bottom: int, top: int) -> str | None:
    if value < bottom or value > top:
        return _("Enter a whole number from %(min)s to %(max)s.") % {"min": bottom, "max": top}
    return None


def column_errors(model: type[models.Model], values: Mapping[str, Any]) -> dict[str, str]:
    """A message per value its column cannot hold, keyed like `values`. Text (and lists of
    text, for array columns) is checked for length and NUL; integers for the column's range."""
    errors: dict[str, str] = {}
    for name, value in values.items():
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        message: str | None = None
        if isinstance(value, str):
            message = text_error(value, getattr(field, "max_length", None))
        elif isinstance(value, list | tuple):
            base = getattr(field, "base_field", None)
            limit = getattr(base, "max_length", None)
            for item in value:
                if isinstance(item, str):
                    message = message or text_error(item, limit)
        elif isinstance(value, int) and not isinstance(value, bool):
            message = integer_error(value, *integer_range(model, name))
        if message:
            errors[name] = message
    return errors


def check_columns(model: type[models.Model], values: Mapping[str, Any]) -> None:
    """ValidationError keyed by field name if any value does not fit its column."""
    errors = column_errors(model, values)
    if errors:
        raise ValidationError(errors)
