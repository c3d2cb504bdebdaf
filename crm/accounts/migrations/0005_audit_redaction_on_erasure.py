"""Reinstall the audit functions: erasing a person (GDPR / PIPL) records which fields changed
but not their values, and may redact that person's earlier entries, nothing else."""

from django.db import migrations

from crm.accounts.audit_sql import FUNCTIONS_SQL


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_preset_role_matrix_and_audit_triggers")]

    operations = [migrations.RunSQL(FUNCTIONS_SQL, migrations.RunSQL.noop)]
