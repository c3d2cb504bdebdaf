"""Customer page tabs and timeline events by registration (customers.customer_tabs): an app
(here: this test, standing in for support) adds a tab and an event kind without customers
importing it; the tab shows only to readers with its capability, and only an event kind that
was registered can be written."""

import pytest
from django.core.exceptions import ValidationError
from django.template import engines
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts import capabilities as cap
from customers import customer_tabs
from customers.customer_tabs import CustomerTab, TimelineEvent
from customers.models import Interaction
from customers.services import CustomerInput, customer_create, timeline_event_add
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

TICKETS = engines["django"].from_string(
    '<ul class="test-tickets">{% for t in tab.tickets %}<li>{{ t }}</li>{% endfor %}</ul>'
    "<p>{{ customer.name }}</p>"
)


def _tickets(user, customer):
    return {"tickets": [f"#{customer.pk}-1 <printer>", f"#{customer.pk}-2"]}


@pytest.fixture
def support_app():
    """What support's AppConfig.ready would register."""
    customer_tabs.customer_tab_register(
        CustomerTab(
            key="test_tickets",
            title="Tickets (test)",
            template=TICKETS,
            selector=_tickets,
            capability=cap.CHANGE,
            position=15,
        )
    )
    customer_tabs.timeline_event_register(
        TimelineEvent(key="test.ticket_opened", label="Ticket opened (test)")
    )
    yield
    customer_tabs.customer_tab_unregister("test_tickets")
    customer_tabs.timeline_event_unregister("test.ticket_opened")


def _customer(member):
    with schema_context(member.schema):
        return customer_create(
            actor=None, data=CustomerInput(name="Ada Lovelace", owner=member.agent)
        )


def test_a_registered_tab_shows_between_the_customers_own(acme, support_app):
    ada = _customer(acme)
    response = client_for(acme, "agent").get(reverse("customers:detail", args=[ada.pk]))
    page = response.content.decode()
    keys = [t.key for t in response.context["tabs"]]
    # The support app's own tab (position 30) follows the customer's orders; loyalty's (40)
    # analytics' RFM (60) and churn (61) come last.
    keys_expected = [
        "timeline",
        "test_tickets",
        "orders",
        "tickets",
        "points",
        "analytics",
        "churn",
    ]
    assert keys == keys_expected
    section = page[page.index('id="tab-test_tickets"') : page.index('id="tab-orders"')]
    assert "Tickets (test)" in section and f"#{ada.pk}-2" in section
    assert "&lt;printer&gt;" in section and "<p>Ada Lovelace</p>" in section
    assert 'href="#tab-test_tickets"' in page


def test_a_tab_is_not_read_for_a_reader_without_its_capability(acme, support_app):
    ada = _customer(acme)
    response = client_for(acme, "viewer").get(reverse("customers:detail", args=[ada.pk]))
    keys = [t.key for t in response.context["tabs"]]
    assert keys == ["timeline", "orders", "tickets", "points", "analytics", "churn"]
    assert "Tickets (test)" not in response.content.decode()


def test_a_registered_event_is_written_and_labelled(acme, support_app):
    ada = _customer(acme)
    with schema_context(acme.schema):
        timeline_event_add(
            actor=None, customer=ada, event="test.ticket_opened", title="Printer jammed"
        )
    page = client_for(acme, "viewer").get(reverse("customers:detail", args=[ada.pk]))
    html = page.content.decode()
    assert '<span class="badge">Ticket opened (test)</span> <strong>Printer jammed' in html


def test_an_unregistered_event_is_refused_and_writes_nothing(acme):
    ada = _customer(acme)
    with schema_context(acme.schema):
        with pytest.raises(ValidationError):
            timeline_event_add(
                actor=None, customer=ada, event="test.ticket_opened", title="Printer jammed"
            )
        assert not Interaction.objects.filter(customer=ada).exists()


def test_an_event_key_longer_than_its_column_is_refused():
    with pytest.raises(ValueError, match="30 characters"):
        customer_tabs.timeline_event_register(TimelineEvent(key="x" * 31, label="Too long"))
