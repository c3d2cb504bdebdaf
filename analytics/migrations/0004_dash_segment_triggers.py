"""Segments: the customer list's "segment" filter reads analytics_segmentmember, so its changes
stamp the list version (customers' migration 0008 statement trigger, frozen here); segment
definitions are audited (crm.accounts.audit_sql.audit_trigger, pasted in)."""

from django.db import migrations

WATCH_SQL = (
    "CREATE TRIGGER customers_list_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
    " ON analytics_segmentmember FOR EACH STATEMENT EXECUTE FUNCTION customers_list_changed();"
)
UNWATCH_SQL = "DROP TRIGGER IF EXISTS customers_list_changed ON analytics_segmentmember;"

# Who changed a segment's rules; refresh bookkeeping (updated_at, counts) alone makes no entry.
AUDIT_SQL = (
    "DROP TRIGGER IF EXISTS crm_audit ON analytics_segment;"
    " CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON analytics_segment"
    " FOR EACH ROW EXECUTE FUNCTION"
    " crm_audit_row('-updated_at', '-refreshed_at', '-member_count');"
)
UNAUDIT_SQL = "DROP TRIGGER IF EXISTS crm_audit ON analytics_segment;"


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_dash_segments"),
        ("customers", "0009_list_version_watches_orders"),
        ("accounts", "0004_preset_role_matrix_and_audit_triggers"),
    ]

    operations = [
        migrations.RunSQL(WATCH_SQL, UNWATCH_SQL),
        migrations.RunSQL(AUDIT_SQL, UNAUDIT_SQL),
    ]
