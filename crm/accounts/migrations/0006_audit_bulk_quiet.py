"""Reinstall the audit functions: inside a bulk import's transaction (the session setting
crm.audit_bulk, set transaction-locally by crm.transfer.bulk.audit_quiet) the row trigger
records nothing; the import job, its ImportChange before-images and one audit entry per upload,
commit and undo tell that story instead, at a fraction of the cost."""

from django.db import migrations

from crm.accounts.audit_sql import FUNCTIONS_SQL


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_audit_redaction_on_erasure")]

    operations = [migrations.RunSQL(FUNCTIONS_SQL, migrations.RunSQL.noop)]
