"""The mail tables' audit triggers are audit_sql's, the inbound secret is never logged, and
demo replies are never emailed."""

import random

import pytest
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.special import RunSQL

from crm.accounts import audit_sql
from crm.accounts.models import AuditEntry
from crm.tenants.seeding import SeedOptions
from support.mail_settings import inbound_secret_rotate
from support.models import TicketMessage
from support.seeding import tickets_seed
from tests.tickets.factory import customer, in_tenant


def test_the_mail_audit_triggers_are_the_ones_audit_sql_would_write():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    operations = loader.graph.nodes[("support", "0004_mail_audit_triggers")].operations
    frozen = {
        op.reverse_sql.split(" ON ")[1].rstrip(";"): op
        for op in operations
        if isinstance(op, RunSQL) and "crm_audit_row" in str(op.sql)
    }
    expected = {
        "support_mailsettings": audit_sql.audit_trigger(
            "support_mailsettings", secret=("inbound_secret",)
        ),
        "support_ticketattachment": audit_sql.audit_trigger("support_ticketattachment"),
    }
    assert set(frozen) == set(expected)
    for table, op in frozen.items():
        assert (op.sql, op.reverse_sql) == (expected[table].sql, expected[table].reverse_sql)


@pytest.mark.django_db
def test_a_rotation_is_audited_without_the_secret(acme):
    with in_tenant(acme):
        secret = inbound_secret_rotate(actor=None)
        entries = AuditEntry.objects.filter(table_name="support_mailsettings")
        assert entries.exists()
        assert not any(secret in str(e.before) + str(e.after) for e in entries)


@pytest.mark.django_db
def test_seeded_replies_are_never_emailed(acme):
    with in_tenant(acme):
        for _n in range(3):
            customer()
        tickets_seed(random.Random(1), SeedOptions(customers=100, seed=1))
        demo = TicketMessage.objects.filter(ticket__tags__contains=["demo"], kind="reply")
        assert demo.exists()
        assert not demo.filter(delivery="pending").exists()
