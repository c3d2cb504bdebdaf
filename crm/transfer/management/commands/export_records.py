"""export_records <tenant> <kind> [--format csv|xlsx] [-o FILE] [--query "stage=active&tag=vip"]

An operator tool: every record of the tenant, unmasked, audited (actor none, detail "cli")."""

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import QueryDict
from django_tenants.utils import schema_context

from crm.accounts.audit import audit_record
from crm.transfer.exporting import (
    FORMATS,
    InvalidFilter,
    csv_chunks,
    export_kind,
    export_kinds,
    write_xlsx,
)
from crm.transfer.management.commands._tenant_arg import tenant_named


class Command(BaseCommand):
    help = "Export a tenant's records (customers, orders ...) to CSV or XLSX, unmasked."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug or schema name")
        parser.add_argument("kind")
        parser.add_argument("--format", choices=FORMATS, default="csv")
        parser.add_argument(
            "-o", "--output", default="", help="file to write (CSV: stdout if none)"
        )
        parser.add_argument(
            "--query", default="", help='the list filter, e.g. "stage=active&tag=vip"'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_named(options["tenant"])
        try:
            kind = export_kind(options["kind"])
        except KeyError:
            known = ", ".join(k.key for k in export_kinds())
            raise CommandError(f"unknown kind {options['kind']!r} (known: {known})") from None
        fmt, output = options["format"], options["output"]
        if fmt == "xlsx" and not output:
            raise CommandError("XLSX needs -o FILE")
        query = QueryDict(options["query"])
        started = time.monotonic()
        with schema_context(tenant.schema_name):
            headers = kind.header_row(None, query)
            try:
                rows = kind.rows_for(None, query)
            except InvalidFilter as exc:
                raise CommandError(exc.message) from None
            if fmt == "xlsx":
                count = write_xlsx(Path(output), headers, rows)
            else:
                count = 0

                def counted() -> Any:
                    nonlocal count
                    for row in rows:
                        count += 1
                        yield row

                if output:
                    with open(output, "w", encoding="utf-8", newline="") as out:
                        for chunk in csv_chunks(headers, counted(), batch=5000):
                            out.write(chunk)
                else:
                    stream: TextIO = getattr(self.stdout, "_out", sys.stdout)
                    for chunk in csv_chunks(headers, counted(), batch=5000):
                        stream.write(chunk)
                    stream.flush()
            audit_record(
                action="export",
                actor=None,
                detail={
                    "kind": kind.key,
                    "filter": options["query"],
                    "rows": count,
                    "format": fmt,
                    "cli": True,
                },
            )
        elapsed = time.monotonic() - started
        if output:
            self.stderr.write(f"{count} rows to {output} in {elapsed:.2f} s")
