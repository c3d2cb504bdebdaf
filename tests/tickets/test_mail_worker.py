"""The whole outbound path with a real worker: the reply commits, its task runs in the Celery
worker (reading the test database, sending to the test SMTP server), the reply is marked sent."""

import time
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from support.models import Ticket
from support.services import ticket_reply
from tests.testkit.cleanup import customers_delete
from tests.tickets.factory import customer, ticket


@pytest.mark.worker
def test_a_real_worker_sends_the_reply_after_commit(committed_db, celery_worker, smtp_server, acme):
    address = f"worker.{uuid.uuid4().hex[:8]}@example.cn"
    with schema_context(acme.schema):
        person = customer(email=address)
        made = ticket(customer_=person, subject=f"Worker {uuid.uuid4().hex[:6]}")
        reply = ticket_reply(actor=None, ticket=made, body="Sent by the worker.")
    try:
        sent = smtp_server.wait_for(address, timeout=60)
        assert sent["Subject"] == f"[{made.reference}] {made.subject}"
        assert sent["X-CRM-Ticket"] == made.reference
        deadline = time.monotonic() + 30
        with schema_context(acme.schema):
            while time.monotonic() < deadline:
                reply.refresh_from_db()
                if reply.delivery == "sent":
                    break
                time.sleep(0.2)
            assert reply.delivery == "sent"
    finally:
        with schema_context(acme.schema):
            Ticket.objects.filter(pk=made.pk).delete()
            customers_delete([person.pk])
        connection.set_schema_to_public()
