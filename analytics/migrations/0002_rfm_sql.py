"""RFM's defaults and triggers: the settings row and the default segment map (the rules of
analytics.rfm_map.DEFAULT_RULES, pasted in: migrations import no project code), the audit
triggers of the settings and the map, and the customer list's version stamp on changes to the
scores (the list's RFM column and filter read them; customers' migration 0008 trigger)."""

from django.db import migrations

DEFAULTS_SQL = """
INSERT INTO analytics_rfmsettings (id, window_days, scoring, recency_days, frequency, monetary,
    snapshot_keep_days, updated_at)
VALUES (1, NULL, 'quintiles', '{30,90,180,365}', '{2,3,5,10}', '{100,250,500,1000}', 400, now())
ON CONFLICT (id) DO NOTHING;
INSERT INTO analytics_segmentrule (position, segment, r_min, r_max, fm_min, fm_max)
SELECT * FROM (VALUES
    (1, 'champions', 5, 5, 4, 5),
    (2, 'loyal', 3, 4, 4, 5),
    (3, 'potential_loyalist', 4, 5, 2, 3),
    (4, 'new', 5, 5, 1, 1),
    (5, 'promising', 4, 4, 1, 1),
    (6, 'need_attention', 3, 3, 3, 3),
    (7, 'about_to_sleep', 3, 3, 1, 2),
    (8, 'cant_lose', 1, 2, 5, 5),
    (9, 'at_risk', 1, 2, 3, 4),
    (10, 'hibernating', 2, 2, 1, 2),
    (11, 'lost', 1, 1, 1, 2)
) AS d(position, segment, r_min, r_max, fm_min, fm_max)
WHERE NOT EXISTS (SELECT 1 FROM analytics_segmentrule);
"""


def _audit(table: str, args: str = "") -> migrations.RunSQL:
    # crm.accounts.audit_sql.audit_trigger(table, ...), pasted in.
    return migrations.RunSQL(
        sql=(
            f"DROP TRIGGER IF EXISTS crm_audit ON {table};"
            f" CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION crm_audit_row({args});"
        ),
        reverse_sql=f"DROP TRIGGER IF EXISTS crm_audit ON {table};",
    )


WATCH_SQL = (
    "CREATE TRIGGER customers_list_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
    " ON analytics_rfmscore FOR EACH STATEMENT EXECUTE FUNCTION customers_list_changed();"
)
UNWATCH_SQL = "DROP TRIGGER IF EXISTS customers_list_changed ON analytics_rfmscore;"


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("customers", "0009_list_version_watches_orders"),
        ("accounts", "0007_manage_loyalty"),
    ]

    operations = [
        migrations.RunSQL(DEFAULTS_SQL, migrations.RunSQL.noop),
        _audit("analytics_rfmsettings", "'-updated_at'"),
        _audit("analytics_segmentrule"),
        migrations.RunSQL(WATCH_SQL, UNWATCH_SQL),
    ]
