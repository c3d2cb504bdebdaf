"""What a segment's conditions can test, by registration.

A SegmentField names one fact about a customer (a column, a tag, a custom field, the loyalty
tier, open tickets, later the RFM segment or P(alive)), the kind of value it compares, the
operators it offers and `to_q(op, value)`: a filter on customers_customer for one cleaned
value. Apps register fields from AppConfig.ready (analytics.segment_fields_builtin for the
ones this app knows); fields that differ per tenant (custom fields, loyalty tiers) come from a
provider called per request. Relative dates ("in the last N days") are counted back from
`as_of()`, the day the rules are evaluated for (today while editing, the refresh's as-of date).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Operators every kind draws from: key -> label.
OPERATORS: dict[str, Any] = {
    "eq": gettext_lazy("is"),
    "ne": gettext_lazy("is not"),
    "contains": gettext_lazy("contains"),
    "empty": gettext_lazy("is empty"),
    "present": gettext_lazy("is not empty"),
    "gte": gettext_lazy("at least"),
    "lte": gettext_lazy("at most"),
    "after": gettext_lazy("on or after"),
    "before": gettext_lazy("on or before"),
    "within_days": gettext_lazy("within the last (days)"),
    "has": gettext_lazy("has"),
    "lacks": gettext_lazy("does not have"),
}
# Operators that take no value.
UNARY = frozenset({"empty", "present"})

KINDS = ("text", "number", "date", "choice", "tag")


@dataclass(frozen=True)
class SegmentField:
    key: str  # stored in the rules; never changes
    label: Any  # lazily translated
    kind: str  # one of KINDS: how a value is read and shown
    operators: tuple[str, ...]
    to_q: Callable[[str, Any], Q]  # (operator, cleaned value) -> filter on customers
    group: Any = ""  # the heading the builder lists it under
    choices: Callable[[], list[tuple[str, str]]] | None = None  # for kind "choice"
    personal: bool = False  # offered only to readers who may see personal data
    capability: str | None = None  # offered only to readers with it
    position: int = 100

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"segment field {self.key}: unknown kind {self.kind!r}")
        unknown = set(self.operators) - set(OPERATORS)
        if unknown:
            raise ValueError(f"segment field {self.key}: unknown operators {sorted(unknown)}")


_FIELDS: dict[str, SegmentField] = {}
_PROVIDERS: dict[str, Callable[[], list[SegmentField]]] = {}


def segment_field_register(field: SegmentField) -> None:
    _FIELDS[field.key] = field


def segment_field_unregister(key: str) -> None:
    _FIELDS.pop(key, None)


def segment_field_provider_register(key: str, provider: Callable[[], list[SegmentField]]) -> None:
    """Fields read from the tenant's own data (its custom fields, its tiers), listed when asked."""
    _PROVIDERS[key] = provider


def _allowed(user: Any, field: SegmentField) -> bool:
    if user is None:
        return True
    from crm.accounts.permissions import can, can_view_personal_data

    if field.personal and not can_view_personal_data(user):
        return False
    return field.capability is None or can(user, field.capability)


def segment_fields(user: Any = None) -> list[SegmentField]:
    """Every field this reader may test (all for None: the system's refresh), in order."""
    fields = dict(_FIELDS)
    for provider in _PROVIDERS.values():
        fields.update({f.key: f for f in provider()})
    ordered = sorted(fields.values(), key=lambda f: (f.position, str(f.label)))
    return [f for f in ordered if _allowed(user, f)]


# --- the day relative dates count from --------------------------------------------------------

_as_of: ContextVar[datetime.date | None] = ContextVar("segment_as_of", default=None)


def as_of() -> datetime.date:
    from loyalty.programme import local_today

    return _as_of.get() or local_today()


@contextmanager
def evaluated_as_of(day: datetime.date | None) -> Iterator[None]:
    token = _as_of.set(day)
    try:
        yield
    finally:
        _as_of.reset(token)


def day_start(day: datetime.date) -> datetime.datetime:
    """The first moment of `day` in the tenant's time zone."""
    from loyalty.programme import tenant_zone

    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), tenant_zone())


# --- values -----------------------------------------------------------------------------------

MAX_TEXT = 200
MAX_DAYS = 36500


def value_clean(field: SegmentField, op: str, raw: Any) -> Any:
    """The value a condition compares, read from what the user typed; ValidationError with a
    message naming what is wrong."""
    if op in UNARY:
        return None
    text = "" if raw is None else str(raw).strip()
    if text == "":
        raise ValidationError(_("Enter a value."))
    if len(text) > MAX_TEXT:
        raise ValidationError(_("Enter at most %(n)d characters.") % {"n": MAX_TEXT})
    if op == "within_days":
        if not text.isdigit() or not 0 < int(text) <= MAX_DAYS:
            raise ValidationError(
                _("Enter a whole number of days from 1 to %(n)d.") % {"n": MAX_DAYS}
            )
        return int(text)
    if field.kind == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(_("Enter a number.")) from None
        if not number.is_finite() or abs(number) >= Decimal("1e12"):
            raise ValidationError(_("Enter a number."))
        return number
    if field.kind == "date":
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise ValidationError(_("Enter a date as YYYY-MM-DD.")) from None
    if field.kind == "choice" and field.choices is not None:
        allowed = {key for key, _label in field.choices()}
        if text not in allowed:
            raise ValidationError(_("Choose one of the offered values."))
    return text
