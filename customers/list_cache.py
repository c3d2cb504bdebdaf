"""The customer list's rows, rendered once and kept in the cache until something they show
changes.

A list page is read far more often than the customers on it change; rendering its fifty rows
and finding them is most of what a list request costs (docs/benchmarks.md). The rows are kept
under a key made of:

* the list's data version (customers.models.ListVersion, read with the page's other context):
  database triggers move it on every change to customers, phones, emails, orders, custom
  field definitions, staff and team names and team membership, whichever code path makes it
  (every table a registered column or filter reads, tests/customers/test_list_columns.py), so a
  changed record is never shown from the cache;
* what decides which customers a reader sees and how: the record scope (with the user for
  "own" and "team"), whether personal data is shown or masked, whether rows carry a checkbox,
  the language;
* the query itself (search, filters, order, cursor, page size), the columns the reader sees
  (customers.list_columns) and the rows' markup code.

The tenant's schema is part of every cache key (settings.CACHES' KEY_FUNCTION), so no tenant
can be served another's rows. CUSTOMER_LIST_CACHE_SECONDS = 0 turns the cache off.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe

from crm.accounts.models import RecordScope
from crm.accounts.permissions import can_view_personal_data
from crm.lib.cache import cache_forget_prefix
from customers import selectors
from customers.list_columns import ListColumn, list_columns
from customers.list_rows_html import markup_digest, rows_html

KEY_PREFIX = "customer-list"


@dataclass(frozen=True)
class ListRows:
    html: SafeString  # the table's <tr> rows
    count: int
    next_cursor: str | None


def cache_key(
    user: Any,
    query: selectors.CustomerQuery,
    *,
    after: str,
    size: int,
    context: selectors.ListContext,
    selectable: bool,
    columns: list[ListColumn] | None = None,
) -> str:
    if columns is None:
        columns = list_columns(user)
    reader = "all" if context.scope == RecordScope.ALL else f"{context.scope}-{user.pk}"
    personal = "p" if can_view_personal_data(user) else "m"
    asked = hashlib.sha256(repr((query, after, size)).encode()).hexdigest()
    return ":".join(
        (
            KEY_PREFIX,
            str(context.data_version),
            markup_digest(columns),
            translation.get_language() or "",
            reader,
            personal,
            "s" if selectable else "-",
            asked,
        )
    )


def list_rows(
    user: Any,
    query: selectors.CustomerQuery,
    *,
    after: str,
    context: selectors.ListContext,
    selectable: bool,
    size: int = 50,
    columns: list[ListColumn] | None = None,
) -> ListRows:
    """One page of the list as rendered rows: from the cache when this reader has seen this
    page of this data before, otherwise read (selectors.customer_page), rendered and kept."""
    seconds = settings.CUSTOMER_LIST_CACHE_SECONDS
    if columns is None:
        columns = list_columns(user)
    key = ""
    if seconds:
        key = cache_key(
            user,
            query,
            after=after,
            size=size,
            context=context,
            selectable=selectable,
            columns=columns,
        )
        kept = cache.get(key)
        if kept is not None:
            html, count, next_cursor = kept
            return ListRows(mark_safe(html), count, next_cursor)  # noqa: S308 - rendered by us
    page = selectors.customer_page(
        user, query, after=after, size=size, scope=context.scope, columns=columns
    )
    html = rows_html(page.customers, selectable=selectable, columns=columns)
    rows = ListRows(mark_safe(html), len(page.customers), page.next_cursor)  # noqa: S308
    if seconds:
        # A plain tuple: nothing to unpickle into a class that a deployment may have changed.
        cache.set(key, (str(html), rows.count, rows.next_cursor), seconds)
    return rows


def list_cache_forget() -> int:
    """Drop every cached page of this tenant's list. Pages of an older data version are
    never served, but they still hold the rows they showed until they expire; erasing a
    customer must not leave the person's row there (customers.erasure)."""
    return cache_forget_prefix(f"{KEY_PREFIX}:")
