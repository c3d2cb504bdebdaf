"""The customer list's columns and filters, by registration.

A column says everything the list needs to show it: its header, how a row's value is read
(model fields, related rows, annotations), which kind of personal data it is (masked for
readers without "see personal data", crm.accounts.masking), the tables its value comes from
(the list's cached rows must be dropped when they change: customers.models.ListVersion's
triggers), and whether the list can be sorted by it. The table header (customer_list.html), the
Python row cells (list_rows_html), the selector's query (selectors.customer_page) and the
cache key (list_cache) are all drawn from the registered columns, so a column is added in one
place. Apps register from AppConfig.ready; customers registers its own in list_columns_builtin.

tests/customers/test_list_columns.py checks that headers and cells agree and that every
registered column's and filter's tables are watched by the list-version trigger.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db import connection
from django.db.models import QuerySet

EMPTY = "—"
# Orders the list's keyset pagination knows (selectors.customer_page): a column may offer one.
KNOWN_SORTS = ("name", "newest")


@dataclass(frozen=True)
class ListColumn:
    key: str
    header: Any  # a lazily translated label
    # The row's value before masking, from a customer carrying `fields`, `related` and
    # `annotations`; None or "" shows a dash.
    value: Callable[[Any], Any]
    fields: tuple[str, ...] = ()  # for QuerySet.only(); "owner__full_name" for related rows
    related: tuple[str, ...] = ()  # for QuerySet.select_related()
    # name -> expression, built per query (e.g. a correlated subquery on the page's rows).
    annotations: Callable[[], Mapping[str, Any]] | None = None
    # Every table the value is read from: each must stamp the list version when it changes.
    tables: tuple[str, ...] = ("customers_customer",)
    personal: str | None = None  # a crm.accounts.masking kind ("phone", "email" ...)
    sort: str | None = None  # the CustomerQuery.order this column sorts by, one of KNOWN_SORTS
    capability: str | None = None  # shown only to readers with it (crm.accounts.capabilities)
    # The cell's inner HTML from the row and its shown text; it escapes what it prints.
    # Default: the text escaped, or a dash.
    cell: Callable[[Any, str], str] | None = None
    css: str = ""  # the <th> and <td> class
    position: int = 100


@dataclass(frozen=True)
class ListFilter:
    key: str  # the query string parameter; must not collide with the list's own
    field: Callable[[], forms.Field]  # its input, labelled
    # Narrows the customers to the cleaned, non-empty value.
    apply: Callable[[QuerySet[Any], Any], QuerySet[Any]]
    tables: tuple[str, ...] = ("customers_customer",)
    capability: str | None = None
    position: int = 100


_COLUMNS: dict[str, ListColumn] = {}
_FILTERS: dict[str, ListFilter] = {}


def list_column_register(column: ListColumn) -> None:
    if column.sort is not None and column.sort not in KNOWN_SORTS:
        raise ValueError(f"list column {column.key}: no keyset order {column.sort!r}")
    _COLUMNS[column.key] = column


def list_column_unregister(key: str) -> None:
    _COLUMNS.pop(key, None)


def list_filter_register(list_filter: ListFilter) -> None:
    _FILTERS[list_filter.key] = list_filter


def list_filter_unregister(key: str) -> None:
    _FILTERS.pop(key, None)


def _allowed(user: Any, capability: str | None) -> bool:
    if capability is None or user is None:
        return True
    from crm.accounts.permissions import can

    return can(user, capability)


def list_columns(user: Any = None) -> list[ListColumn]:
    """The columns this reader sees, in order (every column for None)."""
    columns = sorted(_COLUMNS.values(), key=lambda c: (c.position, c.key))
    return [c for c in columns if _allowed(user, c.capability)]


def list_filters(user: Any = None) -> list[ListFilter]:
    filters = sorted(_FILTERS.values(), key=lambda f: (f.position, f.key))
    return [f for f in filters if _allowed(user, f.capability)]


def list_filter(key: str) -> ListFilter | None:
    return _FILTERS.get(key)


def columns_key(columns: list[ListColumn]) -> str:
    """What the table header shows, for its {% memo %} key and the rows' cache key: each
    column's key, label (in the current language) and class."""
    return repr([(c.key, str(c.header), c.css) for c in columns])


def _code_digest(function: Callable[..., Any] | None) -> bytes:
    code = getattr(function, "__code__", None)
    if code is None:
        return repr(function).encode()
    return code.co_code + repr(code.co_consts).encode()


def columns_digest(columns: list[ListColumn]) -> str:
    """Changes whenever a column's markup or value code does (rows cached by an older
    deployment are not served by a newer one) and with the set of columns a reader sees."""
    parts = [columns_key(columns).encode()]
    for c in columns:
        parts += [_code_digest(c.value), _code_digest(c.cell), repr(c.personal).encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:12]


def query_parts(columns: list[ListColumn]) -> tuple[set[str], set[str], dict[str, Any]]:
    """(fields for only(), relations for select_related(), annotations) the columns read."""
    fields: set[str] = set()
    related: set[str] = set()
    annotations: dict[str, Any] = {}
    for c in columns:
        fields.update(c.fields)
        related.update(c.related)
        if c.annotations is not None:
            annotations.update(c.annotations())
    return fields, related, annotations


def default_cell(_row: Any, text: str) -> str:
    return html.escape(text) or EMPTY


def registered_tables() -> set[str]:
    """Every table a registered column or filter reads."""
    tables = {t for c in _COLUMNS.values() for t in c.tables}
    return tables | {t for f in _FILTERS.values() for t in f.tables}


def watched_tables(schema: str) -> set[str]:
    """The tables of `schema` whose changes stamp the list version (migration 0008 and later)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE t.tgname = 'customers_list_changed' AND n.nspname = %s",
            [schema],
        )
        return {name for (name,) in cursor.fetchall()}
