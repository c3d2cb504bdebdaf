"""POST /inbound/email/<secret>: new tickets, threading, charsets, attachments, automatic mail
and loops dropped, retries idempotent, bounded size, the secret per tenant."""

import io
import uuid

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from crm.accounts.models import AuditEntry
from support.mail_settings import inbound_secret_ensure, inbound_secret_rotate
from support.models import Status, Ticket, TicketEvent, TicketMessage
from support.models_mail import MailHeader, TicketAttachment
from support.services import ticket_reply, ticket_status_set
from tests.conftest import client_for
from tests.tickets.factory import customer, in_tenant, staff, ticket
from tests.tickets.mail_samples import message_id, raw_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_inbound(acme) -> str:
    with in_tenant(acme):
        secret = inbound_secret_ensure(actor=None)
    return reverse("inbound_email", kwargs={"secret": secret})


def _post(member, url: str, raw: bytes):
    return Client(HTTP_HOST=member.host).post(url, data=raw, content_type="message/rfc822")


def _address() -> str:
    return f"wang.{uuid.uuid4().hex[:8]}@example.cn"


def test_a_new_mail_opens_an_email_ticket_linked_to_the_customer(acme, acme_inbound):
    address = _address()
    with in_tenant(acme):
        person = customer(email=address)
    raw = raw_mail(
        sender=address.upper(),
        sender_name="王芳",
        subject="我的包裹还没到（镕）",
        body="订单 1234 还没有到，请帮忙查一下。",
        charset="gb2312",
        transfer="quoted-printable",
        attachments=[("发票.pdf", b"%PDF-1.4 invoice")],
    )
    response = _post(acme, acme_inbound, raw)
    assert response.status_code == 201, response.content
    reference = response.json()["ticket"]
    assert response.json()["result"] == "created"
    with in_tenant(acme):
        made = Ticket.objects.get(number=int(reference[2:]))
        assert made.channel == "email"
        assert made.subject == "我的包裹还没到（镕）"
        assert made.description == "订单 1234 还没有到，请帮忙查一下。"
        assert made.customer_id == person.pk
        assert made.requester_name == "王芳"
        files = list(TicketAttachment.objects.filter(ticket=made))
        assert [(f.filename, f.size, f.message_id) for f in files] == [("发票.pdf", 16, None)]
        assert MailHeader.objects.filter(ticket=made, direction="in").count() == 1
        # Audited, and named as the inbound mail's doing.
        assert AuditEntry.objects.filter(
            table_name="support_ticket", record_id=str(made.pk), actor_label="inbound email"
        ).exists()


def test_a_relays_retry_changes_nothing(acme, acme_inbound):
    raw = raw_mail(sender=_address(), mid=message_id())
    first = _post(acme, acme_inbound, raw)
    with in_tenant(acme):
        counts = (Ticket.objects.count(), TicketMessage.objects.count(), AuditEntry.objects.count())
    again = _post(acme, acme_inbound, raw)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"result": "duplicate", "ticket": first.json()["ticket"]}
    with in_tenant(acme):
        assert counts == (
            Ticket.objects.count(),
            TicketMessage.objects.count(),
            AuditEntry.objects.count(),
        )


def test_a_reply_threads_by_its_headers_and_reopens_a_resolved_ticket(acme, acme_inbound):
    address = _address()
    with in_tenant(acme):
        agent = staff(acme, "agent")
        # The agent's own customer: the page names its senders (not a hidden customer's).
        made = ticket(customer_=customer(email=address, owner=agent), assignee=agent)
        reply = ticket_reply(actor=agent, ticket=made, body="Could you send the order number?")
        header = MailHeader.objects.create(
            ticket=made, message=reply, direction="out", rfc_message_id=f"T.{uuid.uuid4().hex}@x"
        )
        ticket_status_set(actor=agent, ticket=made, status=Status.RESOLVED)
    # Another sender, a subject without the reference: the In-Reply-To is what counts.
    colleague = _address()
    raw = raw_mail(
        sender=colleague,
        subject="Re: 訂單",
        body="訂單號碼是 5678",
        charset="big5",
        extra_headers={"In-Reply-To": f"<{header.rfc_message_id}>"},
        attachments=[("照片.jpg", b"\xff\xd8\xff photo")],
    )
    response = _post(acme, acme_inbound, raw)
    assert response.status_code == 200, response.content
    assert response.json() == {"result": "threaded", "ticket": made.reference}
    with in_tenant(acme):
        made.refresh_from_db()
        assert made.status == Status.OPEN
        message = TicketMessage.objects.filter(ticket=made, kind="customer").get()
        assert message.body == "訂單號碼是 5678"
        assert list(message.attachments.values_list("filename", flat=True)) == ["照片.jpg"]
        assert TicketEvent.objects.filter(ticket=made, kind="customer_wrote").exists()
    # Staff see who wrote it; a viewer (no personal data) sees it masked.
    page = client_for(acme, "agent").get(reverse("support:detail", args=[made.pk]))
    assert colleague in page.content.decode()
    masked = client_for(acme, "viewer").get(reverse("support:detail", args=[made.pk]))
    assert masked.status_code == 200 and colleague not in masked.content.decode()


def test_a_subject_reference_threads_only_for_the_tickets_own_sender(acme, acme_inbound):
    address = _address()
    with in_tenant(acme):
        made = ticket(customer_=customer(email=address))
    stranger = _post(
        acme, acme_inbound, raw_mail(sender=_address(), subject=f"Re: [{made.reference}] hi")
    )
    assert stranger.status_code == 201
    assert stranger.json()["ticket"] != made.reference
    own = _post(acme, acme_inbound, raw_mail(sender=address, subject=f"Re: [{made.reference}] hi"))
    assert own.json() == {"result": "threaded", "ticket": made.reference}


def test_mail_to_a_closed_ticket_opens_a_linked_follow_up(acme, acme_inbound):
    address = _address()
    with in_tenant(acme):
        person = customer(email=address)
        made = ticket(customer_=person)
        ticket_status_set(actor=None, ticket=made, status=Status.CLOSED)
    response = _post(
        acme, acme_inbound, raw_mail(sender=address, subject=f"Re: [{made.reference}] again")
    )
    assert response.status_code == 201
    assert response.json()["result"] == "follow_up"
    with in_tenant(acme):
        follow = Ticket.objects.get(number=int(response.json()["ticket"][2:]))
        assert follow.pk != made.pk and follow.customer_id == person.pk
        assert TicketEvent.objects.get(ticket=follow, kind="follow_up_of").data == {
            "other": made.pk
        }
        assert TicketEvent.objects.get(ticket=made, kind="follow_up").data == {"other": follow.pk}
        made.refresh_from_db()
        assert made.status == Status.CLOSED
        assert not TicketMessage.objects.filter(ticket=made, kind="customer").exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "bulk"},
        # Our own reply come back (a customer's auto-forward to the support address).
        {"X-CRM-Mailer": "crm-support"},
    ],
)
def test_automatic_mail_and_loops_are_dropped(acme, acme_inbound, extra):
    with in_tenant(acme):
        before = (Ticket.objects.count(), AuditEntry.objects.count())
    response = _post(acme, acme_inbound, raw_mail(sender=_address(), extra_headers=extra))
    assert response.status_code == 202
    assert response.json()["result"] == "dropped"
    with in_tenant(acme):
        assert before == (Ticket.objects.count(), AuditEntry.objects.count())


def test_our_own_message_id_and_address_are_loops(acme, acme_inbound, settings):
    ours = f"T-000001.{uuid.uuid4().hex}@{settings.CRM_MAIL_ID_DOMAIN}"
    assert _post(acme, acme_inbound, raw_mail(sender=_address(), mid=ours)).status_code == 202
    own = raw_mail(sender=f"support@acme.{settings.CRM_BASE_DOMAIN}")
    assert _post(acme, acme_inbound, own).json()["reason"] == "our own address"


def test_errors_have_clear_status_codes(acme, globex, acme_inbound, settings):
    with in_tenant(globex):
        globex_url = reverse("inbound_email", kwargs={"secret": inbound_secret_ensure(actor=None)})
    raw = raw_mail(sender=_address())
    # A wrong secret, and another tenant's secret on this tenant's host, are both unknown.
    assert _post(acme, acme_inbound + "x", raw).status_code == 404
    assert _post(acme, globex_url, raw).status_code == 404
    assert Client(HTTP_HOST=acme.host).get(acme_inbound).status_code == 405
    assert _post(acme, acme_inbound, b"").status_code == 400
    no_sender = _post(acme, acme_inbound, b"Subject: hi\r\n\r\nbody")
    assert no_sender.status_code == 400 and no_sender.json()["error"] == "unusable"
    settings.CRM_INBOUND_MAIL_MAX_BYTES = 200
    big = _post(acme, acme_inbound, raw_mail(sender=_address(), body="x" * 500))
    assert big.status_code == 413 and big.json()["error"] == "too_large"


def test_the_command_prints_the_url_and_rotating_retires_the_old_one(acme):
    out = io.StringIO()
    call_command("support", "inbound-url", acme.tenant.slug, stdout=out)
    url = out.getvalue().strip()
    assert url.startswith(f"http://{acme.host}") and "/inbound/email/" in url
    path = url[url.index("/inbound/email/") :]
    again = io.StringIO()
    call_command("support", "inbound-url", acme.tenant.slug, stdout=again)
    assert again.getvalue().strip() == url, "the same URL until rotated"
    assert _post(acme, path, raw_mail(sender=_address())).status_code == 201
    with in_tenant(acme):
        inbound_secret_rotate(actor=None)
    assert _post(acme, path, raw_mail(sender=_address())).status_code == 404


def test_administrators_see_and_rotate_the_address_managers_do_not(acme, acme_inbound):
    admin_page = client_for(acme, "admin").get(reverse("support:settings")).content.decode()
    assert acme_inbound in admin_page
    manager = client_for(acme, "manager")
    assert acme_inbound not in manager.get(reverse("support:settings")).content.decode()
    assert manager.post(reverse("support:inbound_rotate")).status_code == 403
    assert _post(acme, acme_inbound, raw_mail(sender=_address())).status_code == 201
    response = client_for(acme, "admin").post(reverse("support:inbound_rotate"))
    assert response.status_code == 302
    assert _post(acme, acme_inbound, raw_mail(sender=_address())).status_code == 404


def test_attachments_over_the_limits_are_left_out_not_the_mail(acme, acme_inbound, settings):
    settings.CRM_ATTACHMENT_MAX_BYTES = 10
    raw = raw_mail(sender=_address(), attachments=[("small.txt", b"ok"), ("大文件.bin", b"x" * 50)])
    response = _post(acme, acme_inbound, raw)
    assert response.status_code == 201
    with in_tenant(acme):
        made = Ticket.objects.get(number=int(response.json()["ticket"][2:]))
        assert list(made.attachments.values_list("filename", flat=True)) == ["small.txt"]
        note = TicketMessage.objects.get(ticket=made, kind="note")
        assert "大文件.bin" in note.body


def test_an_inbound_mail_takes_a_bounded_number_of_queries(acme, acme_inbound):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    address = _address()
    with in_tenant(acme):
        customer(email=address)
    client = Client(HTTP_HOST=acme.host)
    raw = raw_mail(sender=address, attachments=[("a.txt", b"a")])
    with CaptureQueriesContext(connection) as queries:
        response = client.post(acme_inbound, data=raw, content_type="message/rfc822")
    assert response.status_code == 201
    counted = [q for q in queries.captured_queries if not q["sql"].startswith("SET search_path")]
    # Its own reads and writes, ticket_create's (customer match, SLA calendar, policy and
    # overrides, the ticket's SLA record, timeline) and the audit actor's: 31 with the test's
    # savepoints, however long the mail or its thread.
    assert len(counted) <= 31, "\n".join(q["sql"][:120] for q in counted)
