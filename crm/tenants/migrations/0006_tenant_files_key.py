"""Every tenant gets a random files_key naming its private file folder (crm.tenants.files)."""

import uuid

from django.db import migrations, models

import crm.tenants.models


def fill_files_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    Tenant = apps.get_model("tenants", "Tenant")
    for tenant in Tenant.objects.filter(files_key__isnull=True).only("pk"):
        Tenant.objects.filter(pk=tenant.pk).update(files_key=uuid.uuid4().hex)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0005_phone_region"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="files_key",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(fill_files_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="tenant",
            name="files_key",
            field=models.CharField(
                default=crm.tenants.models.new_files_key,
                editable=False,
                max_length=32,
                unique=True,
            ),
        ),
    ]
