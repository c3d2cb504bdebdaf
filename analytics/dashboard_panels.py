"""The dashboard's built-in panels: new against returning customers by month (orders), ticket
volume and SLA attainment by week (support), points issued, redeemed, expired and outstanding
by month (loyalty) and the segments' sizes. Each is one set-based query over a bounded window
(the last 12 months or weeks), drawn with crm.lib.charts; figures cover the reader's customers
and tickets (analytics.dashboard's scope helpers), the whole tenant for a reader with scope all."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from analytics.dashboard import (
    Panel,
    customers_scope_sql,
    customers_scoped,
    dashboard_panel_register,
    tickets_scope_sql,
    visible_customer_ids,
)
from analytics.models_segments import Segment
from crm.lib import charts
from loyalty.models import Account
from loyalty.programme import local_today, tenant_zone

MONTHS = 12
WEEKS = 12
TOP_SEGMENTS = 15
CACHE_SECONDS = 300


def month_starts(today: datetime.date, count: int) -> list[datetime.date]:
    first = today.replace(day=1)
    months = []
    for _i in range(count):
        months.append(first)
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return months[::-1]


def _week_starts(today: datetime.date, count: int) -> list[datetime.date]:
    monday = today - datetime.timedelta(days=today.weekday())
    return [monday - datetime.timedelta(weeks=i) for i in range(count - 1, -1, -1)]


def sql_rows(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def zone_name() -> str:
    return str(tenant_zone())


# --- customers: new against returning ---------------------------------------------------------

_NEW_RETURNING_SQL = """
WITH buyers AS (
    SELECT DISTINCT customer_id,
           date_trunc('month', ordered_at AT TIME ZONE %(zone)s)::date AS month
    FROM customers_order
    WHERE status = 'completed' AND ordered_at >= %(start)s{scope}
),
firsts AS (
    SELECT o.customer_id,
           date_trunc('month', min(o.ordered_at) AT TIME ZONE %(zone)s)::date AS first_month
    FROM customers_order o
    WHERE o.status = 'completed' AND o.customer_id IN (SELECT customer_id FROM buyers)
    GROUP BY o.customer_id
)
SELECT b.month,
       count(*) FILTER (WHERE f.first_month = b.month),
       count(*) FILTER (WHERE f.first_month < b.month)
FROM buyers b JOIN firsts f USING (customer_id)
GROUP BY b.month
"""


def new_returning(user: Any, today: datetime.date) -> dict[datetime.date, tuple[int, int]]:
    """Per month of the window: the reader's customers whose first completed order fell in it,
    and those who ordered in it having ordered before."""
    months = month_starts(today, MONTHS)
    start = datetime.datetime.combine(months[0], datetime.time.min, tenant_zone())
    params: dict[str, Any] = {"zone": zone_name(), "start": start}
    sql = _NEW_RETURNING_SQL.format(scope=customers_scope_sql(user, "customer_id", params))
    found = {month: (new, returning) for month, new, returning in sql_rows(sql, params)}
    return {m: found.get(m, (0, 0)) for m in months}


def _new_returning_build(user: Any) -> dict[str, Any] | None:
    counts = new_returning(user, local_today())
    if not any(new or returning for new, returning in counts.values()):
        return None
    labels = [f"{m:%Y-%m}" for m in counts]
    chart = charts.bar_chart(
        title=_("New and returning customers by month"),
        categories=labels,
        series={
            _("New"): [new for new, _r in counts.values()],
            _("Returning"): [r for _n, r in counts.values()],
        },
        stacked=True,
        category_label=_("Month"),
        value_label=_("Customers who ordered"),
        description=_("Customers with a completed order each month, first-time or returning."),
    )
    return {"chart": chart}


# --- support: volume and SLA ------------------------------------------------------------------

_TICKETS_SQL = """
WITH weeks AS (SELECT generate_series(%(first)s::date, %(last)s::date, '7 days')::date AS week),
opened AS (
    SELECT date_trunc('week', created_at AT TIME ZONE %(zone)s)::date AS week, count(*) AS n
    FROM support_ticket WHERE created_at >= %(start)s AND merged_into_id IS NULL{opened_scope}
    GROUP BY 1
),
resolved AS (
    SELECT date_trunc('week', resolved_at AT TIME ZONE %(zone)s)::date AS week,
           count(*) AS n,
           count(*) FILTER (WHERE resolution_due IS NOT NULL) AS with_sla,
           count(*) FILTER (WHERE resolution_due IS NOT NULL AND resolved_at <= resolution_due)
               AS met
    FROM support_ticket WHERE resolved_at >= %(start)s AND merged_into_id IS NULL{resolved_scope}
    GROUP BY 1
)
SELECT weeks.week, coalesce(opened.n, 0), coalesce(resolved.n, 0),
       coalesce(resolved.with_sla, 0), coalesce(resolved.met, 0)
FROM weeks LEFT JOIN opened USING (week) LEFT JOIN resolved USING (week)
ORDER BY weeks.week
"""


def ticket_weeks(user: Any, today: datetime.date) -> list[tuple[datetime.date, int, int, int, int]]:
    """Per week (Monday) of the window, of the reader's tickets (the queues' scope): opened,
    resolved, resolved with an SLA, and of those resolved by their resolution due time."""
    weeks = _week_starts(today, WEEKS)
    start = datetime.datetime.combine(weeks[0], datetime.time.min, tenant_zone())
    params: dict[str, Any] = {
        "first": weeks[0],
        "last": weeks[-1],
        "zone": zone_name(),
        "start": start,
    }
    sql = _TICKETS_SQL.format(
        opened_scope=tickets_scope_sql(user, "id", params),
        resolved_scope=tickets_scope_sql(user, "id", params),
    )
    return [tuple(row) for row in sql_rows(sql, params)]


def _tickets_build(user: Any) -> dict[str, Any] | None:
    weeks = ticket_weeks(user, local_today())
    if not any(opened or resolved for _w, opened, resolved, _s, _m in weeks):
        return None
    labels = [f"{w:%m-%d}" for w, *_rest in weeks]
    volume = charts.bar_chart(
        title=_("Tickets by week"),
        categories=labels,
        series={
            pgettext("tickets", "Opened"): [opened for _w, opened, *_r in weeks],
            _("Resolved"): [resolved for _w, _o, resolved, *_r in weeks],
        },
        category_label=_("Week from"),
        value_label=_("Tickets"),
    )
    attainment = [
        round(100 * met / with_sla, 1) if with_sla else None for _w, _o, _r, with_sla, met in weeks
    ]
    sla = charts.line_chart(
        title=_("SLA attainment by week (%)"),
        x_labels=labels,
        # A week without a resolved ticket is a gap in the line, not 0 %.
        series={_("Resolved within SLA"): attainment},
        x_label=_("Week from"),
        y_label="%",
        y_limits=(0, 100),
        description=_(
            "Share of the tickets resolved each week that were resolved by their due time."
        ),
    )
    return {"volume": volume, "sla": sla}


# --- loyalty: points --------------------------------------------------------------------------

_POINTS_SQL = """
SELECT date_trunc('month', occurred_at AT TIME ZONE %(zone)s)::date AS month,
       coalesce(sum(points) FILTER (WHERE kind IN ('earn', 'bonus')), 0),
       -coalesce(sum(points) FILTER (WHERE kind IN ('redeem', 'redeem_cancel')), 0),
       -coalesce(sum(points) FILTER (WHERE kind = 'expire'), 0)
FROM loyalty_ledgerentry
WHERE occurred_at >= %(start)s{scope}
GROUP BY 1
"""


def points_months(user: Any, today: datetime.date) -> dict[datetime.date, tuple[int, int, int]]:
    """Per month of the window: points the reader's customers were issued, redeemed and lost
    to expiry."""
    months = month_starts(today, MONTHS)
    start = datetime.datetime.combine(months[0], datetime.time.min, tenant_zone())
    params: dict[str, Any] = {"zone": zone_name(), "start": start}
    members = customers_scope_sql(user, "a.customer_id", params)
    scope = (
        f" AND account_id IN (SELECT a.id FROM loyalty_account a WHERE TRUE{members})"  # noqa: S608 (values: parameters)
        if members
        else ""
    )
    found = {
        month: (int(issued), int(redeemed), int(expired))
        for month, issued, redeemed, expired in sql_rows(_POINTS_SQL.format(scope=scope), params)
    }
    return {m: found.get(m, (0, 0, 0)) for m in months}


def points_outstanding(user: Any) -> int:
    """Points the reader's customers hold now."""
    accounts = customers_scoped(Account.objects.all(), user)
    return int(accounts.aggregate(total=Sum("balance"))["total"] or 0)


def _points_build(user: Any) -> dict[str, Any] | None:
    months = points_months(user, local_today())
    outstanding = points_outstanding(user)
    if not outstanding and not any(any(v) for v in months.values()):
        return None
    chart = charts.bar_chart(
        title=_("Points by month"),
        categories=[f"{m:%Y-%m}" for m in months],
        series={
            _("Issued"): [v[0] for v in months.values()],
            _("Redeemed"): [v[1] for v in months.values()],
            _("Expired"): [v[2] for v in months.values()],
        },
        category_label=_("Month"),
        value_label=_("Points"),
    )
    return {"chart": chart, "outstanding": outstanding}


# --- segments ---------------------------------------------------------------------------------


def segment_sizes(user: Any) -> list[tuple[str, int]]:
    """The largest segments by their members at the last refresh among the reader's customers
    (the stored member_count for a reader who sees every customer)."""
    visible = visible_customer_ids(user)
    if visible is None:
        sized = Segment.objects.order_by("-member_count", "name").values_list(
            "name", "member_count"
        )
    else:
        seen = Count("members", filter=Q(members__customer_id__in=visible))
        sized = (
            Segment.objects.annotate(seen=seen)
            .order_by("-seen", "name")
            .values_list("name", "seen")
        )
    return list(sized[:TOP_SEGMENTS])


def _segments_build(user: Any) -> dict[str, Any] | None:
    biggest = segment_sizes(user)
    if not biggest:
        return None
    chart = charts.bar_chart(
        title=_("Customers by segment"),
        categories=[name for name, _n in biggest],
        series={_("Members"): [n for _name, n in biggest]},
        horizontal=True,
        category_label=_("Segment"),
        value_label=_("Members at the last refresh"),
    )
    return {"chart": chart, "shown": len(biggest), "total": Segment.objects.count()}


def register() -> None:
    dashboard_panel_register(
        Panel(
            "new_returning",
            gettext_lazy("New and returning customers"),
            _new_returning_build,
            "analytics/panels/chart.html",
            order=10,
            cache_seconds=CACHE_SECONDS,
        )
    )
    dashboard_panel_register(
        Panel(
            "tickets",
            gettext_lazy("Tickets and SLA"),
            _tickets_build,
            "analytics/panels/tickets.html",
            order=40,
            cache_seconds=CACHE_SECONDS,
        )
    )
    dashboard_panel_register(
        Panel(
            "points",
            gettext_lazy("Loyalty points"),
            _points_build,
            "analytics/panels/points.html",
            order=50,
            cache_seconds=CACHE_SECONDS,
        )
    )
    dashboard_panel_register(
        Panel(
            "segments",
            gettext_lazy("Segments"),
            _segments_build,
            "analytics/panels/chart.html",
            order=20,
        )
    )
