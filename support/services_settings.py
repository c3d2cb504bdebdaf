"""Writes to the support settings (SLA targets, opening hours, holiday overrides, canned
responses) and the SLA scan the periodic task runs."""

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts import roles
from crm.accounts.models import User
from crm.lib.audit_actor import writes
from crm.lib.columns import INT32_MAX, text_error
from support import sla
from support.models import (
    BusinessHours,
    CannedResponse,
    HolidayOverride,
    Priority,
    SlaNotice,
    SlaPolicy,
    SupportSettings,
    Ticket,
)

# --- SLA settings ----------------------------------------------------------------------------


@writes
@transaction.atomic
def sla_policies_save(*, actor: User | None, targets: Mapping[str, tuple[int, int]]) -> None:
    """(first response, resolution) in business minutes per priority. Open tickets keep the due
    moments they were given (a new target applies to tickets created from now on)."""
    for priority, (first, resolution) in targets.items():
        if priority not in Priority.values:
            raise ValidationError({"priority": _("Unknown priority.")})
        for value in (first, resolution):
            if not 0 < value <= INT32_MAX:
                raise ValidationError({priority: _("Targets are whole minutes above zero.")})
        SlaPolicy.objects.update_or_create(
            priority=priority,
            defaults={"first_response_minutes": first, "resolution_minutes": resolution},
        )


@writes
@transaction.atomic
def business_hours_save(
    *, actor: User | None, hours: Mapping[int, tuple[datetime.time, datetime.time] | None]
) -> None:
    """Opening hours per weekday (None: closed). At least one day must be open."""
    if not any(hours.get(d) for d in range(7)):
        raise ValidationError({"hours": _("Open on at least one day of the week.")})
    for weekday in range(7):
        span = hours.get(weekday)
        if span is None:
            BusinessHours.objects.filter(weekday=weekday).delete()
            continue
        opens, closes = span
        if closes <= opens:
            raise ValidationError({"hours": _("A day must close after it opens.")})
        BusinessHours.objects.update_or_create(
            weekday=weekday, defaults={"opens": opens, "closes": closes}
        )


@writes
@transaction.atomic
def support_settings_save(
    *,
    actor: User | None,
    holiday_country: str | None,
    near_breach_minutes: int,
    pause_on_hold: bool,
) -> SupportSettings:
    """`holiday_country`: a country code, "" for no public holidays, None to follow the
    workspace's phone region."""
    if holiday_country and holiday_country not in sla.holiday_countries():
        raise ValidationError(
            {"holiday_country": _("No public holiday calendar for this country.")}
        )
    if not 0 < near_breach_minutes <= 7 * 24 * 60:
        raise ValidationError({"near_breach_minutes": _("Between 1 minute and a week.")})
    settings = sla.support_settings()
    settings.holiday_country = holiday_country
    settings.near_breach_minutes = near_breach_minutes
    settings.pause_on_hold = pause_on_hold
    settings.save()
    return settings


@writes
@transaction.atomic
def holiday_override_save(
    *, actor: User | None, date: datetime.date, kind: str, name: str
) -> HolidayOverride:
    if kind not in HolidayOverride.Kind.values:
        raise ValidationError({"kind": _("Unknown kind of day.")})
    error = text_error(name, 100)
    if error:
        raise ValidationError({"name": error})
    override, _created = HolidayOverride.objects.update_or_create(
        date=date, defaults={"kind": kind, "name": name.strip()}
    )
    return override


@writes
@transaction.atomic
def holiday_override_delete(*, actor: User | None, override: HolidayOverride) -> None:
    override.delete()


# --- canned responses ------------------------------------------------------------------------


@writes
@transaction.atomic
def canned_response_save(
    *, actor: User | None, response: CannedResponse | None, title: str, body: str
) -> CannedResponse:
    title, body = title.strip(), body.strip()
    errors = {}
    if not title:
        errors["title"] = _("Give the response a title.")
    if not body:
        errors["body"] = _("Write the response's text.")
    for name, value, limit in (("title", title, 100), ("body", body, None)):
        error = text_error(value, limit)
        if error:
            errors[name] = error
    if errors:
        raise ValidationError(errors)
    taken = CannedResponse.objects.filter(title__iexact=title)
    if response is not None:
        taken = taken.exclude(pk=response.pk)
    if taken.exists():
        raise ValidationError({"title": _("Another response has this title.")})
    if response is None:
        response = CannedResponse(created_by=actor)
    response.title, response.body = title, body
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        raise ValidationError({"title": _("Another response has this title.")}) from None
    return response


@writes
@transaction.atomic
def canned_response_delete(*, actor: User | None, response: CannedResponse) -> None:
    response.delete()


# --- the SLA scan ----------------------------------------------------------------------------


@dataclass
class ScanResult:
    near: int
    breached: int
    escalated: int


def _managers_of(ticket: Ticket, managers: Sequence[User]) -> list[User]:
    """Who a breach escalates to: the Manager-role members of the ticket's team; without a
    team (or a manager in it), every active manager."""
    if ticket.team_id is not None:
        in_team = [m for m in managers if ticket.team_id in m.team_ids]  # type: ignore[attr-defined]
        if in_team:
            return in_team
    return list(managers)


@writes
@transaction.atomic
def sla_scan(*, actor: User | None, now: datetime.datetime | None = None) -> ScanResult:
    """Record a notice for every unfinished ticket whose running clock is near its due moment
    (to the assignee) or past it (to the assignee, and escalated to the team's managers). The
    notice table's unique key makes a second run, or a redelivered task, add nothing."""
    now = now or timezone.now()
    settings = sla.support_settings()
    margin = datetime.timedelta(minutes=settings.near_breach_minutes)
    limit = now + margin
    tickets = list(
        Ticket.objects.filter(sla_due__lte=limit).only(
            "id",
            "assignee_id",
            "team_id",
            "first_responded_at",
            "first_response_due",
            "resolution_due",
            "status",
        )
    )
    managers = list(
        User.objects.filter(is_active=True, groups__name=roles.MANAGER).prefetch_related("teams")
    )
    for manager in managers:
        manager.team_ids = {t.pk for t in manager.teams.all()}  # type: ignore[attr-defined]
    notices: list[SlaNotice] = []
    for ticket in tickets:
        clocks = []
        if ticket.first_responded_at is None and ticket.first_response_due is not None:
            clocks.append((SlaNotice.Clock.FIRST_RESPONSE, ticket.first_response_due))
        if ticket.resolution_due is not None:
            clocks.append((SlaNotice.Clock.RESOLUTION, ticket.resolution_due))
        for clock, due in clocks:
            if due > limit:
                continue
            breached = due <= now
            level = SlaNotice.Level.BREACHED if breached else SlaNotice.Level.NEAR
            if ticket.assignee_id is not None:
                notices.append(
                    SlaNotice(
                        ticket=ticket,
                        clock=clock,
                        level=level,
                        recipient_id=ticket.assignee_id,
                        due_at=due,
                        created_at=now,
                    )
                )
            if breached:
                for manager in _managers_of(ticket, managers):
                    notices.append(
                        SlaNotice(
                            ticket=ticket,
                            clock=clock,
                            level=SlaNotice.Level.ESCALATED,
                            recipient=manager,
                            due_at=due,
                            created_at=now,
                        )
                    )
    before = _notice_counts()
    SlaNotice.objects.bulk_create(notices, ignore_conflicts=True)
    after = _notice_counts()
    # What this run added (bulk_create with ignore_conflicts cannot say which rows were new).
    return ScanResult(
        near=after["near"] - before["near"],
        breached=after["breached"] - before["breached"],
        escalated=after["escalated"] - before["escalated"],
    )


def _notice_counts() -> dict[str, int]:
    from django.db.models import Count

    return SlaNotice.objects.aggregate(
        **{level: Count("id", filter=Q(level=level)) for level in SlaNotice.Level.values}
    )
