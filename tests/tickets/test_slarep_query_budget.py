"""The queue and the ticket page stay within bench/support.py's budget of 8 queries (the
`SET search_path` statements aside), with a customer in and out of the reader's scope,
watchers, orders, other tickets, canned responses, the registered customer context (loyalty's
tier and points, analytics' segment and churn flags: support.customer_context) and saved views
present. The context items and the page's email data ride in the side query, whatever their
number."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.services import order_create
from loyalty.services import points_adjust
from support.models import CannedResponse, TicketSavedView
from support.services import ticket_watch
from tests.conftest import client_for
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db

BUDGET = 8


def _queries(client: Client, url: str) -> list[str]:
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in captured.captured_queries if "search_path" not in q["sql"]]


def test_the_queues_and_the_ticket_page_keep_to_eight_queries(acme):
    import datetime
    from decimal import Decimal

    from django.utils import timezone

    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        buyer = customer("预算 Budget", owner=agent)
        order_create(
            actor=None,
            customer=buyer,
            number="B-1",
            ordered_at=timezone.now() - datetime.timedelta(days=1),
            amount=Decimal("12.50"),
            currency="GBP",
        )
        points_adjust(actor=None, customer=buyer, points=12, reason="budget")
        made = ticket(assignee=agent, customer_=buyer)
        TicketSavedView.objects.create(user=agent, name="Mine", query="queue=mine")
        ticket(assignee=agent, customer_=buyer)
        ticket(assignee=None)
        ticket_watch(actor=agent, ticket=made, user=agent, watching=True)
        ticket_watch(actor=agent, ticket=made, user=manager, watching=True)
        CannedResponse.objects.create(title="Hello", body="Hello {{customer.name}}")
        hidden = ticket(assignee=agent, customer_=customer("Elsewhere", owner=manager))
    browser = client_for(acme, "agent")
    for queue in ("mine", "unassigned", "near", "all"):
        found = _queries(browser, reverse("support:home") + f"?queue={queue}")
        assert len(found) <= BUDGET, "\n".join(found)
    page = browser.get(reverse("support:detail", args=[made.pk])).content.decode()
    assert "B-1" in page and "acme manager" in page and "Stop watching" in page
    assert 'data-context="loyalty.points"' in page
    for pk in (made.pk, hidden.pk):
        found = _queries(browser, reverse("support:detail", args=[pk]))
        assert len(found) <= BUDGET, "\n".join(found)
    page = browser.get(reverse("support:detail", args=[hidden.pk])).content.decode()
    assert "A customer outside your records." in page and "Elsewhere" not in page
