"""Many new customers at once, by COPY, inside the caller's transaction: the public way for a
bulk path (the orders import's "create customers missing from the orders"; later a tickets
import by requester email, a loyalty import by member phone) to create the customers its rows
name but the tenant does not have yet.

The customer row comes from Customer._meta (every column, each field's own default), so a
column added to the model needs no change here. The caller checks the values (name given,
phone in E.164, email lower-cased, external id free, the plan's limit) and records what was
created for undo (crm.transfer.bulk.changes_copy with the ids returned)."""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import NOT_PROVIDED
from django.utils import timezone

from crm.lib.contacts import name_sort_key
from crm.transfer import bulk
from customers.models import Customer, CustomerEmail, CustomerPhone

# Set here rather than from the field's default: the moment of the batch, for every row.
_NOW = ("created_at", "updated_at")


@dataclass
class CustomerNew:
    name: str
    phone: tuple[str, str] | None = None  # (as written, E.164)
    email: str = ""
    external_id: str = ""
    owner_id: int | None = None
    name_sort: str = ""  # the caller's (cached) name_sort_key; computed when empty


def new_customer_defaults() -> dict[str, Any]:
    """Each column of a new customer with the model field's default (None where it has none);
    the customers import starts its new rows from these too."""
    values: dict[str, Any] = {}
    for f in Customer._meta.concrete_fields:
        if f.primary_key:
            continue
        column = str(f.column)
        if f.has_default():
            values[column] = f.get_default()
        elif f.db_default is not NOT_PROVIDED or f.null:
            values[column] = None
        else:
            values[column] = "" if f.get_internal_type() in ("CharField", "TextField") else None
    return values


def customers_create_missing(
    people: Sequence[CustomerNew], *, now: datetime.datetime | None = None
) -> list[int]:
    """Create `people` (each with its phone and email as the primary ones); their ids, in order."""
    if not people:
        return []
    now = now or timezone.now()
    ids = bulk.reserve_ids(Customer._meta.db_table, len(people))
    base = new_customer_defaults() | dict.fromkeys(_NOW, now)
    columns = ["id", *base]
    rows = []
    for person, pk in zip(people, ids, strict=True):
        row = base | {
            "name": person.name,
            "name_sort": person.name_sort or name_sort_key(person.name),
            "external_id": person.external_id,
            "owner_id": person.owner_id,
        }
        rows.append([pk, *(row[c] for c in base)])
    bulk.copy_rows(Customer._meta.db_table, columns, rows)
    bulk.copy_rows(
        CustomerPhone._meta.db_table,
        ("customer_id", "raw", "e164", "digits", "is_primary"),
        (
            (pk, p.phone[0], p.phone[1], p.phone[1][1:], True)
            for p, pk in zip(people, ids, strict=True)
            if p.phone
        ),
    )
    bulk.copy_rows(
        CustomerEmail._meta.db_table,
        ("customer_id", "email", "is_primary"),
        ((pk, p.email, True) for p, pk in zip(people, ids, strict=True) if p.email),
    )
    return ids
