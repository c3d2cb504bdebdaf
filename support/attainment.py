"""SLA attainment per team and per agent over a date range, and complaints reported apart:
the support Reports page's reads (set-based: one query for the attainment table, one for the
complaints, whatever the number of tickets).

Tickets are counted by the day they were opened (in the tenant's time zone), within the
reader's record scope (support.selectors.visible_tickets), merged duplicates left out.

- First response met: answered (or, for a ticket resolved without a reply, resolved) by its
  due moment. Missed: answered late, or not answered while the clock runs past the due moment.
  A clock not due yet, or standing still, is neither: the percentage is met / (met + missed).
- Resolution met / missed likewise, with the resolution moment.
- Medians in business minutes (support.sla): opened to first response; opened to resolution
  less the minutes the clock stood still. Business time is counted in SQL with the calendar's
  working spans handed in as arrays: width_bucket finds a moment's span by binary search and a
  running total of the spans before it gives the business minutes up to that moment.
- Breached: either clock missed. Open past due: unfinished, clock running, a due moment passed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from crm.accounts.models import Team, User
from support import sla
from support.models import Kind, Severity
from support.selectors import visible_tickets

# The longest range a report covers, and how far back it may start (the working spans
# handed to the query run from the range's start to now).
MAX_RANGE_DAYS = 366
MAX_SPAN_DAYS = 5 * 366


@dataclass
class AttainmentRow:
    key: int | None  # team or staff id; None: no team / unassigned
    name: str
    tickets: int
    first_met: int
    first_missed: int
    resolution_met: int
    resolution_missed: int
    median_first_minutes: float | None
    median_resolution_minutes: float | None
    breached: int
    open_past_due: int

    @property
    def first_met_pct(self) -> float | None:
        judged = self.first_met + self.first_missed
        return round(100 * self.first_met / judged, 1) if judged else None

    @property
    def resolution_met_pct(self) -> float | None:
        judged = self.resolution_met + self.resolution_missed
        return round(100 * self.resolution_met / judged, 1) if judged else None


@dataclass
class ComplaintFigures:
    total: int = 0
    resolved: int = 0
    breached: int = 0
    compensated: int = 0
    by_severity: list[tuple[str, int]] = field(default_factory=list)  # (label, count)
    by_root_cause: list[tuple[str, int]] = field(default_factory=list)  # top causes


@dataclass
class Attainment:
    start: datetime.date
    end: datetime.date  # inclusive
    total: AttainmentRow | None
    teams: list[AttainmentRow]
    agents: list[AttainmentRow]
    complaints: ComplaintFigures


def _spans(
    calendar: sla.BusinessCalendar, first: datetime.date, last: datetime.date
) -> tuple[list[datetime.datetime], list[datetime.datetime], list[float]]:
    """The working spans from `first` to `last` (opens, closes, business minutes before)."""
    opens: list[datetime.datetime] = []
    closes: list[datetime.datetime] = []
    before: list[float] = []
    total = 0.0
    day = first
    while day <= last:
        span = calendar.span(day)
        if span is not None:
            opens.append(span[0])
            closes.append(span[1])
            before.append(total)
            total += (span[1] - span[0]).total_seconds() / 60
        day += datetime.timedelta(days=1)
    return opens, closes, before


def _business_at(moment: str) -> str:
    """SQL for the business minutes from the first span to `moment` (a column expression):
    the spans before its own, plus how far into its own span it is."""
    i = f"width_bucket({moment}, %(opens)s::timestamptz[])"
    return (
        f"CASE WHEN {i} = 0 THEN 0 ELSE (%(before)s::float8[])[{i}]"
        f" + GREATEST(0, EXTRACT(EPOCH FROM LEAST({moment}, (%(closes)s::timestamptz[])[{i}])"
        f" - (%(opens)s::timestamptz[])[{i}]) / 60) END"
    )


_FLAGS = """
    SELECT t.id, t.team_id, t.assignee_id,
      t.first_response_due IS NOT NULL
        AND COALESCE(t.first_responded_at, t.resolved_at) <= t.first_response_due AS first_met,
      t.first_response_due IS NOT NULL AND (
        COALESCE(t.first_responded_at, t.resolved_at) > t.first_response_due
        OR (COALESCE(t.first_responded_at, t.resolved_at) IS NULL
            AND t.sla_paused_since IS NULL AND t.first_response_due < %(now)s)) AS first_missed,
      t.resolution_due IS NOT NULL AND t.resolved_at <= t.resolution_due AS resolution_met,
      t.resolution_due IS NOT NULL AND (
        t.resolved_at > t.resolution_due
        OR (t.resolved_at IS NULL AND t.sla_paused_since IS NULL
            AND t.resolution_due < %(now)s)) AS resolution_missed,
      t.status NOT IN ('resolved', 'closed') AND t.sla_due < %(now)s AS open_past_due,
      CASE WHEN t.first_responded_at IS NOT NULL
        THEN GREATEST(0, {first_at} - {created_at}) END AS first_minutes,
      CASE WHEN t.resolved_at IS NOT NULL
        THEN GREATEST(0, {resolved_at} - {created_at} - t.sla_paused_minutes) END
        AS resolution_minutes
    FROM support_ticket t
    WHERE t.id IN ({scoped})
"""

_ATTAINMENT = """
    WITH flags AS ({flags})
    SELECT GROUPING(team_id) AS by_team_off, GROUPING(assignee_id) AS by_agent_off,
      team_id, assignee_id, count(*),
      count(*) FILTER (WHERE first_met), count(*) FILTER (WHERE first_missed),
      count(*) FILTER (WHERE resolution_met), count(*) FILTER (WHERE resolution_missed),
      percentile_cont(0.5) WITHIN GROUP (ORDER BY first_minutes),
      percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_minutes),
      count(*) FILTER (WHERE first_missed OR resolution_missed),
      count(*) FILTER (WHERE open_past_due)
    FROM flags
    GROUP BY GROUPING SETS ((team_id), (assignee_id), ())
"""

_COMPLAINTS = """
    WITH flags AS ({flags}),
    complaints AS (
      SELECT c.severity, lower(btrim(c.root_cause)) AS cause, c.compensation <> '' AS compensated,
        c.resolved_at IS NOT NULL AS resolved, f.first_missed OR f.resolution_missed AS breached
      FROM support_ticket c JOIN flags f ON f.id = c.id
      WHERE c.kind = %(complaint)s)
    SELECT GROUPING(severity) AS severity_off, GROUPING(cause) AS cause_off, severity, cause,
      count(*), count(*) FILTER (WHERE resolved), count(*) FILTER (WHERE breached),
      count(*) FILTER (WHERE compensated)
    FROM complaints
    GROUP BY GROUPING SETS ((severity), (cause), ())
"""


def _row(key: int | None, name: str, values: tuple[Any, ...]) -> AttainmentRow:
    return AttainmentRow(key, name, *values)


def attainment(
    user: Any,
    *,
    start: datetime.date,
    end: datetime.date,
    now: datetime.datetime | None = None,
) -> Attainment:
    """The attainment of the tickets opened from `start` to `end` (inclusive, the tenant's
    days) within `user`'s scope: two queries, plus the names of the teams and staff shown."""
    now = now or timezone.now()
    calendar = sla.calendar_load()
    since = datetime.datetime.combine(start, datetime.time(), tzinfo=calendar.tz)
    until = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time(), tzinfo=calendar.tz
    )
    scoped = (
        visible_tickets(user)
        .filter(created_at__gte=since, created_at__lt=until, merged_into__isnull=True)
        .values("id")
    )
    scoped_sql, scoped_params = scoped.query.sql_with_params()
    today = now.astimezone(calendar.tz).date()
    opens, closes, before = _spans(calendar, start, max(today, end) + datetime.timedelta(days=1))
    flags = _FLAGS.format(
        first_at=_business_at("t.first_responded_at"),
        resolved_at=_business_at("t.resolved_at"),
        created_at=_business_at("t.created_at"),
        scoped="{scoped}",
    )
    params: dict[str, Any] = {
        "now": now,
        "opens": opens or [now],
        "closes": closes or [now],
        "before": before or [0.0],
        "complaint": Kind.COMPLAINT.value,
    }
    # The scope's subquery, with its values quoted by the driver (compose_sql), inside a
    # query whose own parameters are named.
    composed = connection.ops.compose_sql(scoped_sql, scoped_params)  # type: ignore[attr-defined]
    scoped_named = composed.replace("%", "%%")
    flags = flags.replace("{scoped}", scoped_named)
    with connection.cursor() as cursor:
        cursor.execute(_ATTAINMENT.format(flags=flags), params)
        grouped = cursor.fetchall()
        cursor.execute(_COMPLAINTS.format(flags=flags), params)
        complaint_rows = cursor.fetchall()
    team_ids = {r[2] for r in grouped if not r[0] and r[2] is not None}
    staff_ids = {r[3] for r in grouped if not r[1] and r[3] is not None}
    team_names = dict(Team.objects.filter(pk__in=team_ids).values_list("id", "name"))
    staff_names = {
        u.pk: u.full_name or u.email
        for u in User.objects.filter(pk__in=staff_ids).only("id", "full_name", "email")
    }
    from django.utils.translation import gettext as _

    total = None
    teams: list[AttainmentRow] = []
    agents: list[AttainmentRow] = []
    for team_off, agent_off, team_id, staff_id, *values in grouped:
        if team_off and agent_off:
            # The grand total's row comes even from no tickets at all: that is no report.
            total = _row(None, str(_("All tickets")), tuple(values)) if values[0] else None
        elif not team_off:
            name = team_names.get(team_id, "—") if team_id else str(_("No team"))
            teams.append(_row(team_id, name, tuple(values)))
        else:
            name = staff_names.get(staff_id, "—") if staff_id else str(_("Unassigned"))
            agents.append(_row(staff_id, name, tuple(values)))
    teams.sort(key=lambda r: (r.key is None, r.name.casefold()))
    agents.sort(key=lambda r: (r.key is None, r.name.casefold()))
    return Attainment(start, end, total, teams, agents, _complaints(complaint_rows))


def _complaints(rows: list[tuple[Any, ...]]) -> ComplaintFigures:
    from django.utils.translation import gettext as _

    figures = ComplaintFigures()
    labels = dict(Severity.choices)
    causes: list[tuple[str, int]] = []
    for severity_off, cause_off, severity, cause, count, resolved, breached, compensated in rows:
        if severity_off and cause_off:
            figures.total, figures.resolved = count, resolved
            figures.breached, figures.compensated = breached, compensated
        elif not severity_off:
            label = str(labels.get(severity, _("Not given"))) if severity else str(_("Not given"))
            figures.by_severity.append((label, count))
        else:
            causes.append((cause or str(_("Not given")), count))
    order = {value: n for n, value in enumerate(Severity.values)}
    figures.by_severity.sort(key=lambda p: order.get(_severity_value(p[0], labels), 99))
    causes.sort(key=lambda p: (-p[1], p[0]))
    figures.by_root_cause = causes[:20]
    return figures


def _severity_value(label: str, labels: dict[str, Any]) -> str:
    for value, shown in labels.items():
        if str(shown) == label:
            return value
    return ""
