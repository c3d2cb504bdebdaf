from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from crm.tenants.services import platform_prepare


class Command(BaseCommand):
    help = (
        "Prepare the platform: the public tenant for the console's host and the migrated "
        "template schema new tenants are cloned from. Optionally ensure an operator login. "
        "Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--operator-email", help="ensure a platform operator with this email")
        parser.add_argument("--operator-password", help="password for a newly created operator")

    def handle(self, *args: Any, **options: Any) -> None:
        template = platform_prepare()
        self.stdout.write(f"public tenant and template schema {template.schema_name!r} ready")
        email = options["operator_email"]
        if email:
            users = get_user_model().objects
            if users.filter(email=email.lower()).exists():
                self.stdout.write(f"operator {email} exists")
            else:
                users.create_superuser(email, options["operator_password"])
                self.stdout.write(f"operator {email} created")
