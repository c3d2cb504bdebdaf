"""Write the preset role matrix and scopes into each tenant schema, and install the audit
triggers on the accounts tables (in every schema, public included: operators are audited too)."""

from django.conf import settings
from django.db import migrations

from crm.accounts.audit_sql import FUNCTIONS_REVERSE_SQL, FUNCTIONS_SQL, audit_trigger

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


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_roles_teams_invitations_audit"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(write_presets, migrations.RunPython.noop),
        migrations.RunSQL(FUNCTIONS_SQL, FUNCTIONS_REVERSE_SQL),
        audit_trigger("accounts_user", secret=("password",), ignore=("last_login",)),
        audit_trigger("auth_group"),
        audit_trigger("auth_group_permissions"),
        audit_trigger("accounts_user_groups"),
        audit_trigger("accounts_user_user_permissions"),
        audit_trigger("accounts_roleprofile"),
        audit_trigger("accounts_team"),
        audit_trigger("accounts_team_members"),
        audit_trigger("accounts_invitation", secret=("token_hash",)),
    ]
