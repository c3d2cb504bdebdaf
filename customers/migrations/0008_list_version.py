"""The customer list's data version (customers.models.ListVersion): statement triggers that
stamp a slot whenever something a list page shows changes, so cached pages
(customers.list_cache) are keyed by a value that moves on every such commit.

Statement-level, not row-level: an import of 100,000 customers stamps once per COPY batch.
SKIP LOCKED: a writer never waits for another writer's slot (an import holds its slot for the
whole transaction); when every slot is held, it adds a slot. Each stamp is a new value of a
sequence, which never repeats, rolled back or not: so no state of the slots, committed or
seen inside a transaction that then rolled back, ever comes back (a sum of counters would go
back on a rollback, and a page cached inside that transaction would be served later).
The schema comes from TG_TABLE_SCHEMA, as the audit trigger does, not from the search path.
"""

from django.db import migrations, models

# What a list page shows and searches: customers, their phones and emails, the custom field
# definitions its filters read; owner and team names; team membership (the "team" scope).
WATCHED = (
    ("customers_customer", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    ("customers_customerphone", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    ("customers_customeremail", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    ("customers_customfield", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
    ("accounts_user", "UPDATE OF full_name, email"),
    ("accounts_team", "UPDATE OF name"),
    ("accounts_team_members", "INSERT OR UPDATE OR DELETE OR TRUNCATE"),
)

FUNCTION_SQL = r"""
CREATE OR REPLACE FUNCTION customers_list_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    bumped integer;
BEGIN
    EXECUTE format(
        'UPDATE %1$I.customers_listversion SET n = nextval(%2$L) WHERE id = ('
        ' SELECT id FROM %1$I.customers_listversion ORDER BY id LIMIT 1'
        ' FOR UPDATE SKIP LOCKED)',
        TG_TABLE_SCHEMA, quote_ident(TG_TABLE_SCHEMA) || '.customers_listversion_stamp');
    GET DIAGNOSTICS bumped = ROW_COUNT;
    IF bumped = 0 THEN
        EXECUTE format(
            'INSERT INTO %1$I.customers_listversion (n) VALUES (nextval(%2$L))',
            TG_TABLE_SCHEMA, quote_ident(TG_TABLE_SCHEMA) || '.customers_listversion_stamp');
    END IF;
    RETURN NULL;
END
$fn$;
CREATE SEQUENCE IF NOT EXISTS customers_listversion_stamp;
INSERT INTO customers_listversion (n) VALUES (0);
"""


def _triggers_sql() -> str:
    return "\n".join(
        f"CREATE TRIGGER customers_list_changed AFTER {events} ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION customers_list_changed();"
        for table, events in WATCHED
    )


def _drop_sql() -> str:
    drops = "\n".join(f"DROP TRIGGER IF EXISTS customers_list_changed ON {t};" for t, _e in WATCHED)
    return (
        drops
        + "\nDROP FUNCTION IF EXISTS customers_list_changed();"
        + "\nDROP SEQUENCE IF EXISTS customers_listversion_stamp;"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_list_search_indexes"),
        ("accounts", "0006_audit_bulk_quiet"),
    ]

    operations = [
        migrations.CreateModel(
            name="ListVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("n", models.BigIntegerField(default=0)),
            ],
            options={"default_permissions": ()},
        ),
        migrations.RunSQL(FUNCTION_SQL + _triggers_sql(), _drop_sql()),
    ]
