"""Small builders for the loyalty tests: customers and orders through customers' services."""

import datetime
import uuid
from decimal import Decimal

from django.utils import timezone

from crm.accounts.models import User
from customers.models import Customer, Order
from customers.services import CustomerInput, customer_create, order_create
from loyalty.models import Account, LedgerEntry, Lot


def customer(name: str = "", **fields: object) -> Customer:
    return customer_create(
        actor=None, data=CustomerInput(name=name or f"Member {uuid.uuid4().hex[:6]}", **fields)
    )


def order(
    who: Customer,
    amount: str | int = "100",
    *,
    actor: User | None = None,
    at: datetime.datetime | None = None,
    status: str = Order.Status.COMPLETED,
    number: str = "",
    **fields: str,
) -> Order:
    return order_create(
        actor=actor,
        customer=who,
        number=number or f"T-{uuid.uuid4().hex[:10]}",
        ordered_at=at or timezone.now(),
        amount=Decimal(str(amount)),
        currency="GBP",
        status=status,
        **fields,
    )


def account(who: Customer) -> Account:
    return Account.objects.get(customer_id=who.pk)


def ledger_sum(acct: Account) -> int:
    return sum(LedgerEntry.objects.filter(account=acct).values_list("points", flat=True))


def lots_sum(acct: Account) -> int:
    return sum(Lot.objects.filter(account=acct).values_list("remaining", flat=True))


def assert_consistent(acct: Account) -> None:
    acct.refresh_from_db()
    assert acct.balance >= 0
    assert acct.balance == ledger_sum(acct) == lots_sum(acct)
