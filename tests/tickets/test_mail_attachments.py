"""Attachments: uploaded on the reply and note forms, kept under the tenant's private root,
served only through the scope-checked view, limited, and removed by erasure."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.accounts.models import Team
from crm.accounts.services import team_save
from crm.tenants.files import tenant_file_path, tenant_root
from customers.privacy import customer_erase
from support.models import TicketMessage
from support.models_mail import TicketAttachment
from tests.conftest import client_for
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


def _upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/html")


def _agents_ticket(member):
    with in_tenant(member):
        return ticket(assignee=staff(member, "agent"))


def test_a_note_with_files_keeps_them_privately_and_serves_them_as_downloads(acme, globex):
    made = _agents_ticket(acme)
    agent = client_for(acme, "agent")
    payload = b"<script>alert(1)</script>"
    response = agent.post(
        reverse("support:note", args=[made.pk]),
        {
            "body": "Photos attached",
            "files": [_upload("损坏 1.html", payload), _upload("b.txt", b"x")],
        },
    )
    assert response.status_code == 302
    with in_tenant(acme):
        note = TicketMessage.objects.get(ticket=made, kind="note")
        files = list(TicketAttachment.objects.filter(message=note).order_by("id"))
        assert [(f.filename, f.size) for f in files] == [
            ("损坏 1.html", len(payload)),
            ("b.txt", 1),
        ]
        first = files[0]
        # A relative path under the tenant's root, named by nothing guessable.
        assert not first.path.startswith("/") and acme.tenant.slug not in first.path
        path = tenant_file_path(first.path)
        assert path.is_relative_to(tenant_root().resolve())
        assert path.read_bytes() == payload
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    page = agent.get(reverse("support:detail", args=[made.pk])).content.decode()
    url = reverse("support:attachment", args=[first.pk])
    assert url in page and "损坏 1.html" in page
    download = agent.get(url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == payload
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    # Every role that may see the ticket may download; another tenant's staff get a 404.
    assert client_for(acme, "viewer").get(url).status_code == 200
    assert client_for(acme).get(url).status_code == 302  # to the sign-in page
    assert client_for(globex, "admin").get(url).status_code == 404


def test_a_ticket_outside_the_readers_scope_hides_its_files(acme):
    with in_tenant(acme):
        manager = staff(acme, "manager")
        elsewhere = team_save(
            actor=None, team=None, name=f"Desk {uuid.uuid4().hex[:6]}", members=[manager]
        )
        made = ticket(assignee=manager, team=elsewhere)
    client_for(acme, "manager").post(
        reverse("support:reply", args=[made.pk]),
        {"body": "See attached", "files": [_upload("a.txt", b"a")]},
    )
    with in_tenant(acme):
        attachment = TicketAttachment.objects.get(ticket=made)
        assert Team.objects.filter(pk=elsewhere.pk).exists()
    url = reverse("support:attachment", args=[attachment.pk])
    assert client_for(acme, "manager").get(url).status_code == 200
    assert client_for(acme, "agent").get(url).status_code == 404


def test_limits_refuse_the_whole_message(acme, settings):
    made = _agents_ticket(acme)
    agent = client_for(acme, "agent")
    settings.CRM_ATTACHMENT_MAX_COUNT = 2
    agent.post(
        reverse("support:reply", args=[made.pk]),
        {"body": "three", "files": [_upload(f"{i}.txt", b"x") for i in range(3)]},
    )
    settings.CRM_ATTACHMENT_MAX_BYTES = 10
    response = agent.post(
        reverse("support:note", args=[made.pk]),
        {"body": "big", "files": [_upload("big.txt", b"x" * 50)]},
        follow=True,
    )
    assert "larger than" in response.content.decode()
    with in_tenant(acme):
        assert not TicketMessage.objects.filter(ticket=made).exists()
        assert not TicketAttachment.objects.filter(ticket=made).exists()


def test_erasure_removes_the_files_of_the_persons_tickets(acme, django_capture_on_commit_callbacks):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        person = customer(email=f"erase.{uuid.uuid4().hex[:6]}@example.cn")
        made = ticket(customer_=person, assignee=agent)
    client_for(acme, "agent").post(
        reverse("support:reply", args=[made.pk]),
        {"body": "Your ID card copy", "files": [_upload("id.jpg", b"\xff\xd8 id card")]},
    )
    with in_tenant(acme):
        attachment = TicketAttachment.objects.get(ticket=made)
        path = tenant_file_path(attachment.path)
        assert path.exists()
    with in_tenant(acme):
        customer_erase(actor=None, customer=person)
        assert not TicketAttachment.objects.filter(ticket=made).exists()
        assert not path.exists()


def test_an_inbound_senders_address_is_not_shown_when_its_customer_is_hidden(acme):
    """The ticket page does not name a customer outside the reader's records; the address an
    inbound message came from names them too, so it goes with them."""
    from support.models_mail import MailHeader

    address = f"hidden.{uuid.uuid4().hex[:6]}@example.cn"
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        made = ticket(assignee=agent, customer_=customer("Hidden Sender", owner=manager))
        message = TicketMessage.objects.create(
            ticket=made, kind=TicketMessage.Kind.CUSTOMER, body="Any news?"
        )
        MailHeader.objects.create(
            ticket=made,
            message=message,
            direction=MailHeader.Direction.INBOUND,
            rfc_message_id=f"{uuid.uuid4().hex}@example.cn",
            sender=address,
        )
    url = reverse("support:detail", args=[made.pk])
    agent_page = client_for(acme, "agent").get(url).content.decode()
    assert "Any news?" in agent_page and address not in agent_page
    assert address in client_for(acme, "manager").get(url).content.decode()
