"""The tickets export kind: the columns, the queue's filter, the reader's scope, masking for
readers without "see personal data", formula-safe cells, the message count by subquery (a
fixed number of queries whatever the number of tickets), and `export_records <tenant>
tickets` on the command line."""

import csv
import datetime
import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from customers.services import CustomerInput, customer_create
from support import services
from support.models import Ticket
from support.transfer_exports import HEADERS, sla_state, tickets_export_rows
from tests.conftest import client_for
from tests.tickets.factory import staff, ticket

pytestmark = pytest.mark.django_db


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.fixture
def made(acme):
    """Three tickets with a marker tag: one of the agent's with a customer and two messages,
    one unassigned from a requester, one resolved."""
    marker = uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        agent = staff(acme, "agent")
        known = customer_create(
            actor=None, data=CustomerInput(name="王芳", external_id=f"EXT-{marker}")
        )
        first = ticket(
            subject=f"=HYPERLINK('x') {marker}",
            customer_=known,
            assignee=agent,
            priority="urgent",
            tags=[marker],
            category="Delivery",
        )
        services.ticket_reply(actor=agent, ticket=first, body="On its way.")
        services.ticket_note(actor=agent, ticket=first, body="Checked the courier.")
        second = services.ticket_create(
            actor=None,
            data=services.TicketInput(
                subject=f"Invoice {marker}",
                requester_name="李梅",
                requester_email=f"li.{marker}@example.cn",
                requester_phone="13912345678",
                channel="web",
                tags=[marker],
            ),
        )
        third = ticket(subject=f"Done {marker}", tags=[marker])
        services.ticket_status_set(actor=None, ticket=third, status="resolved")
    return marker, first, second, third


def test_the_command_line_exports_every_ticket_unmasked(acme, made):
    marker, first, second, third = made
    out = io.StringIO()
    call_command("export_records", acme.tenant.slug, "tickets", stdout=out)
    rows = {r["reference"]: r for r in _rows(out.getvalue()) if marker in r["subject"]}
    assert list(_rows(out.getvalue())[0].keys()) == list(HEADERS)
    assert set(rows) == {first.reference, second.reference, third.reference}
    one = rows[first.reference]
    assert one["subject"] == f"'=HYPERLINK('x') {marker}"  # formula-safe
    assert (one["status"], one["priority"], one["category"], one["type"]) == (
        "open",
        "urgent",
        "Delivery",
        "question",
    )
    assert one["customer_external_id"] == f"EXT-{marker}"
    assert one["assignee"] == acme.email("agent")
    assert one["message_count"] == "2"
    assert one["first_response"] and one["sla_state"] == "on_track"
    two = rows[second.reference]
    assert two["requester"] == f"李梅 <li.{marker}@example.cn> +8613912345678"
    assert two["message_count"] == "0" and two["assignee"] == ""
    three = rows[third.reference]
    assert three["status"] == "resolved" and three["resolved"] and three["sla_state"] == "met"


def test_the_queue_filter_and_masking_apply_in_the_browser_export(acme, made):
    marker, first, second, _third = made
    client = client_for(acme, "marketing")  # may export, may not see personal data
    response = client.get(
        reverse("transfer:export_start", kwargs={"kind": "tickets"}),
        {"format": "csv", "queue": "all", "q": f"Invoice {marker}"},
    )
    assert response.status_code == 200
    rows = _rows(b"".join(response.streaming_content).decode())
    assert [r["reference"] for r in rows] == [second.reference]
    assert f"li.{marker}@example.cn" not in rows[0]["requester"]
    assert "13912345678" not in rows[0]["requester"] and "李梅" in rows[0]["requester"]

    open_work = client.get(
        reverse("transfer:export_start", kwargs={"kind": "tickets"}),
        {"format": "csv", "queue": "all", "q": marker},
    )
    refs = {r["reference"] for r in _rows(b"".join(open_work.streaming_content).decode())}
    assert refs == {first.reference, second.reference}, "no status filter: open work"


def test_roles_without_export_may_not_export_tickets(acme, made):
    url = reverse("transfer:export_start", kwargs={"kind": "tickets"})
    for role in ("agent", "viewer"):
        assert client_for(acme, role).get(url, {"format": "csv"}).status_code == 403, role


def test_an_unreadable_filter_is_refused_not_exported_unfiltered(acme, made):
    client = client_for(acme, "manager")
    response = client.get(
        reverse("transfer:export_start", kwargs={"kind": "tickets"}),
        {"format": "csv", "queue": "all", "team": "999999"},
    )
    assert response.status_code == 400


def test_the_readers_scope_limits_the_rows(acme, made):
    marker, first, _second, _third = made
    with schema_context(acme.schema):
        agent = staff(acme, "agent")  # team scope: their own tickets (no team here)
        rows = list(tickets_export_rows(agent, QueryDict(f"queue=all&status=any&q={marker}")))
    assert [row[0] for row in rows] == [first.reference]


def test_rows_cost_a_fixed_number_of_queries(acme, made):
    marker = made[0]
    with schema_context(acme.schema):
        manager = staff(acme, "manager")
        params = QueryDict(f"queue=all&status=any&q={marker}")
        list(tickets_export_rows(manager, params))
        with CaptureQueriesContext(connection) as few:
            assert len(list(tickets_export_rows(manager, params))) == 3
        for _n in range(5):
            ticket(subject=f"More {marker}", tags=[marker])
        with CaptureQueriesContext(connection) as more:
            assert len(list(tickets_export_rows(manager, params))) == 8
    assert len(more.captured_queries) == len(few.captured_queries)


def test_the_sla_state():
    now = timezone.now()
    hour = datetime.timedelta(hours=1)
    base = {
        "status": "open",
        "first_due": now + 2 * hour,
        "first_at": None,
        "resolution_due": now + 5 * hour,
        "resolved_at": None,
        "paused_since": None,
        "sla_due": now + 2 * hour,
        "now": now,
        "margin": hour,
    }
    assert sla_state(**base) == "on_track"
    assert sla_state(**base | {"sla_due": now + hour / 2}) == "near_breach"
    assert sla_state(**base | {"first_due": now - hour, "sla_due": now - hour}) == "breached"
    assert sla_state(**base | {"first_at": now - hour, "first_due": now - 2 * hour}) == "breached"
    assert sla_state(**base | {"paused_since": now - hour, "sla_due": None}) == "paused"
    assert sla_state(**base | {"status": "resolved", "first_at": now, "resolved_at": now}) == "met"
    assert sla_state(**base | {"first_due": None, "resolution_due": None}) == ""


def test_the_export_page_and_the_queue_offer_tickets(acme):
    client = client_for(acme, "manager")
    page = client.get(reverse("transfer:exports")).content.decode()
    assert reverse("transfer:export_start", kwargs={"kind": "tickets"}) in page
    queue = client.get(reverse("support:home") + "?queue=all&priority=high").content.decode()
    assert "kind=tickets" in queue or "/transfer/export/tickets/" in queue
    assert "queue=all&amp;priority=high" in queue


def test_a_ticket_not_in_the_queue_is_not_in_the_export(acme, made):
    marker, _first, _second, _third = made
    with schema_context(acme.schema):
        manager = staff(acme, "manager")
        params = QueryDict(f"queue=unassigned&status=any&q={marker}")
        refs = {row[0] for row in tickets_export_rows(manager, params)}
        assert refs == {
            t.reference for t in Ticket.objects.filter(tags__contains=[marker], assignee=None)
        }


def test_a_customer_outside_the_readers_records_is_not_named_by_the_requester_cell(acme, made):
    # As the queue and the ticket page: a ticket the reader sees whose customer they may not
    # see gives neither the customer's external id nor the requester's name and contacts.
    marker, _first, _second, _third = made
    with schema_context(acme.schema):
        agent = staff(acme, "agent")
        manager = staff(acme, "manager")
        outside = customer_create(
            actor=None,
            data=CustomerInput(name="赵敏", external_id=f"OUT-{marker}", owner=manager),
        )
        hidden = services.ticket_create(
            actor=None,
            data=services.TicketInput(
                subject=f"Hidden {marker}",
                customer=outside,
                requester_name="赵敏",
                requester_email=f"zhao.{marker}@example.cn",
                requester_phone="13812345678",
                assignee=agent,
                tags=[marker],
            ),
        )
        params = QueryDict(f"queue=all&status=any&q=Hidden {marker}")
        as_agent = {row[0]: row for row in tickets_export_rows(agent, params)}
        as_manager = {row[0]: row for row in tickets_export_rows(manager, params)}
    row = as_agent[hidden.reference]
    assert row[HEADERS.index("customer_external_id")] == ""
    assert row[HEADERS.index("requester")] == ""
    seen = as_manager[hidden.reference][HEADERS.index("requester")]
    assert seen.startswith("赵敏 <")
