"""Tokens made before the origin was kept: a token without a maker is from the command line
unless the audit log's entry of its creation names a maker (deleted since: the token was made
on the page, and now answers masked)."""

from django.db import migrations

BACKFILL_SQL = """
UPDATE api_apitoken t SET origin = 'command_line'
WHERE t.created_by_id IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM accounts_auditentry a
      WHERE a.table_name = 'api_apitoken' AND a.record_id = t.id::text AND a.action = 'insert'
        AND (a.after->>'created_by_id' IS NOT NULL OR a.actor_id IS NOT NULL)
  )
"""


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_loyaltyfix_token_origin"),
        ("accounts", "0006_audit_bulk_quiet"),
    ]

    operations = [migrations.RunSQL(BACKFILL_SQL, migrations.RunSQL.noop)]
