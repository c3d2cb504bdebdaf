"""Tenant-defined custom fields on customers: reading the definitions, checking values, the form
fields that edit them, the list filters that search them, and how a value is shown.

Values live in Customer.custom, a JSON object keyed by the field's key. Every value is stored as
a JSON string, so equality is an exact string match and nothing is lost to floating point:

- text: the text, trimmed;
- number: the decimal in plain notation ("1250.5", "-3"), compared as `numeric` in SQL;
- date: ISO "YYYY-MM-DD", which sorts like the date it names;
- choice: one of the field's choices, spelled as the definition spells it.

An empty value is not stored: the key is absent. Values of archived fields stay untouched."""

import datetime
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import DecimalField, Func, QuerySet, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Collate
from django.db.models.lookups import GreaterThanOrEqual, IContains, LessThanOrEqual
from django.http import HttpRequest
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts.masking import MASK
from crm.accounts.permissions import can_view_personal_data
from crm.lib.widgets import ListDateInput, ListNumberInput, ListSelect, ListTextInput
from customers.models import Customer, CustomField

TEXT_MAX_LENGTH = 500
NUMBER_MAX_LENGTH = 40
# A number filter's bound: at most this many digits, this many of them after the point.
FILTER_MAX_DIGITS = 38
FILTER_MAX_PLACES = 18
FORM_PREFIX = "custom_"
# Filter parameters are "cf-<key>", "cf-<key>-min" ...: a key holds no "-", so no two fields'
# parameters can collide ("a" with "-min" against a key "a_min").
FILTER_PREFIX = "cf-"

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
_NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"


# --- definitions ------------------------------------------------------------------------------


def field_definitions(request: HttpRequest | None = None) -> list[CustomField]:
    """Every definition, archived ones included, in their order. With a request, read once per
    request: the form, the list filters and the page's profile share one query."""
    if request is not None:
        cached = getattr(request, "_custom_field_definitions", None)
        if cached is not None:
            return list(cached)
    definitions = list(CustomField.objects.order_by("position", "id"))
    if request is not None:
        request._custom_field_definitions = definitions  # type: ignore[attr-defined]
    return list(definitions)


def active(definitions: Iterable[CustomField]) -> list[CustomField]:
    return [d for d in definitions if d.archived_at is None]


def form_name(definition: CustomField) -> str:
    return f"{FORM_PREFIX}{definition.key}"


# --- values -----------------------------------------------------------------------------------


def _number(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    else:
        # Full-width digits (１２３) from Chinese input methods; "1,250.50" and "1 250,5" are not
        # guessed at: a thousands separator is only taken out when a "." marks the decimals.
        text = unicodedata.normalize("NFKC", str(value)).strip().replace(" ", "").replace("_", "")
        if "," in text and "." in text:
            text = text.replace(",", "")
        if len(text) > NUMBER_MAX_LENGTH or not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            raise ValueError
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError from None
    if not number.is_finite():
        raise ValueError
    if number == 0:
        return "0"
    plain = format(number.normalize(), "f")
    return plain


def _date(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = unicodedata.normalize("NFKC", str(value)).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError


def _choice(definition: CustomField, value: Any) -> str:
    text = str(value).strip()
    for choice in definition.choices:
        if text == choice:
            return choice
    folded = text.casefold()
    for choice in definition.choices:
        if folded == choice.casefold():
            return choice
    raise ValueError


def value_clean(definition: CustomField, value: Any) -> str | None:
    """One value as it is stored, None for empty. ValidationError with a message a user can act
    on otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if definition.required:
            raise ValidationError(_("This field is required."), code="required")
        return None
    kind = definition.kind
    try:
        if kind == CustomField.Kind.NUMBER:
            return _number(value)
        if kind == CustomField.Kind.DATE:
            return _date(value)
        if kind == CustomField.Kind.CHOICE:
            return _choice(definition, value)
    except ValueError:
        if kind == CustomField.Kind.NUMBER:
            message = _("Enter a number, such as 1250 or -3.5.")
        elif kind == CustomField.Kind.DATE:
            message = _("Enter a date such as 2024-03-05 (or 2024/3/5).")
        else:
            message = _("Choose one of: %(choices)s.") % {"choices": ", ".join(definition.choices)}
        raise ValidationError(message, code="invalid") from None
    text = str(value).strip()
    if len(text) > TEXT_MAX_LENGTH:
        raise ValidationError(
            _("Keep it to %(max)d characters (it has %(length)d).")
            % {"max": TEXT_MAX_LENGTH, "length": len(text)},
            code="max_length",
        )
    return text


def custom_values_clean(
    definitions: Iterable[CustomField], raw: Mapping[str, Any]
) -> dict[str, str]:
    """The values of the active fields, keyed by field key, as they are stored (empty ones left
    out). `raw` is keyed by field key. Every bad value is reported at once, keyed
    "custom_<key>" like the form field that holds it."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for definition in active(definitions):
        try:
            value = value_clean(definition, raw.get(definition.key))
        except ValidationError as exc:
            errors[form_name(definition)] = exc.messages
            continue
        if value is not None:
            cleaned[definition.key] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def custom_values_merge(
    definitions: Iterable[CustomField], stored: Mapping[str, Any], cleaned: Mapping[str, str]
) -> dict[str, Any]:
    """What Customer.custom becomes: the active fields' values replaced by `cleaned`, everything
    else (archived fields) kept as it was."""
    active_keys = {d.key for d in active(definitions)}
    merged = {k: v for k, v in stored.items() if k not in active_keys}
    merged.update(cleaned)
    return merged


# --- display ----------------------------------------------------------------------------------


def value_display(user: Any, definition: CustomField, value: Any) -> str:
    """A stored value as this user may see it: personal fields masked without "see personal
    data", dates in the user's language."""
    if value in (None, ""):
        return ""
    if definition.personal and not can_view_personal_data(user):
        return MASK * 6
    if definition.kind == CustomField.Kind.DATE:
        try:
            return date_format(datetime.date.fromisoformat(str(value)), "DATE_FORMAT")
        except ValueError:
            return str(value)
    return str(value)


def custom_values_shown(user: Any, values: Any) -> Any:
    """A stored `custom` document as this user may see it (the audit log shows it whole):
    personal fields' values masked without "see personal data"."""
    if not isinstance(values, dict) or can_view_personal_data(user):
        return values
    # Read once per reader (the audit log shows up to 50 entries a page), not once per entry.
    personal = getattr(user, "_personal_custom_keys", None)
    if personal is None:
        personal = set(CustomField.objects.filter(personal=True).values_list("key", flat=True))
        user._personal_custom_keys = personal
    return {
        k: (MASK * 6 if k in personal and v not in (None, "") else v) for k, v in values.items()
    }


@dataclass(frozen=True)
class ShownValue:
    definition: CustomField
    value: str


def profile_values(
    user: Any, customer: Customer, definitions: Iterable[CustomField]
) -> list[ShownValue]:
    """The active fields with the customer's values, for the customer page ("" when empty)."""
    stored = customer.custom or {}
    return [ShownValue(d, value_display(user, d, stored.get(d.key))) for d in active(definitions)]


# --- the customer form ------------------------------------------------------------------------


def form_field(definition: CustomField) -> forms.Field:
    """A Django form field for one definition. Values are checked by value_clean (through the
    form's clean), so every path gives the same messages; the widgets help the browser."""
    common: dict[str, Any] = {
        "label": definition.label,
        "required": definition.required,
        "help_text": definition.help_text,
    }
    if definition.kind == CustomField.Kind.NUMBER:
        return forms.CharField(
            widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}), **common
        )
    if definition.kind == CustomField.Kind.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if definition.kind == CustomField.Kind.CHOICE:
        options = [("", "—"), *((c, c) for c in definition.choices)]
        return forms.CharField(widget=forms.Select(choices=options), **common)
    return forms.CharField(max_length=TEXT_MAX_LENGTH, **common)


def form_initial(definitions: Iterable[CustomField], stored: Mapping[str, Any]) -> dict[str, Any]:
    return {form_name(d): stored.get(d.key, "") for d in active(definitions)}


# --- list filters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomFilter:
    """One condition on a custom field: op is "equals", "contains", "min" or "max" (numbers and
    dates: "min" is from, "max" is to)."""

    key: str
    kind: str
    op: str
    value: str
    personal: bool = False


def filterable(user: Any, definitions: Iterable[CustomField]) -> list[CustomField]:
    """The active fields this user may filter by: not personal ones without "see personal
    data", or a filter would confirm what the page masks."""
    may_see = can_view_personal_data(user)
    return [d for d in active(definitions) if may_see or not d.personal]


def filter_params(definition: CustomField) -> list[tuple[str, str]]:
    """(parameter name, op) for a definition's filter inputs."""
    base = f"{FILTER_PREFIX}{definition.key}"
    if definition.kind in (CustomField.Kind.NUMBER, CustomField.Kind.DATE):
        return [(f"{base}-min", "min"), (f"{base}-max", "max")]
    if definition.kind == CustomField.Kind.CHOICE:
        return [(base, "equals")]
    return [(base, "contains")]


def filter_form_fields(definition: CustomField) -> dict[str, forms.Field]:
    """The list filter's inputs for one field, named by filter_params."""
    fields: dict[str, forms.Field] = {}
    for name, op in filter_params(definition):
        if definition.kind == CustomField.Kind.NUMBER:
            label = gettext_lazy("at least") if op == "min" else gettext_lazy("at most")
            # Bounded like the values they compare with (NUMBER_MAX_LENGTH): "1e999999" is
            # a form error, not a million-digit numeric sent to Postgres.
            fields[name] = forms.DecimalField(
                label=label,
                required=False,
                max_digits=FILTER_MAX_DIGITS,
                decimal_places=FILTER_MAX_PLACES,
                widget=ListNumberInput(attrs={"step": "any"}),
            )
        elif definition.kind == CustomField.Kind.DATE:
            label = gettext_lazy("from") if op == "min" else gettext_lazy("to")
            fields[name] = forms.DateField(
                label=label,
                required=False,
                input_formats=list(_DATE_FORMATS),
                widget=ListDateInput(attrs={"type": "date"}),
            )
        elif definition.kind == CustomField.Kind.CHOICE:
            fields[name] = forms.ChoiceField(
                label=gettext_lazy("is"),
                required=False,
                choices=[("", gettext_lazy("Any")), *((c, c) for c in definition.choices)],
                widget=ListSelect,
            )
        else:
            fields[name] = forms.CharField(
                label=gettext_lazy("contains"),
                required=False,
                max_length=TEXT_MAX_LENGTH,
                help_text=gettext_lazy('Put it in "quotes" for an exact match.'),
                widget=ListTextInput,
            )
    return fields


def filters_from(
    definitions: Iterable[CustomField], cleaned: Mapping[str, Any]
) -> tuple[CustomFilter, ...]:
    """The filters a valid filter form asks for (cleaned data keyed by parameter name)."""
    found: list[CustomFilter] = []
    for definition in definitions:
        for name, op in filter_params(definition):
            value = cleaned.get(name)
            if value in (None, ""):
                continue
            if definition.kind == CustomField.Kind.NUMBER:
                text = _number(value)
            elif definition.kind == CustomField.Kind.DATE:
                text = _date(value)
            else:
                text = str(value).strip()
                quoted = len(text) >= 2 and text[0] == text[-1] == '"'
                if definition.kind == CustomField.Kind.TEXT and quoted:
                    op, text = "equals", text[1:-1]
            found.append(
                CustomFilter(definition.key, definition.kind, op, text, definition.personal)
            )
    return tuple(found)


class _Numeric(Func):
    """(custom->>'key')::numeric where the value is a number, NULL otherwise: a stray value never
    breaks the whole list."""

    output_field = DecimalField()

    def __init__(self, key: str) -> None:
        super().__init__(KeyTextTransform(key, "custom"))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        cast = f"(CASE WHEN ({sql}) ~ %s THEN ({sql})::numeric END)"
        return cast, [*params, _NUMBER_TEXT, *params]


def custom_filter(
    queryset: QuerySet[Customer], filters: Sequence[CustomFilter], user: Any = None
) -> QuerySet[Customer]:
    """Apply custom field filters. Equalities go together into one `custom @> {...}`, which the
    jsonb_path_ops GIN index answers; ranges compare the value cast to numeric (numbers) or as
    ISO text (dates); text "contains" is case-insensitive. Filters on personal fields are
    dropped for users without "see personal data"."""
    if not filters:
        return queryset
    may_see = user is None or can_view_personal_data(user)
    equal: dict[str, str] = {}
    conditions: list[Any] = []
    for f in filters:
        if f.personal and not may_see:
            continue
        text = KeyTextTransform(f.key, "custom")
        if f.op == "equals":
            if f.key in equal and equal[f.key] != f.value:
                return queryset.none()
            equal[f.key] = f.value
        elif f.op == "contains":
            conditions.append(IContains(text, f.value))
        elif f.kind == CustomField.Kind.NUMBER:
            number = _Numeric(f.key)
            bound = Value(Decimal(f.value), output_field=DecimalField())
            conditions.append(
                GreaterThanOrEqual(number, bound)
                if f.op == "min"
                else LessThanOrEqual(number, bound)
            )
        elif f.kind == CustomField.Kind.DATE:
            # ISO dates sort as text; "C" collation compares them byte by byte.
            iso = Collate(text, "C")
            bound_text = Value(f.value, output_field=TextField())
            conditions.append(
                GreaterThanOrEqual(iso, bound_text)
                if f.op == "min"
                else LessThanOrEqual(iso, bound_text)
            )
    if equal:
        queryset = queryset.filter(custom__contains=equal)
    for condition in conditions:
        queryset = queryset.filter(condition)
    return queryset


def has_values(key: str) -> int:
    """How many customers hold a value for the key."""
    return Customer.objects.filter(custom__has_key=key).count()


def uses_of(key: str, choice: str) -> int:
    return Customer.objects.filter(custom__contains={key: choice}).count()


def value_counts() -> dict[str, int]:
    """How many customers hold a value, per key, in one pass over the table (has_values per
    field would scan it once per field: the GIN index does not answer "has key")."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k, count(*) FROM customers_customer, jsonb_object_keys(custom) AS k"
            " WHERE custom <> '{}'::jsonb GROUP BY k"
        )
        return {key: count for key, count in cursor.fetchall()}
