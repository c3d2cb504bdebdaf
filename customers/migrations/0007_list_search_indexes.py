"""An index of the characters of name_sort, for searches by one or two Chinese characters.

pg_trgm cannot find "王" or "王芳" inside a name: a pattern shorter than three characters gives it
no trigram, so its index returns every row and the planner walks the whole list instead (1.7 s
at a million customers). `string_to_array(name_sort, NULL)` is the name's characters; a GIN
index over them answers "holds every one of these characters" (`@>`), and LIKE then checks
their order among the few rows found (customers.selectors._Search.branches).

Written as SQL rather than declared in Customer.Meta.indexes: only the search's SQL uses it, and
the model's state (and `makemigrations --check`) stays as it was.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_custom_fields"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(
                "CREATE INDEX IF NOT EXISTS customer_name_chars ON customers_customer"
                " USING gin (string_to_array(name_sort, NULL))"
            ),
            reverse_sql="DROP INDEX IF EXISTS customer_name_chars",
        ),
    ]
