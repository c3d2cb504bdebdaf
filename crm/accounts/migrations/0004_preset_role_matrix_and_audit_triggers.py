"""Write the preset role matrix and scopes into each tenant schema, and install the audit
triggers on the accounts tables (in every schema, public included: operators are audited too)."""

from django.conf import settings
from django.db import migrations


# Kept here rather than imported so this migration means the same thing forever.
CAPABILITIES = {
    "view_records": "View",
    "create_records": "Create",
    "change_records": "Change",
    "delete_records": "Delete",
    "import_records": "Import",
    "export_records": "Export",
    "view_personal_data": "See personal data",
    "adjust_points_over_limit": "Adjust points above the limit",
    "manage_engagement": "Manage surveys and care messages",
    "view_reports": "See reports",
    "administer": "Administer",
}
ALL = tuple(CAPABILITIES)
PRESETS = {
    "Admin": ("all", ALL, "Everything, including staff, roles and security."),
    "Manager": ("all", tuple(c for c in ALL if c != "administer"), "Runs the business; no admin."),
    "Agent": (
        "team",
        ("view_records", "create_records", "change_records", "view_personal_data"),
        "Serves customers of their own teams.",
    ),
    "Marketing": (
        "all",
        ("view_records", "export_records", "manage_engagement", "view_reports"),
        "Campaigns, surveys and reports; personal data masked.",
    ),
    "Viewer": ("all", ("view_records",), "Reads records; personal data masked."),
}


def write_presets(apps, schema_editor):
    if schema_editor.connection.schema_name == settings.PUBLIC_SCHEMA_NAME:
        return
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")
    profile_model = apps.get_model("accounts", "RoleProfile")
    content_type, _ = content_type_model.objects.get_or_create(
        app_label="accounts", model="capability"
    )
    permissions = {
        codename: permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )[0]
        for codename, name in CAPABILITIES.items()
    }
    for name, (scope, codenames, description) in PRESETS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.set([permissions[c] for c in codenames])
        profile_model.objects.update_or_create(
            group=group, defaults={"scope": scope, "is_preset": True, "description": description}
        )


# Frozen (issue 14): the SQL this migration ran from crm.accounts.audit_sql until then, copied
# here so that later edits of that module cannot change what this migration does.
FUNCTIONS_SQL = r"""
CREATE OR REPLACE FUNCTION crm_audit_redacted(row_data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    -- Every value but the keys that tie rows together becomes "•erased".
    SELECT CASE WHEN row_data IS NULL THEN NULL ELSE (
        SELECT coalesce(jsonb_object_agg(
            key,
            CASE WHEN key IN ('id', 'customer_id') OR value = 'null'::jsonb THEN value
                 ELSE to_jsonb('•erased'::text) END
        ), '{}'::jsonb)
        FROM jsonb_each(row_data)
    ) END
$fn$;

CREATE OR REPLACE FUNCTION crm_audit_row() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    before_row jsonb;
    after_row jsonb;
    arg text;
BEGIN
    IF current_setting('crm.audit_bulk', true) = 'on' THEN
        -- A bulk import's transaction (crm.transfer.bulk.audit_quiet): the import job records
        -- every row it created or updated, with before-images, and one audit entry per job.
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN before_row := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN after_row := to_jsonb(NEW); END IF;
    FOREACH arg IN ARRAY coalesce(TG_ARGV, ARRAY[]::text[]) LOOP
        IF left(arg, 1) = '-' THEN
            -- Ignored column: a change to it alone is not worth an entry (last_login).
            before_row := before_row - substr(arg, 2);
            after_row := after_row - substr(arg, 2);
        ELSE
            -- Secret column: show that it changed, never its value.
            IF before_row ? arg THEN
                before_row := jsonb_set(
                    before_row, ARRAY[arg], to_jsonb('•' || left(md5(before_row->>arg), 8)));
            END IF;
            IF after_row ? arg THEN
                after_row := jsonb_set(
                    after_row, ARRAY[arg], to_jsonb('•' || left(md5(after_row->>arg), 8)));
            END IF;
        END IF;
    END LOOP;
    IF TG_OP = 'UPDATE' AND before_row = after_row THEN
        RETURN NULL;
    END IF;
    IF current_setting('crm.audit_erasing', true) = 'on' THEN
        -- Erasing a person: record which fields changed, not what they held.
        before_row := crm_audit_redacted(before_row);
        after_row := crm_audit_redacted(after_row);
    END IF;
    EXECUTE format(
        'INSERT INTO %I.accounts_auditentry'
        ' (at, actor_id, actor_label, action, table_name, record_id, before, after, ip, detail)'
        ' VALUES (now(), $1, $2, $3, $4, $5, $6, $7, $8, ''{}''::jsonb)',
        TG_TABLE_SCHEMA
    ) USING
        nullif(current_setting('crm.actor_id', true), '')::bigint,
        coalesce(nullif(current_setting('crm.actor_label', true), ''), 'system'),
        lower(TG_OP),
        TG_TABLE_NAME,
        coalesce(after_row->>'id', before_row->>'id', ''),
        before_row,
        after_row,
        nullif(current_setting('crm.actor_ip', true), '')::inet;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION crm_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    -- The one change allowed: erasing a person redacts the values their entries hold, inside
    -- the erasing transaction, and touches nothing else of the entry.
    IF TG_OP = 'UPDATE' AND current_setting('crm.audit_erasing', true) = 'on'
        AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action
        AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id AND NEW.actor_label = OLD.actor_label
        AND NEW.table_name = OLD.table_name AND NEW.record_id = OLD.record_id
        AND NEW.before IS NOT DISTINCT FROM crm_audit_redacted(OLD.before)
        AND NEW.after IS NOT DISTINCT FROM crm_audit_redacted(OLD.after) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = 'insufficient_privilege';
END
$fn$;

DROP TRIGGER IF EXISTS crm_audit_append_only ON accounts_auditentry;
CREATE TRIGGER crm_audit_append_only BEFORE UPDATE OR DELETE ON accounts_auditentry
    FOR EACH ROW EXECUTE FUNCTION crm_audit_append_only();
DROP TRIGGER IF EXISTS crm_audit_no_truncate ON accounts_auditentry;
CREATE TRIGGER crm_audit_no_truncate BEFORE TRUNCATE ON accounts_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_append_only();
"""

FUNCTIONS_REVERSE_SQL = """
DROP TRIGGER IF EXISTS crm_audit_append_only ON accounts_auditentry;
DROP TRIGGER IF EXISTS crm_audit_no_truncate ON accounts_auditentry;
DROP FUNCTION IF EXISTS crm_audit_append_only();
DROP FUNCTION IF EXISTS crm_audit_row() CASCADE;
DROP FUNCTION IF EXISTS crm_audit_redacted(jsonb);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_roles_teams_invitations_audit"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(write_presets, migrations.RunPython.noop),
        migrations.RunSQL(FUNCTIONS_SQL, FUNCTIONS_REVERSE_SQL),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON accounts_user; '
                "CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON accounts_user FOR EACH ROW EXECUTE FUNCTION crm_audit_row('password', '-last_login');"
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON accounts_user;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON auth_group; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON auth_group FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON auth_group;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON auth_group_permissions; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON auth_group_permissions FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON auth_group_permissions;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON accounts_user_groups; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON accounts_user_groups FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON accounts_user_groups;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON accounts_user_user_permissions; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON accounts_user_user_permissions FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON accounts_user_user_permissions;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON accounts_roleprofile; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON accounts_roleprofile FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON accounts_roleprofile;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON accounts_team; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON accounts_team FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON accounts_team;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON accounts_team_members; '
                'CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON accounts_team_members FOR EACH ROW EXECUTE FUNCTION crm_audit_row();'
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON accounts_team_members;',
        ),
        migrations.RunSQL(
            sql=(
                'DROP TRIGGER IF EXISTS crm_audit ON accounts_invitation; '
                "CREATE TRIGGER crm_audit AFTER INSERT OR UPDATE OR DELETE ON accounts_invitation FOR EACH ROW EXECUTE FUNCTION crm_audit_row('token_hash');"
            ),
            reverse_sql='DROP TRIGGER IF EXISTS crm_audit ON accounts_invitation;',
        ),
    ]
