"""The customer page's Tickets tab and the timeline's ticket events (customers.customer_tabs)."""

from typing import Any

from django.utils.translation import gettext_lazy as _

from crm.accounts import capabilities as cap
from crm.accounts.permissions import can
from customers.customer_tabs import (
    CustomerTab,
    TimelineEvent,
    customer_tab_register,
    timeline_event_register,
)
from support.selectors import customer_tickets


def _tickets(user: Any, customer: Any) -> dict[str, Any]:
    return {
        "tickets": customer_tickets(user, customer),
        "can_create": can(user, cap.CREATE) and customer.erased_at is None,
    }


def register() -> None:
    customer_tab_register(
        CustomerTab(
            key="tickets",
            title=_("Tickets"),
            template="support/tabs/tickets.html",
            selector=_tickets,
            position=30,
        )
    )
    timeline_event_register(TimelineEvent(key="ticket_opened", label=_("Ticket")))
    timeline_event_register(TimelineEvent(key="ticket_resolved", label=_("Ticket resolved")))
