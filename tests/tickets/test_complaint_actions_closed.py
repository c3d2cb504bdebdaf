"""A registered ticket action (loyalty's goodwill points) is not offered on a closed complaint,
and a post made anyway is refused by the service: no points, no compensation, no event."""

import pytest
from django.urls import reverse

from loyalty.models import Adjustment
from support.models import Ticket, TicketEvent
from support.services import ticket_status_set
from tests.conftest import client_for
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


def test_no_goodwill_points_on_a_closed_complaint(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        made = ticket(
            assignee=agent,
            customer_=customer("投诉 Closed", owner=agent),
            kind="complaint",
            severity="major",
        )
        ticket_status_set(actor=agent, ticket=made, status="resolved")
        ticket_status_set(actor=agent, ticket=made, status="closed")
    browser = client_for(acme, "agent")
    page = browser.get(reverse("support:detail", args=[made.pk])).content.decode()
    assert 'data-action="loyalty.goodwill"' not in page
    posted = browser.post(
        reverse("support:action", args=[made.pk, "loyalty.goodwill"]),
        {"loyalty.goodwill-points": "25", "loyalty.goodwill-reason": "Late parcel"},
        follow=True,
    )
    assert "This ticket is closed." in posted.content.decode()
    with in_tenant(acme):
        assert not Adjustment.objects.filter(account__customer=made.customer).exists()
        assert Ticket.objects.get(pk=made.pk).compensation == ""
        assert not TicketEvent.objects.filter(ticket=made, kind="action").exists()
