"""The churn model where the rest of the product looks for it: the refresh step, a rule on
survey detractors (support's answers), segment conditions, the customer export's columns and the
dashboard's churn-risk panel. Everything reads analytics_churnscore, one row per customer from the
latest refresh."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from django.db.models import Exists, F, OuterRef, Q
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from analytics.churn import churn_refresh
from analytics.churn_rules import ChurnRule, RuleContext, churn_rule_register, churn_rules
from analytics.churn_selectors import churn_risk_page
from analytics.dashboard import Panel, dashboard_panel_register
from analytics.models_churn import ChurnScore, ValueTier
from analytics.refresh import RefreshStep, refresh_step_register
from analytics.segment_fields import SegmentField, segment_field_register
from analytics.segment_fields_builtin import CHOICE_OPS, NUMBER_OPS
from customers.export_columns import ExportColumn, export_column_register

GROUP_CHURN = gettext_lazy("Churn")
DETRACTOR = "detractor"
# How far back a detractor's answer counts as a warning sign.
DETRACTOR_DAYS = 90
RISK_PANEL_ROWS = 8


# --- the detractor rule -----------------------------------------------------------------------


def _detractor(ctx: RuleContext) -> tuple[str, list[Any]] | None:
    return (
        "SELECT r.customer_id, jsonb_build_object("
        " 'answers', count(*),"
        " 'last_on', (max(r.answered_at) AT TIME ZONE %s)::date,"
        " 'kind', (array_agg(r.kind ORDER BY r.answered_at DESC))[1],"
        " 'score', (array_agg(r.score ORDER BY r.answered_at DESC))[1],"
        " 'within_days', %s)"
        " FROM support_surveyresponse r JOIN customers_customer c ON c.id = r.customer_id"
        " WHERE c.erased_at IS NULL AND r.detractor"
        " AND r.answered_at >= %s - make_interval(days => %s) AND r.answered_at < %s"
        " GROUP BY r.customer_id",
        [str(ctx.zone), DETRACTOR_DAYS, ctx.moment, DETRACTOR_DAYS, ctx.moment],
    )


def _detractor_reason(n: Mapping[str, Any]) -> str:
    day = date_format(datetime.date.fromisoformat(str(n["last_on"])), "SHORT_DATE_FORMAT")
    count = int(n["answers"])
    return ngettext(
        "Answered a survey unhappily on %(date)s (%(kind)s %(score)s); "
        "%(count)d such answer in %(days)s days.",
        "Answered a survey unhappily on %(date)s (%(kind)s %(score)s); "
        "%(count)d such answers in %(days)s days.",
        count,
    ) % {
        "date": day,
        "kind": str(n["kind"]).upper(),
        "score": n["score"],
        "count": count,
        "days": n["within_days"],
    }


# --- segment conditions -----------------------------------------------------------------------


def _scored(**lookups: Any) -> Q:
    return Q(Exists(ChurnScore.objects.filter(customer_id=OuterRef("pk"), **lookups)))


def _number_q(column: str, scale: float = 1.0) -> Any:
    def to_q(op: str, value: Any) -> Q:
        lookup = {"gte": "gte", "lte": "lte", "eq": "exact"}[op]
        return _scored(**{f"{column}__{lookup}": float(value) / scale})

    return to_q


def _tier_q(op: str, value: Any) -> Q:
    if op == "present":
        return _scored(value_tier__gt="")
    if op == "empty":
        return ~_scored(value_tier__gt="")
    inside = _scored(value_tier=value)
    return inside if op == "eq" else ~inside


def _flag_q(op: str, value: Any) -> Q:
    if op == "present":
        return _scored(risk_rank__isnull=False)
    if op == "empty":
        return ~_scored(risk_rank__isnull=False)
    flagged = _scored(flags__contains=[{"code": value}])
    return flagged if op == "eq" else ~flagged


def _flag_choices() -> list[tuple[str, str]]:
    return [(rule.code, str(rule.label)) for rule in churn_rules()]


def _tier_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in ValueTier.choices]


def _fields() -> list[SegmentField]:
    return [
        SegmentField(
            "churn_flag",
            gettext_lazy("Churn flag"),
            "choice",
            CHOICE_OPS,
            _flag_q,
            GROUP_CHURN,
            choices=_flag_choices,
            position=550,
        ),
        SegmentField(
            "p_alive",
            gettext_lazy("P(alive) in %"),
            "number",
            NUMBER_OPS,
            _number_q("p_alive", scale=100.0),
            GROUP_CHURN,
            position=551,
        ),
        SegmentField(
            "expected_purchases_90d",
            gettext_lazy("Expected purchases in 90 days"),
            "number",
            NUMBER_OPS,
            _number_q("expected_purchases_90d"),
            GROUP_CHURN,
            position=552,
        ),
        SegmentField(
            "value_tier",
            gettext_lazy("Value tier"),
            "choice",
            CHOICE_OPS,
            _tier_q,
            GROUP_CHURN,
            choices=_tier_choices,
            position=553,
        ),
    ]


# --- export columns ---------------------------------------------------------------------------


def _rounded(places: int) -> Any:
    def to_cell(value: Any) -> Any:
        return "" if value is None else round(float(value), places)

    return to_cell


def _flag_codes(value: Any) -> str:
    """The flags' codes separated by spaces (readable, and splits cleanly in a spreadsheet)."""
    if not value:
        return ""
    flags = json.loads(value) if isinstance(value, str) else value
    return " ".join(str(flag.get("code", "")) for flag in flags)


def _export_columns() -> list[ExportColumn]:
    return [
        ExportColumn("p_alive", lambda: F("churn_score__p_alive"), _rounded(4), position=20),
        ExportColumn(
            "expected_purchases_90d",
            lambda: F("churn_score__expected_purchases_90d"),
            _rounded(3),
            position=21,
        ),
        ExportColumn("churn_flags", lambda: F("churn_score__flags"), _flag_codes, position=22),
    ]


# --- the dashboard's churn-risk panel ---------------------------------------------------------


def _risk_build(user: Any) -> dict[str, Any] | None:
    # Names within the reader's scope: never cached (names, not figures: always current).
    page = churn_risk_page(user, size=RISK_PANEL_ROWS)
    if not page.rows:
        return None
    return {"rows": page.rows, "more": page.next_cursor is not None}


def register() -> None:
    refresh_step_register(RefreshStep("churn", _("Churn model and flags"), churn_refresh, order=20))
    churn_rule_register(
        ChurnRule(
            DETRACTOR,
            gettext_lazy("Unhappy survey answer"),
            _detractor,
            _detractor_reason,
            40,
        )
    )
    for field in _fields():
        segment_field_register(field)
    for column in _export_columns():
        export_column_register(column)
    dashboard_panel_register(
        Panel(
            "churn_risk",
            gettext_lazy("Churn risk"),
            _risk_build,
            "analytics/panels/churn_risk.html",
            order=7,
            wide=True,
        )
    )
