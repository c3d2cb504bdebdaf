"""The "Manage segments" capability (issue 17), granted to the preset Admin, Manager and
Marketing roles in each tenant schema."""

from django.conf import settings
from django.db import migrations

CODENAME = "manage_segments"
NAME = "Manage segments"
ROLES = ("Admin", "Manager", "Marketing")


def grant(apps, schema_editor):
    if schema_editor.connection.schema_name == settings.PUBLIC_SCHEMA_NAME:
        return
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    group_model = apps.get_model("auth", "Group")
    content_type, _ = content_type_model.objects.get_or_create(
        app_label="accounts", model="capability"
    )
    permission, _ = permission_model.objects.get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": NAME}
    )
    for group in group_model.objects.filter(name__in=ROLES):
        group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_manage_loyalty")]

    operations = [
        migrations.AlterModelOptions(
            name="capability",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("view_records", "View"),
                    ("create_records", "Create"),
                    ("change_records", "Change"),
                    ("delete_records", "Delete"),
                    ("import_records", "Import"),
                    ("export_records", "Export"),
                    ("view_personal_data", "See personal data"),
                    ("adjust_points_over_limit", "Adjust points above the limit"),
                    ("manage_engagement", "Manage surveys and care messages"),
                    ("manage_loyalty", "Manage loyalty"),
                    ("manage_segments", "Manage segments"),
                    ("view_reports", "See reports"),
                    ("administer", "Administer"),
                ],
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
