"""Audit the churn settings: the SQL of crm.accounts.audit_sql.audit_trigger, pasted
(migrations import no project code). Scores and fits are recomputed data, not audited."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("analytics", "0005_churn_initial"), ("accounts", "0006_audit_bulk_quiet")]

    operations = [
        migrations.RunSQL(
            sql=(
                "DROP TRIGGER IF EXISTS crm_audit ON analytics_churnsettings;"
                " CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE"
                " ON analytics_churnsettings FOR EACH ROW"
                " EXECUTE FUNCTION crm_audit_row('-updated_at');"
            ),
            reverse_sql="DROP TRIGGER IF EXISTS crm_audit ON analytics_churnsettings;",
        ),
    ]
