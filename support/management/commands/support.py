"""`manage.py support inbound-url <tenant>`: the full address a mail relay posts a tenant's
inbound email to (made the first time it is asked for; `--rotate` makes a new one, and the old
address stops working)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from crm.lib.audit_actor import audit_actor
from crm.tenants import selectors
from crm.tenants.models import Tenant
from support import mail_settings

ACTOR = "command line"


class Command(BaseCommand):
    help = "Support: print a tenant's inbound email address."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, title="actions")
        inbound = sub.add_parser("inbound-url", help="print the tenant's inbound email URL")
        inbound.add_argument("tenant", help="the tenant's slug")
        inbound.add_argument(
            "--rotate", action="store_true", help="make a new secret (the old URL stops working)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = selectors.business_tenants().get(slug=options["tenant"].lower())
        except Tenant.DoesNotExist:
            raise CommandError(f"no tenant with slug {options['tenant']!r}") from None
        if tenant.status not in (Tenant.Status.READY, Tenant.Status.SUSPENDED):
            raise CommandError(f"tenant {tenant.slug} is {tenant.status}: it has no site yet")
        with schema_context(tenant.schema_name), audit_actor(ACTOR):
            if options["rotate"]:
                secret = mail_settings.inbound_secret_rotate(actor=None)
            else:
                secret = mail_settings.inbound_secret_ensure(actor=None)
        self.stdout.write(mail_settings.inbound_url(tenant, secret))
