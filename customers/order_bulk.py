# ruff: noqa: S608  (SQL is built from model metadata and constants; values are parameters)
"""Many orders at once, inside the caller's transaction: new ones by COPY, changed ones by one
UPDATE (the orders import's batches; later any bulk path that writes orders).

The caller checks the values (customer ids that exist, numbers free, amounts not negative),
keeps what undo needs, and tells customers.order_hooks (``orders_written``) once the orders are
written, in the same transaction, once for the whole set."""

from collections.abc import Sequence
from typing import Any

from django.db import connection

from crm.transfer import bulk
from customers.models import Order

# The order columns in table order, for COPY and the update's temporary table.
ORDER_COLUMNS = (
    "id",
    "number",
    "customer_id",
    "ordered_at",
    "amount",
    "currency",
    "item_count",
    "channel",
    "store",
    "status",
)

_ESCAPES = bulk.COPY_ESCAPES


def _order_line(pk: int, row: dict[str, Any]) -> str:
    """An order as a line of COPY's text format (currency and status are codes, never escaped):
    a third of what a generic formatter costs, for a million rows."""
    return (
        f"{pk}\t{row['number'].translate(_ESCAPES)}\t{row['customer_id']}\t"
        f"{row['ordered_at'].isoformat()}\t{row['amount']}\t{row['currency']}\t"
        f"{row['item_count']}\t{row['channel'].translate(_ESCAPES)}\t"
        f"{row['store'].translate(_ESCAPES)}\t{row['status']}"
    )


def orders_create_operation(
    rows: Sequence[dict[str, Any]], ids: Sequence[int]
) -> tuple[str, str, Sequence[str], str]:
    """New orders (each row a dict of ORDER_COLUMNS but the id) with the given ids, as a COPY
    for a bulk.BackgroundWriter (ids from ``bulk.reserve_ids``)."""
    lines = [_order_line(pk, row) for pk, row in zip(ids, rows, strict=True)]
    lines.append("")
    return ("copy", bulk.qualified(Order._meta.db_table), ORDER_COLUMNS, "\n".join(lines))


def orders_update(rows: Sequence[dict[str, Any]]) -> None:
    """Give existing orders (each row a dict of every ORDER_COLUMNS, the id included) these
    values: COPY into a temporary table, then one UPDATE."""
    if not rows:
        return
    table = bulk.qualified(Order._meta.db_table)
    names = ", ".join(f'"{c}"' for c in ORDER_COLUMNS)
    assignments = ", ".join(f'"{c}" = u."{c}"' for c in ORDER_COLUMNS if c != "id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS import_order_update (LIKE {table}) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE import_order_update")
        with cursor.cursor.copy(f"COPY import_order_update ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in ORDER_COLUMNS])
        cursor.execute(
            f"UPDATE {table} o SET {assignments} FROM import_order_update u WHERE o.id = u.id"
        )
