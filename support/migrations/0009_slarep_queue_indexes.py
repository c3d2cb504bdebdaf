"""Partial indexes over open work (not resolved or closed), for the queues at scale
(bench/support.py): most tickets of a busy tenant are finished, so the open-work queues (all,
mine, unassigned) and their badges walk indexes holding only the open ones, in id order, and
a deep keyset page costs what the first does. Raw SQL, kept out of the models so other branches' model
migrations do not meet it. The predicate is written as two inequalities: the planner proves
the queue's `NOT (status IN ('resolved', 'closed'))` implies it, and it prints the same after
a schema is cloned from the template's dump (an IN list's array does not:
tests/tenants/test_provisioning.py)."""

from django.db import migrations

OPEN = "status <> 'resolved' AND status <> 'closed'"


class Migration(migrations.Migration):
    dependencies = [("support", "0008_slarep_audit_triggers")]

    operations = [
        migrations.RunSQL(
            # Covering the queue's filters (status too: PostgreSQL 15 plans an index-only
            # scan only when every column the query names is in the index), the badges'
            # capped counts are index-only scans: 2 ms instead of 120 ms at 500,000 tickets.
            sql=(
                "CREATE INDEX IF NOT EXISTS ticket_open_id ON support_ticket (id)"
                f" INCLUDE (assignee_id, team_id, sla_due, status) WHERE {OPEN}"
            ),
            reverse_sql="DROP INDEX IF EXISTS ticket_open_id",
        ),
        migrations.RunSQL(
            sql=(
                "CREATE INDEX IF NOT EXISTS ticket_open_assignee_id"
                f" ON support_ticket (assignee_id, id) WHERE {OPEN}"
            ),
            reverse_sql="DROP INDEX IF EXISTS ticket_open_assignee_id",
        ),
    ]
