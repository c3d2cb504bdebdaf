"""Attachments are tenant files: `tenant export`/`tenant import` carry them to the copy (its own
root, the same relative path, the same bytes, served there), and `tenant delete` removes them
with the copy's root. Committed, through the real commands; cleans up after itself."""

import uuid
from pathlib import Path

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.tenants import files
from crm.tenants.models import Tenant
from support.attachments import attachment_from_bytes, attachment_path, attachments_store
from support.models import Ticket
from support.models_mail import TicketAttachment
from tests.conftest import client_for
from tests.tenants.test_files import delete_tenant, mode, new_slug, run
from tests.testkit.cast import TenantCast
from tests.testkit.cleanup import customers_delete
from tests.tickets.factory import customer, staff, ticket


@pytest.mark.worker
def test_attachments_travel_with_the_tenant_and_go_with_it(
    committed_db: None, acme: TenantCast, tmp_path: Path
) -> None:
    content = f"发票 {uuid.uuid4().hex}".encode()
    with schema_context(acme.schema):
        person = customer()
        made = ticket(customer_=person, assignee=staff(acme, "agent"))
        (attachment,) = attachments_store(
            ticket=made,
            message=None,
            files=[attachment_from_bytes("发票.pdf", "application/pdf", content)],
        )
        source = attachment_path(attachment)
    copy = new_slug("att")
    copy_root = None
    try:
        run("tenant", "export", "acme", str(tmp_path / "acme.tar.gz"))
        run("tenant", "import", str(tmp_path / "acme.tar.gz"), "--slug", copy)
        tenant = Tenant.objects.get(slug=copy)
        with schema_context(tenant.schema_name):
            copy_root = files.tenant_root().resolve()
            row = TicketAttachment.objects.get(pk=attachment.pk)
            assert row.path == attachment.path
            path = attachment_path(row)
            assert path.is_relative_to(copy_root) and path != source
            assert path.read_bytes() == content and mode(path) == 0o600
        downloader = client_for(TenantCast(tenant, dict(acme.users)), "agent")
        response = downloader.get(reverse("support:attachment", args=[attachment.pk]))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == content
    finally:
        delete_tenant(copy)
        with schema_context(acme.schema):
            TicketAttachment.objects.filter(pk=attachment.pk).delete()
            source.unlink(missing_ok=True)
            Ticket.objects.filter(pk=made.pk).delete()
            customers_delete([person.pk])
    assert copy_root is not None and not copy_root.exists(), "the copy's files went with it"
