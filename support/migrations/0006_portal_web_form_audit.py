"""The web form settings' audit trigger (the SQL of crm.accounts.audit_sql.audit_trigger,
pasted: migrations import no project code)."""

from django.db import migrations

TABLE = "support_webformsettings"


class Migration(migrations.Migration):
    dependencies = [("support", "0005_portal_web_form")]

    operations = [
        migrations.RunSQL(
            sql=(
                f"DROP TRIGGER IF EXISTS crm_audit ON {TABLE};"
                f" CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON {TABLE}"
                " FOR EACH ROW EXECUTE FUNCTION crm_audit_row();"
            ),
            reverse_sql=f"DROP TRIGGER IF EXISTS crm_audit ON {TABLE};",
        ),
    ]
