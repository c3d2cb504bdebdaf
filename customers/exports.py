"""Customer lists as CSV: personal data masked as the user would see it on the page, and every
cell safe to open in a spreadsheet."""

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Prefetch, QuerySet

from crm.accounts.masking import shown
from crm.lib.spreadsheet import safe_cell
from customers.models import Customer, CustomerEmail, CustomerPhone

COLUMNS = (
    "id",
    "name",
    "kind",
    "phones",
    "emails",
    "birthday",
    "city",
    "region",
    "country",
    "tags",
    "stage",
    "source",
    "channel",
    "owner",
    "team",
    "external_id",
    "created_at",
)


def _row(user: Any, customer: Customer) -> list[str]:
    values = {
        "id": customer.pk,
        "name": customer.name,
        "kind": customer.kind,
        "phones": " ".join(str(shown(user, "phone", p.e164)) for p in customer.phones.all()),
        "emails": " ".join(str(shown(user, "email", e.email)) for e in customer.emails.all()),
        "birthday": shown(user, "birthday", customer.birthday) or "",
        "city": customer.city,
        "region": customer.region,
        "country": customer.country,
        "tags": ",".join(customer.tags),
        "stage": customer.stage,
        "source": customer.source,
        "channel": customer.channel,
        "owner": customer.owner.email if customer.owner else "",
        "team": customer.team.name if customer.team else "",
        "external_id": customer.external_id,
        "created_at": customer.created_at.isoformat(),
    }
    return [safe_cell(values[column]) for column in COLUMNS]


def customers_csv(user: Any, customers: QuerySet[Customer], chunk: int = 1000) -> Iterator[str]:
    """The CSV a line at a time (for a streaming response), in chunks of ids."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield "\ufeff"  # so Excel reads UTF-8 (Chinese names)
    writer.writerow(COLUMNS)
    yield flush()
    rows: Iterable[Customer] = (
        customers.select_related("owner", "team")
        .prefetch_related(
            Prefetch("phones", queryset=CustomerPhone.objects.order_by("-is_primary", "id")),
            Prefetch("emails", queryset=CustomerEmail.objects.order_by("-is_primary", "id")),
        )
        .order_by("id")
        .iterator(chunk_size=chunk)
    )
    for customer in rows:
        writer.writerow(_row(user, customer))
        yield flush()
