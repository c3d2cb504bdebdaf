"""Audit triggers on the SLA override tables (the SQL of crm.accounts.audit_sql.audit_trigger,
pasted: migrations import no project code). TicketSla is not audited: the services write it
with the ticket, whose own audit row and history say what changed."""

from django.db import migrations

AUDITED = ("support_slaoverride", "support_slaoverridetarget")


def _trigger(table: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        sql=(
            f"DROP TRIGGER IF EXISTS crm_audit ON {table};"
            f" CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION crm_audit_row();"
        ),
        reverse_sql=f"DROP TRIGGER IF EXISTS crm_audit ON {table};",
    )


class Migration(migrations.Migration):
    dependencies = [("support", "0007_slarep_sla_overrides")]

    operations = [_trigger(t) for t in AUDITED]
