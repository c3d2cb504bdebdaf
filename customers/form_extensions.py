"""Extra inputs of apps above customers on the new-customer form (loyalty's referral code),
registered from their AppConfig.ready: customers cannot import them.

A field is drawn on the create form only (a value that only means something when the customer
is made, such as who referred them, has no place on the edit form) for users holding its
`capability`. `apply(*, actor, customer, value)` runs inside customers.services.customer_create's
transaction, after the customer is written, with the field's cleaned, non-empty value; a
ValidationError it raises (keyed by the field's `key`, or not) becomes the form's error and
nothing is written."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms

from crm.accounts import capabilities as cap
from crm.accounts.permissions import can


@dataclass(frozen=True)
class CustomerFormField:
    key: str  # the form field's name; also the error key apply raises
    field: Callable[[], forms.Field]  # a fresh, not required field
    apply: Callable[..., None]  # apply(*, actor, customer, value)
    capability: str = cap.CREATE


_FIELDS: dict[str, CustomerFormField] = {}


def customer_form_field_register(extension: CustomerFormField) -> None:
    _FIELDS[extension.key] = extension


def customer_form_field_unregister(key: str) -> None:
    """Remove a field (tests that declare one of their own)."""
    _FIELDS.pop(key, None)


def customer_form_fields(user: Any = None) -> list[CustomerFormField]:
    """The registered fields `user` may fill in (every one for None: the system)."""
    return [f for f in _FIELDS.values() if user is None or can(user, f.capability)]


def customer_form_field(key: str) -> CustomerFormField:
    """The registered field; KeyError when there is none."""
    return _FIELDS[key]
