"""What support registers with the layers below it: audit triggers (the frozen SQL of
crm.accounts.audit_sql), the merge relation, the seeder."""

import random

import pytest
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.special import RunSQL

from crm.accounts import audit_sql
from crm.accounts.models import AuditEntry
from crm.tenants.seeding import SeedOptions
from customers.merge import customer_merge, merge_relations
from support.models import Ticket
from support.seeding import tickets_seed
from tests.tickets.factory import customer, in_tenant, ticket


def test_the_audit_triggers_are_the_ones_audit_sql_would_write():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    operations = loader.graph.nodes[("support", "0002_sequence_triggers_defaults")].operations
    frozen = {
        op.reverse_sql.split(" ON ")[1].rstrip(";"): op
        for op in operations
        if isinstance(op, RunSQL) and "crm_audit_row" in str(op.sql)
    }
    assert set(frozen) == {
        "support_ticket",
        "support_ticketmessage",
        "support_slapolicy",
        "support_businesshours",
        "support_holidayoverride",
        "support_supportsettings",
        "support_cannedresponse",
    }
    for table, op in frozen.items():
        ignore = ("updated_at",) if table in ("support_ticket", "support_cannedresponse") else ()
        expected = audit_sql.audit_trigger(table, ignore=ignore)
        assert (op.sql, op.reverse_sql) == (expected.sql, expected.reverse_sql), table


@pytest.mark.django_db
def test_a_customer_merge_moves_the_tickets(acme):
    assert (Ticket, "customer") in merge_relations()
    with in_tenant(acme):
        keep, drop = customer(), customer()
        made = ticket(customer_=drop)
        customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        assert Ticket.objects.get(pk=made.pk).customer_id == keep.pk


@pytest.mark.django_db
def test_the_seeder_opens_tickets_once(acme):
    with in_tenant(acme):
        for _n in range(3):
            customer()
        summary = tickets_seed(random.Random(1), SeedOptions(customers=100, seed=1))
        count = Ticket.objects.filter(tags__contains=["demo"]).count()
        assert summary == f"{count} tickets, 2 shared queue views" and count >= 12
        assert Ticket.objects.filter(subject__regex=r"[\u4e00-\u9fff]").exists()
        assert Ticket.objects.filter(first_responded_at__isnull=False).exists()
        audit = AuditEntry.objects.count()
        assert "already seeded" in tickets_seed(random.Random(1), SeedOptions(100, 1))
        assert Ticket.objects.filter(tags__contains=["demo"]).count() == count
        assert AuditEntry.objects.count() == audit
