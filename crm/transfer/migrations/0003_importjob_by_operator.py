from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("transfer", "0002_tenant_relative_file_paths"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="by_operator",
            field=models.BooleanField(default=False),
        ),
        # Before this, a job without an uploader came from the command line (staff are
        # deactivated, not deleted): those stay the operator's, unscoped, as they were run.
        migrations.RunSQL(
            "UPDATE transfer_importjob SET by_operator = true WHERE created_by_id IS NULL",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
