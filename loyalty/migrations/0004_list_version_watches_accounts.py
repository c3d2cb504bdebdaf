"""The customer list shows each member's points and tier (loyalty.list_columns): changes to
accounts and tiers move the list's data version like changes to the customers themselves
(customers' migration 0008 statement trigger, frozen here)."""

from django.db import migrations

TABLES = ("loyalty_account", "loyalty_tier")

WATCH_SQL = [
    f"CREATE TRIGGER customers_list_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
    f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION customers_list_changed();"
    for table in TABLES
]

UNWATCH_SQL = [f"DROP TRIGGER IF EXISTS customers_list_changed ON {table};" for table in TABLES]


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0003_cached_qualifying_leaner_writes"),
        ("customers", "0009_list_version_watches_orders"),
    ]

    operations = [migrations.RunSQL(WATCH_SQL, UNWATCH_SQL)]
