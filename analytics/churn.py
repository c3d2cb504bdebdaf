"""The churn refresh: per-customer purchase history from one SQL aggregate, the BG/NBD fit
(analytics.bgnbd) with its holdout check, each customer's scores and value tier, and the churn
flags (analytics.churn_rules), written set-based into analytics_churnscore.

Definitions (issue 17): a purchase day is a day, in the tenant's time zone, with at least one
completed order (several orders on one day are one purchase); x = purchase days after the
first; t_x = weeks from the first to the last purchase day; T = weeks from the first purchase
day to the as-of date; a week is 7 days. Orders on the as-of date count, later ones do not.

Value tiers rank expected value (expected purchases in the next 90 days x the customer's
average completed order amount) among the scored customers: high from the 80th percentile up
(the top fifth), middle from the 50th, low below. Equal values always get the same tier.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from analytics import bgnbd
from analytics.churn_rules import RuleContext, churn_rules
from analytics.models_churn import ChurnFit, ChurnSettings, ValueTier
from loyalty.programme import tenant_zone

HORIZON_DAYS = 90
HOLDOUT_GROUPS = 7  # calibration frequencies 0..6 shown alone, the rest as "7+"
TIER_HIGH_QUANTILE = 0.8
TIER_MIDDLE_QUANTILE = 0.5


def churn_settings() -> ChurnSettings:
    """The tenant's settings; the defaults (unsaved) until someone saves them, so reading them
    on a page writes nothing."""
    return ChurnSettings.objects.filter(pk=1).first() or ChurnSettings(pk=1)


# One aggregate over the tenant's orders: purchase days (in the tenant's zone), then per
# customer the model's inputs, the usual gap and the calibration-period split for the holdout.
_HISTORY_SQL = """
CREATE TEMPORARY TABLE churn_history ON COMMIT DROP AS
WITH days AS (
    SELECT o.customer_id, (o.ordered_at AT TIME ZONE %(zone)s)::date AS day,
           count(*) AS orders, sum(o.amount) AS amount
    FROM customers_order o
    WHERE o.status = 'completed' AND o.ordered_at < %(end)s
      AND o.customer_id NOT IN (SELECT id FROM customers_customer WHERE erased_at IS NOT NULL)
    GROUP BY 1, 2
), gaps AS (
    SELECT customer_id, day, orders, amount,
           day - lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap
    FROM days
)
SELECT customer_id,
       count(*) - 1 AS x,
       max(day) - min(day) AS recency_days,
       %(as_of)s::date - min(day) AS age_days,
       min(day) AS first_day,
       max(day) AS last_day,
       count(gap) AS gaps,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS median_gap_days,
       (sum(amount) / sum(orders))::float8 AS avg_order,
       count(*) FILTER (WHERE day <= %(cal_end)s) AS cal_days,
       coalesce(max(day) FILTER (WHERE day <= %(cal_end)s) - min(day), 0) AS cal_recency_days,
       %(cal_end)s::date - min(day) AS cal_age_days,
       count(*) FILTER (WHERE day > %(cal_end)s) AS holdout_days
FROM gaps
GROUP BY customer_id
"""

_MODEL_TABLE_SQL = """
CREATE TEMPORARY TABLE churn_model (
    customer_id bigint PRIMARY KEY, p_alive float8, expected_90d float8,
    expected_value numeric(16, 2), value_tier text
) ON COMMIT DROP
"""

_SCORES_SQL = """
INSERT INTO analytics_churnscore (customer_id, as_of, p_alive, expected_purchases_90d,
    expected_value, value_tier, frequency, recency_weeks, age_weeks, flags, risk_rank)
SELECT s.customer_id, %(as_of)s, s.p_alive, s.expected_90d, s.expected_value,
       s.value_tier, s.x, s.recency_weeks, s.age_weeks, s.flags,
       CASE WHEN s.flagged THEN row_number() OVER (
           PARTITION BY s.flagged
           ORDER BY jsonb_array_length(s.flags) DESC, s.p_alive ASC NULLS LAST,
                    s.expected_value DESC NULLS LAST, s.customer_id) END
FROM (
    SELECT coalesce(h.customer_id, f.customer_id) AS customer_id,
           m.p_alive, m.expected_90d, m.expected_value, coalesce(m.value_tier, '') AS value_tier,
           coalesce(h.x, 0) AS x, coalesce(h.recency_days / 7.0, 0) AS recency_weeks,
           coalesce(h.age_days / 7.0, 0) AS age_weeks,
           coalesce(f.flags, '[]'::jsonb) AS flags, f.flags IS NOT NULL AS flagged
    FROM churn_history h
    LEFT JOIN churn_model m ON m.customer_id = h.customer_id
    FULL JOIN (
        SELECT customer_id, jsonb_agg(numbers || jsonb_build_object('code', code)
                                      ORDER BY rule_order, code) AS flags
        FROM churn_flag GROUP BY customer_id
    ) f ON f.customer_id = h.customer_id
) s
"""


@dataclass(frozen=True)
class History:
    """The per-customer columns the model needs, as numpy arrays."""

    customer_id: np.ndarray
    x: np.ndarray
    recency_days: np.ndarray
    age_days: np.ndarray
    avg_order: np.ndarray
    cal_days: np.ndarray
    cal_recency_days: np.ndarray
    cal_age_days: np.ndarray
    holdout_days: np.ndarray
    first_day: datetime.date | None
    last_day: datetime.date | None

    @property
    def customers(self) -> int:
        return int(self.customer_id.size)


def _day_start(day: datetime.date, zone: Any) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=zone)


def _history(cursor: Any, *, as_of: datetime.date, cal_end: datetime.date, zone: Any) -> History:
    cursor.execute("DROP TABLE IF EXISTS churn_history")
    cursor.execute(
        _HISTORY_SQL,
        {
            "zone": zone.key,
            "end": _day_start(as_of + datetime.timedelta(days=1), zone),
            "as_of": as_of,
            "cal_end": cal_end,
        },
    )
    cursor.execute(
        "SELECT customer_id, x, recency_days, age_days, avg_order, cal_days, cal_recency_days,"
        " cal_age_days, holdout_days FROM churn_history"
    )
    rows = cursor.fetchall()
    table = np.array(rows, dtype=float).reshape(len(rows), 9)
    cursor.execute("SELECT min(first_day), max(last_day) FROM churn_history")
    first_day, last_day = cursor.fetchone()
    columns = [table[:, i] for i in range(9)]
    return History(
        customer_id=columns[0].astype(np.int64),
        x=columns[1],
        recency_days=columns[2],
        age_days=columns[3],
        avg_order=columns[4],
        cal_days=columns[5],
        cal_recency_days=columns[6],
        cal_age_days=columns[7],
        holdout_days=columns[8],
        first_day=first_day,
        last_day=last_day,
    )


def skip_reason(summary: bgnbd.Summary, settings: ChurnSettings) -> dict[str, Any]:
    """Why there is too little data to fit ({} when there is enough)."""
    if summary.customers < settings.min_customers:
        return {"code": "few_customers", "have": summary.customers, "need": settings.min_customers}
    if summary.repeaters < settings.min_repeaters:
        return {"code": "few_repeaters", "have": summary.repeaters, "need": settings.min_repeaters}
    return {}


def _fit_if_enough(summary: bgnbd.Summary, settings: ChurnSettings) -> tuple[str, Any, dict]:
    """(status, the fit or None, skip reason)."""
    reason = skip_reason(summary, settings)
    if reason:
        return ChurnFit.Status.SKIPPED, None, reason
    found = bgnbd.fit(summary)
    if not found.converged:
        return ChurnFit.Status.FAILED, found, {"code": "not_converged", "message": found.message}
    return ChurnFit.Status.FITTED, found, {}


def _holdout(history: History, settings: ChurnSettings, cal_end: datetime.date) -> dict:
    """Fit on the calibration period (up to cal_end) and compare, per calibration frequency,
    the mean expected repeat purchase days in the holdout with the actual mean."""
    known = history.cal_days > 0
    if not known.any():
        return {}
    x = history.cal_days[known] - 1
    t_x = history.cal_recency_days[known] / 7.0
    T = history.cal_age_days[known] / 7.0
    actual = history.holdout_days[known]
    summary = bgnbd.summarise(x, t_x, T)
    status, found, reason = _fit_if_enough(summary, settings)
    shown: dict[str, Any] = {
        "calibration_end": cal_end.isoformat(),
        "days": settings.holdout_days,
        "status": str(status),
        "skip_reason": reason,
        "customers": summary.customers,
    }
    if status != ChurnFit.Status.FITTED:
        return shown
    expected = bgnbd.conditional_expected_purchases(
        found.params, settings.holdout_days / 7.0, x, t_x, T
    )
    group = np.minimum(x, HOLDOUT_GROUPS).astype(int)
    rows = []
    for g in range(HOLDOUT_GROUPS + 1):
        members = group == g
        if not members.any():
            continue
        label = f"{g}+" if g == HOLDOUT_GROUPS else str(g)
        rows.append(
            [
                label,
                int(members.sum()),
                round(float(actual[members].mean()), 3),
                round(float(expected[members].mean()), 3),
            ]
        )
    shown["params"] = dict(zip(("r", "alpha", "a", "b"), found.params.as_tuple(), strict=True))
    shown["rows"] = rows
    shown["actual_total"] = int(actual.sum())
    shown["expected_total"] = round(float(expected.sum()), 1)
    return shown


def _tiers(values: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    if values.size == 0:
        return np.array([], dtype=object), {}
    high = float(np.quantile(values, TIER_HIGH_QUANTILE))
    middle = float(np.quantile(values, TIER_MIDDLE_QUANTILE))
    tiers = np.where(
        values >= high, ValueTier.HIGH, np.where(values >= middle, ValueTier.MIDDLE, ValueTier.LOW)
    )
    return tiers, {"high": round(high, 2), "middle": round(middle, 2)}


def _array_text(values: np.ndarray) -> str:
    """A PostgreSQL array literal of numbers: one string for the driver to send, where a list
    would be adapted element by element in Python (seconds for 100,000 customers)."""
    finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return "{" + ",".join(map(repr, finite.tolist())) + "}"


def _model_scores(cursor: Any, history: History, params: bgnbd.Params) -> dict[str, float]:
    """Write each customer's P(alive), expected purchases, expected value and tier into
    churn_model (arrays unnested in one statement)."""
    x = history.x
    t_x = history.recency_days / 7.0
    T = history.age_days / 7.0
    alive = bgnbd.p_alive(params, x, t_x, T)
    expected = bgnbd.conditional_expected_purchases(params, HORIZON_DAYS / 7.0, x, t_x, T)
    value = np.round(expected * history.avg_order, 2)
    tiers, cuts = _tiers(value)
    cursor.execute(
        "INSERT INTO churn_model (customer_id, p_alive, expected_90d, expected_value, value_tier)"
        " SELECT * FROM unnest(%s::bigint[], %s::float8[], %s::float8[], %s::numeric[],"
        " %s::text[])",
        [
            _array_text(history.customer_id),
            _array_text(alive),
            _array_text(expected),
            _array_text(value),
            "{" + ",".join(str(t) for t in tiers.tolist()) + "}",
        ],
    )
    return cuts


def _reference_moment(as_of: datetime.date, zone: Any) -> datetime.datetime:
    end = _day_start(as_of + datetime.timedelta(days=1), zone)
    return min(end, timezone.now())


@transaction.atomic
def churn_refresh(*, as_of: datetime.date) -> dict[str, Any]:
    """Fit the model for the current tenant as of `as_of`, score every customer, run the churn
    rules and replace analytics_churnscore; record the fit in ChurnFit. Returns a JSON-able
    summary (status, parameters, log-likelihood, data, flags per rule)."""
    started = time.monotonic()
    steps: dict[str, float] = {}  # seconds per step, in the summary: where a slow refresh went

    def lap(step: str) -> None:
        steps[step] = round(time.monotonic() - started - sum(steps.values()), 3)

    settings = churn_settings()
    zone = tenant_zone()
    cal_end = as_of - datetime.timedelta(days=settings.holdout_days)
    with connection.cursor() as cursor:
        history = _history(cursor, as_of=as_of, cal_end=cal_end, zone=zone)
        lap("history")
        summary = bgnbd.summarise(history.x, history.recency_days / 7.0, history.age_days / 7.0)
        status, found, reason = _fit_if_enough(summary, settings)
        lap("fit")
        holdout = _holdout(history, settings, cal_end)
        lap("holdout")

        cursor.execute("DROP TABLE IF EXISTS churn_model")
        cursor.execute(_MODEL_TABLE_SQL)
        cuts: dict[str, float] = {}
        if status == ChurnFit.Status.FITTED:
            cuts = _model_scores(cursor, history, found.params)
        cursor.execute("ANALYZE churn_history")
        cursor.execute("ANALYZE churn_model")
        lap("scores")

        # The flags' aggregation and the risk order sort about 100 MB for 100,000 customers:
        # in memory rather than spilled to disk. (Not for the history aggregate: with more
        # memory the planner hashes there, and that is slower.)
        cursor.execute("SET LOCAL work_mem = '64MB'")
        flag_counts = _flags(
            cursor,
            RuleContext(
                as_of=as_of,
                moment=_reference_moment(as_of, zone),
                zone=zone,
                settings=settings,
                model_fitted=status == ChurnFit.Status.FITTED,
            ),
        )
        lap("flags")
        cursor.execute("DELETE FROM analytics_churnscore")
        cursor.execute(_SCORES_SQL, {"as_of": as_of})
        cursor.execute("SELECT count(*) FROM analytics_churnscore WHERE risk_rank IS NOT NULL")
        flagged = int(cursor.fetchone()[0])
        for table in ("churn_flag", "churn_model", "churn_history"):
            cursor.execute(f"DROP TABLE {table}")
        lap("write")

    params = found.params if status == ChurnFit.Status.FITTED else None
    fit_row = ChurnFit.objects.create(
        as_of=as_of,
        status=status,
        skip_reason=reason,
        r=params.r if params else None,
        alpha=params.alpha if params else None,
        a=params.a if params else None,
        b=params.b if params else None,
        log_likelihood=found.log_likelihood if params else None,
        iterations=found.iterations if found else 0,
        customers=summary.customers,
        repeaters=summary.repeaters,
        first_purchase_day=history.first_day,
        last_purchase_day=history.last_day,
        unique_rows=int(summary.x.size),
        holdout=holdout,
        tier_cuts=cuts,
        flagged=flagged,
        seconds=round(time.monotonic() - started, 3),
    )
    return {
        "status": str(status),
        "skip_reason": reason,
        "r": fit_row.r,
        "alpha": fit_row.alpha,
        "a": fit_row.a,
        "b": fit_row.b,
        "log_likelihood": fit_row.log_likelihood,
        "customers": fit_row.customers,
        "repeaters": fit_row.repeaters,
        "flagged": flagged,
        "flags": flag_counts,
        "seconds": fit_row.seconds,
        "steps": steps,
    }


def _flags(cursor: Any, ctx: RuleContext) -> dict[str, int]:
    cursor.execute("DROP TABLE IF EXISTS churn_flag")
    cursor.execute(
        "CREATE TEMPORARY TABLE churn_flag (customer_id bigint, code text, rule_order int,"
        " numbers jsonb) ON COMMIT DROP"
    )
    counts: dict[str, int] = {}
    for rule in churn_rules():
        query = rule.query(ctx)
        if query is None:
            continue
        sql, params = query
        # The rules' SQL is code registered at start-up, never user input.
        insert = (
            "INSERT INTO churn_flag (customer_id, code, rule_order, numbers)"  # noqa: S608
            f" SELECT q.customer_id, %s, %s, q.numbers FROM ({sql}) AS q(customer_id, numbers)"
        )
        cursor.execute(insert, [rule.code, rule.order, *params])
        counts[rule.code] = cursor.rowcount
    return counts
