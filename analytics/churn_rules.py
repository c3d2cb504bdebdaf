"""Churn flags: rules, each one set-based SQL naming the customers it flags with the numbers
behind the flag, and a sentence a person can read from those numbers.

Rules are a registry so that apps and later features add theirs (a recent detractor answer
comes with feedback surveys): `churn_rule_register(ChurnRule(...))`. analytics.churn runs every
registered rule at each refresh, after the model, inside the refresh's transaction; a rule's
query may read the refresh's temporary tables:

- churn_history(customer_id, x, recency_days, age_days, last_day, gaps, median_gap_days,
  avg_order): each customer with a completed order up to the as-of date;
- churn_model(customer_id, p_alive, expected_90d, expected_value, value_tier): the model's
  scores (empty when the model was skipped).

A query returns rows (customer_id, numbers jsonb); the numbers are stored with the flag and
handed to `reason` to say why."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from analytics.models_churn import ChurnSettings


@dataclass(frozen=True)
class RuleContext:
    as_of: datetime.date
    # The moment "now" means for the as-of date: the end of that day in the tenant's zone, or
    # the present when that is earlier (a refresh for today).
    moment: datetime.datetime
    zone: zoneinfo.ZoneInfo
    settings: ChurnSettings
    model_fitted: bool


@dataclass(frozen=True)
class ChurnRule:
    code: str  # stored in the flags; at most 30 characters
    label: Any  # a lazily translated short name
    # The rule's SQL and its parameters, or None when it cannot apply in this refresh.
    query: Callable[[RuleContext], tuple[str, list[Any]] | None]
    # The flag's numbers -> a sentence saying why.
    reason: Callable[[Mapping[str, Any]], str]
    order: int = 100


@dataclass(frozen=True)
class FlagShown:
    code: str
    label: str
    reason: str


_RULES: dict[str, ChurnRule] = {}


def churn_rule_register(rule: ChurnRule) -> None:
    if len(rule.code) > 30:
        raise ValueError(f"churn rule {rule.code!r}: at most 30 characters")
    _RULES[rule.code] = rule


def churn_rule_unregister(code: str) -> None:
    _RULES.pop(code, None)


def churn_rules() -> list[ChurnRule]:
    return sorted(_RULES.values(), key=lambda rule: (rule.order, rule.code))


def flags_shown(flags: list[Mapping[str, Any]]) -> list[FlagShown]:
    """Stored flags as label and reason, in the rules' order; a flag whose rule is gone (an
    app removed since the refresh) shows its code."""
    shown = []
    for flag in flags:
        rule = _RULES.get(str(flag.get("code")))
        if rule is None:
            shown.append(FlagShown(str(flag.get("code")), str(flag.get("code")), ""))
        else:
            shown.append(FlagShown(rule.code, str(rule.label), rule.reason(flag)))
    return shown


def _date(value: Any) -> str:
    return date_format(datetime.date.fromisoformat(str(value)), "SHORT_DATE_FORMAT")


# --- the built-in rules ----------------------------------------------------------------------

LOW_P_ALIVE = "low_p_alive"
OVERDUE = "overdue"
COMPLAINT_PAST_SLA = "complaint_past_sla"
POINTS_EXPIRING = "points_expiring"


def _low_p_alive(ctx: RuleContext) -> tuple[str, list[Any]] | None:
    if not ctx.model_fitted:
        return None
    threshold = float(ctx.settings.p_alive_threshold)
    return (
        "SELECT customer_id, jsonb_build_object('p_alive', round(p_alive::numeric, 3),"
        " 'threshold', %s::numeric) FROM churn_model WHERE p_alive < %s",
        [threshold, threshold],
    )


def _low_p_alive_reason(n: Mapping[str, Any]) -> str:
    return _("The model gives %(p).0f%% that they still buy here (flagged below %(t).0f%%).") % {
        "p": float(n["p_alive"]) * 100,
        "t": float(n["threshold"]) * 100,
    }


def _overdue(ctx: RuleContext) -> tuple[str, list[Any]] | None:
    # The usual gap is the median gap between purchase days; with fewer gaps than the setting
    # there is no usual gap to speak of.
    multiple = float(ctx.settings.gap_multiple)
    return (
        "SELECT customer_id, jsonb_build_object("
        " 'days_since', %s::date - last_day,"
        " 'usual_gap_days', round(median_gap_days::numeric, 1),"
        " 'multiple', %s::numeric,"
        " 'times', round(((%s::date - last_day) / median_gap_days)::numeric, 1))"
        " FROM churn_history"
        " WHERE gaps >= %s AND median_gap_days > 0"
        " AND (%s::date - last_day) > %s * median_gap_days",
        [ctx.as_of, multiple, ctx.as_of, ctx.settings.gap_min_gaps, ctx.as_of, multiple],
    )


def _overdue_reason(n: Mapping[str, Any]) -> str:
    return _(
        "No purchase for %(days)s days: %(times)s times their usual gap of %(gap)s days "
        "(flagged after %(multiple)s times)."
    ) % {
        "days": n["days_since"],
        "times": n["times"],
        "gap": n["usual_gap_days"],
        "multiple": n["multiple"],
    }


def _complaint(ctx: RuleContext) -> tuple[str, list[Any]] | None:
    return (
        "SELECT t.customer_id, jsonb_build_object("
        " 'tickets', count(*),"
        " 'oldest', min(t.number),"
        " 'hours_overdue', floor(extract(epoch FROM %s - min(t.resolution_due)) / 3600))"
        " FROM support_ticket t JOIN customers_customer c ON c.id = t.customer_id"
        " WHERE c.erased_at IS NULL AND t.kind = 'complaint'"
        " AND t.status NOT IN ('resolved', 'closed') AND t.merged_into_id IS NULL"
        " AND t.resolution_due < %s AND t.created_at < %s"
        " GROUP BY t.customer_id",
        [ctx.moment, ctx.moment, ctx.moment],
    )


def _complaint_reason(n: Mapping[str, Any]) -> str:
    from support.models import ticket_reference

    count = int(n["tickets"])
    return ngettext(
        "%(count)d open complaint past its resolution time (%(ref)s, %(hours)s hours over).",
        "%(count)d open complaints past their resolution time (oldest %(ref)s, %(hours)s hours "
        "over).",
        count,
    ) % {"count": count, "ref": ticket_reference(int(n["oldest"])), "hours": n["hours_overdue"]}


def _points(ctx: RuleContext) -> tuple[str, list[Any]] | None:
    days = ctx.settings.points_expiry_days
    return (
        "SELECT a.customer_id, jsonb_build_object("
        " 'points', sum(l.remaining), 'first_expiry', min(l.expires_on), 'within_days', %s)"
        " FROM loyalty_lot l JOIN loyalty_account a ON a.id = l.account_id"
        " JOIN customers_customer c ON c.id = a.customer_id"
        " WHERE c.erased_at IS NULL AND l.remaining > 0"
        " AND l.expires_on >= %s AND l.expires_on < %s::date + %s"
        " GROUP BY a.customer_id",
        [days, ctx.as_of, ctx.as_of, days],
    )


def _points_reason(n: Mapping[str, Any]) -> str:
    points = int(n["points"])
    return ngettext(
        "%(points)d unused point expires within %(days)s days (first on %(date)s).",
        "%(points)d unused points expire within %(days)s days (first on %(date)s).",
        points,
    ) % {"points": points, "days": n["within_days"], "date": _date(n["first_expiry"])}


def register_defaults() -> None:
    churn_rule_register(
        ChurnRule(LOW_P_ALIVE, gettext_lazy("Low P(alive)"), _low_p_alive, _low_p_alive_reason, 10)
    )
    churn_rule_register(
        ChurnRule(OVERDUE, gettext_lazy("Overdue for a purchase"), _overdue, _overdue_reason, 20)
    )
    churn_rule_register(
        ChurnRule(
            COMPLAINT_PAST_SLA,
            gettext_lazy("Complaint past its SLA"),
            _complaint,
            _complaint_reason,
            30,
        )
    )
    churn_rule_register(
        ChurnRule(
            POINTS_EXPIRING,
            gettext_lazy("Points about to expire"),
            _points,
            _points_reason,
            40,
        )
    )
