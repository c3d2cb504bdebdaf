"""SLA notices emailed to their recipients through a real SMTP server, each once."""

import datetime
import uuid

import pytest
from django.utils import timezone

from crm.accounts.services import team_save
from support.mail_notices import sla_notices_send
from support.models import SlaNotice, Ticket
from support.models_mail import SlaNoticeEmail
from support.services import sla_due_of
from support.services_settings import sla_scan
from tests.testkit.smtp import body_text
from tests.tickets.factory import in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_smtp(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    return smtp_server


def test_breach_notices_are_emailed_once_without_the_customers_words(acme, real_smtp):
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        team = team_save(
            actor=None, team=None, name=f"Desk {uuid.uuid4().hex[:4]}", members=[agent, manager]
        )
        late = ticket(assignee=agent, team=team, subject=f"Secret words {uuid.uuid4().hex[:6]}")
        now = timezone.now()
        made = Ticket.objects.get(pk=late.pk)
        made.first_response_due = now - datetime.timedelta(minutes=10)
        made.resolution_due = now + datetime.timedelta(days=2)
        Ticket.objects.filter(pk=late.pk).update(
            first_response_due=made.first_response_due,
            resolution_due=made.resolution_due,
            sla_due=sla_due_of(made),
        )
        before = len(real_smtp.messages_to(agent.email))
        sla_scan(actor=None)
        notices = SlaNotice.objects.filter(ticket=late)
        assert {n.level for n in notices} == {"breached", "escalated"}
        result = sla_notices_send()
        assert result.sent >= 2 and result.failed == 0
        # Run again (the next beat, a second worker): nothing more.
        assert sla_notices_send().sent == 0
        assert (
            SlaNoticeEmail.objects.filter(notice__ticket=late, sent_at__isnull=False).count() == 2
        )
    to_agent = real_smtp.wait_for(agent.email)
    assert len(real_smtp.messages_to(agent.email)) == before + 1
    assert to_agent["Subject"] == f"[{late.reference}] Breached: First response"
    text = body_text(to_agent)
    assert f"/support/{late.pk}/" in text and "Secret words" not in text
    to_manager = real_smtp.wait_for(manager.email)
    assert to_manager["Subject"] == f"[{late.reference}] Escalated: First response"
