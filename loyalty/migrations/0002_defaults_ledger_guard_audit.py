"""The default programme and tiers (so a new tenant's programme works out of the box), the
guard that keeps the ledger append-only, and the audit triggers of the loyalty tables."""

from django.db import migrations

DEFAULT_TIERS = (
    # name, position, threshold (qualifying points over 12 months), multiplier, benefits
    ("Bronze", 1, 0, "1.00", "Earn 1 point per unit spent."),
    ("Silver", 2, 1000, "1.10", "10% more points on every order."),
    ("Gold", 3, 5000, "1.25", "25% more points; birthday gift."),
    ("Platinum", 4, 15000, "1.50", "50% more points; priority service."),
)


def defaults(apps, schema_editor):
    programme = apps.get_model("loyalty", "Programme")
    tier = apps.get_model("loyalty", "Tier")
    programme.objects.get_or_create(pk=1)
    for name, position, threshold, multiplier, benefits in DEFAULT_TIERS:
        tier.objects.get_or_create(
            position=position,
            defaults={
                "name": name,
                "threshold": threshold,
                "multiplier": multiplier,
                "benefits": benefits,
            },
        )


# Entries are never deleted and their amounts never change. A merge may move them to another
# account and erasure may blank the note; a test's clean-up may delete with the setting
# loyalty.ledger_purge on (never set by the application).
LEDGER_GUARD = r"""
CREATE OR REPLACE FUNCTION loyalty_ledger_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF coalesce(current_setting('loyalty.ledger_purge', true), '') = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'loyalty ledger entries are never deleted' USING ERRCODE = '55000';
    END IF;
    IF NEW.kind IS DISTINCT FROM OLD.kind OR NEW.points IS DISTINCT FROM OLD.points
       OR NEW.qualifying IS DISTINCT FROM OLD.qualifying
       OR NEW.shortfall IS DISTINCT FROM OLD.shortfall
       OR NEW.order_id IS DISTINCT FROM OLD.order_id
       OR NEW.bonus IS DISTINCT FROM OLD.bonus
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.occurred_at IS DISTINCT FROM OLD.occurred_at THEN
        RAISE EXCEPTION 'loyalty ledger amounts never change' USING ERRCODE = '55000';
    END IF;
    RETURN NEW;
END
$fn$;
DROP TRIGGER IF EXISTS loyalty_ledger_guard ON loyalty_ledgerentry;
CREATE TRIGGER loyalty_ledger_guard BEFORE UPDATE OR DELETE ON loyalty_ledgerentry
FOR EACH ROW EXECUTE FUNCTION loyalty_ledger_guard();
"""


def _audit(table: str, args: str = "") -> migrations.RunSQL:
    # crm.accounts.audit_sql.audit_trigger(table, ...), pasted in (migrations import no project
    # code).
    return migrations.RunSQL(
        sql=(
            f"DROP TRIGGER IF EXISTS crm_audit ON {table};"
            f" CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION crm_audit_row({args});"
        ),
        reverse_sql=f"DROP TRIGGER IF EXISTS crm_audit ON {table};",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0001_initial"),
        ("accounts", "0007_manage_loyalty"),
    ]

    operations = [
        migrations.RunPython(defaults, migrations.RunPython.noop),
        migrations.RunSQL(
            LEDGER_GUARD,
            "DROP TRIGGER IF EXISTS loyalty_ledger_guard ON loyalty_ledgerentry;"
            " DROP FUNCTION IF EXISTS loyalty_ledger_guard();",
        ),
        _audit("loyalty_programme", "'-updated_at'"),
        _audit("loyalty_earnrule"),
        _audit("loyalty_tier"),
        # The balance is the ledger's sum: the entries tell its story.
        _audit("loyalty_account", "'-balance'"),
        _audit("loyalty_ledgerentry"),
        _audit("loyalty_adjustment"),
        _audit("loyalty_reward"),
        _audit("loyalty_redemption"),
    ]
