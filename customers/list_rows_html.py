"""The customer list's table rows, written out in Python.

Drawn through a template, a page's fifty rows meant some 700 variable lookups, filters and
escapes, the largest part of what a list request that misses the cache spent outside SQL;
written out here they are a small share of it (docs/benchmarks.md, `rows_html`). What each
cell shows (masked or not, labels, links) is decided beforehand by selectors.row_display; this
only escapes and places it.
"""

import functools
import hashlib
import html
from collections.abc import Iterable
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from customers.models import Customer

EMPTY = "—"


def rows_html(customers: Iterable[Any], *, selectable: bool) -> SafeString:
    """`<tr>` rows for customers decorated by selectors.row_display; a checkbox cell first
    when the reader may act on a selection."""
    escape = html.escape
    company = f' <small class="badge">{escape(gettext("Company"))}</small>'
    rows = []
    for c in customers:
        select = (
            f'<td><input type="checkbox" name="ids" value="{c.pk}"'
            f' aria-label="{escape(c.select_label)}"></td>'
            if selectable
            else ""
        )
        badge = company if c.kind == Customer.Kind.COMPANY else ""
        owner = escape(str(c.owner)) if c.owner_id else EMPTY
        team = f'<br><small class="muted">{escape(str(c.team))}</small>' if c.team_id else ""
        rows.append(
            "\n    <tr>\n"
            f"      {select}\n"
            f'      <td><a href="{escape(c.url)}">{escape(c.name)}</a>{badge}</td>\n'
            f'      <td class="nowrap">{escape(c.phone_shown) or EMPTY}</td>\n'
            f"      <td>{escape(c.email_shown) or EMPTY}</td>\n"
            f'      <td><span class="badge">{escape(str(c.stage_label))}</span></td>\n'
            f"      <td>{escape(c.tags_shown) or EMPTY}</td>\n"
            f"      <td>{owner}{team}</td>\n"
            "    </tr>"
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value above is escaped


@functools.cache
def markup_digest() -> str:
    """Changes whenever the markup does: rows kept in the cache by an older deployment are
    not served by a newer one. Taken from the compiled function (its instructions and its
    constants, the markup's text among them), so it needs no source files at run time."""
    code = rows_html.__code__
    return hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:12]
