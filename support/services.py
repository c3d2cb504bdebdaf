"""Every write to tickets: keyword-only, typed, one transaction each, attributed to `actor`
(support.sla for the clock, support.transitions for which status may follow which)."""

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.models import Team, User
from crm.lib.audit_actor import writes
from crm.lib.columns import max_length, text_error
from crm.lib.contacts import InvalidPhone, email_normalise, phone_e164
from customers.models import Customer
from customers.selectors import customers_find
from customers.services import tenant_phone_region, timeline_event_add
from support import sla, sla_overrides
from support.attachments import AttachmentInput, attachments_check, attachments_store
from support.mail_outbound import reply_enqueue
from support.models import (
    TICKET_NUMBER_SEQUENCE,
    Channel,
    Kind,
    Priority,
    Severity,
    Status,
    Ticket,
    TicketEvent,
    TicketMessage,
)
from support.models_mail import MailHeader, TicketAttachment
from support.transitions import transition_error

# --- the SLA clock on a ticket ---------------------------------------------------------------


def _dues(
    ticket: Ticket, calendar: sla.BusinessCalendar, policy: sla_overrides.Targets | None
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """The due moments of the clocks not met yet: created + target + time paused, in business
    minutes (support.sla). A met clock keeps its due moment (reports compare against it)."""
    if policy is None:
        return None, None
    paused = ticket.sla_paused_minutes
    try:
        first = (
            ticket.first_response_due
            if ticket.first_responded_at
            else calendar.add(ticket.created_at, policy.first_response_minutes + paused)
        )
        resolution = (
            ticket.resolution_due
            if ticket.resolved_at
            else calendar.add(ticket.created_at, policy.resolution_minutes + paused)
        )
    except sla.NoBusinessHours:
        return None, None
    return first, resolution


def _clock_apply(
    ticket: Ticket,
    status: str,
    now: datetime.datetime,
    calendar: sla.BusinessCalendar,
    paused_in: frozenset[str],
) -> None:
    """Move `ticket` to `status` in memory, with what the clock and the timestamps do."""
    was_paused = ticket.sla_paused_since is not None
    # A resolved or closed ticket's clock stands still too: reopened, it runs on from where
    # it stood, without counting the time it was thought done.
    pauses = status in paused_in or status in (Status.RESOLVED, Status.CLOSED)
    if pauses and not was_paused:
        ticket.sla_paused_since = now
    elif was_paused and not pauses and ticket.sla_paused_since is not None:
        spent = max(0.0, calendar.minutes_between(ticket.sla_paused_since, now))
        ticket.sla_paused_minutes += round(spent)
        ticket.sla_paused_since = None
        ticket.first_response_due, ticket.resolution_due = _dues(
            ticket, calendar, sla_overrides.targets_kept(ticket)
        )
    if status == Status.RESOLVED:
        ticket.resolved_at = ticket.resolved_at or now
    elif status == Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    elif ticket.status in (Status.RESOLVED, Status.CLOSED):
        # Reopened: the resolution clock runs again from where it stood.
        ticket.resolved_at = None
        ticket.closed_at = None
        ticket.first_response_due, ticket.resolution_due = _dues(
            ticket, calendar, sla_overrides.targets_kept(ticket)
        )
    ticket.status = status


def _retarget(ticket: Ticket) -> None:
    """Decide the ticket's targets again (its customer or priority changed) and recompute
    the due moments not met; a paused clock gets them when it resumes (from the kept targets)."""
    targets = sla_overrides.targets_decide(customer_id=ticket.customer_id, priority=ticket.priority)
    sla_overrides.targets_record(ticket, targets)
    if ticket.sla_paused_since is None:
        ticket.first_response_due, ticket.resolution_due = _dues(
            ticket, sla.calendar_load(), targets
        )


def sla_due_of(ticket: Ticket) -> datetime.datetime | None:
    """The nearest due moment not met while the clock runs; None when paused or finished."""
    if ticket.status in (Status.RESOLVED, Status.CLOSED) or ticket.sla_paused_since is not None:
        return None
    dues = [
        due
        for due, met in (
            (ticket.first_response_due, ticket.first_responded_at),
            (ticket.resolution_due, ticket.resolved_at),
        )
        if due is not None and met is None
    ]
    return min(dues) if dues else None


def _save(ticket: Ticket) -> None:
    ticket.sla_due = sla_due_of(ticket)
    ticket.save()


def _event(ticket: Ticket, actor: User | None, kind: str, **data: Any) -> TicketEvent:
    return TicketEvent(ticket=ticket, actor=actor, kind=kind, data=data)


# --- create ----------------------------------------------------------------------------------


@dataclass
class TicketInput:
    subject: str
    description: str = ""
    customer: Customer | None = None
    requester_name: str = ""
    requester_email: str = ""
    requester_phone: str = ""
    channel: str = Channel.PHONE
    category: str = ""
    priority: str = Priority.NORMAL
    tags: list[str] = field(default_factory=list)
    kind: str = Kind.QUESTION
    severity: str = ""
    assignee: User | None = None
    team: Team | None = None
    # When the ticket was opened, if not now: an imported historic ticket (its SLA due
    # moments are computed from it).
    created_at: datetime.datetime | None = None


def _check_text(errors: dict[str, str], name: str, value: str) -> None:
    limit = max_length(Ticket, name)
    error = text_error(value, limit)
    if error:
        errors[name] = error


def _validated(data: TicketInput) -> TicketInput:
    errors: dict[str, str] = {}
    data.subject = data.subject.strip()
    if not data.subject:
        errors["subject"] = _("Say in a few words what the ticket is about.")
    for name in ("subject", "description", "requester_name", "category"):
        _check_text(errors, name, getattr(data, name))
    if data.channel not in Channel.values:
        errors["channel"] = _("Unknown channel.")
    if data.priority not in Priority.values:
        errors["priority"] = _("Unknown priority.")
    if data.kind not in Kind.values:
        errors["kind"] = _("Unknown type.")
    if data.severity and data.severity not in Severity.values:
        errors["severity"] = _("Unknown severity.")
    if data.kind != Kind.COMPLAINT:
        data.severity = ""
    data.requester_email = email_normalise(data.requester_email)
    if data.requester_phone.strip():
        try:
            data.requester_phone = phone_e164(data.requester_phone, tenant_phone_region())
        except InvalidPhone:
            errors["requester_phone"] = _("Enter a valid phone number.")
    else:
        data.requester_phone = ""
    data.tags = sorted({t.strip()[:50] for t in data.tags if t.strip()})
    if data.customer is None and not (data.requester_email or data.requester_phone):
        errors["customer"] = _("Choose the customer, or give the requester's email or phone.")
    if errors:
        raise ValidationError(errors)
    return data


def requester_match(*, email: str, phone: str) -> Customer | None:
    """The one customer the requester's email (or else phone) names; None when none does or
    several do (then staff link it by hand)."""
    for by, value in (("email", email), ("phone", phone)):
        if not value:
            continue
        ids = customers_find(by=by, values=[value]).get(value, [])
        if len(ids) == 1:
            return Customer.objects.get(pk=ids[0])
    return None


def _default_team(data: TicketInput, actor: User | None) -> Team | None:
    if data.team is not None:
        return data.team
    if data.customer is not None and data.customer.team_id:
        return data.customer.team
    if data.assignee is not None:
        teams = list(data.assignee.teams.all()[:2])
        if len(teams) == 1:
            return teams[0]
    if actor is not None:
        teams = list(actor.teams.all()[:2])
        if len(teams) == 1:
            return teams[0]
    return None


@writes
@transaction.atomic
def ticket_create(*, actor: User | None, data: TicketInput) -> Ticket:
    """A new ticket with its SLA due moments. A requester's email or phone links the customer
    it names (when exactly one does); the ticket's team is the one given, else the customer's,
    else the assignee's or the creator's only team."""
    data = _validated(data)
    if data.customer is not None and data.customer.erased_at is not None:
        raise ValidationError({"customer": _("This customer was erased.")})
    if data.customer is None:
        data.customer = requester_match(email=data.requester_email, phone=data.requester_phone)
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [TICKET_NUMBER_SEQUENCE])
        number = cursor.fetchone()[0]
    now = data.created_at or timezone.now()
    ticket = Ticket(
        number=number,
        subject=data.subject,
        description=data.description,
        customer=data.customer,
        requester_name=data.requester_name.strip(),
        requester_email=data.requester_email,
        requester_phone=data.requester_phone,
        channel=data.channel,
        category=data.category.strip(),
        priority=data.priority,
        tags=data.tags,
        kind=data.kind,
        severity=data.severity,
        assignee=data.assignee,
        team=_default_team(data, actor),
        created_at=now,
    )
    # The fastest override whose customer filter picks the customer, else the standard.
    targets = sla_overrides.targets_decide(customer_id=ticket.customer_id, priority=ticket.priority)
    ticket.first_response_due, ticket.resolution_due = _dues(ticket, sla.calendar_load(), targets)
    _save(ticket)
    sla_overrides.targets_record(ticket, targets)
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind="created", data={"channel": ticket.channel}
    )
    if ticket.customer is not None:
        timeline_event_add(
            actor=actor,
            customer=ticket.customer,
            event="ticket_opened",
            title=_("Ticket %(reference)s opened") % {"reference": ticket.reference},
            occurred_at=now,
        )
    return ticket


# --- conversation ----------------------------------------------------------------------------


def _body_checked(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationError({"body": _("Write the message first.")})
    error = text_error(body, None)
    if error:
        raise ValidationError({"body": error})
    return body


def _locked(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


@writes
@transaction.atomic
def ticket_reply(
    *,
    actor: User | None,
    ticket: Ticket,
    body: str,
    status: str | None = None,
    attachments: Sequence[AttachmentInput] = (),
) -> TicketMessage:
    """A public reply, with its attachments. It meets the first-response clock, moves a new
    ticket to open (or to `status`, through the transition table) and is stored pending; the
    outbound mailer (support.mail_outbound) emails it after the commit."""
    body = _body_checked(body)
    attachments_check(attachments)
    ticket = _locked(ticket)
    if ticket.status == Status.CLOSED:
        raise ValidationError({"body": _("This ticket is closed; open a new one instead.")})
    target = status or (Status.OPEN if ticket.status == Status.NEW else None)
    if target and target != ticket.status:
        error = transition_error(ticket.status, target)
        if error:
            raise ValidationError({"status": error})
    now = timezone.now()
    message = TicketMessage.objects.create(
        ticket=ticket,
        kind=TicketMessage.Kind.REPLY,
        author=actor,
        body=body,
        created_at=now,
        delivery=TicketMessage.Delivery.PENDING,
    )
    events = [_event(ticket, actor, "replied", message=message.pk)]
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
        events.append(_event(ticket, actor, "first_response"))
    if target and target != ticket.status:
        events.append(_event(ticket, actor, "status", before=ticket.status, after=target))
        _status_apply(ticket, target, now)
    _save(ticket)
    TicketEvent.objects.bulk_create(events)
    attachments_store(ticket=ticket, message=message, files=attachments)
    reply_enqueue(message.pk)
    return message


@writes
@transaction.atomic
def ticket_note(
    *,
    actor: User | None,
    ticket: Ticket,
    body: str,
    attachments: Sequence[AttachmentInput] = (),
) -> TicketMessage:
    """An internal note, with its attachments: staff only, never sent, no effect on the
    clock."""
    body = _body_checked(body)
    attachments_check(attachments)
    ticket = _locked(ticket)
    message = TicketMessage.objects.create(
        ticket=ticket, kind=TicketMessage.Kind.NOTE, author=actor, body=body
    )
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind="noted", data={"message": message.pk}
    )
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
    attachments_store(ticket=ticket, message=message, files=attachments)
    return message


# --- status, assignment, details -------------------------------------------------------------


def _status_apply(ticket: Ticket, status: str, now: datetime.datetime) -> None:
    settings = sla.support_settings()
    _clock_apply(
        ticket,
        status,
        now,
        sla.calendar_load(),
        sla.paused_statuses(pause_on_hold=settings.pause_on_hold),
    )


def _resolved_on_timeline(ticket: Ticket, actor: User | None) -> None:
    if ticket.customer_id is not None and ticket.status == Status.RESOLVED:
        timeline_event_add(
            actor=actor,
            customer=ticket.customer,  # type: ignore[arg-type]
            event="ticket_resolved",
            title=_("Ticket %(reference)s resolved") % {"reference": ticket.reference},
        )


@writes
@transaction.atomic
def ticket_status_set(*, actor: User | None, ticket: Ticket, status: str) -> Ticket:
    """Move the ticket to `status` if the transition table allows it; a refused move raises
    ValidationError and changes nothing."""
    ticket = _locked(ticket)
    if status == ticket.status:
        return ticket
    error = transition_error(ticket.status, status)
    if error:
        raise ValidationError({"status": error})
    before = ticket.status
    _status_apply(ticket, status, timezone.now())
    _save(ticket)
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind="status", data={"before": before, "after": status}
    )
    _resolved_on_timeline(ticket, actor)
    return ticket


_UNCHANGED: Any = object()


@writes
@transaction.atomic
def ticket_assign(
    *, actor: User | None, ticket: Ticket, assignee: User | None, team: Any = _UNCHANGED
) -> Ticket:
    """Give the ticket to `assignee` (None: unassigned) and, when given, to `team`."""
    ticket = _locked(ticket)
    if assignee is not None and not assignee.is_active:
        raise ValidationError({"assignee": _("This staff member is deactivated.")})
    data: dict[str, Any] = {}
    if ticket.assignee_id != (assignee.pk if assignee else None):
        data["assignee"] = [ticket.assignee_id, assignee.pk if assignee else None]
        ticket.assignee = assignee
    if team is not _UNCHANGED and ticket.team_id != (team.pk if team else None):
        data["team"] = [ticket.team_id, team.pk if team else None]
        ticket.team = team
    if data:
        _save(ticket)
        TicketEvent.objects.create(ticket=ticket, actor=actor, kind="assigned", data=data)
    return ticket


@dataclass
class TicketDetails:
    priority: str
    category: str = ""
    tags: list[str] = field(default_factory=list)
    kind: str = Kind.QUESTION
    severity: str = ""
    root_cause: str = ""
    resolution: str = ""
    compensation: str = ""


@writes
@transaction.atomic
def ticket_details_set(*, actor: User | None, ticket: Ticket, details: TicketDetails) -> Ticket:
    """Priority, category, tags and the complaint's fields. A new priority recomputes the due
    moments not met yet from the new policy."""
    ticket = _locked(ticket)
    errors: dict[str, str] = {}
    if details.priority not in Priority.values:
        errors["priority"] = _("Unknown priority.")
    if details.kind not in Kind.values:
        errors["kind"] = _("Unknown type.")
    if details.severity and details.severity not in Severity.values:
        errors["severity"] = _("Unknown severity.")
    _check_text(errors, "category", details.category)
    for name in ("root_cause", "resolution", "compensation"):
        _check_text(errors, name, getattr(details, name))
    if errors:
        raise ValidationError(errors)
    complaint = details.kind == Kind.COMPLAINT
    changed = []
    values = {
        "priority": details.priority,
        "category": details.category.strip(),
        "tags": sorted({t.strip()[:50] for t in details.tags if t.strip()}),
        "kind": details.kind,
        "severity": details.severity if complaint else "",
        "root_cause": details.root_cause.strip() if complaint else "",
        "resolution": details.resolution.strip() if complaint else "",
        "compensation": details.compensation.strip() if complaint else "",
    }
    for name, value in values.items():
        if getattr(ticket, name) != value:
            changed.append(name)
            setattr(ticket, name, value)
    if not changed:
        return ticket
    if "priority" in changed:
        _retarget(ticket)
    _save(ticket)
    TicketEvent.objects.create(ticket=ticket, actor=actor, kind="details", data={"fields": changed})
    return ticket


@writes
@transaction.atomic
def ticket_watch(*, actor: User | None, ticket: Ticket, user: User, watching: bool) -> None:
    """Add or remove a watcher (told of changes once notifications are sent)."""
    if watching:
        ticket.watchers.add(user)
    else:
        ticket.watchers.remove(user)
    TicketEvent.objects.create(
        ticket=ticket, actor=actor, kind="watch" if watching else "unwatch", data={"user": user.pk}
    )


# --- merge -----------------------------------------------------------------------------------


@writes
@transaction.atomic
def ticket_merge(*, actor: User | None, keep: Ticket, drop: Ticket) -> Ticket:
    """Fold `drop` into `keep`: its messages move over, it is closed with a link to `keep`,
    and both histories say so. Watchers and tags are joined."""
    if keep.pk == drop.pk:
        raise ValidationError({"drop": _("A ticket cannot be merged into itself.")})
    first, second = sorted([keep.pk, drop.pk])
    locked = {t.pk: t for t in Ticket.objects.select_for_update().filter(pk__in=[first, second])}
    keep, drop = locked[keep.pk], locked[drop.pk]
    for ticket in (keep, drop):
        if ticket.status == Status.CLOSED:
            raise ValidationError(
                {"drop": _("%(reference)s is closed.") % {"reference": ticket.reference}}
            )
    if keep.customer_id and drop.customer_id and keep.customer_id != drop.customer_id:
        raise ValidationError({"drop": _("The two tickets belong to different customers.")})
    moved = TicketMessage.objects.filter(ticket=drop).update(ticket=keep)
    TicketAttachment.objects.filter(ticket=drop).update(ticket=keep)
    MailHeader.objects.filter(ticket=drop).update(ticket=keep)
    if drop.description:
        TicketMessage.objects.create(
            ticket=keep,
            kind=TicketMessage.Kind.NOTE,
            author=actor,
            body=_("Merged from %(reference)s: %(subject)s\n\n%(description)s")
            % {
                "reference": drop.reference,
                "subject": drop.subject,
                "description": drop.description,
            },
        )
    keep.tags = sorted(set(keep.tags) | set(drop.tags))
    if keep.customer_id is None and drop.customer_id is not None:
        keep.customer_id = drop.customer_id
        _retarget(keep)
    _save(keep)
    keep.watchers.add(*drop.watchers.all())
    now = timezone.now()
    _status_apply(drop, Status.CLOSED, now)
    drop.merged_into = keep
    _save(drop)
    TicketEvent.objects.bulk_create(
        [
            _event(keep, actor, "merged_in", other=drop.pk, messages=moved),
            _event(drop, actor, "merged_into", other=keep.pk),
        ]
    )
    return keep


# --- bulk ------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    changed: int
    refused: list[str]  # references whose transition was refused


@writes
@transaction.atomic
def tickets_bulk_assign(
    *, actor: User | None, tickets: Iterable[int], assignee: User | None, visible: Any
) -> BulkResult:
    """Assign many tickets in one statement. `visible`: the actor's ticket queryset (the
    ids are kept within it, so a forged id changes nothing)."""
    if assignee is not None and not assignee.is_active:
        raise ValidationError({"assignee": _("This staff member is deactivated.")})
    target = assignee.pk if assignee else None
    rows = list(
        visible.filter(pk__in=list(tickets))
        .exclude(assignee_id=target)
        .select_for_update()
        .values_list("pk", "assignee_id")
    )
    if not rows:
        return BulkResult(0, [])
    Ticket.objects.filter(pk__in=[pk for pk, _a in rows]).update(
        assignee_id=target, updated_at=timezone.now()
    )
    TicketEvent.objects.bulk_create(
        TicketEvent(ticket_id=pk, actor=actor, kind="assigned", data={"assignee": [before, target]})
        for pk, before in rows
    )
    return BulkResult(len(rows), [])


@writes
@transaction.atomic
def tickets_bulk_status(
    *, actor: User | None, tickets: Sequence[int], status: str, visible: Any
) -> BulkResult:
    """Move many tickets to `status`: those the transition table allows, in one UPDATE (the
    clock's new values computed per ticket); the others are named back, unchanged."""
    if status not in Status.values:
        raise ValidationError({"status": _("Unknown status.")})
    rows = list(visible.filter(pk__in=list(tickets)).exclude(status=status).select_for_update())
    allowed = [t for t in rows if transition_error(t.status, status) is None]
    sla_overrides.targets_preload(allowed)
    refused = [t.reference for t in rows if transition_error(t.status, status) is not None]
    if not allowed:
        return BulkResult(0, refused)
    now = timezone.now()
    settings = sla.support_settings()
    calendar = sla.calendar_load()
    paused_in = sla.paused_statuses(pause_on_hold=settings.pause_on_hold)
    events = []
    for ticket in allowed:
        events.append(_event(ticket, actor, "status", before=ticket.status, after=status))
        _clock_apply(ticket, status, now, calendar, paused_in)
        ticket.sla_due = sla_due_of(ticket)
        ticket.updated_at = now
    Ticket.objects.bulk_update(
        allowed,
        [
            "status",
            "sla_paused_since",
            "sla_paused_minutes",
            "first_response_due",
            "resolution_due",
            "sla_due",
            "resolved_at",
            "closed_at",
            "updated_at",
        ],
    )
    TicketEvent.objects.bulk_create(events)
    for ticket in allowed:
        _resolved_on_timeline(ticket, actor)
    return BulkResult(len(allowed), refused)
