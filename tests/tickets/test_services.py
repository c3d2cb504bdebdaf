"""support.services: each write, its effects, and that a refused one changes nothing."""

import datetime
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.accounts.models import AuditEntry
from customers.models import Interaction
from support import sla
from support.models import SlaPolicy, Status, Ticket, TicketEvent, TicketMessage
from support.selectors import visible_tickets
from support.services import (
    TicketDetails,
    TicketInput,
    ticket_assign,
    ticket_create,
    ticket_details_set,
    ticket_merge,
    ticket_note,
    ticket_reply,
    ticket_status_set,
    ticket_watch,
    tickets_bulk_assign,
    tickets_bulk_status,
)
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


def _state(pk: int) -> tuple:
    t = Ticket.objects.get(pk=pk)
    return (
        t.status,
        t.assignee_id,
        t.first_response_due,
        t.resolution_due,
        t.sla_paused_since,
        TicketEvent.objects.filter(ticket_id=pk).count(),
        TicketMessage.objects.filter(ticket_id=pk).count(),
        AuditEntry.objects.count(),
    )


def test_create_numbers_the_ticket_and_sets_its_sla(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        person = customer()
        first = ticket(customer_=person, assignee=agent, priority="urgent", actor=agent)
        second = ticket(customer_=person, actor=agent)
        assert second.number == first.number + 1
        assert first.reference == f"T-{first.number:06d}"
        policy = SlaPolicy.objects.get(priority="urgent")
        calendar = sla.calendar_load()
        assert first.first_response_due == calendar.add(
            first.created_at, policy.first_response_minutes
        )
        assert first.resolution_due == calendar.add(first.created_at, policy.resolution_minutes)
        assert first.status == Status.NEW
        assert TicketEvent.objects.filter(ticket=first, kind="created").count() == 1
        entry = Interaction.objects.get(
            customer=person, source="ticket_opened", title__contains=first.reference
        )
        assert entry.actor_id == agent.pk
        audit = AuditEntry.objects.filter(
            table_name="support_ticket", record_id=str(first.pk)
        ).get()
        assert audit.actor_id == agent.pk


def test_a_requester_email_links_the_one_customer_it_names(acme):
    with in_tenant(acme):
        email = f"mei.{uuid.uuid4().hex[:6]}@example.cn"
        person = customer(email=email)
        made = ticket_create(
            actor=None,
            data=TicketInput(subject="Refund", requester_email=email.upper(), channel="email"),
        )
        assert made.customer_id == person.pk and made.requester_email == email
        # Two customers with one address: nobody is guessed.
        shared = f"shared.{uuid.uuid4().hex[:6]}@example.cn"
        customer(email=shared)
        customer(email=shared)
        unlinked = ticket_create(actor=None, data=TicketInput(subject="Hi", requester_email=shared))
        assert unlinked.customer_id is None


def test_a_refused_create_writes_nothing(acme):
    with in_tenant(acme):
        before = (Ticket.objects.count(), AuditEntry.objects.count())
        with pytest.raises(ValidationError) as refused:
            ticket_create(actor=None, data=TicketInput(subject="  "))
        assert set(refused.value.message_dict) == {"subject", "customer"}
        with pytest.raises(ValidationError):
            ticket_create(
                actor=None, data=TicketInput(subject="x", requester_phone="12", channel="phone")
            )
        assert (Ticket.objects.count(), AuditEntry.objects.count()) == before


def test_a_reply_meets_the_first_response_and_waits_to_be_sent(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        made = ticket(assignee=agent)
        message = ticket_reply(actor=agent, ticket=made, body="We are on it.")
        made.refresh_from_db()
        assert made.first_responded_at == message.created_at
        assert made.status == Status.OPEN
        assert message.delivery == TicketMessage.Delivery.PENDING
        assert message.kind == TicketMessage.Kind.REPLY and message.author_id == agent.pk
        # A second reply keeps the first response's time.
        ticket_reply(actor=agent, ticket=made, body="Any news?", status=Status.PENDING)
        made.refresh_from_db()
        assert made.first_responded_at == message.created_at
        assert made.status == Status.PENDING and made.sla_paused_since is not None


def test_a_note_is_internal_and_leaves_the_clock_alone(acme):
    with in_tenant(acme):
        made = ticket()
        note = ticket_note(actor=staff(acme, "agent"), ticket=made, body="Called the warehouse.")
        made.refresh_from_db()
        assert note.kind == TicketMessage.Kind.NOTE and note.delivery == ""
        assert made.first_responded_at is None and made.status == Status.NEW
        with pytest.raises(ValidationError):
            ticket_note(actor=None, ticket=made, body="   ")


def test_a_refused_transition_changes_nothing(acme):
    with in_tenant(acme):
        made = ticket()
        ticket_status_set(actor=None, ticket=made, status=Status.CLOSED)
        before = _state(made.pk)
        for target in (Status.OPEN, Status.NEW, Status.PENDING, "nonsense"):
            with pytest.raises(ValidationError) as refused:
                ticket_status_set(actor=None, ticket=made, status=target)
            assert "status" in refused.value.message_dict
        with pytest.raises(ValidationError):
            ticket_reply(actor=None, ticket=made, body="hello?")
        assert _state(made.pk) == before


def test_resolving_records_the_moment_and_the_timeline(acme):
    with in_tenant(acme):
        made = ticket()
        ticket_status_set(actor=None, ticket=made, status=Status.RESOLVED)
        made.refresh_from_db()
        assert made.resolved_at is not None
        assert Interaction.objects.filter(customer=made.customer, source="ticket_resolved").exists()
        # Reopened: the resolution clock runs again.
        ticket_status_set(actor=None, ticket=made, status=Status.OPEN)
        made.refresh_from_db()
        assert made.resolved_at is None and made.resolution_due is not None


def test_time_pending_on_the_customer_pushes_the_due_moments(acme):
    with in_tenant(acme):
        made = ticket(priority="low")
        ticket_status_set(actor=None, ticket=made, status=Status.PENDING)
        made.refresh_from_db()
        assert made.sla_paused_since is not None
        # Pretend the ticket waited on the customer for a whole working week.
        calendar = sla.calendar_load()
        paused_since = made.sla_paused_since - datetime.timedelta(days=7)
        Ticket.objects.filter(pk=made.pk).update(sla_paused_since=paused_since)
        ticket_status_set(actor=None, ticket=made, status=Status.OPEN)
        made.refresh_from_db()
        spent = round(calendar.minutes_between(paused_since, made.updated_at))
        assert made.sla_paused_since is None
        assert abs(made.sla_paused_minutes - spent) <= 1
        policy = SlaPolicy.objects.get(priority="low")
        assert made.resolution_due == calendar.add(
            made.created_at, policy.resolution_minutes + made.sla_paused_minutes
        )


def test_on_hold_pauses_only_when_the_settings_say_so(acme):
    with in_tenant(acme):
        settings = sla.support_settings()
        made = ticket()
        ticket_status_set(actor=None, ticket=made, status=Status.ON_HOLD)
        made.refresh_from_db()
        assert made.sla_paused_since is not None
        settings.pause_on_hold = False
        settings.save()
        other = ticket()
        ticket_status_set(actor=None, ticket=other, status=Status.ON_HOLD)
        other.refresh_from_db()
        assert other.sla_paused_since is None


def test_a_new_priority_recomputes_the_clocks_not_met(acme):
    with in_tenant(acme):
        made = ticket(priority="low")
        ticket_details_set(
            actor=None,
            ticket=made,
            details=TicketDetails(
                priority="urgent",
                kind="complaint",
                severity="major",
                root_cause="Courier",
                compensation="200 points",
            ),
        )
        made.refresh_from_db()
        urgent = SlaPolicy.objects.get(priority="urgent")
        assert made.resolution_due == sla.calendar_load().add(
            made.created_at, urgent.resolution_minutes
        )
        assert (made.kind, made.severity, made.compensation) == ("complaint", "major", "200 points")
        # Back to a question: the complaint's fields go.
        ticket_details_set(actor=None, ticket=made, details=TicketDetails(priority="urgent"))
        made.refresh_from_db()
        assert (made.severity, made.root_cause, made.compensation) == ("", "", "")


def test_assign_and_watch(acme):
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        made = ticket()
        ticket_assign(actor=manager, ticket=made, assignee=agent)
        made.refresh_from_db()
        assert made.assignee_id == agent.pk
        event = TicketEvent.objects.filter(ticket=made, kind="assigned").get()
        assert event.data["assignee"] == [None, agent.pk]
        ticket_watch(actor=manager, ticket=made, user=manager, watching=True)
        assert list(made.watchers.values_list("pk", flat=True)) == [manager.pk]
        ticket_watch(actor=manager, ticket=made, user=manager, watching=False)
        assert made.watchers.count() == 0


def test_bulk_assign_keeps_to_the_actors_scope(acme):
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        mine = ticket(assignee=agent)
        others = ticket(assignee=manager)  # no team: outside the agent's scope
        before = _state(others.pk)
        result = tickets_bulk_assign(
            actor=agent,
            tickets=[mine.pk, others.pk],
            assignee=None,
            visible=visible_tickets(agent),
        )
        assert result.changed == 1
        assert Ticket.objects.get(pk=mine.pk).assignee_id is None
        assert _state(others.pk)[:-1] == before[:-1]


def test_bulk_status_moves_what_may_move_and_names_the_rest(acme):
    with in_tenant(acme):
        manager = staff(acme, "manager")
        fresh, closed = ticket(), ticket()
        ticket_status_set(actor=None, ticket=closed, status=Status.CLOSED)
        before = _state(closed.pk)
        result = tickets_bulk_status(
            actor=manager,
            tickets=[fresh.pk, closed.pk],
            status=Status.PENDING,
            visible=visible_tickets(manager),
        )
        assert result.changed == 1 and result.refused == [closed.reference]
        fresh.refresh_from_db()
        assert fresh.status == Status.PENDING and fresh.sla_paused_since is not None
        assert _state(closed.pk)[:-1] == before[:-1]


def test_merge_moves_the_messages_and_closes_the_other(acme):
    with in_tenant(acme):
        person = customer()
        keep, drop = ticket(customer_=person), ticket(customer_=person, tags=["vip"])
        ticket_reply(actor=None, ticket=drop, body="First answer")
        ticket_merge(actor=None, keep=keep, drop=drop)
        drop.refresh_from_db()
        keep.refresh_from_db()
        assert drop.status == Status.CLOSED and drop.merged_into_id == keep.pk
        bodies = list(keep.messages.values_list("body", flat=True))
        assert "First answer" in bodies
        assert any(drop.reference in b for b in bodies)
        assert "vip" in keep.tags
        assert TicketMessage.objects.filter(ticket=drop).count() == 0


def test_merge_refuses_other_customers_and_closed_tickets(acme):
    with in_tenant(acme):
        a, b = ticket(), ticket()
        before = (_state(a.pk), _state(b.pk))
        with pytest.raises(ValidationError):
            ticket_merge(actor=None, keep=a, drop=b)
        with pytest.raises(ValidationError):
            ticket_merge(actor=None, keep=a, drop=a)
        assert (_state(a.pk), _state(b.pk)) == before


def test_time_spent_resolved_does_not_count_once_reopened(acme):
    with in_tenant(acme):
        made = ticket(priority="normal")
        ticket_status_set(actor=None, ticket=made, status=Status.RESOLVED)
        made.refresh_from_db()
        assert made.sla_paused_since is not None
        resolved_since = made.sla_paused_since - datetime.timedelta(days=14)
        Ticket.objects.filter(pk=made.pk).update(sla_paused_since=resolved_since)
        ticket_status_set(actor=None, ticket=made, status=Status.OPEN)
        made.refresh_from_db()
        calendar = sla.calendar_load()
        assert made.sla_paused_since is None and made.resolved_at is None
        assert made.sla_paused_minutes >= 9 * 60 * 9  # two weeks of business days, at least
        policy = SlaPolicy.objects.get(priority="normal")
        assert made.resolution_due == calendar.add(
            made.created_at, policy.resolution_minutes + made.sla_paused_minutes
        )
        assert made.resolution_due > timezone.now()


def test_the_next_due_moment_follows_the_clock(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        made = ticket(assignee=agent)
        assert made.sla_due == made.first_response_due < made.resolution_due
        ticket_reply(actor=agent, ticket=made, body="On it")
        made.refresh_from_db()
        assert made.sla_due == made.resolution_due
        ticket_status_set(actor=agent, ticket=made, status=Status.PENDING)
        made.refresh_from_db()
        assert made.sla_due is None
        tickets_bulk_status(
            actor=agent, tickets=[made.pk], status=Status.OPEN, visible=visible_tickets(agent)
        )
        made.refresh_from_db()
        assert made.sla_due == made.resolution_due is not None
        ticket_status_set(actor=agent, ticket=made, status=Status.RESOLVED)
        made.refresh_from_db()
        assert made.sla_due is None
