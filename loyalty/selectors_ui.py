"""Reads of the staff pages: a member's points tab and history, the counter's rewards, the
approvals queue, the programme dashboard and a member's statement. The core's own reads
(balances, summaries for the API) are in loyalty.selectors."""

import dataclasses
import datetime
from decimal import Decimal
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Customer
from customers.selectors import visible_customers
from loyalty.models import (
    Account,
    Adjustment,
    LedgerEntry,
    Lot,
    ReconciliationIssue,
    Redemption,
    Reward,
    Tier,
)
from loyalty.programme import local_today, programme, tenant_zone

HISTORY_PAGE = 25


@dataclasses.dataclass(frozen=True)
class TierProgress:
    """Where a member stands against the next tier (None when at the top or without tiers)."""

    qualifying: int
    basis: str  # Programme.TierBasis
    next_tier: Tier | None
    needed: int  # still to go
    percent: int


def tier_progress(account: Account | None) -> TierProgress:
    basis = programme().tier_basis
    # Kept on the account by the order listener and the nightly evaluation (loyalty.tiers).
    qualifying = account.qualifying_points if account is not None else 0
    position = account.tier.position if account is not None and account.tier else -1
    # The next tier the member has not reached yet (a new member's starting tier, with a
    # threshold of 0, counts as reached).
    higher = (
        Tier.objects.filter(position__gt=position, threshold__gt=qualifying)
        .order_by("position")
        .first()
    )
    if higher is None:
        return TierProgress(qualifying, basis, None, 0, 100)
    needed = max(0, higher.threshold - qualifying)
    percent = 100 if higher.threshold == 0 else min(100, qualifying * 100 // higher.threshold)
    return TierProgress(qualifying, basis, higher, needed, percent)


def rewards_offered(today: datetime.date | None = None) -> QuerySet[Reward]:
    """Rewards the counter may give today: active, valid, in stock (limits are per customer
    and checked by the service)."""
    today = today or local_today()
    return (
        Reward.objects.filter(active=True)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=today))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .filter(Q(stock__isnull=True) | Q(stock__gt=0))
    )


def open_lots(account: Account, *, limit: int = 20) -> list[Lot]:
    return list(
        Lot.objects.filter(account=account, remaining__gt=0)
        .select_related("entry")
        .order_by("expires_on", "id")[:limit]
    )


def entries_of(account: Account) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account=account).select_related(
        "redemption__reward", "actor", "adjustment"
    )


def history_page(account: Account | None, number: Any) -> Page[LedgerEntry]:
    """One page of a member's entries, newest first (a member's history is short enough for
    numbered pages)."""
    entries = entries_of(account) if account is not None else LedgerEntry.objects.none()
    return Paginator(entries, HISTORY_PAGE).get_page(number)


def points_tab(customer: Customer) -> dict[str, Any]:
    """What the customer page's Points tab shows."""
    account = (
        Account.objects.select_related("tier", "referred_by__customer")
        .filter(customer_id=customer.pk)
        .first()
    )
    today = local_today()
    return {
        "account": account,
        "progress": tier_progress(account),
        "lots": open_lots(account) if account else [],
        "entries": list(entries_of(account)[:10]) if account else [],
        "redemptions": (
            list(Redemption.objects.filter(account=account).select_related("reward")[:5])
            if account
            else []
        ),
        "pending": (
            list(
                Adjustment.objects.filter(account=account, status=Adjustment.Status.PENDING)
                .select_related("requested_by")
                .order_by("created_at")
            )
            if account
            else []
        ),
        "rewards": list(rewards_offered(today)),
        "today": today,
    }


def redemption_for(user: Any, pk: int) -> Redemption:
    """A redemption of a customer the user may see; Redemption.DoesNotExist otherwise."""
    return Redemption.objects.select_related(
        "reward", "account__customer", "actor", "cancelled_by"
    ).get(pk=pk, account__customer__in=visible_customers(user))


def balance_after(redemption: Redemption) -> int:
    """The member's balance right after the redemption (the sum of the entries up to its own)."""
    entry = LedgerEntry.objects.filter(redemption=redemption, kind=LedgerEntry.Kind.REDEEM).first()
    if entry is None:
        return redemption.account.balance
    total = LedgerEntry.objects.filter(
        account_id=redemption.account_id, pk__lte=entry.pk
    ).aggregate(total=Coalesce(Sum("points"), 0))["total"]
    return int(total)


def pending_adjustments(user: Any) -> QuerySet[Adjustment]:
    """Adjustments awaiting approval, of customers the user may see, oldest first."""
    return (
        Adjustment.objects.filter(
            status=Adjustment.Status.PENDING, account__customer__in=visible_customers(user)
        )
        .select_related("account__customer", "requested_by")
        .order_by("created_at", "id")
    )


def recent_decisions(user: Any, limit: int = 20) -> list[Adjustment]:
    """Adjustments a second user decided (those under the limit are decided by their
    requester as they are made), of customers the user may see."""
    return list(
        Adjustment.objects.filter(account__customer__in=visible_customers(user))
        .exclude(status=Adjustment.Status.PENDING)
        .exclude(decided_by=None)
        .exclude(decided_by=F("requested_by"))
        .select_related("account__customer", "requested_by", "decided_by")
        .order_by("-decided_at", "-id")[:limit]
    )


def adjustment_for(user: Any, pk: int) -> Adjustment:
    return Adjustment.objects.select_related("account__customer", "requested_by").get(
        pk=pk, account__customer__in=visible_customers(user)
    )


@dataclasses.dataclass(frozen=True)
class Dashboard:
    issued: int
    redeemed: int
    expired: int
    reversed: int
    adjusted: int
    outstanding: int
    members: int
    per_tier: list[tuple[str, int]]
    since: datetime.date | None


def dashboard(since: datetime.date | None = None) -> Dashboard:
    """Points issued (earned, bonuses, positive adjustments, cancelled redemptions given back
    are not issued anew), redeemed (net of cancellations), expired and reversed, over the
    period from `since` (all time when None), and what members hold now."""
    entries = LedgerEntry.objects.all()
    if since is not None:
        start = timezone.make_aware(
            datetime.datetime.combine(since, datetime.time.min), tenant_zone()
        )
        entries = entries.filter(occurred_at__gte=start)
    kind = LedgerEntry.Kind
    sums = entries.aggregate(
        issued=Coalesce(Sum("points", filter=Q(kind__in=[kind.EARN, kind.BONUS])), 0),
        adjusted=Coalesce(Sum("points", filter=Q(kind=kind.ADJUST)), 0),
        redeemed=Coalesce(Sum("points", filter=Q(kind__in=[kind.REDEEM, kind.REDEEM_CANCEL])), 0),
        expired=Coalesce(Sum("points", filter=Q(kind=kind.EXPIRE)), 0),
        reversed=Coalesce(Sum("points", filter=Q(kind=kind.REVERSE)), 0),
    )
    held = Account.objects.aggregate(total=Coalesce(Sum("balance"), 0), members=Count("id"))
    tiers = Tier.objects.order_by("position").annotate(members=Count("accounts"))
    per_tier = [(t.name, t.members) for t in tiers]
    untiered = Account.objects.filter(tier__isnull=True).count()
    if untiered:
        per_tier.insert(0, ("", untiered))
    return Dashboard(
        issued=int(sums["issued"]),
        redeemed=-int(sums["redeemed"]),
        expired=-int(sums["expired"]),
        reversed=-int(sums["reversed"]),
        adjusted=int(sums["adjusted"]),
        outstanding=int(held["total"]),
        members=int(held["members"]),
        per_tier=per_tier,
        since=since,
    )


def liability(points: int, point_value: Decimal) -> Decimal:
    return (Decimal(points) * point_value).quantize(Decimal("0.01"))


def open_issues(user: Any, limit: int = 50) -> list[ReconciliationIssue]:
    return list(
        ReconciliationIssue.objects.filter(
            resolved_at__isnull=True, account__customer__in=visible_customers(user)
        )
        .select_related("account__customer")
        .order_by("-found_at", "-id")[:limit]
    )


@dataclasses.dataclass(frozen=True)
class Statement:
    start: datetime.date
    end: datetime.date
    opening: int
    entries: list[LedgerEntry]
    closing: int
    credited: int
    debited: int


def statement(account: Account | None, start: datetime.date, end: datetime.date) -> Statement:
    """A member's entries from `start` to `end` (whole days in the tenant's time zone) with
    the balance before and after."""
    zone = tenant_zone()
    lower = timezone.make_aware(datetime.datetime.combine(start, datetime.time.min), zone)
    upper = timezone.make_aware(
        datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min), zone
    )
    if account is None:
        return Statement(start, end, 0, [], 0, 0, 0)
    before = LedgerEntry.objects.filter(account=account, occurred_at__lt=lower).aggregate(
        total=Coalesce(Sum("points"), 0)
    )["total"]
    entries = list(
        entries_of(account)
        .filter(occurred_at__gte=lower, occurred_at__lt=upper)
        .order_by("occurred_at", "id")
    )
    credited = sum(e.points for e in entries if e.points > 0)
    debited = -sum(e.points for e in entries if e.points < 0)
    opening = int(before)
    return Statement(start, end, opening, entries, opening + credited - debited, credited, debited)
