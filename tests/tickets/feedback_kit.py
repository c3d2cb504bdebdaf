"""Customers who may (or may not) be surveyed, resolved tickets, and links taken from the
real SMTP server's mail, for the feedback tests."""

import datetime
import uuid

from django.utils import timezone

from crm.accounts.models import Team, User
from customers.models import Customer
from customers.services import CustomerInput, consent_set, customer_create
from support.models import Ticket
from support.services import ticket_status_set
from tests.testkit.smtp import SmtpServer, first_link
from tests.tickets.factory import ticket

HOST_PREFIX = "http://"


def surveyable(
    name: str = "",
    *,
    consent: bool | None = True,
    email: str | None = None,
    team: Team | None = None,
    external_id: str = "",
) -> Customer:
    """A customer with an email (unless email=""), who granted (True), withdrew (False) or
    never gave (None) email consent."""
    tag = uuid.uuid4().hex[:8]
    address = f"fb-{tag}@example.com" if email is None else email
    person = customer_create(
        actor=None,
        data=CustomerInput(
            name=name or f"Lena Park {tag}",
            emails=[address] if address else [],
            team=team,
            external_id=external_id,
        ),
    )
    if consent is not None:
        consent_set(actor=None, customer=person, channel="email", granted=True, source="form")
        if consent is False:
            consent_set(actor=None, customer=person, channel="email", granted=False, source="call")
    return person


def resolved_ticket(person: Customer, *, assignee: User | None = None, **extra: object) -> Ticket:
    made = ticket(customer_=person, assignee=assignee, **extra)
    return ticket_status_set(actor=assignee, ticket=made, status="resolved")


def later(minutes: int = 0, days: int = 0) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(minutes=minutes, days=days)


def survey_path(smtp: SmtpServer, address: str) -> str:
    """The path of the survey link in the last mail to `address`."""
    link = first_link(smtp.wait_for(address))
    assert "/survey/" in link
    return "/survey/" + link.split("/survey/", 1)[1]
