"""The customer page's Points tab and the timeline's points events, by registration
(customers.customer_tabs); registered from LoyaltyConfig.ready."""

import uuid
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
from loyalty import counter_services, selectors_ui
from loyalty.forms import AdjustForm


def _points(user: Any, customer: Customer) -> dict[str, Any]:
    shown = selectors_ui.points_tab(customer)
    may_act = can(user, cap.CHANGE) and customer.erased_at is None
    shown["can_act"] = may_act
    if may_act:
        shown["redeem_key"] = uuid.uuid4().hex
        shown["adjust_form"] = AdjustForm()
    return shown


def register() -> None:
    customer_tab_register(
        CustomerTab(
            key="points",
            title=_("Points"),
            template="loyalty/tabs/points.html",
            selector=_points,
            position=40,
        )
    )
    timeline_event_register(TimelineEvent(counter_services.EVENT_REDEEM, _("Points redeemed")))
    timeline_event_register(
        TimelineEvent(counter_services.EVENT_REDEEM_CANCEL, _("Redemption cancelled"))
    )
    timeline_event_register(TimelineEvent(counter_services.EVENT_ADJUST, _("Points adjusted")))
