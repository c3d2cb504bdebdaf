"""Reads of the programme shared by pages, the API and tasks."""

import dataclasses
import datetime

from django.db.models import Sum

from customers.models import Customer, Order
from loyalty.models import Account, LedgerEntry, Lot


@dataclasses.dataclass(frozen=True)
class LoyaltySummary:
    balance: int
    tier: str | None
    qualifying_points: int
    # (points, last day they may be spent), oldest first.
    expiring: list[tuple[int, datetime.date]]


def account_of(customer: Customer) -> Account | None:
    return Account.objects.select_related("tier").filter(customer_id=customer.pk).first()


def account_balance(customer: Customer) -> int:
    balance = Account.objects.filter(customer_id=customer.pk).values_list("balance", flat=True)
    return next(iter(balance), 0)


def loyalty_summary(customer: Customer) -> LoyaltySummary:
    account = account_of(customer)
    if account is None:
        return LoyaltySummary(balance=0, tier=None, qualifying_points=0, expiring=[])
    lots = (
        Lot.objects.filter(account=account, remaining__gt=0)
        .exclude(expires_on=None)
        .values("expires_on")
        .annotate(points=Sum("remaining"))
        .order_by("expires_on")
    )
    return LoyaltySummary(
        balance=account.balance,
        tier=account.tier.name if account.tier else None,
        qualifying_points=account.qualifying_points,
        expiring=[(int(row["points"]), row["expires_on"]) for row in lots if row["expires_on"]],
    )


def order_points(order: Order) -> int:
    """What the order earned, less what its reversal took back (spent points included: the
    shortfall counts as taken back)."""
    entries = LedgerEntry.objects.filter(
        order_id=order.pk, kind__in=[LedgerEntry.Kind.EARN, LedgerEntry.Kind.REVERSE]
    ).aggregate(points=Sum("points"), shortfall=Sum("shortfall"))
    return int(entries["points"] or 0) - int(entries["shortfall"] or 0)


def ledger_entries(account: Account, *, limit: int = 50) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(account=account).select_related("redemption__reward")[:limit]
    )
