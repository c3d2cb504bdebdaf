"""Referral codes where customers are made: the new-customer form's "Referral code" input
(customers.form_extensions) and the customers import's "referral_code" column
(customers.import_extensions). Both link the new customer to the member whose code it is; the
referrer earns the programme's referral bonus once, when that customer's first order completes
(loyalty.orders). A code is only taken when the customer is created: the edit form has no such
input and an import row that matches an existing customer leaves its referral as it is."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.accounts.models import User
from customers.models import Customer
from loyalty.models import Account
from loyalty.services import referral_codes_refused, referral_link, referrals_link_bulk

KEY = "referral_code"
CODE_MAX_LENGTH = Account._meta.get_field("referral_code").max_length


def referral_code_field() -> forms.Field:
    return forms.CharField(
        label=_("Referral code"),
        required=False,
        max_length=CODE_MAX_LENGTH,
        help_text=_(
            "The code of the member who referred this customer, if any: they earn the referral "
            "bonus when this customer's first order completes."
        ),
    )


def referral_code_apply(*, actor: User | None, customer: Customer, value: Any) -> None:
    referral_link(actor=actor, customer=customer, code=str(value))


def register() -> None:
    from customers.form_extensions import CustomerFormField, customer_form_field_register
    from customers.import_extensions import ImportColumn, customer_import_column_register

    customer_form_field_register(CustomerFormField(KEY, referral_code_field, referral_code_apply))
    customer_import_column_register(
        ImportColumn(
            KEY,
            _("Referral code"),
            check=referral_codes_refused,
            apply_bulk=referrals_link_bulk,
            aliases=("referral", "referred by", "推荐码", "推荐人"),
            help=_(
                "New customers only: a row matching an existing customer leaves its referral "
                "as it is."
            ),
        )
    )
