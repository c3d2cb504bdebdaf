"""Audit triggers of the mail tables (the SQL of crm.accounts.audit_sql.audit_trigger, pasted:
migrations import no project code). A rotation of the inbound secret is
logged as a change, never with the secret."""

from django.db import migrations


def _trigger(table: str, secret: tuple[str, ...] = ()) -> migrations.RunSQL:
    # A secret column's change is logged as a change, never with its value.
    args = ", ".join(f"'{c}'" for c in secret)
    return migrations.RunSQL(
        sql=(
            f"DROP TRIGGER IF EXISTS crm_audit ON {table};"
            f" CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION crm_audit_row({args});"
        ),
        reverse_sql=f"DROP TRIGGER IF EXISTS crm_audit ON {table};",
    )


class Migration(migrations.Migration):
    dependencies = [("support", "0003_mail_tables")]

    operations = [
        _trigger("support_mailsettings", secret=("inbound_secret",)),
        _trigger("support_ticketattachment"),
    ]
