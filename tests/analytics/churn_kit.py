"""Builders for the churn tests: customers and their orders (through customers' services, or
in bulk for the larger fitted datasets), and the churn settings."""

import datetime
import uuid
import zoneinfo
from collections.abc import Iterable
from decimal import Decimal

from django.utils import timezone

from analytics.churn import churn_settings
from analytics.models_churn import ChurnScore
from crm.accounts.models import User
from customers.models import Customer, Order
from customers.services import CustomerInput, customer_create, order_create


def customer(name: str = "", *, owner: User | None = None) -> Customer:
    return customer_create(
        actor=None,
        data=CustomerInput(name=name or f"顾客 {uuid.uuid4().hex[:6]}", owner=owner),
    )


def at(day: datetime.date, hour: int = 12, zone: str = "UTC") -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=zoneinfo.ZoneInfo(zone))


def order(
    who: Customer,
    when: datetime.datetime,
    amount: str = "50",
    status: str = Order.Status.COMPLETED,
) -> Order:
    return order_create(
        actor=None,
        customer=who,
        number=f"C-{uuid.uuid4().hex[:12]}",
        ordered_at=when,
        amount=Decimal(amount),
        currency="GBP",
        status=status,
    )


def orders_bulk(rows: Iterable[tuple[int, datetime.datetime, Decimal]]) -> None:
    """Completed orders straight into the table: the model's larger datasets (analytics only
    reads orders, so loyalty's listeners are not needed here)."""
    Order.objects.bulk_create(
        [
            Order(
                customer_id=cid,
                number=f"B-{uuid.uuid4().hex[:14]}",
                ordered_at=when,
                amount=amount,
                currency="GBP",
            )
            for cid, when, amount in rows
        ],
        batch_size=2000,
    )


def settings_set(**values: object) -> None:
    found = churn_settings()
    for key, value in values.items():
        setattr(found, key, value)
    found.save()


def score(who: Customer) -> ChurnScore:
    return ChurnScore.objects.get(customer_id=who.pk)


def flag(who: Customer, code: str) -> dict:
    for item in score(who).flags:
        if item["code"] == code:
            return item
    raise AssertionError(f"{who} has no {code} flag: {score(who).flags}")


def codes(who: Customer) -> set[str]:
    found = ChurnScore.objects.filter(customer_id=who.pk).first()
    return {item["code"] for item in found.flags} if found else set()


def today() -> datetime.date:
    return timezone.now().date()


def simulated_customers(
    n: int, *, as_of: datetime.date, seed: int, owner: User | None = None
) -> list[int]:
    """`n` customers whose purchase days follow the BG/NBD story (the paper's parameters), first
    bought 26 to 52 weeks before `as_of`; one completed order per purchase day. Their ids."""
    import numpy as np

    from crm.lib.contacts import name_sort_key

    rng = np.random.default_rng(seed)
    names = [f"模拟 {seed}-{i}" for i in range(n)]
    made = Customer.objects.bulk_create(
        [Customer(name=name, name_sort=name_sort_key(name), owner=owner) for name in names]
    )
    rows = []
    for who in made:
        age_days = int(rng.integers(26 * 7, 52 * 7 + 1))
        first = as_of - datetime.timedelta(days=age_days)
        rate = rng.gamma(0.243, 1 / 4.414)
        drop = rng.beta(0.793, 2.426)
        days, weeks = {0}, 0.0
        while True:
            weeks += rng.exponential(1 / rate)
            if weeks * 7 > age_days:
                break
            days.add(int(weeks * 7))
            if rng.random() < drop:
                break
        for offset in sorted(days):
            amount = Decimal(int(rng.integers(10, 200)))
            rows.append((who.pk, at(first + datetime.timedelta(days=offset)), amount))
    orders_bulk(rows)
    return [who.pk for who in made]
