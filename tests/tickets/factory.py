"""Tickets and customers for the support tests, made through the services."""

import uuid

from django_tenants.utils import schema_context

from crm.accounts.models import User
from customers.models import Customer
from customers.services import CustomerInput, customer_create
from support.models import Ticket
from support.services import TicketInput, ticket_create
from tests.testkit.cast import TenantCast


def staff(member: TenantCast, role: str) -> User:
    return User.objects.get(pk=member.users[role].pk)


def customer(name: str = "", *, email: str = "", owner: User | None = None) -> Customer:
    return customer_create(
        actor=None,
        data=CustomerInput(
            name=name or f"王芳 {uuid.uuid4().hex[:6]}",
            emails=[email] if email else [],
            owner=owner,
        ),
    )


def ticket(
    *,
    subject: str = "",
    customer_: Customer | None = None,
    assignee: User | None = None,
    priority: str = "normal",
    actor: User | None = None,
    **extra: object,
) -> Ticket:
    return ticket_create(
        actor=actor,
        data=TicketInput(
            subject=subject or f"Parcel late {uuid.uuid4().hex[:6]}",
            description="The parcel has not arrived.",
            customer=customer_ or customer(),
            assignee=assignee,
            priority=priority,
            **extra,  # type: ignore[arg-type]
        ),
    )


def in_tenant(member: TenantCast):  # type: ignore[no-untyped-def]
    return schema_context(member.schema)
