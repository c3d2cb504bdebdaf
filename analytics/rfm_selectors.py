"""Reads of the RFM results the pages, the customer tab and the command share: the counts per
segment, the transitions between two snapshots, and one customer's scores explained in words."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from analytics.models import RfmScore, RfmSettings, RfmSnapshot, RfmSnapshotEntry, SegmentRule
from analytics.rfm_map import SEGMENT_ORDER, fm_score, rule_matches, segment_label
from analytics.rfm_settings import rfm_settings
from crm.lib import charts
from customers.selectors import customer_scope_sql


def segment_keys(counts: dict[str, int]) -> list[str]:
    """The map's segments in their usual order, then any other key found (''  last)."""
    known = [key for key in SEGMENT_ORDER]
    extra = sorted(k for k in counts if k not in known and k)
    return known + extra + ([""] if counts.get("") else [])


@dataclass(frozen=True)
class SegmentCount:
    key: str
    label: str
    count: int
    share: float  # 0..100


def segment_counts(
    snapshot: RfmSnapshot | None, *, customers: QuerySet[Any] | None = None
) -> list[SegmentCount]:
    """Customers per segment in `snapshot`: all of them (its stored counts), or those among
    `customers` (a subquery of customer ids: a reader's scope) counted from its entries."""
    if snapshot is None:
        counts: dict[str, int] = {}
    elif customers is None:
        counts = dict(snapshot.counts)
    else:
        counts = {
            row["segment"]: row["n"]
            for row in RfmSnapshotEntry.objects.filter(snapshot=snapshot, customer_id__in=customers)
            .values("segment")
            .annotate(n=Count("pk"))
            .order_by()
        }
    total = sum(counts.values()) or 1
    return [
        SegmentCount(key, segment_label(key), counts.get(key, 0), 100 * counts.get(key, 0) / total)
        for key in segment_keys(counts)
    ]


def segment_counts_chart(
    snapshot: RfmSnapshot | None, rows: list[SegmentCount]
) -> charts.Chart | None:
    """The bar chart of customers by segment (the RFM page's and the dashboard's); None before
    the first snapshot."""
    if snapshot is None or not rows:
        return None
    return charts.bar_chart(
        title=_("Customers by RFM segment"),
        categories=[r.label for r in rows],
        series={_("Customers"): [float(r.count) for r in rows]},
        horizontal=True,
        category_label=_("Segment"),
        value_label=_("Customers"),
    )


def latest_snapshot() -> RfmSnapshot | None:
    return RfmSnapshot.objects.order_by("-as_of").first()


def snapshot_dates() -> list[datetime.date]:
    return list(RfmSnapshot.objects.order_by("-as_of").values_list("as_of", flat=True))


@dataclass(frozen=True)
class Transitions:
    before: RfmSnapshot
    after: RfmSnapshot
    keys_before: list[str]  # row keys: segments then "-" (not scored at the earlier date)
    keys_after: list[str]  # column keys: segments then "-" (not scored at the later date)
    rows: list[tuple[str, list[int], int]]  # (row label, counts per column, row total)
    column_totals: list[int]
    moved: int  # customers whose segment changed (scored at both dates)
    stayed: int


TRANSITIONS_SQL = """
SELECT coalesce(a.segment, '-'), coalesce(b.segment, '-'), count(*)
FROM (SELECT customer_id, segment FROM analytics_rfmsnapshotentry
      WHERE snapshot_id = %s{scope}) a
FULL OUTER JOIN
     (SELECT customer_id, segment FROM analytics_rfmsnapshotentry
      WHERE snapshot_id = %s{scope}) b
  ON a.customer_id = b.customer_id
GROUP BY 1, 2
"""


def _axis(keys: set[str]) -> list[str]:
    ordered = segment_keys({k: 1 for k in keys if k != "-"})
    return ordered + (["-"] if "-" in keys else [])


def _axis_label(key: str) -> str:
    return _("Not scored") if key == "-" else segment_label(key)


def transitions(before: RfmSnapshot, after: RfmSnapshot, *, user: Any = None) -> Transitions:
    """How many customers went from each segment at `before` to each at `after`, in one
    query over the two snapshots; only `user`'s customers when given (their record scope)."""
    scope, scope_params = customer_scope_sql(user, "customer_id") if user else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            TRANSITIONS_SQL.format(scope=scope),
            [before.pk, *scope_params, after.pk, *scope_params],
        )
        found = {(a, b): n for a, b, n in cursor.fetchall()}
    keys_before = _axis({a for a, _b in found} | set(SEGMENT_ORDER))
    keys_after = _axis({b for _a, b in found} | set(SEGMENT_ORDER))
    rows = []
    for a in keys_before:
        counts = [found.get((a, b), 0) for b in keys_after]
        rows.append((_axis_label(a), counts, sum(counts)))
    column_totals = [sum(found.get((a, b), 0) for a in keys_before) for b in keys_after]
    moved = sum(n for (a, b), n in found.items() if a != b and "-" not in (a, b))
    stayed = sum(n for (a, b), n in found.items() if a == b and a != "-")
    return Transitions(before, after, keys_before, keys_after, rows, column_totals, moved, stayed)


def transitions_chart_data(t: Transitions) -> tuple[list[str], list[str], list[list[float]]]:
    """(x labels, y labels, values) for a heat map of the transitions (crm.lib.charts)."""
    return (
        [_axis_label(k) for k in t.keys_after],
        [label for label, _counts, _total in t.rows],
        [[float(n) for n in counts] for _label, counts, _total in t.rows],
    )


# --- one customer ----------------------------------------------------------------------------


def _share(cume: float | None) -> str:
    return "—" if cume is None else f"{number_format(round(100 * cume), 0)}%"


def _fixed_reason(score: int, value: Any, bounds: list[Any], *, lower_is_better: bool) -> str:
    shown = ", ".join(str(b) for b in bounds)
    if lower_is_better:
        return _("score %(score)s from the fixed thresholds %(bounds)s days (at most)") % {
            "score": score,
            "bounds": shown,
        }
    return _("score %(score)s from the fixed thresholds %(bounds)s (at least)") % {
        "score": score,
        "bounds": shown,
    }


def customer_rfm(customer_id: int) -> dict[str, Any]:
    """The customer's scores and segment with the reasons in words and numbers, for the
    customer page's Analytics tab. `score` is None for a customer not scored."""
    score = RfmScore.objects.filter(customer_id=customer_id).first()
    if score is None:
        return {"score": None, "last_refresh": latest_snapshot()}
    settings = rfm_settings()
    fixed = settings.scoring == RfmSettings.Scoring.FIXED
    rules = list(SegmentRule.objects.all())
    # The rule that matches now; the map may have been edited since the refresh.
    position, rule = next(
        ((n, r) for n, r in enumerate(rules, start=1) if rule_matches(r, score.r, score.fm)),
        (None, None),
    )
    map_changed = (rule.pk if rule else None) != score.rule_id or (
        (rule.segment if rule else "") != score.segment
    )
    as_of = score.as_of
    if fixed:
        why_r = _fixed_reason(
            score.r, score.recency_days, settings.recency_days, lower_is_better=True
        )
        why_f = _fixed_reason(score.f, score.frequency, settings.frequency, lower_is_better=False)
        why_m = _fixed_reason(score.m, score.monetary, settings.monetary, lower_is_better=False)
    else:
        why_r = _(
            "%(share)s of scored customers bought this recently or longer ago: the fifth it "
            "falls in gives R %(score)s"
        ) % {"share": _share(score.recency_cume), "score": score.r}
        why_f = _("%(share)s of scored customers have this many orders or fewer: F %(score)s") % {
            "share": _share(score.frequency_cume),
            "score": score.f,
        }
        why_m = _("%(share)s of scored customers spent this much or less: M %(score)s") % {
            "share": _share(score.monetary_cume),
            "score": score.m,
        }
    return {
        "score": score,
        "segment": segment_label(score.segment),
        "fixed": fixed,
        "last_refresh": latest_snapshot(),
        "recency": {
            "text": ngettext(
                "Last completed order %(days)s day before %(date)s",
                "Last completed order %(days)s days before %(date)s",
                score.recency_days,
            )
            % {
                "days": score.recency_days,
                "date": as_of.isoformat(),
            },
            "why": why_r,
        },
        "frequency": {
            "text": ngettext("%(n)s completed order", "%(n)s completed orders", score.frequency)
            % {"n": score.frequency},
            "why": why_f,
        },
        "monetary": {
            "text": _("%(amount)s spent on them") % {"amount": number_format(score.monetary, 2)},
            "why": why_m,
        },
        "fm_text": _("FM %(fm)s: the average of F %(f)s and M %(m)s, halves rounded up")
        % {
            "fm": fm_score(score.f, score.m),
            "f": score.f,
            "m": score.m,
        },
        "rule": rule,
        "rule_text": (
            _(
                "Rule %(n)s of the segment map (R %(r1)s–%(r2)s, FM %(fm1)s–%(fm2)s) "
                "gives %(segment)s"
            )
            % {
                "n": position,
                "r1": rule.r_min,
                "r2": rule.r_max,
                "fm1": rule.fm_min,
                "fm2": rule.fm_max,
                "segment": segment_label(rule.segment),
            }
            if rule is not None
            else _("No rule of the segment map matches these scores")
        ),
        "map_changed": map_changed,
    }
