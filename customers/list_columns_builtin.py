"""The customer list's own columns and filters, registered like any app's
(customers.list_columns). Registered from CustomersConfig.ready."""

import html
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.lib.widgets import ListSelect, PlainChoices
from customers.list_columns import (
    EMPTY,
    ListColumn,
    ListFilter,
    list_column_register,
    list_filter_register,
)
from customers.models import Customer, CustomerEmail, CustomerPhone, Order


def _first_phone() -> Subquery:
    return Subquery(
        CustomerPhone.objects.filter(customer=OuterRef("pk"))
        .order_by("-is_primary", "id")
        .values("e164")[:1]
    )


def _first_email() -> Subquery:
    return Subquery(
        CustomerEmail.objects.filter(customer=OuterRef("pk"))
        .order_by("-is_primary", "id")
        .values("email")[:1]
    )


def lifetime_value() -> Coalesce:
    """The sum of the customer's completed orders: a correlated subquery, run for the page's
    rows only, through the orders' (customer, -ordered_at) index."""
    money = DecimalField(max_digits=16, decimal_places=2)
    completed = (
        Order.objects.filter(customer=OuterRef("pk"), status=Order.Status.COMPLETED)
        .order_by()
        .values("customer")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    total = Subquery(completed, output_field=money)
    return Coalesce(total, Value(Decimal("0")), output_field=money)


def _name_cell(row: Any, text: str) -> str:
    badge = ""
    if row.kind == Customer.Kind.COMPANY:
        badge = f' <small class="badge">{html.escape(gettext("Company"))}</small>'
    return f'<a href="{html.escape(row.url)}">{html.escape(text)}</a>{badge}'


def _stage_cell(_row: Any, text: str) -> str:
    return f'<span class="badge">{html.escape(text)}</span>'


def _stage_label(row: Any) -> str:
    return str(dict(Customer.Stage.choices).get(row.stage, row.stage))


def _owner_cell(row: Any, _text: str) -> str:
    owner = html.escape(str(row.owner)) if row.owner_id else EMPTY
    team = f'<br><small class="muted">{html.escape(str(row.team))}</small>' if row.team_id else ""
    return f"{owner}{team}"


def _money(row: Any) -> str:
    return number_format(row.lifetime_value, 2, force_grouping=True)


def _kind_filter() -> forms.Field:
    return forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=PlainChoices([("", _("Any")), *Customer.Kind.choices]),
        widget=ListSelect,
    )


def _by_kind(customers: QuerySet[Any], value: Any) -> QuerySet[Any]:
    return customers.filter(kind=value)


COLUMNS = (
    ListColumn(
        key="name",
        header=_("Name"),
        value=lambda row: row.name,
        fields=("kind", "name"),
        sort="name",
        cell=_name_cell,
        position=10,
    ),
    ListColumn(
        key="phone",
        header=_("Phone"),
        value=lambda row: row.first_phone,
        annotations=lambda: {"first_phone": _first_phone()},
        tables=("customers_customerphone",),
        personal="phone",
        css="nowrap",
        position=20,
    ),
    ListColumn(
        key="email",
        header=_("Email"),
        value=lambda row: row.first_email,
        annotations=lambda: {"first_email": _first_email()},
        tables=("customers_customeremail",),
        personal="email",
        position=30,
    ),
    ListColumn(
        key="stage",
        header=_("Stage"),
        value=_stage_label,
        fields=("stage",),
        cell=_stage_cell,
        position=40,
    ),
    ListColumn(
        key="tags",
        header=_("Tags"),
        value=lambda row: ", ".join(row.tags),
        fields=("tags",),
        position=50,
    ),
    ListColumn(
        key="lifetime_value",
        header=_("Lifetime value"),
        value=_money,
        annotations=lambda: {"lifetime_value": lifetime_value()},
        tables=("customers_order",),
        css="nowrap",
        position=55,
    ),
    ListColumn(
        key="owner",
        header=_("Owner"),
        value=lambda row: row.owner_id,
        fields=("owner", "team", "owner__full_name", "owner__email", "team__name"),
        related=("owner", "team"),
        tables=("customers_customer", "accounts_user", "accounts_team"),
        cell=_owner_cell,
        position=60,
    ),
)


def register() -> None:
    for column in COLUMNS:
        list_column_register(column)
    list_filter_register(ListFilter(key="kind", field=_kind_filter, apply=_by_kind, position=10))
