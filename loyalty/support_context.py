"""The customer's points balance and tier beside a support ticket's conversation
(support.customer_context), registered from LoyaltyConfig.ready: one JSON subquery each in the
ticket page's side query, no query of their own."""

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from loyalty.models import Account
from support.customer_context import TicketContextItem, ticket_context_register


def _accounts(customer_ids: list[int]) -> QuerySet[Any]:
    return Account.objects.filter(customer_id__in=customer_ids).values(
        "customer_id", "balance", "tier__name"
    )


def _points(row: Mapping[str, Any]) -> str:
    return str(row["balance"])


def _tier(row: Mapping[str, Any]) -> str:
    return str(row["tier__name"] or "")


def register() -> None:
    ticket_context_register(
        TicketContextItem("loyalty.tier", _("Tier"), _accounts, _tier, position=10)
    )
    ticket_context_register(
        TicketContextItem("loyalty.points", _("Points"), _accounts, _points, position=20)
    )
