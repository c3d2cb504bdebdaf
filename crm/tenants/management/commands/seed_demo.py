import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from crm.tenants import selectors
from crm.tenants.models import Tenant
from crm.tenants.seeding import SeedOptions, registered_seeders, run_seeders


class Command(BaseCommand):
    help = (
        "Fill a tenant with realistic demo data. Deterministic for a given --seed and safe to "
        "run twice. Each app contributes its own seeder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--customers",
            type=int,
            default=500,
            help="customer records to create, for the apps that seed customers",
        )
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["customers"] < 0:
            raise CommandError("--customers must be zero or more")
        try:
            tenant = selectors.business_tenants().get(slug=options["slug"])
        except Tenant.DoesNotExist:
            raise CommandError(f"no tenant with slug {options['slug']!r}") from None
        if tenant.status != Tenant.Status.READY:
            raise CommandError(f"tenant {tenant.slug} is {tenant.status}, not ready")
        started = time.monotonic()
        seeders = ", ".join(name for name, _func in registered_seeders())
        self.stdout.write(f"seeding {tenant.slug} with seed {options['seed']} ({seeders})")
        with schema_context(tenant.schema_name):
            summaries = run_seeders(
                SeedOptions(customers=options["customers"], seed=options["seed"])
            )
        for line in summaries:
            self.stdout.write(f"  {line}")
        self.stdout.write(self.style.SUCCESS(f"done in {time.monotonic() - started:.2f} s"))
