"""Data subject requests: everything the tenant holds about one customer, and erasure.

Erasure reaches every registered holder of the person's data (crm.lib.erasure; customers.erasure
and crm.transfer.erasure register theirs): the record's identifying fields, contacts, consent,
timeline, merge and import before-images, audit values, import and export files. Orders stay, so
revenue and counts stay right; the customer row remains as "Erased customer #id"."""

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.audit import audit_actor, audit_erasure_begin, audit_record, writes
from crm.accounts.models import User
from crm.lib.erasure import ErasedRecord, Erasure, erasure_holders
from crm.lib.spreadsheet import safe_cell
from crm.tenants.erasures import erasure_remember
from customers import schema
from customers.erasure import person_ids
from customers.models import Customer, CustomerEmail, CustomerPhone

# The customer's own fields in the ZIP's profile (customers.schema): staff (owner, team) and
# bookkeeping are not the person's data; contacts have their own CSV.
_PROFILE_FIELDS = schema.zip_fields()


def _rows(customer: Customer) -> dict[str, list[dict[str, Any]]]:
    return {
        "contacts": [
            {"type": "phone", "value": p.e164, "as_entered": p.raw, "primary": p.is_primary}
            for p in customer.phones.all()
        ]
        + [
            {"type": "email", "value": e.email, "as_entered": e.email, "primary": e.is_primary}
            for e in customer.emails.all()
        ],
        "orders": [
            {
                "number": o.number,
                "ordered_at": o.ordered_at,
                "amount": o.amount,
                "currency": o.currency,
                "items": o.item_count,
                "channel": o.channel,
                "store": o.store,
                "status": o.status,
                "lines": [
                    {"sku": ln.sku, "name": ln.name, "quantity": ln.quantity, "price": ln.price}
                    for ln in o.lines.all()
                ],
            }
            for o in customer.orders.prefetch_related("lines")
        ],
        "timeline": [
            {
                "when": i.occurred_at,
                "kind": i.kind,
                "source": i.source,
                "title": i.title,
                "details": i.body,
            }
            for i in customer.interactions.all()
        ],
        "consent": [
            {"when": c.at, "channel": c.channel, "granted": c.granted, "source": c.source}
            for c in customer.consent_events.all()
        ],
    }


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    if rows:
        flat = [{k: v for k, v in row.items() if k != "lines"} for row in rows]
        writer = csv.DictWriter(buffer, fieldnames=list(flat[0]))
        writer.writeheader()
        for row in flat:
            writer.writerow({k: safe_cell(v) for k, v in row.items()})
    # A byte-order mark, so Excel opens the Chinese text as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


@writes
def customer_data_export(*, actor: User | None, customer: Customer, ip: str | None = None) -> bytes:
    """A ZIP of everything held about the customer: customer.json, and a CSV per kind."""
    rows = _rows(customer)
    profile = {field: getattr(customer, field) for field in _PROFILE_FIELDS}
    # Custom field values, archived fields' included: everything held, under their column names.
    profile.update(
        {f"custom_{key}": value for key, value in sorted((customer.custom or {}).items())}
    )
    document = {"customer": profile, **rows, "exported_at": timezone.now()}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "customer.json",
            json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        )
        zf.writestr("profile.csv", _csv([profile]))
        for kind, kind_rows in rows.items():
            zf.writestr(f"{kind}.csv", _csv(kind_rows))
    audit_record(
        action="personal_data_export",
        actor=actor,
        table_name="customers_customer",
        record_id=customer.pk,
        ip=ip,
        detail={"scope": "one customer"},
    )
    return archive.getvalue()


def _erasure_of(customer: Customer) -> Erasure:
    """The erasure of `customer`'s person, with what identifies them read now, before any
    holder blanks it."""
    ids = person_ids(customer.pk)
    names = Customer.objects.filter(pk__in=ids).values_list("name", flat=True)
    emails = CustomerEmail.objects.filter(customer__in=ids).values_list("email", flat=True)
    phones = CustomerPhone.objects.filter(customer__in=ids).values_list("e164", flat=True)
    return Erasure(
        customer_ids=ids,
        at=timezone.now(),
        names=tuple(sorted(set(names))),
        emails=tuple(sorted(set(emails))),
        phones=tuple(sorted(set(phones))),
    )


@writes
@transaction.atomic
def customer_erase(*, actor: User | None, customer: Customer, ip: str | None = None) -> Customer:
    """Erase the person: every registered holder (crm.lib.erasure) removes or redacts what it
    holds about the customer and every record merged into it, in this one transaction. No undo
    brings them back afterwards (customers.erasure.customer_erased_blocker)."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.erased_at is not None:
        raise ValidationError(_("This customer was already erased."))
    audit_erasure_begin()
    erasure = _erasure_of(customer)
    created = list(
        Customer.objects.filter(pk__in=erasure.customer_ids).values_list("pk", "created_at")
    )
    for holder in erasure_holders():
        holder.erase(erasure)
    audit_record(
        action="erase",
        actor=actor,
        table_name="customers_customer",
        record_id=customer.pk,
        ip=ip,
        detail={"records": list(erasure.customer_ids)},
    )
    # Outside the schema too, so restoring an older archive erases the person again.
    erasure_remember(created, erasure.at)
    customer.refresh_from_db()
    return customer


def customers_erase_again(records: Sequence[ErasedRecord]) -> int:
    """Erase each of `records` (id, created_at) that is here, the same record and not erased
    yet, as the staff UI would: a restored archive made before they were erased
    (crm.tenants.erasures). How many were erased."""
    erased = 0
    with audit_actor("erasure made again on a restored archive"):
        for pk, created in records:
            customer = Customer.objects.filter(
                pk=pk, created_at=created, erased_at__isnull=True
            ).first()
            if customer is not None:
                customer_erase(actor=None, customer=customer)
                erased += 1
    return erased
