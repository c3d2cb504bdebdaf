"""What the ticket page's customer panel shows besides recent orders and previous tickets: items
registered by higher apps (loyalty's tier and points, analytics' segment and churn flags) from
their AppConfig.ready, so support imports neither.

An item is set-based: `rows(customer_ids)` returns a values() queryset with a `customer_id`
key and whatever `shown` needs. support.page_data folds every item's queryset into the ticket
page's one side query (as a JSON subquery), so a provider costs no query of its own and the
page keeps to its budget of 8 (tests/tickets/test_slarep_query_budget.py). The rows come back
through JSON: dates as ISO text, decimals as numbers. `shown(row)` gives the text (escaped by
the template) or html-safe markup; an empty text hides the item for that customer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from crm.accounts import capabilities as cap
from crm.accounts.permissions import can


@dataclass(frozen=True)
class TicketContextItem:
    key: str
    label: Any  # a lazily translated short name
    rows: Callable[[list[int]], QuerySet[Any]]
    shown: Callable[[Mapping[str, Any]], str]
    capability: str = cap.VIEW
    position: int = 100


@dataclass(frozen=True)
class ContextValue:
    key: str
    label: str
    text: str


_ITEMS: dict[str, TicketContextItem] = {}


def ticket_context_register(item: TicketContextItem) -> None:
    _ITEMS[item.key] = item


def ticket_context_unregister(key: str) -> None:
    _ITEMS.pop(key, None)


def ticket_context_items(user: Any) -> list[TicketContextItem]:
    """The registered items the reader may see, in their order."""
    return sorted(
        (item for item in _ITEMS.values() if can(user, item.capability)),
        key=lambda item: (item.position, item.key),
    )


def context_values(
    items: Iterable[TicketContextItem], found: Iterable[list[Mapping[str, Any]]], customer_id: int
) -> list[ContextValue]:
    """Each item's text for one customer, from its rows (as page_data read them)."""
    values = []
    for item, rows in zip(items, found, strict=True):
        for row in rows:
            if row.get("customer_id") != customer_id:
                continue
            text = item.shown(row)
            if text:
                values.append(ContextValue(item.key, str(item.label), text))
            break
    return values
