"""Demo programme state: rewards, a promotion, points for the demo orders (through the same
set-based listener imports use), some redemptions at the counter, a few referrals, and tiers
evaluated. Safe twice: orders earn once, and the rest is skipped when the rewards exist."""

import datetime
import random

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from crm.tenants.seeding import SeedOptions
from customers.models import Customer, Order
from loyalty import jobs, orders
from loyalty.errors import InsufficientPoints
from loyalty.models import Account, EarnRule, LedgerEntry, Reward
from loyalty.services import points_redeem, referral_link

CHUNK = 5000
REWARDS = (
    ("Coffee voucher", 200, None, None),
    ("10% off next order", 500, None, 3),
    ("Tote bag", 800, 150, 1),
    ("Gift card 100", 2500, 40, 2),
)


def _quiet() -> None:
    # As in an import: the row audit is silent for this bulk work (crm.transfer.bulk).
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('crm.audit_bulk', 'on', true)")


def loyalty_seed(rng: random.Random, options: SeedOptions) -> str:
    earned = 0
    ids = list(Order.objects.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            _quiet()
            before = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EARN).count()
            orders.orders_written(actor=None, order_ids=ids[start : start + CHUNK])
            earned += LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EARN).count() - before
    if Reward.objects.filter(name=REWARDS[0][0]).exists():
        return f"{earned} orders earned points; rewards were seeded already"
    rewards = [
        Reward.objects.create(name=name, points_cost=cost, stock=stock, per_customer_limit=limit)
        for name, cost, stock, limit in REWARDS
    ]
    today = timezone.localdate()
    EarnRule.objects.create(
        name="Double points weekend",
        multiplier=2,
        starts_on=today + datetime.timedelta(days=(5 - today.weekday()) % 7),
        ends_on=today + datetime.timedelta(days=(5 - today.weekday()) % 7 + 1),
    )
    EarnRule.objects.create(name="Online shop", channel="online", multiplier="1.5")
    accounts = list(
        Account.objects.filter(balance__gte=200)
        .order_by("id")
        .values_list("customer_id", "balance")
    )
    redeemed = 0
    for customer_id, balance in rng.sample(accounts, min(len(accounts), 40)):
        affordable = [r for r in rewards if r.points_cost <= balance]
        if not affordable:
            continue
        reward = rng.choice(affordable)
        try:
            points_redeem(
                actor=None,
                customer=Customer.objects.get(pk=customer_id),
                points=reward.points_cost,
                reward=reward,
                idempotency_key=f"seed:{customer_id}:{reward.pk}",
            )
            redeemed += 1
        except (InsufficientPoints, ValidationError):
            continue  # out of stock, over the limit: the demo skips it
    members = list(Account.objects.order_by("id").values_list("customer_id", "referral_code"))
    referred = 0
    for (customer_id, _code), (_other, code) in zip(
        members[1:10], rng.sample(members[10:40], min(9, max(0, len(members) - 10))), strict=False
    ):
        try:
            referral_link(actor=None, customer=Customer.objects.get(pk=customer_id), code=code)
            referred += 1
        except ValidationError:
            continue  # a cycle or already referred
    changed = jobs.tiers_refresh(actor=None)
    return (
        f"{earned} orders earned points, {redeemed} redemptions, {referred} referrals,"
        f" {changed} tier changes"
    )
