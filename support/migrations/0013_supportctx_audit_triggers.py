"""Audit trigger on the saved views of the queues (the SQL of
crm.accounts.audit_sql.audit_trigger, pasted: migrations import no project code)."""

from django.db import migrations

AUDITED = ("support_ticketsavedview",)


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
    dependencies = [("support", "0012_supportctx_escalation_saved_views")]

    operations = [_trigger(t) for t in AUDITED]
