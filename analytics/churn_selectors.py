"""Reads of the churn model for pages: the latest fit with its holdout check, the churn-risk
list (keyset by risk rank, within the reader's record scope) and a customer's churn tab."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from analytics.churn_rules import FlagShown, churn_rules, flags_shown
from analytics.models_churn import ChurnFit, ChurnScore, ValueTier
from crm.accounts.permissions import scope_filter
from support.selectors import reader_scope

RISK_PAGE = 50


def latest_fit() -> ChurnFit | None:
    return ChurnFit.objects.order_by("-computed_at", "-id").first()


@dataclass(frozen=True)
class HoldoutShown:
    """The holdout check as a table (and the chart's data: categories and two series)."""

    calibration_end: str
    days: int
    fitted: bool
    skip_reason: dict[str, Any]
    rows: list[list[Any]]  # [frequency, customers, actual mean, expected mean]
    actual_total: int
    expected_total: float

    @property
    def categories(self) -> list[str]:
        return [str(row[0]) for row in self.rows]

    @property
    def series(self) -> dict[str, list[float]]:
        return {
            "actual": [float(row[2]) for row in self.rows],
            "expected": [float(row[3]) for row in self.rows],
        }


def holdout_shown(fit: ChurnFit) -> HoldoutShown | None:
    data = fit.holdout or {}
    if not data:
        return None
    return HoldoutShown(
        calibration_end=str(data.get("calibration_end", "")),
        days=int(data.get("days", 0)),
        fitted=data.get("status") == ChurnFit.Status.FITTED,
        skip_reason=dict(data.get("skip_reason") or {}),
        rows=list(data.get("rows") or []),
        actual_total=int(data.get("actual_total", 0)),
        expected_total=float(data.get("expected_total", 0.0)),
    )


@dataclass(frozen=True)
class RiskRow:
    customer_id: int
    name: str
    rank: int
    p_alive: float | None
    expected_purchases_90d: float | None
    value_tier: str
    value_tier_label: str
    flags: list[FlagShown]


@dataclass(frozen=True)
class RiskPage:
    rows: list[RiskRow]
    next_cursor: str | None


def _position(after: str) -> int:
    """The rank a cursor names; 0 (the start) for anything that is not one."""
    text = (after or "").strip()
    if not text.isdigit() or len(text) > 9:
        return 0
    return int(text)


def churn_risk_page(
    user: Any, *, after: str = "", flag: str = "", tier: str = "", size: int = RISK_PAGE
) -> RiskPage:
    """Flagged customers the reader may see, most at risk first (risk_rank), `size` a page."""
    scores = ChurnScore.objects.filter(
        scope_filter(
            user,
            owner_field="customer__owner",
            team_field="customer__team",
            scope=reader_scope(user),  # read once per request's user (the dashboard's too)
        ),
        risk_rank__gt=_position(after),
        customer__erased_at__isnull=True,
    )
    if flag in {rule.code for rule in churn_rules()}:
        scores = scores.filter(flags__contains=[{"code": flag}])
    if tier in ValueTier.values:
        scores = scores.filter(value_tier=tier)
    found = list(
        scores.select_related("customer")
        .only(
            "customer__id",
            "customer__name",
            "risk_rank",
            "p_alive",
            "expected_purchases_90d",
            "value_tier",
            "flags",
        )
        .order_by("risk_rank")[: size + 1]
    )
    more = len(found) > size
    found = found[:size]
    rows = [
        RiskRow(
            customer_id=score.customer_id,
            name=score.customer.name,
            rank=int(score.risk_rank or 0),
            p_alive=score.p_alive,
            expected_purchases_90d=score.expected_purchases_90d,
            value_tier=score.value_tier,
            value_tier_label=str(score.get_value_tier_display()) if score.value_tier else "",
            flags=flags_shown(score.flags),
        )
        for score in found
    ]
    return RiskPage(rows, str(found[-1].risk_rank) if more and found else None)


def churn_filters() -> dict[str, list[tuple[str, str]]]:
    return {
        "flags": [(rule.code, str(rule.label)) for rule in churn_rules()],
        "tiers": [(value, str(label)) for value, label in ValueTier.choices],
    }


def churn_tab(user: Any, customer: Any) -> dict[str, Any]:
    """The customer page's churn tab: the latest scores and flags, and what they rest on."""
    score = ChurnScore.objects.filter(customer_id=customer.pk).first()
    fit = latest_fit()
    return {
        "score": score,
        "flags": flags_shown(score.flags) if score else [],
        "fit": fit,
    }


def skip_text(reason: dict[str, Any]) -> str:
    """Why the model was not fitted, in words."""
    code = reason.get("code")
    if code == "few_customers":
        return ngettext(
            "Too little data: %(have)d customer with a completed order, the model needs "
            "%(need)d. The churn rules still ran.",
            "Too little data: %(have)d customers with a completed order, the model needs "
            "%(need)d. The churn rules still ran.",
            int(reason["have"]),
        ) % {"have": reason["have"], "need": reason["need"]}
    if code == "few_repeaters":
        return ngettext(
            "Too little data: %(have)d customer bought on more than one day, the model needs "
            "%(need)d. The churn rules still ran.",
            "Too little data: %(have)d customers bought on more than one day, the model needs "
            "%(need)d. The churn rules still ran.",
            int(reason["have"]),
        ) % {"have": reason["have"], "need": reason["need"]}
    if code == "not_converged":
        return _("The fit did not converge, so the model is not used. The churn rules still ran.")
    return ""
