"""refresh_analytics <tenant> [--as-of YYYY-MM-DD] [--json]: recompute every analytics step
for the tenant now (RFM, and the steps registered after it) and print a summary: the counts
per segment and each step's own figures. Refused while another refresh of the tenant runs.
Recorded in the audit log as done from the command line."""

import datetime
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django_tenants.utils import schema_context

from analytics.models import RefreshJob
from analytics.refresh_jobs import refresh_job_run_here
from analytics.rfm_map import segment_label
from analytics.rfm_selectors import segment_keys
from crm.accounts.audit import audit_actor
from crm.transfer.management.commands._tenant_arg import tenant_named

ACTOR = "command line"


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of {value!r}: give a date as YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Recompute a tenant's analytics (RFM and the steps after it) and print a summary."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug or schema name")
        parser.add_argument("--as-of", dest="as_of", help="YYYY-MM-DD; default today")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = _date(options["as_of"]) if options["as_of"] else None
        tenant = tenant_named(options["tenant"])
        with schema_context(tenant.schema_name), audit_actor(ACTOR):
            try:
                job = refresh_job_run_here(actor=None, as_of=as_of)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        if job.status != RefreshJob.Status.DONE:
            raise CommandError(f"the refresh failed: {job.error}")
        summary = job.summary
        if options["json"]:
            self.stdout.write(json.dumps({"tenant": tenant.slug, **summary}, indent=2))
            return
        self._print(tenant.slug, summary)

    def _print(self, slug: str, summary: dict[str, Any]) -> None:
        write = self.stdout.write
        write(f"analytics of {slug} as of {summary['as_of']}")
        with translation.override("en"):
            for key, step in summary["steps"].items():
                seconds = summary["seconds"].get(key, 0)
                write(f"{key} ({seconds:.2f} s):")
                if key == "rfm":
                    write(
                        f"  scored {step['scored']} customers"
                        f" ({step['scoring']}, window {step['window_days'] or 'all history'})"
                    )
                    counts = step["segments"]
                    for segment in segment_keys(counts):
                        write(f"  {segment_label(segment):<20} {counts.get(segment, 0):>8}")
                    continue
                if key == "churn" and step.get("status") == "fitted":
                    write(
                        "  BG/NBD fitted: r={r:.4f} alpha={alpha:.4f} a={a:.4f} b={b:.4f}"
                        " log-likelihood={ll:.2f}".format(
                            r=step["r"],
                            alpha=step["alpha"],
                            a=step["a"],
                            b=step["b"],
                            ll=step["log_likelihood"],
                        )
                    )
                for name, value in step.items():
                    shown = value if isinstance(value, str | int | float) else json.dumps(value)
                    write(f"  {name}: {shown}")
        write(self.style.SUCCESS(f"done in {summary['seconds']['total']:.2f} s"))
