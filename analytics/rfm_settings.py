"""The tenant's RFM settings and segment map: reading them, and the writes the settings pages
make (each one transaction, audited by the tables' triggers, migration 0002)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from analytics.models import (
    DEFAULT_FREQUENCY,
    DEFAULT_MONETARY,
    DEFAULT_RECENCY_DAYS,
    RfmSegment,
    RfmSettings,
    SegmentRule,
)
from crm.accounts.models import User
from crm.lib.audit_actor import writes


def rfm_settings() -> RfmSettings:
    """The tenant's settings (migration 0002 makes the row; made again if someone removed it)."""
    found, _created = RfmSettings.objects.get_or_create(
        pk=1,
        defaults={
            "recency_days": DEFAULT_RECENCY_DAYS,
            "frequency": DEFAULT_FREQUENCY,
            "monetary": DEFAULT_MONETARY,
        },
    )
    return found


def threshold_list_refused(values: list[Any]) -> str | None:
    """Why a list of fixed thresholds cannot be used: four values, rising, none negative."""
    if len(values) != 4:
        return _("Give four values, one for each score from 2 to 5.")
    if any(v < 0 for v in values):
        return _("Values cannot be negative.")
    if any(b <= a for a, b in pairwise(values)):
        return _("Each value must be greater than the one before it.")
    return None


def thresholds_refused(
    recency_days: list[int], frequency: list[int], monetary: list[Decimal]
) -> dict[str, str]:
    lists: tuple[tuple[str, list[Any]], ...] = (
        ("recency_days", recency_days),
        ("frequency", frequency),
        ("monetary", monetary),
    )
    return {name: why for name, values in lists if (why := threshold_list_refused(values))}


@writes
@transaction.atomic
def rfm_settings_save(
    *,
    actor: User | None,
    window_days: int | None,
    scoring: str,
    recency_days: list[int],
    frequency: list[int],
    monetary: list[Decimal],
    snapshot_keep_days: int,
) -> RfmSettings:
    """Change how scores are given; they change at the next refresh."""
    if scoring not in RfmSettings.Scoring.values:
        raise ValidationError({"scoring": _("Choose a scoring method.")})
    refused = thresholds_refused(recency_days, frequency, monetary)
    if refused:
        raise ValidationError(refused)
    if window_days is not None and window_days < 1:
        raise ValidationError({"window_days": _("The window is at least one day.")})
    if snapshot_keep_days < 1:
        raise ValidationError({"snapshot_keep_days": _("Keep snapshots for at least one day.")})
    settings = rfm_settings()
    settings = RfmSettings.objects.select_for_update().get(pk=settings.pk)
    settings.window_days = window_days
    settings.scoring = scoring
    settings.recency_days = recency_days
    settings.frequency = frequency
    settings.monetary = monetary
    settings.snapshot_keep_days = snapshot_keep_days
    settings.save()
    return settings


@dataclass(frozen=True)
class RuleInput:
    segment: str
    r_min: int
    r_max: int
    fm_min: int
    fm_max: int


def rule_refused(rule: RuleInput) -> str | None:
    if rule.segment not in RfmSegment.values:
        return _("Choose a segment.")
    scores = (rule.r_min, rule.r_max, rule.fm_min, rule.fm_max)
    if any(not 1 <= s <= 5 for s in scores):
        return _("Scores run from 1 to 5.")
    if rule.r_min > rule.r_max or rule.fm_min > rule.fm_max:
        return _("A range's first score cannot be above its last.")
    return None


@writes
@transaction.atomic
def segment_rules_save(*, actor: User | None, rules: list[RuleInput]) -> list[SegmentRule]:
    """Replace the segment map with `rules`, in this order (the first match wins). Customers'
    segments follow at the next refresh."""
    if not rules:
        raise ValidationError(_("Keep at least one rule."))
    for n, rule in enumerate(rules, start=1):
        refused = rule_refused(rule)
        if refused:
            raise ValidationError(_("Rule %(n)s: %(why)s") % {"n": n, "why": refused})
    # Locked first, so two editors saving at once replace the map one after the other. Rows
    # are updated in place by position, so a rule keeps its id (the customer tab tells whether
    # the map changed since the scores were given).
    existing = list(SegmentRule.objects.select_for_update().order_by("position", "id"))
    saved = []
    for n, rule in enumerate(rules, start=1):
        row = existing[n - 1] if n <= len(existing) else SegmentRule()
        row.position = n
        row.segment = rule.segment
        row.r_min, row.r_max, row.fm_min, row.fm_max = (
            rule.r_min,
            rule.r_max,
            rule.fm_min,
            rule.fm_max,
        )
        row.save()
        saved.append(row)
    SegmentRule.objects.filter(pk__in=[r.pk for r in existing[len(rules) :]]).delete()
    return saved


@writes
def segment_rules_reset(*, actor: User | None) -> list[SegmentRule]:
    """Put the default map back (analytics.rfm_map.DEFAULT_RULES)."""
    from analytics.rfm_map import DEFAULT_RULES

    return segment_rules_save(actor=actor, rules=[RuleInput(*rule) for rule in DEFAULT_RULES])
