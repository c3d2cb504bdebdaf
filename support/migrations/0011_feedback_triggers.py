"""Audit triggers on the feedback tables (the SQL of crm.accounts.audit_sql.audit_trigger,
pasted: migrations import no project code). Invitations are not audited: a delivery log
of thousands of rows a send (the send and every answer are)."""

from django.db import migrations

AUDITED = (
    "support_feedbacksettings",
    "support_surveysend",
    "support_surveyresponse",
)


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
    dependencies = [("support", "0010_feedback_surveys")]

    operations = [_trigger(table) for table in AUDITED]
