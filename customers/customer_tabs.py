"""The customer page's tabs and the timeline's event kinds, by registration.

Support (tickets), loyalty (points), analytics (scores) and care messages each show a part of
the customer page and write events onto the timeline, without customers importing them: they
register a CustomerTab and TimelineEvent kinds from AppConfig.ready. customers registers its
own the same way (customer_tabs_builtin).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crm.accounts import capabilities as cap


@dataclass(frozen=True)
class CustomerTab:
    key: str  # the section's anchor: #tab-<key>
    title: Any  # a lazily translated label
    # A template name, or a loaded template; it reads the selector's values as `tab.<name>`
    # and the customer as `customer`.
    template: Any
    # What the tab shows: (the reader, the customer) -> the template's values. Runs only for
    # readers with `capability`; it applies its own masking, as every selector does.
    selector: Callable[[Any, Any], Mapping[str, Any]]
    capability: str = cap.VIEW
    position: int = 100


@dataclass(frozen=True)
class TabShown:
    key: str
    title: str
    template: Any
    context: Mapping[str, Any]


@dataclass(frozen=True)
class TimelineEvent:
    key: str  # stored in Interaction.source for entries of kind "event" (at most 30 characters)
    label: Any  # what the entry's badge says


_TABS: dict[str, CustomerTab] = {}
_EVENTS: dict[str, TimelineEvent] = {}


def customer_tab_register(tab: CustomerTab) -> None:
    _TABS[tab.key] = tab


def customer_tab_unregister(key: str) -> None:
    _TABS.pop(key, None)


def customer_tabs(user: Any) -> list[CustomerTab]:
    """The tabs this reader may see, in order."""
    from crm.accounts.permissions import can

    tabs = sorted(_TABS.values(), key=lambda t: (t.position, t.key))
    return [t for t in tabs if can(user, t.capability)]


def tabs_shown(user: Any, customer: Any) -> list[TabShown]:
    """Each tab this reader may see, with what its selector read for this customer."""
    return [
        TabShown(t.key, str(t.title), t.template, t.selector(user, customer))
        for t in customer_tabs(user)
    ]


def timeline_event_register(event: TimelineEvent) -> None:
    if len(event.key) > 30:
        raise ValueError(f"timeline event {event.key!r}: at most 30 characters")
    _EVENTS[event.key] = event


def timeline_event_unregister(key: str) -> None:
    _EVENTS.pop(key, None)


def timeline_event(key: str) -> TimelineEvent | None:
    return _EVENTS.get(key)
