from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
        ("accounts", "0004_preset_role_matrix_and_audit_triggers"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON customers_customer; '
                "CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON customers_customer FOR EACH ROW EXECUTE FUNCTION crm_audit_row('-updated_at', '-name_sort');"
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON customers_customer;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON customers_customerphone; '
                "CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON customers_customerphone FOR EACH ROW EXECUTE FUNCTION crm_audit_row('-digits');"
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON customers_customerphone;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON customers_customeremail; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON customers_customeremail FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON customers_customeremail;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON customers_consentevent; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON customers_consentevent FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON customers_consentevent;',
        ),
    ]
