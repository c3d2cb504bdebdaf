"""Which SLA targets a ticket gets: the fastest override whose customer filter picks the
ticket's customer, else the priority's standard policy (support.models.SlaPolicy).

An override (support.models_slarep.SlaOverride) names a customer-list filter by its key
(customers.list_columns: loyalty registers "tier", analytics a segment filter) and a value
that filter's own form field accepts. Support never imports those apps: the filter's `apply`
is asked, in one query, whether it keeps the ticket's customer. A filter no longer registered
(its app removed) or a value its field no longer accepts (a tier deleted) makes the override
inert: ignored here, and shown as such on the settings page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists
from django.utils.translation import gettext as _

from customers.list_columns import ListFilter, list_filter
from customers.models import Customer
from support.models import SlaOverride, SlaOverrideTarget, SlaPolicy, Ticket, TicketSla


@dataclass(frozen=True)
class Targets:
    """Targets in business minutes, and the override they came from (None: the standard)."""

    first_response_minutes: int
    resolution_minutes: int
    override_id: int | None = None
    override_name: str = ""


@dataclass(frozen=True)
class FilterCheck:
    """An override's filter as it stands now: usable (with its cleaned value), or why not."""

    list_filter: ListFilter | None
    value: Any
    label: str  # the filter's label
    shown_value: str  # the value as its field shows it
    problem: str  # "" when usable


def _shown(field: forms.Field, raw: str) -> str:
    choices = getattr(field, "choices", None)
    if choices is not None:
        for key, label in choices:
            if str(key) == raw:
                return str(label)
    return raw


def filter_check(filter_key: str, raw_value: str) -> FilterCheck:
    """Whether `filter_key` is registered and its field still accepts `raw_value`."""
    found = list_filter(filter_key)
    if found is None:
        return FilterCheck(
            None, None, filter_key, raw_value, _("This customer filter no longer exists.")
        )
    field = found.field()
    label = str(field.label or filter_key)
    try:
        value = field.clean(raw_value)
    except ValidationError:
        return FilterCheck(found, None, label, raw_value, _("This value is no longer valid."))
    if value in (None, "", [], ()):
        return FilterCheck(found, None, label, raw_value, _("Choose a value."))
    return FilterCheck(found, value, label, _shown(field, raw_value), "")


def _standard(priority: str) -> Targets | None:
    policy = SlaPolicy.objects.filter(priority=priority).first()
    if policy is None:
        return None
    return Targets(policy.first_response_minutes, policy.resolution_minutes)


def targets_decide(*, customer_id: int | None, priority: str) -> Targets | None:
    """The targets for a ticket of `customer_id` at `priority`: the matching override with the
    fastest target (first response, then resolution), else the standard policy; None when
    neither has one. At most three queries: the overrides, the standard, one match."""
    candidates: list[tuple[SlaOverrideTarget, FilterCheck]] = []
    if customer_id is not None:
        for target in SlaOverrideTarget.objects.filter(priority=priority).select_related(
            "override"
        ):
            check = filter_check(target.override.filter_key, target.override.filter_value)
            if not check.problem:
                candidates.append((target, check))
    if customer_id is None or not candidates:
        return _standard(priority)
    one = Customer.objects.filter(pk=customer_id)
    matches: dict[str, Any] = {
        f"o{target.pk}": Exists(
            check.list_filter.apply(Customer.objects.filter(pk=customer_id), check.value)  # type: ignore[union-attr]
        )
        for target, check in candidates
    }
    row = one.annotate(**matches).values(*matches).first() or {}
    matched = [target for target, _check in candidates if row.get(f"o{target.pk}")]
    if not matched:
        return _standard(priority)
    best = min(matched, key=lambda t: (t.first_response_minutes, t.resolution_minutes, t.pk))
    return Targets(
        best.first_response_minutes,
        best.resolution_minutes,
        override_id=best.override_id,
        override_name=best.override.name,
    )


def targets_kept(ticket: Ticket) -> Targets | None:
    """The targets the ticket was given (when its clock resumes or it reopens); a ticket from
    before overrides existed has none recorded, and is decided as it stands."""
    try:
        applied = ticket.sla_applied
    except TicketSla.DoesNotExist:
        applied = None
    if applied is None:
        return targets_decide(customer_id=ticket.customer_id, priority=ticket.priority)
    return Targets(
        applied.first_response_minutes,
        applied.resolution_minutes,
        override_id=applied.override_id,
        override_name=applied.override_name,
    )


def targets_preload(tickets: Iterable[Ticket]) -> None:
    """Attach each ticket's recorded targets in one query (the bulk status change)."""
    by_id = {t.pk: t for t in tickets}
    for applied in TicketSla.objects.filter(ticket_id__in=list(by_id)):
        by_id[applied.ticket_id].sla_applied = applied


def targets_record(ticket: Ticket, targets: Targets | None) -> None:
    """Keep the targets the ticket's dues were computed from (the caller's transaction)."""
    if targets is None:
        TicketSla.objects.filter(ticket_id=ticket.pk).delete()
        return
    TicketSla.objects.update_or_create(
        ticket_id=ticket.pk,
        defaults={
            "override_id": targets.override_id,
            "override_name": targets.override_name,
            "first_response_minutes": targets.first_response_minutes,
            "resolution_minutes": targets.resolution_minutes,
        },
    )


@dataclass
class OverrideRow:
    override: SlaOverride
    check: FilterCheck
    targets: dict[str, SlaOverrideTarget]


def override_rows() -> list[OverrideRow]:
    """Every override with its filter's state and its targets per priority (settings page)."""
    rows = []
    for override in SlaOverride.objects.prefetch_related("targets"):
        rows.append(
            OverrideRow(
                override,
                filter_check(override.filter_key, override.filter_value),
                {t.priority: t for t in override.targets.all()},
            )
        )
    return rows
