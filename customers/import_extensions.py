"""Extra columns of the customers import (customers.transfer_imports) that apps above customers
own (loyalty's referral code), registered from their AppConfig.ready: customers cannot import
them.

A column is offered in the wizard's mapping (its key, label and aliases map a header
automatically) and as an import_records mapping target like any customer field. It applies to
customers the import creates only: on a row that matches an existing customer the cell is not
used (the field's help says so in the wizard), so importing a file again, with "update existing",
changes nothing.

Per batch, `check(values)` gets the distinct non-empty cells (trimmed) and answers the refused
ones with their reason, set-based (one query a batch, not one a row): the rows holding them are
rejected, in the dry run too. At the end of a commit that went through, `apply_bulk(*, actor,
pairs)` gets every (new customer id, value) of the run, inside the import's transaction after
the customers are written; it must be set-based (an import creates 100,000 customers). What it
writes for these customers is removed by undo through customers.removal_hooks (register the rows
there)."""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImportColumn:
    key: str  # the mapping's field key; must not be a customer field's
    label: Any  # lazily translated
    check: Callable[[Collection[str]], dict[str, str]]  # values -> {refused value: reason}
    apply_bulk: Callable[..., object]  # apply_bulk(*, actor, pairs: list[(customer_id, value)])
    aliases: tuple[str, ...] = ()
    help: Any = ""


_COLUMNS: dict[str, ImportColumn] = {}


def customer_import_column_register(column: ImportColumn) -> None:
    _COLUMNS[column.key] = column


def customer_import_column_unregister(key: str) -> None:
    """Remove a column (tests that declare one of their own)."""
    _COLUMNS.pop(key, None)


def customer_import_columns() -> Sequence[ImportColumn]:
    return list(_COLUMNS.values())
