"""Points and tier on the customer list (customers.list_columns): one column (the balance,
then the tier) and two filters, registered from LoyaltyConfig.ready. They read loyalty_account
and loyalty_tier, whose changes stamp the list version (migration 0004)."""

import html
from typing import Any

from django import forms
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from crm.lib.widgets import ListSelect
from customers.list_columns import (
    ListColumn,
    ListFilter,
    list_column_register,
    list_filter_register,
)
from loyalty.models import Account, Tier

TABLES = ("loyalty_account", "loyalty_tier")


def _balance() -> Subquery:
    return Subquery(
        Account.objects.filter(customer_id=OuterRef("pk")).values("balance")[:1],
        output_field=IntegerField(),
    )


def _tier_name() -> Subquery:
    return Subquery(Account.objects.filter(customer_id=OuterRef("pk")).values("tier__name")[:1])


def _points_text(row: Any) -> str:
    return "" if row.points_balance is None else str(row.points_balance)


def _tier_choices() -> list[tuple[str, str]]:
    return [("", str(_("Any"))), ("none", str(_("No tier")))] + [
        (str(pk), name) for pk, name in Tier.objects.order_by("position").values_list("pk", "name")
    ]


def _tier_filter() -> forms.Field:
    return forms.ChoiceField(
        label=_("Tier"), required=False, choices=_tier_choices, widget=ListSelect
    )


def _by_tier(customers: QuerySet[Any], value: Any) -> QuerySet[Any]:
    if value == "none":
        return customers.exclude(loyalty_account__tier__isnull=False)
    return customers.filter(loyalty_account__tier_id=value)


def _points_filter() -> forms.Field:
    return forms.IntegerField(label=_("Points at least"), required=False, min_value=0)


def _by_points(customers: QuerySet[Any], value: Any) -> QuerySet[Any]:
    return customers.filter(loyalty_account__balance__gte=value)


def _points_cell(row: Any, text: str) -> str:
    """The balance, then the tier the way the list shows a second value ("1200 · Gold"): one
    column for both keeps the list within a laptop's width."""
    if not text:
        return "—"
    tier = row.points_tier
    shown = f'<br><small class="muted">{html.escape(tier)}</small>' if tier else ""
    return f"{html.escape(text)}{shown}"


def register() -> None:
    list_column_register(
        ListColumn(
            key="points",
            header=_("Points"),
            value=_points_text,
            annotations=lambda: {"points_balance": _balance(), "points_tier": _tier_name()},
            tables=TABLES,
            cell=_points_cell,
            css="nowrap",
            position=65,
        )
    )
    list_filter_register(
        ListFilter(key="tier", field=_tier_filter, apply=_by_tier, tables=TABLES, position=40)
    )
    list_filter_register(
        ListFilter(
            key="points_min",
            field=_points_filter,
            apply=_by_points,
            tables=("loyalty_account",),
            position=41,
        )
    )
