"""import_records <tenant> <kind> <file> [--dry-run] [--valid-only] [--mapping NAME] and one
option per option a registered kind declares (crm.transfer.registry.ImportOption): today
[--match external_id|phone|email] [--update/--no-update] [--create-missing-customers].

The import engine on the command line, synchronously: the same checks, the same single
transaction, the same undo (from the imports page) and audit entries (actor "command line").
It runs as the platform operator, with record scope "all": rows match and update any record of
the tenant, whoever owns it (a job uploaded on the imports page matches only its importer's
customers); it says so on stderr. Prints the counts; when rows are rejected, prints them (row,
column, reason; the first 50) and the rejected-rows CSV's path, and exits with status 1 (2 when
the file cannot be read at all)."""

import argparse
import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import schema_context

from crm.accounts.audit import audit_actor
from crm.transfer import selectors, services
from crm.transfer.management.commands._tenant_arg import tenant_named
from crm.transfer.models import ImportJob, MappingTemplate
from crm.transfer.registry import ImportKind, import_kind, import_kinds

ACTOR = "command line"
SHOWN = 50


def _dest(flag: str) -> str:
    return "option_" + flag.lstrip("-").replace("-", "_")


def _kind_options(kind: ImportKind, options: dict[str, Any]) -> dict[str, Any]:
    """The kind's options given on the command line, by option key; ValidationError for a
    flag given that only other kinds have."""
    own = {_dest(o.cli_flag): o.key for o in kind.options}
    given: dict[str, Any] = {}
    for dest, value in options.items():
        if not dest.startswith("option_") or value is None:
            continue
        if dest not in own:
            flag = "--" + dest.removeprefix("option_").replace("_", "-")
            raise ValidationError(f"{kind.key} imports have no option {flag}")
        given[own[dest]] = value
    return given


class Command(BaseCommand):
    help = "Import records (customers, orders ...) from a CSV or XLSX file into a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug or schema name")
        parser.add_argument("kind")
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument("--valid-only", action="store_true", help="import the valid rows")
        parser.add_argument("--mapping", default="", help="a saved mapping template's name")
        # The kinds' options: one flag each (kinds sharing a flag share it); None = not given.
        added: dict[str, list[str]] = {}
        for kind in import_kinds():
            for option in kind.options:
                added.setdefault(option.cli_flag, []).append(
                    f"{kind.key}: " + " / ".join(value for value, _label in option.choices)
                    if option.is_choice
                    else kind.key
                )
        for flag, users in added.items():
            choice = any(
                o.is_choice for k in import_kinds() for o in k.options if o.cli_flag == flag
            )
            parser.add_argument(
                flag,
                dest=_dest(flag),
                default=None,
                action="store" if choice else argparse.BooleanOptionalAction,
                help="; ".join(users),
            )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_named(options["tenant"])
        try:
            kind = import_kind(options["kind"])
        except KeyError:
            known = ", ".join(k.key for k in import_kinds())
            raise CommandError(f"unknown kind {options['kind']!r} (known: {known})") from None
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        with schema_context(tenant.schema_name), audit_actor(ACTOR):
            try:
                job = self._run(kind, path, options)
            except ValidationError as exc:
                self.stderr.write("; ".join(exc.messages))
                sys.exit(2)
            self._report(job, dry_run=options["dry_run"])

    def _run(self, kind: Any, path: Path, options: dict[str, Any]) -> ImportJob:
        given = _kind_options(kind, options)
        with path.open("rb") as upload:
            job = services.import_start(
                actor=None, kind=kind.key, upload=upload, filename=path.name
            )
        mapping = dict(job.mapping)
        if options["mapping"]:
            template = MappingTemplate.objects.filter(
                kind=kind.key, name=options["mapping"]
            ).first()
            if template is None:
                raise CommandError(f"no saved mapping {options['mapping']!r} for {kind.key}")
            mapping = {h: template.mapping.get(h, "") for h in job.headers}
        job = services.import_configure(
            actor=None,
            job=job,
            mapping=mapping,
            valid_only=options["valid_only"],
            **given,
        )
        mapped = ", ".join(f"{h} -> {k}" for h, k in job.mapping.items() if k)
        self.stderr.write(f"job {job.pk}: {job.original_name}; columns: {mapped}")
        self.stderr.write(
            "running as the operator: record scope all (rows match any record of the tenant)"
        )
        # The command line waits for its own work: no worker, whatever the size. Without
        # --dry-run there is no separate check: the commit checks every row (and when one is
        # rejected in all-or-nothing mode, writes nothing and lists them all).
        if options["dry_run"]:
            job = services.import_check_request(actor=None, job=job, inline=True)
        else:
            job = services.import_commit_direct(actor=None, job=job)
        if job.status == ImportJob.Status.FAILED and not job.rejected_count:
            raise ValidationError(job.message)
        return job

    def _report(self, job: ImportJob, *, dry_run: bool) -> None:
        verb = "would import" if job.status == ImportJob.Status.CHECKED and dry_run else "imported"
        if job.status == ImportJob.Status.CHECKED and not dry_run:
            verb = "not imported (all or nothing)"
        if job.status == ImportJob.Status.FAILED:
            verb = "not imported"
        self.stdout.write(
            f"{verb}: {job.created_count} new, {job.updated_count} updated, "
            f"{job.unchanged_count} unchanged, {job.rejected_count} rejected "
            f"({job.rows_total or 0} rows)"
        )
        if job.message:
            self.stdout.write(job.message)
        failed = job.status == ImportJob.Status.FAILED
        if job.rejected_count:
            self.stdout.write("rejected rows (row, column, reason):")
            for row in selectors.import_rejected_rows(job, SHOWN):
                self.stdout.write(f"  row {row.row}\t{row.column or '-'}\t{row.reason}")
            if job.rejected_count > SHOWN:
                self.stdout.write(f"  ... and more: {job.rejected_count} rejected rows in all")
            path = selectors.import_rejected_csv_path(job)
            if path is not None:
                self.stdout.write(f"all rejected rows with the reason: {path}")
        if job.rejected_count or failed:
            sys.exit(1)
