"""Builders for the analytics tests: customers with completed (or other) orders at given local
dates, through customers' services; segments and their rules."""

import datetime
import uuid
from decimal import Decimal
from typing import Any

from analytics.models_segments import Segment
from analytics.segment_rules import rules_from_json
from analytics.segment_services import segment_save
from customers.models import Customer, Order
from customers.services import CustomerInput, customer_create, order_create
from loyalty.programme import tenant_zone

AS_OF = datetime.date(2026, 6, 30)


def customer(name: str = "") -> Customer:
    return customer_create(
        actor=None, data=CustomerInput(name=name or f"Buyer {uuid.uuid4().hex[:6]}")
    )


def local_noon(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=tenant_zone())


def order(
    who: Customer,
    day: datetime.date | datetime.datetime,
    amount: str | int,
    status: str = Order.Status.COMPLETED,
) -> Order:
    at = day if isinstance(day, datetime.datetime) else local_noon(day)
    return order_create(
        actor=None,
        customer=who,
        number=f"R-{uuid.uuid4().hex[:10]}",
        ordered_at=at,
        amount=Decimal(str(amount)),
        currency="GBP",
        status=status,
    )


def d(month: int, day: int, year: int = 2026) -> datetime.date:
    return datetime.date(year, month, day)


def five_buyers() -> dict[str, Customer]:
    """The hand-checked set (docs in test_rfm.py): five scored customers A-E and three that
    are not (F no orders, G only a cancelled order, H only an order after the as-of date)."""
    people = {key: customer(f"Buyer {key}") for key in "ABCDEFGH"}
    a, b, c, dd, e = (people[k] for k in "ABCDE")
    for day, amount in ((d(6, 29), 100), (d(6, 20), 200), (d(6, 1), 300), (d(7, 2), 1000)):
        order(a, day, amount)
    order(b, d(6, 29), 50)
    order(c, d(5, 31), 500)
    order(c, d(4, 1), 500)
    order(dd, d(1, 1), 20)
    for day in (d(3, 1), d(2, 1), d(1, 15), d(1, 10)):
        order(e, day, 100)
    order(people["G"], d(6, 10), 80, status=Order.Status.CANCELLED)
    order(people["H"], d(7, 5), 90)
    return people


def rules(*groups: list[tuple[str, str, Any]], join: str = "and", inner: str = "and") -> dict:
    """{"join": join, "groups": [...]} from groups of (field, op, value)."""
    return {
        "join": join,
        "groups": [
            {
                "join": inner,
                "conditions": [
                    {"field": f, "op": o, "value": "" if v is None else str(v)} for f, o, v in g
                ],
            }
            for g in groups
        ],
    }


def segment(name: str, data: dict, actor: Any = None) -> Segment:
    return segment_save(actor=actor, segment=Segment(name=name), rules=rules_from_json(data))


def form_data(data: dict, **extra: str) -> dict[str, str]:
    """The builder's POST fields for rules given as JSON."""
    post = {"join": data["join"], **extra}
    for g, group in enumerate(data["groups"]):
        post[f"g{g}-join"] = group["join"]
        for c, condition in enumerate(group["conditions"]):
            for part in ("field", "op", "value"):
                post[f"g{g}-c{c}-{part}"] = condition[part]
    return post
