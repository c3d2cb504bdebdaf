"""The queue and the ticket page run a bounded number of queries, however many tickets,
messages and events there are."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from support.services import ticket_note, ticket_reply
from tests.conftest import client_for
from tests.tickets.factory import in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


def _queries(client: Client, url: str) -> list[str]:
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in captured.captured_queries if "search_path" not in q["sql"]]


def test_the_queue_does_not_grow_with_tickets(acme):
    agent = client_for(acme, "agent")
    url = reverse("support:home") + "?queue=mine"
    with in_tenant(acme):
        ticket(assignee=staff(acme, "agent"))
    few = _queries(agent, url)
    with in_tenant(acme):
        for _n in range(15):
            ticket(assignee=staff(acme, "agent"))
    many = _queries(agent, url)
    assert len(many) == len(few), "\n".join(many)
    assert len(many) <= 12, "\n".join(many)


def test_the_ticket_page_does_not_grow_with_messages(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        made = ticket(assignee=agent)
    client = client_for(acme, "agent")
    url = reverse("support:detail", args=[made.pk])
    few = _queries(client, url)
    with in_tenant(acme):
        for n in range(6):
            ticket_reply(actor=agent, ticket=made, body=f"reply {n}")
            ticket_note(actor=agent, ticket=made, body=f"note {n}")
    many = _queries(client, url)
    assert len(many) == len(few), "\n".join(many)
