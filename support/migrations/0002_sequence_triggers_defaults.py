"""Ticket numbers from a sequence, audit triggers (the SQL of crm.accounts.audit_sql.
audit_trigger, pasted: migrations import no project code), and the default SLA settings every
new tenant starts with: Monday to Friday 09:00-18:00, targets per priority, China's public
holidays."""

import datetime

from django.db import migrations

AUDITED = (
    "support_ticket",
    "support_ticketmessage",
    "support_slapolicy",
    "support_businesshours",
    "support_holidayoverride",
    "support_supportsettings",
    "support_cannedresponse",
)

# (priority, first response, resolution) in business minutes.
DEFAULT_TARGETS = (
    ("urgent", 60, 4 * 60),
    ("high", 2 * 60, 8 * 60),
    ("normal", 4 * 60, 3 * 9 * 60),
    ("low", 8 * 60, 5 * 9 * 60),
)


def _trigger(table: str, ignore: tuple[str, ...] = ()) -> migrations.RunSQL:
    args = ", ".join(f"'-{c}'" for c in ignore)
    return migrations.RunSQL(
        sql=(
            f"DROP TRIGGER IF EXISTS crm_audit ON {table};"
            f" CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION crm_audit_row({args});"
        ),
        reverse_sql=f"DROP TRIGGER IF EXISTS crm_audit ON {table};",
    )


def defaults(apps, schema_editor):
    SlaPolicy = apps.get_model("support", "SlaPolicy")
    BusinessHours = apps.get_model("support", "BusinessHours")
    SupportSettings = apps.get_model("support", "SupportSettings")
    for priority, first, resolution in DEFAULT_TARGETS:
        SlaPolicy.objects.get_or_create(
            priority=priority,
            defaults={"first_response_minutes": first, "resolution_minutes": resolution},
        )
    for weekday in range(5):
        BusinessHours.objects.get_or_create(
            weekday=weekday,
            defaults={"opens": datetime.time(9), "closes": datetime.time(18)},
        )
    SupportSettings.objects.get_or_create(id=1)


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0001_initial"),
        ("accounts", "0006_audit_bulk_quiet"),
    ]

    operations = [
        migrations.RunSQL(
            sql="CREATE SEQUENCE IF NOT EXISTS support_ticket_number_seq START 1",
            reverse_sql="DROP SEQUENCE IF EXISTS support_ticket_number_seq",
        ),
        *(_trigger(t, ("updated_at",) if t in ("support_ticket", "support_cannedresponse") else ()) for t in AUDITED),
        migrations.RunPython(defaults, migrations.RunPython.noop),
    ]
