"""Public replies go out by email through a real SMTP server (aiosmtpd on localhost): the
claim, the headers and threading, retries until failed, and a ticket without an address."""

import uuid

import pytest
from django.urls import reverse

from support import mail_outbound
from support.attachments import attachment_from_bytes
from support.mail_settings import mail_settings_save
from support.models import Ticket, TicketEvent
from support.models_mail import MailHeader
from support.services import TicketInput, ticket_create, ticket_reply
from tests.conftest import client_for
from tests.testkit.smtp import body_text
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_smtp(settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_TIMEOUT = 5
    return smtp_server


@pytest.fixture
def dead_smtp(settings):
    from tests.testkit.smtp import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_TIMEOUT = 2


def _address() -> str:
    return f"li.{uuid.uuid4().hex[:8]}@example.cn"


def test_a_reply_is_emailed_once_with_the_reference_and_threading(
    acme, real_smtp, django_capture_on_commit_callbacks
):
    address = _address()
    with in_tenant(acme):
        agent = staff(acme, "agent")
        mail_settings_save(actor=None, from_address="help@acme.example", from_name="Acme 客服")
        made = ticket(customer_=customer(email=address), assignee=agent, subject="包裹 late")
        # The customer's mail that opened the thread.
        MailHeader.objects.create(
            ticket=made, direction="in", rfc_message_id=f"{uuid.uuid4().hex}@example.cn"
        )
        with django_capture_on_commit_callbacks() as queued:
            reply = ticket_reply(
                actor=agent,
                ticket=made,
                body="我们已经在查了。",
                attachments=[
                    attachment_from_bytes("运单.txt", "text/plain", "单号 SF123".encode())
                ],
            )
        assert len(queued) == 1, "the send is queued after the commit"
        assert reply.delivery == "pending"
        assert mail_outbound.reply_send(message_id=reply.pk).sent
        # Done: a redelivered task sends nothing.
        assert not mail_outbound.reply_send(message_id=reply.pk).sent
        header = MailHeader.objects.get(message=reply)
        opening = MailHeader.objects.get(ticket=made, direction="in")
    sent = real_smtp.wait_for(address)
    assert len(real_smtp.messages_to(address)) == 1
    assert sent["Subject"] == f"[{made.reference}] 包裹 late"
    assert sent["From"].addresses[0].addr_spec == "help@acme.example"
    assert sent["From"].addresses[0].display_name == "Acme 客服"
    assert sent["Message-ID"] == f"<{header.rfc_message_id}>"
    assert header.rfc_message_id.endswith("@" + "mail.localhost")
    assert sent["In-Reply-To"] == f"<{opening.rfc_message_id}>"
    assert sent["References"] == f"<{opening.rfc_message_id}>"
    assert sent["X-CRM-Ticket"] == made.reference
    assert "我们已经在查了。" in body_text(sent)
    files = [(p.get_filename(), p.get_content()) for p in sent.iter_attachments()]
    assert files == [("运单.txt", "单号 SF123")]
    with in_tenant(acme):
        reply.refresh_from_db()
        assert reply.delivery == "sent"
        assert TicketEvent.objects.filter(ticket=made, kind="emailed").count() == 1


def test_a_claimed_reply_is_not_sent_by_a_second_worker(acme):
    with in_tenant(acme):
        made = ticket(customer_=customer(email=_address()))
        reply = ticket_reply(actor=None, ticket=made, body="Hello")
        first = mail_outbound.reply_claim(actor=None, message_id=reply.pk)
        assert first is not None
        assert mail_outbound.reply_claim(actor=None, message_id=reply.pk) is None
        assert MailHeader.objects.get(message=reply).attempts == 1


def test_failures_are_retried_then_marked_failed_and_can_be_sent_again(
    acme, dead_smtp, django_capture_on_commit_callbacks
):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        made = ticket(customer_=customer(email=_address()), assignee=agent)
        reply = ticket_reply(actor=agent, ticket=made, body="Hello")
        outcomes = [mail_outbound.reply_send(message_id=reply.pk) for _ in range(5)]
        assert [o.retry for o in outcomes] == [True, True, True, True, False]
        reply.refresh_from_db()
        assert reply.delivery == "failed"
        header = MailHeader.objects.get(message=reply)
        assert header.attempts == 5 and header.last_error == "ConnectionRefusedError"
    page = client_for(acme, "agent").get(reverse("support:detail", args=[made.pk]))
    html = page.content.decode()
    assert "The email could not be delivered." in html
    assert reverse("support:reply_send_again", args=[reply.pk]) in html
    # A viewer may not ask for it; the agent may.
    assert (
        client_for(acme, "viewer")
        .post(reverse("support:reply_send_again", args=[reply.pk]))
        .status_code
        == 403
    )
    with django_capture_on_commit_callbacks() as queued:
        client_for(acme, "agent").post(reverse("support:reply_send_again", args=[reply.pk]))
    assert len(queued) == 1
    with in_tenant(acme):
        reply.refresh_from_db()
        assert reply.delivery == "pending"
        assert MailHeader.objects.get(message=reply).attempts == 0


def test_a_ticket_without_an_email_says_so_and_sends_nothing(acme, real_smtp):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        made = ticket_create(
            actor=agent,
            data=TicketInput(subject="Call me back", requester_phone="+8613800138000"),
        )
        Ticket.objects.filter(pk=made.pk).update(assignee=agent)
    page = client_for(acme, "agent").get(reverse("support:detail", args=[made.pk]))
    assert 'id="no-reply-address"' in page.content.decode()
    with in_tenant(acme):
        reply = ticket_reply(actor=agent, ticket=made, body="We will call.")
        assert not mail_outbound.reply_send(message_id=reply.pk).sent
        reply.refresh_from_db()
        assert reply.delivery == ""
        assert TicketEvent.objects.filter(ticket=made, kind="email_unaddressed").exists()
        assert not MailHeader.objects.filter(message=reply).exists()


def test_the_primary_email_is_used_when_no_requester_email(acme):
    with in_tenant(acme):
        person = customer(email=_address())
        made = ticket(customer_=person)
        assert mail_outbound.reply_recipient(made) == person.emails.get().email
        assert mail_outbound.backoff_seconds(0) == 30
        assert mail_outbound.backoff_seconds(20) == 3600


def test_the_settings_page_shows_the_sender_as_written_not_encoded(acme):
    """The From header encodes a Chinese name (=?utf-8?b?...?=); the page shows it as written."""
    with in_tenant(acme):
        mail_settings_save(actor=None, from_address="help@acme.example", from_name="Acme 客服")
    page = client_for(acme, "manager").get(reverse("support:settings")).content.decode()
    assert "Acme 客服 &lt;help@acme.example&gt;" in page
    assert "=?utf-8?" not in page
