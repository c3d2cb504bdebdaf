"""The kind's options move into one JSON field: match_by, update_existing and
create_missing_customers (the only options of the kinds so far) are copied into it, then go."""

from django.db import migrations, models

# Frozen: the columns as they were, copied under the option keys the kinds declare.
COPY = """
UPDATE transfer_importjob SET options = jsonb_build_object(
    'match_by', match_by,
    'update_existing', update_existing,
    'create_missing_customers', create_missing_customers
) - CASE WHEN kind = 'orders' THEN '' ELSE 'create_missing_customers' END
"""
BACK = """
UPDATE transfer_importjob SET
    match_by = COALESCE(options->>'match_by', 'external_id'),
    update_existing = COALESCE((options->>'update_existing')::boolean, true),
    create_missing_customers = COALESCE((options->>'create_missing_customers')::boolean, false)
"""


class Migration(migrations.Migration):
    dependencies = [("transfer", "0005_exportjob_unmasked")]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="options",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunSQL(COPY, BACK),
        migrations.RemoveField(model_name="importjob", name="match_by"),
        migrations.RemoveField(model_name="importjob", name="update_existing"),
        migrations.RemoveField(model_name="importjob", name="create_missing_customers"),
    ]
