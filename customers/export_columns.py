"""Columns apps above customers add to the customers export, by registration.

An export column names its header, the expression annotated onto the customer query that reads
its value (a join through a one-to-one relation, or a subquery: set-based, so the export keeps
streaming a million rows from one query), how a read value becomes a cell, and optionally the
capability a reader needs to get it. customers.transfer_exports puts the registered columns
after the fixed ones and before the tenant's custom fields. Apps register from AppConfig.ready:

    export_column_register(ExportColumn("rfm_r", lambda: F("rfm_score__r")))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def plain_cell(value: Any) -> Any:
    """None as an empty cell, dates in ISO form, everything else as read."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class ExportColumn:
    header: str  # also the column's name when the file is read back (not imported)
    annotation: Callable[[], Any]  # a fresh query expression for the customer queryset
    to_cell: Callable[[Any], Any] = plain_cell
    capability: str | None = None  # only readers with it get the column
    position: int = 100


_COLUMNS: dict[str, ExportColumn] = {}


def export_column_register(column: ExportColumn) -> None:
    _COLUMNS[column.header] = column


def export_column_unregister(header: str) -> None:
    _COLUMNS.pop(header, None)


def export_columns(user: Any) -> list[ExportColumn]:
    """The columns this reader gets, in order (every column for the command line's None)."""
    columns = sorted(_COLUMNS.values(), key=lambda c: (c.position, c.header))
    if user is None:
        return columns
    from crm.accounts.permissions import can

    return [c for c in columns if c.capability is None or can(user, c.capability)]


def annotation_name(column: ExportColumn) -> str:
    return f"_export_{column.header}"
