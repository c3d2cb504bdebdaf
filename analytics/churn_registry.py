"""The churn model's registrations with the layers below (from AnalyticsConfig.ready): its
built-in rules, the customer page's "churn" tab, and its scores as rows derived from a
customer (an import's undo removes them with the customers it created)."""

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from crm.accounts import capabilities as cap


def _tab(user: Any, customer: Any) -> dict[str, Any]:
    from analytics.churn_selectors import churn_tab

    return churn_tab(user, customer)


def _no_blocker(customer_ids: Sequence[int]) -> str | None:
    return None  # scores are recomputed at each refresh; nobody works on them


def _scores_remove(customer_ids: Sequence[int]) -> None:
    from analytics.models_churn import ChurnScore

    ChurnScore.objects.filter(customer_id__in=list(customer_ids)).delete()


def register() -> None:
    from analytics import churn_rules
    from analytics.models_churn import ChurnScore
    from crm.accounts.audit_labels import register_table
    from customers.customer_tabs import CustomerTab, customer_tab_register
    from customers.removal_hooks import DerivedRows, derived_rows_register

    churn_rules.register_defaults()
    customer_tab_register(
        CustomerTab(
            key="churn",
            title=_("Churn"),
            template="analytics/tabs/churn.html",
            selector=_tab,
            capability=cap.VIEW,
            position=61,  # after RFM's "analytics" tab
        )
    )
    derived_rows_register(DerivedRows(ChurnScore, _no_blocker, _scores_remove))
    register_table("analytics_churnsettings", _("Churn settings"))
