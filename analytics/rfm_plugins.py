"""RFM where other parts of analytics look for it: segment conditions (the RFM segment and each
score) and the dashboard's panels (customers by RFM segment, the R by FM heat map), both within
the reader's customers. They read the latest refresh (analytics_rfmscore, the snapshot's counts
or entries), so they cost one indexed join or one GROUP BY."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics import rfm_selectors
from analytics.dashboard import (
    Panel,
    customers_scoped,
    dashboard_panel_register,
    visible_customer_ids,
)
from analytics.models import RfmScore, RfmSegment
from analytics.segment_fields import SegmentField, segment_field_register
from analytics.segment_fields_builtin import CHOICE_OPS, NUMBER_OPS
from crm.lib import charts

GROUP_RFM = gettext_lazy("RFM")
SCORES = ("1", "2", "3", "4", "5")
CACHE_SECONDS = 300


def _scored(**lookups: Any) -> Q:
    return Q(Exists(RfmScore.objects.filter(customer_id=OuterRef("pk"), **lookups)))


def _segment_q(op: str, value: Any) -> Q:
    if op == "present":
        return _scored()
    if op == "empty":
        return ~_scored()
    inside = _scored(segment=value)
    return inside if op == "eq" else ~inside


def _score_q(column: str) -> Any:
    def to_q(op: str, value: Any) -> Q:
        lookup = {"gte": "gte", "lte": "lte", "eq": "exact"}[op]
        return _scored(**{f"{column}__{lookup}": value})

    return to_q


def _segment_choices() -> list[tuple[str, str]]:
    return [(key, str(label)) for key, label in RfmSegment.choices]


def _fields() -> list[SegmentField]:
    fields = [
        SegmentField(
            "rfm_segment",
            gettext_lazy("RFM segment"),
            "choice",
            CHOICE_OPS,
            _segment_q,
            GROUP_RFM,
            choices=_segment_choices,
            position=500,
        )
    ]
    for position, (column, label) in enumerate(
        (
            ("r", gettext_lazy("RFM recency score (1-5)")),
            ("f", gettext_lazy("RFM frequency score (1-5)")),
            ("m", gettext_lazy("RFM monetary score (1-5)")),
        ),
        start=501,
    ):
        fields.append(
            SegmentField(
                f"rfm_{column}",
                label,
                "number",
                NUMBER_OPS,
                _score_q(column),
                GROUP_RFM,
                position=position,
            )
        )
    fields.append(
        SegmentField(
            "rfm_recency_days",
            gettext_lazy("Days since the last order (at the refresh)"),
            "number",
            NUMBER_OPS,
            _score_q("recency_days"),
            GROUP_RFM,
            position=504,
        )
    )
    return fields


def _segments_build(user: Any) -> dict[str, Any] | None:
    snapshot = rfm_selectors.latest_snapshot()
    counts = rfm_selectors.segment_counts(snapshot, customers=visible_customer_ids(user))
    chart = rfm_selectors.segment_counts_chart(snapshot, counts)
    return None if chart is None else {"chart": chart}


def rfm_grid_counts(user: Any) -> list[list[float]]:
    """The reader's customers per (R, FM) cell, R 5 (most recent) in the first row, FM 1 to 5
    across."""
    scores = customers_scoped(RfmScore.objects.all(), user)
    found = {
        (row["r"], row["fm"]): row["n"]
        for row in scores.values("r", "fm").annotate(n=Count("pk")).order_by()
    }
    return [[float(found.get((r, fm), 0)) for fm in range(1, 6)] for r in range(5, 0, -1)]


def _grid_build(user: Any) -> dict[str, Any] | None:
    values = rfm_grid_counts(user)
    if not any(any(row) for row in values):
        return None
    chart = charts.heatmap(
        title=_("Customers by R and FM score"),
        x_labels=list(SCORES),
        y_labels=list(reversed(SCORES)),
        values=values,
        x_label=_("FM (frequency and monetary)"),
        y_label=_("R (recency)"),
    )
    return {"chart": chart}


def register() -> None:
    for field in _fields():
        segment_field_register(field)
    dashboard_panel_register(
        Panel(
            "rfm_segments",
            gettext_lazy("Customers by RFM segment"),
            _segments_build,
            "analytics/panels/chart.html",
            order=5,
            cache_seconds=CACHE_SECONDS,
        )
    )
    dashboard_panel_register(
        Panel(
            "rfm_grid",
            gettext_lazy("RFM grid"),
            _grid_build,
            "analytics/panels/chart.html",
            order=6,
            cache_seconds=CACHE_SECONDS,
        )
    )
