"""Every write to custom field definitions. Row changes are audited by the database trigger on
customers_customfield; the checks here keep stored values meaningful: a field's key never
changes, its kind only while no customer holds a value, and a choice in use is not removed."""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.accounts.audit import writes
from crm.accounts.models import User
from customers.custom_fields import has_values, uses_of
from customers.models import CUSTOM_FIELD_KEY, CustomField

MAX_FIELDS = 100
MAX_CHOICES = 200
CHOICE_MAX_LENGTH = 100


@dataclass
class CustomFieldInput:
    label: str
    kind: str
    choices: list[str] = field(default_factory=list)
    required: bool = False
    personal: bool = False
    help_text: str = ""


def _clean_key(key: str) -> str:
    key = key.strip()
    if not re.fullmatch(CUSTOM_FIELD_KEY, key):
        raise ValidationError(
            {
                "key": _(
                    "Use 1 to 40 lower-case letters, digits and _, starting with a letter"
                    " (for example shoe_size)."
                )
            }
        )
    if CustomField.objects.filter(key=key).exists():
        raise ValidationError({"key": _("Another field has this key.")})
    return key


def _clean(data: CustomFieldInput) -> CustomFieldInput:
    errors: dict[str, list[str]] = {}
    label = data.label.strip()
    if not label:
        errors.setdefault("label", []).append(_("Give the field a label."))
    elif len(label) > 100:
        errors.setdefault("label", []).append(_("Keep the label to 100 characters."))
    if data.kind not in CustomField.Kind.values:
        errors.setdefault("kind", []).append(_("Choose text, number, date or choice."))
    choices: list[str] = []
    if data.kind == CustomField.Kind.CHOICE:
        seen: set[str] = set()
        for choice in (c.strip() for c in data.choices):
            if not choice:
                continue
            if len(choice) > CHOICE_MAX_LENGTH:
                errors.setdefault("choices", []).append(
                    _("“%(choice)s” is longer than %(max)d characters.")
                    % {"choice": choice[:20] + "…", "max": CHOICE_MAX_LENGTH}
                )
            elif choice.casefold() in seen:
                errors.setdefault("choices", []).append(
                    _("“%(choice)s” is listed twice.") % {"choice": choice}
                )
            else:
                seen.add(choice.casefold())
                choices.append(choice)
        if not choices and "choices" not in errors:
            errors.setdefault("choices", []).append(
                _("List the choices, one per line: a choice field needs at least one.")
            )
        if len(choices) > MAX_CHOICES:
            errors.setdefault("choices", []).append(
                _("A field has at most %(max)d choices.") % {"max": MAX_CHOICES}
            )
    elif any(c.strip() for c in data.choices):
        errors.setdefault("choices", []).append(_("Only a choice field has choices."))
    if len(data.help_text.strip()) > 200:
        errors.setdefault("help_text", []).append(_("Keep the help text to 200 characters."))
    if errors:
        raise ValidationError(errors)
    return CustomFieldInput(
        label=label,
        kind=data.kind,
        choices=choices,
        required=data.required,
        personal=data.personal,
        help_text=data.help_text.strip(),
    )


@writes
@transaction.atomic
def custom_field_create(*, actor: User | None, key: str, data: CustomFieldInput) -> CustomField:
    if CustomField.objects.count() >= MAX_FIELDS:
        raise ValidationError(
            _("A workspace has at most %(max)d custom fields. Delete unused ones first.")
            % {"max": MAX_FIELDS}
        )
    errors: dict[str, list[str]] = {}
    try:
        key = _clean_key(key)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        data = _clean(data)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    last = CustomField.objects.order_by("-position").values_list("position", flat=True).first()
    try:
        with transaction.atomic():
            return CustomField.objects.create(
                key=key,
                label=data.label,
                kind=data.kind,
                choices=data.choices,
                required=data.required,
                personal=data.personal,
                help_text=data.help_text,
                position=(last + 1) if last is not None else 0,
            )
    except IntegrityError:
        # Two admins adding the same key at once: the unique constraint decides.
        raise ValidationError({"key": _("Another field has this key.")}) from None


def _locked(custom_field: CustomField) -> CustomField:
    return CustomField.objects.select_for_update().get(pk=custom_field.pk)


@writes
@transaction.atomic
def custom_field_update(
    *, actor: User | None, custom_field: CustomField, data: CustomFieldInput
) -> CustomField:
    """Change a field's label, help, choices and flags. The key never changes. The kind changes
    only while no customer has a value; a choice is removed only while no customer has it."""
    data = _clean(data)
    current = _locked(custom_field)
    if data.kind != current.kind:
        count = has_values(current.key)
        if count:
            raise ValidationError(
                {
                    "kind": ngettext(
                        "%(count)d customer has a value in this field, so its kind cannot"
                        " change. Add a new field instead.",
                        "%(count)d customers have a value in this field, so its kind cannot"
                        " change. Add a new field instead.",
                        count,
                    )
                    % {"count": count}
                }
            )
    elif current.kind == CustomField.Kind.CHOICE:
        errors = []
        for removed in [c for c in current.choices if c not in data.choices]:
            count = uses_of(current.key, removed)
            if count:
                errors.append(
                    ngettext(
                        "“%(choice)s” is the value of %(count)d customer; change it there"
                        " before removing the choice.",
                        "“%(choice)s” is the value of %(count)d customers; change them"
                        " before removing the choice.",
                        count,
                    )
                    % {"choice": removed, "count": count}
                )
        if errors:
            raise ValidationError({"choices": errors})
    current.label = data.label
    current.kind = data.kind
    current.choices = data.choices
    current.required = data.required
    current.personal = data.personal
    current.help_text = data.help_text
    current.save()
    return current


@writes
@transaction.atomic
def custom_field_archive(*, actor: User | None, custom_field: CustomField) -> CustomField:
    """Hide the field from forms, filters and the customer page; the values stay."""
    current = _locked(custom_field)
    if current.archived_at is None:
        current.archived_at = timezone.now()
        current.save(update_fields=["archived_at"])
    return current


@writes
@transaction.atomic
def custom_field_restore(*, actor: User | None, custom_field: CustomField) -> CustomField:
    current = _locked(custom_field)
    if current.archived_at is not None:
        current.archived_at = None
        current.save(update_fields=["archived_at"])
    return current


@writes
@transaction.atomic
def custom_field_delete(*, actor: User | None, custom_field: CustomField) -> None:
    """Only a field no customer has a value in is deleted; others are archived instead."""
    current = _locked(custom_field)
    count = has_values(current.key)
    if count:
        raise ValidationError(
            ngettext(
                "%(count)d customer has a value in this field: archive it instead.",
                "%(count)d customers have a value in this field: archive it instead.",
                count,
            )
            % {"count": count}
        )
    current.delete()


@writes
@transaction.atomic
def custom_field_move(*, actor: User | None, custom_field: CustomField, up: bool) -> None:
    """Swap the field with its neighbour in the order forms show them."""
    fields = list(CustomField.objects.select_for_update().order_by("position", "id"))
    index = next((i for i, f in enumerate(fields) if f.pk == custom_field.pk), None)
    if index is None:
        raise CustomField.DoesNotExist
    other = index - 1 if up else index + 1
    if not 0 <= other < len(fields):
        return
    fields[index], fields[other] = fields[other], fields[index]
    for position, item in enumerate(fields):
        if item.position != position:
            item.position = position
            item.save(update_fields=["position"])
