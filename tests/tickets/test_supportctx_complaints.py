"""Complaints escalated to the team's managers (history, audit, notices emailed, the queues'
filter) and loyalty's "Goodwill points" action on a complaint (support.ticket_actions): through
loyalty's adjustment service, its approval limit included; roles; refusals change nothing."""

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.accounts import capabilities as cap
from crm.accounts import roles
from crm.accounts.models import AuditEntry
from crm.accounts.services import staff_create, team_save
from customers.models import Interaction
from loyalty.models import Account, Adjustment
from loyalty.programme import programme
from loyalty.services import points_adjust
from support import complaint_services
from support.mail_notices import sla_notices_send
from support.models import SlaNotice, Ticket, TicketEvent
from support.ticket_actions import (
    ActionOutcome,
    TicketAction,
    ticket_action_register,
    ticket_action_unregister,
)
from tests.conftest import client_for
from tests.testkit.smtp import body_text
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_smtp(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    return smtp_server


def _complaint(member, **extra):  # type: ignore[no-untyped-def]
    agent = staff(member, "agent")
    return ticket(
        assignee=agent,
        customer_=customer("投诉 Complaint", owner=agent),
        kind="complaint",
        severity="major",
        **extra,
    )


def test_an_agent_escalates_a_complaint_to_the_teams_managers(acme, real_smtp):
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        # A manager outside the team: told nothing while the team has its own.
        staff_create(
            actor=None,
            email=f"other-{uuid.uuid4().hex[:6]}@acme.test",
            full_name="Other Manager",
            role=roles.MANAGER,
            password=None,
        )
        team = team_save(
            actor=None, team=None, name=f"Desk {uuid.uuid4().hex[:4]}", members=[agent, manager]
        )
        made = _complaint(acme, team=team)
        plain = ticket(assignee=agent)
    browser = client_for(acme, "agent")
    page = browser.get(reverse("support:detail", args=[made.pk])).content.decode()
    assert reverse("support:escalate", args=[made.pk]) in page
    assert browser.post(reverse("support:escalate", args=[made.pk])).status_code == 302
    with in_tenant(acme):
        escalated = Ticket.objects.get(pk=made.pk)
        assert escalated.escalated_at is not None
        notices = SlaNotice.objects.filter(ticket=made)
        assert [(n.recipient_id, n.level, n.clock) for n in notices] == [
            (manager.pk, "escalated", "complaint")
        ]
        event = TicketEvent.objects.get(ticket=made, kind="escalated")
        assert event.actor_id == agent.pk and event.data == {"managers": [manager.pk]}
        audited = AuditEntry.objects.filter(
            table_name="support_ticket", record_id=str(made.pk), actor_id=agent.pk
        )
        assert any((a.after or {}).get("escalated_at") for a in audited)
        assert sla_notices_send().sent >= 1
    mail = real_smtp.wait_for(manager.email)
    assert mail["Subject"] == f"[{made.reference}] Escalated: Complaint"
    assert "Escalated:" in body_text(mail) and made.subject not in body_text(mail)
    page = browser.get(reverse("support:detail", args=[made.pk])).content.decode()
    assert 'id="escalated"' in page and "escalated the complaint" in page
    # Once is enough; a question is no complaint.
    with in_tenant(acme):
        with pytest.raises(ValidationError):
            complaint_services.ticket_escalate(actor=agent, ticket=escalated)
        with pytest.raises(ValidationError):
            complaint_services.ticket_escalate(actor=agent, ticket=plain)
        assert Ticket.objects.get(pk=plain.pk).escalated_at is None
        assert SlaNotice.objects.filter(ticket__in=[made, plain]).count() == 1
    # The queues' filter shows escalated complaints only.
    listed = browser.get(reverse("support:home") + "?queue=all&escalated=on").content.decode()
    assert made.reference in listed and plain.reference not in listed


def test_viewers_cannot_escalate_and_nothing_changes(acme):
    with in_tenant(acme):
        made = _complaint(acme)
    for role in ("viewer", "marketing"):
        response = client_for(acme, role).post(reverse("support:escalate", args=[made.pk]))
        assert response.status_code == 403
    with in_tenant(acme):
        assert Ticket.objects.get(pk=made.pk).escalated_at is None
        assert not SlaNotice.objects.filter(ticket=made).exists()
        assert not TicketEvent.objects.filter(ticket=made, kind="escalated").exists()


def _goodwill(browser, made, points, reason="Late parcel"):  # type: ignore[no-untyped-def]
    return browser.post(
        reverse("support:action", args=[made.pk, "loyalty.goodwill"]),
        {"loyalty.goodwill-points": str(points), "loyalty.goodwill-reason": reason},
    )


def _balance(made) -> int:  # type: ignore[no-untyped-def]
    account = Account.objects.filter(customer_id=made.customer_id).first()
    return account.balance if account else 0


def test_goodwill_points_go_through_loyaltys_adjustment_and_note_the_complaint(acme):
    with in_tenant(acme):
        made = _complaint(acme)
        limit = programme().adjustment_limit
    browser = client_for(acme, "agent")
    page = browser.get(reverse("support:detail", args=[made.pk])).content.decode()
    assert 'data-action="loyalty.goodwill"' in page
    assert _goodwill(browser, made, 50).status_code == 302
    with in_tenant(acme):
        assert _balance(made) == 50
        adjustment = Adjustment.objects.get(account__customer_id=made.customer_id)
        assert adjustment.status == "applied" and adjustment.reason.startswith(made.reference)
        assert Ticket.objects.get(pk=made.pk).compensation == "Goodwill points: +50 points"
        event = TicketEvent.objects.get(ticket=made, kind="action")
        assert event.data == {
            "key": "loyalty.goodwill",
            "points": 50,
            "adjustment": adjustment.pk,
            "status": "applied",
        }
        # loyalty's service noted it on the customer's timeline too.
        assert Interaction.objects.filter(customer_id=made.customer_id, source="points_adjust")
    # Above the programme's limit: it waits for a second user's approval.
    assert _goodwill(browser, made, limit + 1).status_code == 302
    with in_tenant(acme):
        assert _balance(made) == 50
        pending = Adjustment.objects.get(account__customer_id=made.customer_id, status="pending")
        assert pending.points == limit + 1
        compensation = Ticket.objects.get(pk=made.pk).compensation
        assert compensation.splitlines() == [
            "Goodwill points: +50 points",
            f"Goodwill points: +{limit + 1} points, awaiting approval (above the limit)",
        ]
    page = browser.get(reverse("support:detail", args=[made.pk])).content.decode()
    assert "Goodwill points: +50 points" in page and "awaiting approval" in page


def _state(made):  # type: ignore[no-untyped-def]
    return (
        _balance(made),
        Adjustment.objects.filter(account__customer_id=made.customer_id).count(),
        Ticket.objects.get(pk=made.pk).compensation,
        TicketEvent.objects.filter(ticket=made, kind="action").count(),
    )


def test_goodwill_refusals_change_nothing(acme):
    with in_tenant(acme):
        made = _complaint(acme)
        question = ticket(assignee=staff(acme, "agent"), customer_=made.customer)
        before = _state(made)
    # Roles without "change records" are refused outright.
    for role in ("viewer", "marketing"):
        assert _goodwill(client_for(acme, role), made, 10).status_code == 403
    agent = client_for(acme, "agent")
    # Not a whole positive number of points; no reason; not a complaint.
    assert _goodwill(agent, made, 0).status_code == 302
    assert _goodwill(agent, made, 10, reason="").status_code == 302
    assert _goodwill(agent, question, 10).status_code == 302
    with in_tenant(acme):
        assert _state(made) == before
        assert not TicketEvent.objects.filter(ticket=question, kind="action").exists()
    page = agent.get(reverse("support:detail", args=[question.pk])).content.decode()
    assert 'data-action="loyalty.goodwill"' not in page


def test_the_service_refuses_goodwill_for_a_customer_outside_the_actors_scope(acme):
    """Record scope is the service's rule, not only the page's: an agent who may not see the
    complaint's customer gets nothing through ticket_action_run, whoever calls it."""
    from support.ticket_actions import ticket_action

    goodwill = ticket_action("loyalty.goodwill")
    assert goodwill is not None
    with in_tenant(acme):
        made = _complaint(acme)  # its customer is owned by acme's agent
        stranger = staff_create(
            actor=None,
            email=f"stranger-{uuid.uuid4().hex[:6]}@acme.test",
            full_name="Stranger",
            role="Agent",
            password=None,
        )
        before = _state(made)
        data = {"points": 10, "reason": "Late parcel"}
        with pytest.raises(ValidationError, match="does not apply"):
            complaint_services.ticket_action_run(
                actor=stranger, ticket=made, action=goodwill, data=data
            )
        assert _state(made) == before
        # The customer's owner may; so may the command line (no actor: every customer).
        complaint_services.ticket_action_run(
            actor=staff(acme, "agent"), ticket=made, action=goodwill, data=data
        )
        complaint_services.ticket_action_run(actor=None, ticket=made, action=goodwill, data=data)
        assert _balance(made) == before[0] + 20


def test_a_refused_action_undoes_its_apps_write(acme):
    """An action whose app writes and then refuses: the whole transaction goes."""

    def run(*, actor, ticket, data) -> ActionOutcome:  # type: ignore[no-untyped-def]
        points_adjust(actor=actor, customer=ticket.customer, points=5, reason="first")
        raise ValidationError("refused after writing")

    ticket_action_register(
        TicketAction(
            key="test.refuses",
            label="Refuses",
            form_class=type("EmptyForm", (__import__("django").forms.Form,), {}),
            applies=lambda ticket: True,
            run=run,
            capability=cap.CHANGE,
        )
    )
    try:
        with in_tenant(acme):
            made = _complaint(acme)
            before = _state(made)
        response = client_for(acme, "agent").post(
            reverse("support:action", args=[made.pk, "test.refuses"])
        )
        assert response.status_code == 302
        with in_tenant(acme):
            assert _state(made) == before
    finally:
        ticket_action_unregister("test.refuses")


def test_an_unknown_action_is_404(acme):
    with in_tenant(acme):
        made = _complaint(acme)
    response = client_for(acme, "agent").post(reverse("support:action", args=[made.pk, "nope"]))
    assert response.status_code == 404
