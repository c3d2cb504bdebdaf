"""The SLA scan (support.tasks.sla_scan): near-breach and breach notices to the assignee,
escalation of breaches to the team's managers, recorded once whatever the number of runs."""

import datetime
import time
import uuid

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.services import team_save
from support.models import SlaNotice, Status, Ticket
from support.services import sla_due_of, ticket_status_set
from support.services_settings import sla_scan
from tests.tickets.factory import in_tenant, staff, ticket


def _due(made: Ticket, *, first: datetime.timedelta, resolution: datetime.timedelta) -> None:
    now = timezone.now()
    ticket = Ticket.objects.get(pk=made.pk)
    ticket.first_response_due, ticket.resolution_due = now + first, now + resolution
    Ticket.objects.filter(pk=made.pk).update(
        first_response_due=ticket.first_response_due,
        resolution_due=ticket.resolution_due,
        sla_due=sla_due_of(ticket),
    )


@pytest.mark.django_db
def test_the_scan_warns_breaches_escalates_and_is_idempotent(acme):
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        team = team_save(
            actor=None, team=None, name=f"Desk {uuid.uuid4().hex[:4]}", members=[agent, manager]
        )
        late = ticket(assignee=agent, team=team)
        _due(late, first=-datetime.timedelta(minutes=10), resolution=datetime.timedelta(days=2))
        soon = ticket(assignee=agent, team=team)
        _due(soon, first=datetime.timedelta(minutes=20), resolution=datetime.timedelta(days=2))
        calm = ticket(assignee=agent, team=team)
        _due(calm, first=datetime.timedelta(days=1), resolution=datetime.timedelta(days=2))
        paused = ticket(assignee=agent, team=team)
        ticket_status_set(actor=None, ticket=paused, status=Status.PENDING)
        _due(paused, first=-datetime.timedelta(minutes=10), resolution=datetime.timedelta(days=1))

        first = sla_scan(actor=None)
        assert (first.near, first.breached, first.escalated) == (1, 1, 1)
        notices = SlaNotice.objects.filter(ticket__in=[late, soon, calm, paused])
        assert set(notices.values_list("ticket_id", "level", "recipient_id")) == {
            (late.pk, "breached", agent.pk),
            (late.pk, "escalated", manager.pk),
            (soon.pk, "near", agent.pk),
        }
        again = sla_scan(actor=None)
        assert (again.near, again.breached, again.escalated) == (0, 0, 0)
        assert notices.count() == 3
        # The warned ticket then breaches: a breach notice of its own, once.
        _due(soon, first=-datetime.timedelta(minutes=1), resolution=datetime.timedelta(days=2))
        assert sla_scan(actor=None).breached == 1
        assert sla_scan(actor=None).breached == 0


@pytest.mark.worker
def test_the_beat_dispatcher_runs_the_scan_in_each_tenant(committed_db, celery_worker, acme):
    from crm.tenants.tasks import tenants_dispatch

    with schema_context(acme.schema):
        agent = staff(acme, "agent")
        late = ticket(assignee=agent, subject=f"Worker {uuid.uuid4().hex[:6]}")
        _due(late, first=-datetime.timedelta(minutes=3), resolution=datetime.timedelta(days=1))
    try:
        tenants_dispatch.delay("support.tasks.sla_scan").get(timeout=30)
        deadline = timezone.now() + datetime.timedelta(seconds=30)
        found = 0
        while timezone.now() < deadline and not found:
            with schema_context(acme.schema):
                found = SlaNotice.objects.filter(ticket=late, level="breached").count()
        assert found == 1
        # Sent again (a redelivery, the next beat): nothing new.
        tenants_dispatch.delay("support.tasks.sla_scan").get(timeout=30)
        time.sleep(3)  # the tenant's task is queued behind the dispatcher
        with schema_context(acme.schema):
            assert SlaNotice.objects.filter(ticket=late, recipient=agent).count() == 1
    finally:
        with schema_context(acme.schema):
            SlaNotice.objects.filter(ticket=late).delete()
            customer_id = late.customer_id
            late.events.all().delete()
            Ticket.objects.filter(pk=late.pk).delete()
            from customers.models import Customer

            if customer_id is not None:
                Customer.objects.filter(pk=customer_id).delete()


@pytest.mark.django_db
def test_the_assignee_sees_their_alerts_on_the_queue(acme):
    from django.urls import reverse

    from tests.conftest import client_for

    with in_tenant(acme):
        agent = staff(acme, "agent")
        late = ticket(assignee=agent, subject=f"Late {uuid.uuid4().hex[:6]}")
        _due(late, first=-datetime.timedelta(minutes=10), resolution=datetime.timedelta(days=2))
        sla_scan(actor=None)
    body = client_for(acme, "agent").get(reverse("support:home")).content.decode()
    assert "Your SLA alerts" in body and late.reference in body and "Breached" in body
    assert (
        "Your SLA alerts"
        not in client_for(acme, "viewer").get(reverse("support:home")).content.decode()
    )
