from django.db import migrations

from crm.accounts.audit_sql import audit_trigger


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
        ("accounts", "0004_preset_role_matrix_and_audit_triggers"),
    ]

    operations = [
        audit_trigger("customers_customer", ignore=("updated_at", "name_sort")),
        audit_trigger("customers_customerphone", ignore=("digits",)),
        audit_trigger("customers_customeremail"),
        audit_trigger("customers_consentevent"),
    ]
