"""Create the preset roles (auth Groups) in every tenant schema. The public schema holds platform
operators only, so it gets none."""

from django.conf import settings
from django.db import migrations

PRESET_ROLES = ("Admin", "Manager", "Agent", "Marketing", "Viewer")


def create_roles(apps, schema_editor):
    if schema_editor.connection.schema_name == settings.PUBLIC_SCHEMA_NAME:
        return
    group_model = apps.get_model("auth", "Group")
    for name in PRESET_ROLES:
        group_model.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
