"""The customer page's own tabs (timeline, orders) and timeline events (merges), registered
like any app's (customers.customer_tabs). Registered from CustomersConfig.ready."""

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
from customers.models import Customer
from customers.selectors import timeline_for


def _timeline(user: Any, customer: Customer) -> dict[str, Any]:
    from customers.forms import InteractionForm

    return {
        "timeline": timeline_for(customer),
        "interaction_form": InteractionForm(),
        "can_change": can(user, cap.CHANGE) and customer.erased_at is None,
    }


def _orders(_user: Any, customer: Customer) -> dict[str, Any]:
    return {"orders": list(customer.orders.all()[:20])}


def register() -> None:
    customer_tab_register(
        CustomerTab(
            key="timeline",
            title=_("Timeline"),
            template="customers/tabs/timeline.html",
            selector=_timeline,
            position=10,
        )
    )
    customer_tab_register(
        CustomerTab(
            key="orders",
            title=_("Orders"),
            template="customers/tabs/orders.html",
            selector=_orders,
            position=20,
        )
    )
    timeline_event_register(TimelineEvent(key="merge", label=_("Merge")))
