"""The customer list's table rows, written out in Python.

Drawn through a template, a page's fifty rows meant some 700 variable lookups, filters and
escapes, the largest part of what a list request that misses the cache spent outside SQL;
written out here they are a small share of it (docs/benchmarks.md, `rows_html`). What each
cell shows (masked or not, labels, links) is decided beforehand by selectors.row_display; the
registered columns' cells (customers.list_columns) escape and place it.
"""

import functools
import hashlib
import html
from collections.abc import Iterable
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from customers.list_columns import ListColumn, columns_digest, default_cell


def rows_html(
    customers: Iterable[Any], *, selectable: bool, columns: list[ListColumn]
) -> SafeString:
    """`<tr>` rows for customers decorated by selectors.row_display with the same `columns`:
    a checkbox cell first when the reader may act on a selection, then a cell per column."""
    escape = html.escape
    opens = [f'<td class="{escape(c.css)}">' if c.css else "<td>" for c in columns]
    cells = [c.cell or default_cell for c in columns]
    rows = []
    for c in customers:
        select = (
            f'<td><input type="checkbox" name="ids" value="{c.pk}"'
            f' aria-label="{escape(c.select_label)}"></td>'
            if selectable
            else ""
        )
        shown = "".join(
            f"\n      {opening}{cell(c, text)}</td>"
            for opening, cell, text in zip(opens, cells, c.cells, strict=True)
        )
        rows.append(f"\n    <tr>\n      {select}{shown}\n    </tr>")
    return mark_safe("".join(rows))  # noqa: S308 - every cell escapes what it prints


@functools.cache
def _own_digest() -> str:
    code = rows_html.__code__
    return hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:12]


def markup_digest(columns: list[ListColumn]) -> str:
    """Changes whenever the markup does: rows kept in the cache by an older deployment are
    not served by a newer one. Taken from the compiled functions (this one's and each
    column's value and cell: their instructions and constants, the markup's text among
    them), so it needs no source files at run time; and from the columns the reader sees."""
    return f"{_own_digest()}-{columns_digest(columns)}"
