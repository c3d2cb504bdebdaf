"""What a customer list page shows, read from its rendered rows (the rows may come from the
cache, customers.list_cache, so the page's context holds HTML rather than customers)."""

import html
import re

from django.http import HttpResponse

_ROW_NAME = re.compile(r'<td><a href="/customers/(\d+)/">([^<]*)</a>')


def listed(response: HttpResponse) -> list[tuple[int, str]]:
    """(id, name) of each customer row on a list page, in order."""
    rows = response.context["rows"]
    return [(int(pk), html.unescape(name)) for pk, name in _ROW_NAME.findall(rows.html)]


def listed_names(response: HttpResponse) -> list[str]:
    return [name for _pk, name in listed(response)]
