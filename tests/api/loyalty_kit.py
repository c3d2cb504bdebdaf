"""Members with points for the loyalty API tests, made through the services."""

import datetime
import uuid
from decimal import Decimal

from django.utils import timezone
from django_tenants.utils import schema_context

from customers.models import Customer
from customers.services import CustomerInput, customer_create, order_create
from loyalty.selectors import account_balance
from tests.testkit.cast import TenantCast


def member_with_points(member: TenantCast, amount: str = "100.00") -> tuple[str, int]:
    """A customer (by external id) who earned points on one completed order; their balance."""
    external_id = f"M-{uuid.uuid4().hex[:10]}"
    with schema_context(member.schema):
        customer = customer_create(
            actor=None, data=CustomerInput(name="Member 会员", external_id=external_id)
        )
        order_create(
            actor=None,
            customer=customer,
            number=f"SEED-{uuid.uuid4().hex[:10]}",
            ordered_at=timezone.now() - datetime.timedelta(hours=1),
            amount=Decimal(amount),
            currency=member.tenant.currency,
        )
        return external_id, account_balance(Customer.objects.get(external_id=external_id))


def balance_of(member: TenantCast, external_id: str) -> int:
    with schema_context(member.schema):
        return account_balance(Customer.objects.get(external_id=external_id))
