"""RFM scores computed in the database: a per-customer aggregate of the orders (CREATE
TEMPORARY TABLE ... AS, which may run in parallel), then one INSERT ... SELECT with window
functions (orders never come into Python), then a snapshot of the result for transitions
between dates.

Recency is days from the customer's last completed order to the as-of date (both dates in the
tenant's time zone); frequency the number of completed orders; monetary their total. Orders
after the as-of date, and before the window when the tenant set one, are ignored; customers
without such orders (and erased ones) are unscored. Quintile scoring is tie-stable:

    R = 6 - ceil(5 * cume_dist() over recency ascending)
    F = ceil(5 * cume_dist() over frequency ascending)
    M = ceil(5 * cume_dist() over monetary ascending)

(cume_dist is k/n in double precision; 5 * fl(k/n) lands exactly on an integer whenever 5k/n
is one, and is at least 1/n away otherwise, so ceil() gives the exact quintile.) Fixed
thresholds give R 5 for at most the first threshold's days, 4 up to the second, and so on;
F and M one more point for each threshold reached.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django.db import connection, transaction

from analytics.models import RfmSettings
from analytics.rfm_settings import rfm_settings
from loyalty.programme import local_today, tenant_zone

QUINTILE_SCORES = """
    6 - ceil(5 * recency_cume)::int AS r,
    ceil(5 * frequency_cume)::int AS f,
    ceil(5 * monetary_cume)::int AS m
"""

# width_bucket(x, thresholds) counts the ascending thresholds <= x.
FIXED_SCORES = """
    5 - width_bucket(recency_days - 1, %(recency_bounds)s::int[]) AS r,
    1 + width_bucket(frequency, %(frequency_bounds)s::int[]) AS f,
    1 + width_bucket(monetary, %(monetary_bounds)s::numeric[]) AS m
"""

# Step 1, per customer, over the orders: a CREATE TABLE AS may use parallel workers, which an
# INSERT ... SELECT may not, and the time zone is applied once per customer (the local date of
# the last instant is the last local date).
MEASURE_SQL = """
CREATE TEMPORARY TABLE rfm_measured ON COMMIT DROP AS
SELECT o.customer_id, max(o.ordered_at) AS last_at, count(*) AS frequency,
       sum(o.amount) AS monetary
FROM customers_order o
WHERE o.status = 'completed'
  AND o.ordered_at < %(until)s
  AND (%(since)s::timestamptz IS NULL OR o.ordered_at >= %(since)s::timestamptz)
GROUP BY o.customer_id
"""

# Step 2: the customers still on file (erased ones are not scored), ranked and scored.
SCORE_SQL = """
WITH measured AS (
    SELECT m.customer_id,
           %(as_of)s::date - (m.last_at AT TIME ZONE %(zone)s)::date AS recency_days,
           m.frequency, m.monetary
    FROM rfm_measured m
    JOIN customers_customer c ON c.id = m.customer_id AND c.erased_at IS NULL
), ranked AS (
    SELECT measured.*,
           cume_dist() OVER (ORDER BY recency_days) AS recency_cume,
           cume_dist() OVER (ORDER BY frequency) AS frequency_cume,
           cume_dist() OVER (ORDER BY monetary) AS monetary_cume
    FROM measured
), scored AS (
    SELECT ranked.*, {scores} FROM ranked
), cells AS (
    -- The segment map as 25 cells: the first rule (by position) covering each.
    SELECT DISTINCT ON (g_r.r, g_fm.fm) g_r.r, g_fm.fm, s.id AS rule_id, s.segment
    FROM generate_series(1, 5) AS g_r(r)
    CROSS JOIN generate_series(1, 5) AS g_fm(fm)
    JOIN analytics_segmentrule s
      ON g_r.r BETWEEN s.r_min AND s.r_max AND g_fm.fm BETWEEN s.fm_min AND s.fm_max
    ORDER BY g_r.r, g_fm.fm, s.position, s.id
)
INSERT INTO analytics_rfmscore (customer_id, as_of, recency_days, frequency, monetary,
    recency_cume, frequency_cume, monetary_cume, r, f, m, fm, segment, rule_id)
SELECT sc.customer_id, %(as_of)s, sc.recency_days, sc.frequency, sc.monetary,
       sc.recency_cume, sc.frequency_cume, sc.monetary_cume, sc.r, sc.f, sc.m,
       (sc.f + sc.m + 1) / 2, coalesce(cells.segment, ''), cells.rule_id
FROM scored sc
LEFT JOIN cells ON cells.r = sc.r AND cells.fm = (sc.f + sc.m + 1) / 2
"""

SNAPSHOT_SQL = """
INSERT INTO analytics_rfmsnapshot (as_of, taken_at, scoring, window_days, scored, counts)
VALUES (%(as_of)s, now(), %(scoring)s, %(window_days)s, 0, '{}'::jsonb)
ON CONFLICT (as_of) DO UPDATE SET taken_at = now(), scoring = EXCLUDED.scoring,
    window_days = EXCLUDED.window_days
RETURNING id
"""

SNAPSHOT_ENTRIES_SQL = """
INSERT INTO analytics_rfmsnapshotentry (snapshot_id, customer_id, r, f, m, segment)
SELECT %(snapshot)s, customer_id, r, f, m, segment FROM analytics_rfmscore
"""


def as_of_bounds(
    as_of: datetime.date, window_days: int | None, zone: zoneinfo.ZoneInfo
) -> tuple[datetime.datetime, datetime.datetime | None]:
    """The instants orders must fall between: the end of the as-of date in the tenant's time
    zone, and the start of the window's first day (None: all history)."""
    after = as_of + datetime.timedelta(days=1)
    until = datetime.datetime.combine(after, datetime.time(), tzinfo=zone)
    since = None
    if window_days:
        first = after - datetime.timedelta(days=window_days)
        since = datetime.datetime.combine(first, datetime.time(), tzinfo=zone)
    return until, since


def _score_sql(settings: RfmSettings) -> str:
    fixed = settings.scoring == RfmSettings.Scoring.FIXED
    return SCORE_SQL.format(scores=FIXED_SCORES if fixed else QUINTILE_SCORES)


@transaction.atomic
def rfm_refresh(*, as_of: datetime.date | None = None) -> dict[str, Any]:
    """Score every customer for `as_of` (default: today in the tenant's time zone), replace
    the current scores, and snapshot them (a second refresh of the same date replaces that
    date's snapshot). Returns a JSON-able summary: the counts per segment and the settings."""
    zone = tenant_zone()
    as_of = as_of or local_today(zone)
    settings = rfm_settings()
    until, since = as_of_bounds(as_of, settings.window_days, zone)
    params: dict[str, Any] = {
        "as_of": as_of,
        "zone": str(zone.key),
        "until": until,
        "since": since,
        "recency_bounds": list(settings.recency_days),
        "frequency_bounds": list(settings.frequency),
        "monetary_bounds": list(settings.monetary),
    }
    with connection.cursor() as cursor:
        # DELETE, not TRUNCATE: readers of the customer list keep seeing the old scores
        # until this transaction commits, instead of waiting for its lock.
        # Sorts and hashes of a hundred thousand customers fit in memory with room to spare.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("DROP TABLE IF EXISTS rfm_measured")
        cursor.execute(MEASURE_SQL, params)
        cursor.execute("DELETE FROM analytics_rfmscore")
        cursor.execute(_score_sql(settings), params)
        scored = cursor.rowcount
        cursor.execute(
            "SELECT segment, count(*) FROM analytics_rfmscore GROUP BY segment ORDER BY segment"
        )
        counts = {segment: n for segment, n in cursor.fetchall()}
        cursor.execute(
            SNAPSHOT_SQL,
            {"as_of": as_of, "scoring": settings.scoring, "window_days": settings.window_days},
        )
        snapshot_id = cursor.fetchone()[0]
        cursor.execute(
            "DELETE FROM analytics_rfmsnapshotentry WHERE snapshot_id = %s", [snapshot_id]
        )
        cursor.execute(SNAPSHOT_ENTRIES_SQL, {"snapshot": snapshot_id})
        cursor.execute(
            "UPDATE analytics_rfmsnapshot SET scored = %s, counts = %s::jsonb WHERE id = %s",
            [scored, _json(counts), snapshot_id],
        )
        pruned = _snapshots_prune(cursor, as_of, settings.snapshot_keep_days)
    return {
        "as_of": as_of.isoformat(),
        "scoring": settings.scoring,
        "window_days": settings.window_days,
        "scored": scored,
        "segments": counts,
        "snapshot": snapshot_id,
        "snapshots_removed": pruned,
    }


def _snapshots_prune(cursor: Any, as_of: datetime.date, keep_days: int) -> int:
    oldest = as_of - datetime.timedelta(days=keep_days)
    cursor.execute(
        "DELETE FROM analytics_rfmsnapshotentry WHERE snapshot_id IN"
        " (SELECT id FROM analytics_rfmsnapshot WHERE as_of < %s)",
        [oldest],
    )
    cursor.execute("DELETE FROM analytics_rfmsnapshot WHERE as_of < %s", [oldest])
    return int(cursor.rowcount)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)
