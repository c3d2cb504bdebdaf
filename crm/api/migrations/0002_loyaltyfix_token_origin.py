from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
    ]

    operations = [
        # Existing tokens are "page" until 0003 tells the command line's apart.
        migrations.AddField(
            model_name="apitoken",
            name="origin",
            field=models.CharField(
                choices=[("page", "API tokens page"), ("command_line", "Command line")],
                default="page",
                max_length=12,
                verbose_name="made on",
            ),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(("origin", "page"))
                | models.Q(("created_by__isnull", True), ("origin", "command_line")),
                name="api_token_origin",
            ),
        ),
    ]
