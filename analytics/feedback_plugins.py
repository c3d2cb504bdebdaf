"""Feedback surveys where analytics looks for them: the dashboard's CSAT and NPS trend and the
segment conditions on a customer's answers. Reads support's survey answers (support sits below
analytics), month by month in the tenant's time zone, in one grouped query; the trend counts
the answers of the reader's customers."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from analytics.dashboard import Panel, customers_scope_sql, dashboard_panel_register
from analytics.dashboard_panels import MONTHS, month_starts, sql_rows, zone_name
from analytics.segment_fields import SegmentField, as_of, day_start, segment_field_register
from analytics.segment_fields_builtin import DATE_OPS, NUMBER_OPS
from crm.lib import charts
from loyalty.programme import local_today, tenant_zone
from support.models_feedback import SurveyKind, SurveyResponse

GROUP_FEEDBACK = gettext_lazy("Feedback")
CACHE_SECONDS = 300

_TREND_SQL = """
SELECT date_trunc('month', answered_at AT TIME ZONE %(zone)s)::date AS month,
       count(*) FILTER (WHERE kind = %(csat)s),
       count(*) FILTER (WHERE kind = %(csat)s AND score >= 4),
       count(*) FILTER (WHERE kind = %(nps)s),
       count(*) FILTER (WHERE kind = %(nps)s AND score >= 9),
       count(*) FILTER (WHERE kind = %(nps)s AND score <= 6)
FROM support_surveyresponse
WHERE answered_at >= %(start)s{scope}
GROUP BY 1
"""


def feedback_trend(
    user: Any, today: datetime.date
) -> dict[datetime.date, tuple[float | None, float | None]]:
    """Per month of the dashboard's window, from the answers of the reader's customers (as
    support's feedback reports count them): CSAT % (share of 4-5) and NPS (% 9-10 minus %
    0-6), None for a month without answers of that kind."""
    months = month_starts(today, MONTHS)
    start = datetime.datetime.combine(months[0], datetime.time.min, tenant_zone())
    params: dict[str, Any] = {
        "zone": zone_name(),
        "start": start,
        "csat": SurveyKind.CSAT.value,
        "nps": SurveyKind.NPS.value,
    }
    sql = _TREND_SQL.format(scope=customers_scope_sql(user, "customer_id", params))
    found: dict[datetime.date, tuple[float | None, float | None]] = {}
    for month, csat, satisfied, nps, promoters, detractors in sql_rows(sql, params):
        found[month] = (
            round(100 * satisfied / csat, 1) if csat else None,
            round(100 * (promoters - detractors) / nps, 1) if nps else None,
        )
    return {m: found.get(m, (None, None)) for m in months}


def _trend_build(user: Any) -> dict[str, Any] | None:
    trend = feedback_trend(user, local_today())
    if all(csat is None and nps is None for csat, nps in trend.values()):
        return None
    chart = charts.line_chart(
        title=_("CSAT and NPS by month"),
        x_labels=[f"{m:%Y-%m}" for m in trend],
        series={
            _("CSAT %"): [csat for csat, _nps in trend.values()],
            _("NPS"): [nps for _csat, nps in trend.values()],
        },
        x_label=_("Month"),
        y_label=pgettext("survey answers", "Score"),
        description=_(
            "CSAT: share of answers 4 or 5 out of 5. NPS: share of 9-10 minus share of 0-6."
        ),
    )
    return {"chart": chart}


def _answered(**lookups: Any) -> Q:
    return Q(Exists(SurveyResponse.objects.filter(customer_id=OuterRef("pk"), **lookups)))


def _detractor_q(op: str, value: Any) -> Q:
    if op == "within_days":
        start = as_of() - datetime.timedelta(days=value - 1)
        return _answered(detractor=True, answered_at__gte=day_start(start))
    if op == "after":
        return _answered(detractor=True, answered_at__gte=day_start(value))
    if op == "before":
        end = day_start(value + datetime.timedelta(days=1))
        return _answered(detractor=True, answered_at__lt=end)
    raise ValueError(op)


def _nps_q(op: str, value: Any) -> Q:
    lookup = {"gte": "gte", "lte": "lte", "eq": "exact"}[op]
    # The customer's latest NPS answer, not any of them: people change their minds.
    latest = (
        SurveyResponse.objects.filter(customer_id=OuterRef("customer_id"), kind=SurveyKind.NPS)
        .order_by("-answered_at", "-id")
        .values("id")[:1]
    )
    return _answered(kind=SurveyKind.NPS, id=latest, **{f"score__{lookup}": value})


def register() -> None:
    dashboard_panel_register(
        Panel(
            "feedback_trend",
            gettext_lazy("CSAT and NPS"),
            _trend_build,
            "analytics/panels/chart.html",
            order=45,
            cache_seconds=CACHE_SECONDS,
        )
    )
    segment_field_register(
        SegmentField(
            "feedback_detractor",
            gettext_lazy("Answered a survey as a detractor"),
            "date",
            DATE_OPS,
            _detractor_q,
            GROUP_FEEDBACK,
            position=600,
        )
    )
    segment_field_register(
        SegmentField(
            "feedback_nps",
            gettext_lazy("Latest NPS answer (0-10)"),
            "number",
            NUMBER_OPS,
            _nps_q,
            GROUP_FEEDBACK,
            position=601,
        )
    )
