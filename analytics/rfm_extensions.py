"""Where RFM shows outside its own pages, by registration from AnalyticsConfig.ready: the
customer page's Analytics tab, the customer list's RFM column and segment filter (they read
analytics_rfmscore, whose changes stamp the list version: migration 0002), the customers
export's rfm_* columns, and the refresh step."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from django import forms
from django.db.models import F, QuerySet
from django.utils.translation import gettext_lazy as _

from analytics import rfm_selectors
from analytics.models import RfmScore, RfmSegment
from analytics.rfm import rfm_refresh
from analytics.rfm_map import segment_label
from crm.lib.widgets import ListSelect
from customers.customer_tabs import CustomerTab, customer_tab_register
from customers.export_columns import ExportColumn, export_column_register
from customers.list_columns import (
    ListColumn,
    ListFilter,
    list_column_register,
    list_filter_register,
)
from customers.removal_hooks import DerivedRows, derived_rows_register

TABLES = ("analytics_rfmscore",)

# The export's columns: header -> the score's field.
EXPORT_FIELDS = (
    ("rfm_recency_days", "recency_days"),
    ("rfm_frequency", "frequency"),
    ("rfm_monetary", "monetary"),
    ("rfm_r", "r"),
    ("rfm_f", "f"),
    ("rfm_m", "m"),
    ("rfm_segment", "segment"),
)


def _tab(user: Any, customer: Any) -> dict[str, Any]:
    return rfm_selectors.customer_rfm(customer.pk)


def _segment_text(row: Any) -> str:
    key = row.rfm_segment
    return "" if key is None else segment_label(key)


def _segment_cell(row: Any, text: str) -> str:
    """The segment, then the scores the way the list shows a second value ("R4 F5 M3")."""
    if not text:
        return "—"
    scores = f"R{row.rfm_r} F{row.rfm_f} M{row.rfm_m}"
    return f'{html.escape(text)}<br><small class="muted">{scores}</small>'


def _segment_filter() -> forms.Field:
    return forms.ChoiceField(
        label=_("RFM segment"),
        required=False,
        choices=[("", _("Any")), *RfmSegment.choices, ("none", _("Not scored"))],
        widget=ListSelect,
    )


def _by_segment(customers: QuerySet[Any], value: Any) -> QuerySet[Any]:
    if value == "none":
        return customers.filter(rfm_score__isnull=True)
    return customers.filter(rfm_score__segment=value)


def _scores_remove(customer_ids: Any) -> None:
    RfmScore.objects.filter(customer_id__in=list(customer_ids)).delete()


def _score_field(name: str) -> Callable[[], F]:
    return lambda: F(f"rfm_score__{name}")


def register() -> None:
    from analytics import rfm_plugins
    from analytics.refresh import RefreshStep, refresh_step_register

    refresh_step_register(RefreshStep("rfm", _("RFM scores"), rfm_refresh, order=10))
    rfm_plugins.register()
    customer_tab_register(
        CustomerTab(
            key="analytics",
            title=_("Analytics"),
            template="analytics/tabs/rfm.html",
            selector=_tab,
            position=60,
        )
    )
    list_column_register(
        ListColumn(
            key="rfm",
            header=_("RFM"),
            value=_segment_text,
            annotations=lambda: {
                "rfm_segment": F("rfm_score__segment"),
                "rfm_r": F("rfm_score__r"),
                "rfm_f": F("rfm_score__f"),
                "rfm_m": F("rfm_score__m"),
            },
            tables=TABLES,
            cell=_segment_cell,
            css="nowrap",
            position=70,
        )
    )
    list_filter_register(
        ListFilter(
            key="rfm_segment", field=_segment_filter, apply=_by_segment, tables=TABLES, position=50
        )
    )
    for n, (header, field) in enumerate(EXPORT_FIELDS):
        export_column_register(ExportColumn(header, _score_field(field), position=10 + n))
    # Scores are derived rows: undoing an import that created customers removes theirs.
    derived_rows_register(DerivedRows(RfmScore, lambda ids: None, _scores_remove))
