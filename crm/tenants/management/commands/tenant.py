"""`manage.py tenant create|list|suspend|resume|delete`: the platform console's actions;
`export|import`: a tenant to an archive and back, as a new tenant (crm/tenants/archive.py)."""

import time
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.lib.audit_actor import audit_actor
from crm.tenants import archive, selectors, services
from crm.tenants.models import CURRENCIES, Tenant

ACTOR = "command line"


class Command(BaseCommand):
    help = "Create, list, suspend, resume, delete, export and import tenants."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, title="actions")
        create = sub.add_parser("create", help="create and provision a tenant now")
        create.add_argument("slug")
        create.add_argument("--name", required=True)
        create.add_argument("--admin-email", required=True)
        create.add_argument(
            "--admin-password", help="without it, the admin gets an email to set a password"
        )
        create.add_argument("--language", default="en", choices=Tenant.Language.values)
        create.add_argument("--timezone", default="UTC")
        create.add_argument("--currency", default="CNY", choices=CURRENCIES)
        create.add_argument(
            "--if-missing", action="store_true", help="succeed quietly if the slug exists"
        )
        sub.add_parser("list", help="list tenants with their status")
        for action in ("suspend", "resume"):
            sub.add_parser(action, help=f"{action} a tenant").add_argument("slug")
        delete = sub.add_parser("delete", help="drop a tenant's schema and data, irreversibly")
        delete.add_argument("slug")
        delete.add_argument("--yes", action="store_true", help="confirm the deletion")
        export = sub.add_parser("export", help="write a restorable archive (.tar.gz) of a tenant")
        export.add_argument("slug")
        export.add_argument("file")
        export.add_argument("--force", action="store_true", help="overwrite an existing file")
        restore = sub.add_parser("import", help="restore an archive as a new tenant")
        restore.add_argument("file")
        restore.add_argument("--slug", required=True, help="the new tenant's slug")
        restore.add_argument("--name", help="the new tenant's name (default: the archive's)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            # Operators at the command line have no account here: the log names the command.
            with audit_actor(ACTOR):
                getattr(self, f"_{action}")(options)
        except ValidationError as exc:
            raise CommandError("; ".join(_messages(exc))) from None
        except archive.ArchiveError as exc:
            raise CommandError(str(exc)) from None

    def _get(self, slug: str) -> Tenant:
        try:
            return selectors.business_tenants().get(slug=slug)
        except Tenant.DoesNotExist:
            raise CommandError(f"no tenant with slug {slug!r}") from None

    def _create(self, options: dict[str, Any]) -> None:
        slug = options["slug"].lower()
        if options["if_missing"] and Tenant.objects.filter(slug=slug).exists():
            self.stdout.write(f"tenant {slug} exists: {self._get(slug).status}")
            return
        services.platform_prepare()
        started = time.monotonic()
        tenant = services.tenant_create(
            actor=None,
            spec=services.TenantSpec(
                slug=slug,
                name=options["name"],
                owner_email=options["admin_email"],
                language=options["language"],
                time_zone=options["timezone"],
                currency=options["currency"],
            ),
            provision_async=False,
        )
        tenant = services.tenant_provision(
            actor=None, tenant_id=tenant.pk, owner_password=options["admin_password"]
        )
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"tenant {tenant.slug} {tenant.status} in {elapsed:.2f} s: ")
            + selectors.tenant_site_url(tenant)
        )

    def _list(self, options: dict[str, Any]) -> None:
        rows = [("SLUG", "STATUS", "LANGUAGE", "TIME ZONE", "CURRENCY", "NAME")]
        for t in selectors.business_tenants():
            rows.append((t.slug, t.status, t.language, t.time_zone, t.currency, t.name))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[-1]]))
        if len(rows) == 1:
            self.stdout.write("(no tenants)")

    def _suspend(self, options: dict[str, Any]) -> None:
        tenant = services.tenant_suspend(actor=None, tenant=self._get(options["slug"]))
        self.stdout.write(f"tenant {tenant.slug} {tenant.status}")

    def _resume(self, options: dict[str, Any]) -> None:
        tenant = services.tenant_resume(actor=None, tenant=self._get(options["slug"]))
        self.stdout.write(f"tenant {tenant.slug} {tenant.status}")

    def _delete(self, options: dict[str, Any]) -> None:
        tenant = self._get(options["slug"])
        if not options["yes"]:
            raise CommandError(
                f"deleting {tenant.slug} drops its schema and every record in it; "
                "add --yes to confirm"
            )
        services.tenant_delete(actor=None, tenant=tenant)
        self.stdout.write(f"tenant {tenant.slug} deleted")

    def _export(self, options: dict[str, Any]) -> None:
        tenant = self._get(options["slug"])
        output = Path(options["file"])
        summary = archive.export_tenant(tenant=tenant, output=output, force=options["force"])
        self.stdout.write(
            self.style.SUCCESS(f"tenant {tenant.slug} exported to {output}: ") + summary.describe()
        )

    def _import(self, options: dict[str, Any]) -> None:
        summary = archive.import_tenant(
            archive=Path(options["file"]),
            slug=options["slug"],
            name=options["name"],
            actor=None,
        )
        tenant = summary.tenant
        self.stdout.write(
            self.style.SUCCESS(f"tenant {tenant.slug} {tenant.status}, imported: ")
            + f"{summary.describe()}: {selectors.tenant_site_url(tenant)}"
        )


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{field}: {msg}" for field, msgs in exc.message_dict.items() for msg in msgs]
    return list(exc.messages)
