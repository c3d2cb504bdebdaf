"""The customer list shows each customer's lifetime value (the sum of their completed orders,
customers.list_columns_builtin): a change to orders must move the list's data version like a
change to the customers themselves (migration 0008's statement trigger, frozen here)."""

from django.db import migrations

WATCH_SQL = """
CREATE TRIGGER customers_list_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
ON customers_order FOR EACH STATEMENT EXECUTE FUNCTION customers_list_changed();
"""

UNWATCH_SQL = "DROP TRIGGER IF EXISTS customers_list_changed ON customers_order;"


class Migration(migrations.Migration):
    dependencies = [("customers", "0008_list_version")]

    operations = [migrations.RunSQL(WATCH_SQL, UNWATCH_SQL)]
