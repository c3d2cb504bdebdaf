"""The tickets export kind: the queue's current filter (its query string, parsed by the queue's
own form, in the reader's scope), one row a ticket, newest first.

Set-based: the rows come from one `values_list` over the filtered tickets, with the message
count as a correlated subquery and whether the linked customer is in the reader's scope as an
EXISTS (a customer outside it is not named, by external id or by the requester's name and
contacts, as in the queue and on the ticket page), read through a server-side cursor. The
requester's email and phone are masked for readers without "see personal data"
(crm.accounts.masking), as on the ticket page; the command line (`user=None`) gets every ticket
unmasked. Codes (status, priority, type, channel) are written as stored, so the file imports
back through the tickets import kind.

An empty query string exports every ticket (every queue, every status); a query string from
the queue page means what the queue shows (no status filter: open work only)."""

import datetime
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts import capabilities as cap
from crm.accounts.masking import mask_email, mask_phone
from crm.accounts.permissions import can_view_personal_data
from crm.transfer.exporting import ExportKind, InvalidFilter, export_kind_register
from customers.selectors import visible_customers
from support import selectors, sla
from support.forms import QueueFilterForm
from support.models import Status, Ticket, TicketMessage, ticket_reference

HEADERS = (
    "reference",
    "subject",
    "status",
    "priority",
    "category",
    "type",
    "customer_external_id",
    "requester",
    "assignee",
    "team",
    "created",
    "first_response",
    "resolved",
    "sla_state",
    "message_count",
)

CHUNK = 2000


def _margin() -> datetime.timedelta:
    return datetime.timedelta(minutes=sla.support_settings().near_breach_minutes)


def ticket_query(params: QueryDict) -> selectors.TicketQuery:
    """The queue's filter from its query string, read by the queue's own form. One it cannot
    read (a team or assignee gone since, a status renamed) is refused, never exported
    unfiltered."""
    if not params:
        return selectors.TicketQuery(queue="all", status="any")
    form = QueueFilterForm(params, choices=selectors.staff_choices())
    if not form.is_valid():
        problems = [
            f"{form.fields[name].label}: {' '.join(str(e) for e in errors)}"
            for name, errors in form.errors.items()
            if name in form.fields
        ]
        raise InvalidFilter(
            _("The queue's filter cannot be read: %(problems)s") % {"problems": "; ".join(problems)}
        )
    queue = params.get("queue", "all")
    if queue not in selectors.QUEUES:
        raise InvalidFilter(_("Unknown queue: %(queue)s") % {"queue": queue[:30]})
    values = form.cleaned_data
    return selectors.TicketQuery(
        queue=queue,
        status=values.get("status") or "",
        priority=values.get("priority") or "",
        team_id=values.get("team"),
        assignee_id=values.get("assignee"),
        category=values.get("category") or "",
        text=values.get("q") or "",
        escalated=bool(values.get("escalated")),
    )


def _tickets(user: Any, params: QueryDict, now: datetime.datetime) -> QuerySet[Ticket]:
    return selectors.tickets_filtered(user, ticket_query(params), now=now, margin=_margin())


def _message_count() -> Subquery:
    return Subquery(
        TicketMessage.objects.filter(ticket=OuterRef("pk"))
        .order_by()
        .values("ticket")
        .annotate(n=Count("id"))
        .values("n"),
        output_field=IntegerField(),
    )


def sla_state(
    *,
    status: str,
    first_due: datetime.datetime | None,
    first_at: datetime.datetime | None,
    resolution_due: datetime.datetime | None,
    resolved_at: datetime.datetime | None,
    paused_since: datetime.datetime | None,
    sla_due: datetime.datetime | None,
    now: datetime.datetime,
    margin: datetime.timedelta,
) -> str:
    """ "breached" (a clock met late, or past due while running), else "met" (finished),
    "paused", "near_breach", "on_track"; "" without SLA targets."""
    if first_due is None and resolution_due is None:
        return ""
    finished = status in (Status.RESOLVED, Status.CLOSED)
    end = resolved_at if finished and resolved_at else (paused_since or now)

    def late(due: datetime.datetime | None, met: datetime.datetime | None) -> bool:
        return due is not None and (met or end) > due

    if late(first_due, first_at) or late(resolution_due, resolved_at):
        return "breached"
    if finished:
        return "met"
    if paused_since is not None:
        return "paused"
    if sla_due is not None and sla_due <= now + margin:
        return "near_breach"
    return "on_track"


def _stamp(moment: datetime.datetime | None) -> str:
    return timezone.localtime(moment).isoformat() if moment else ""


def tickets_export_rows(user: Any, params: QueryDict) -> Iterator[list[Any]]:
    now = timezone.now()
    margin = _margin()
    personal = user is None or can_view_personal_data(user)
    tickets = _tickets(user, params, now)
    in_scope = (
        Value(True)
        if user is None
        else Exists(visible_customers(user).filter(pk=OuterRef("customer_id")).values("pk"))
    )
    rows = (
        tickets.annotate(
            _ext=F("customer__external_id"),
            _in_scope=in_scope,
            _assignee=F("assignee__email"),
            _team=F("team__name"),
            _messages=Coalesce(_message_count(), 0),
        )
        .order_by("-id")
        .values_list(
            "number",
            "subject",
            "status",
            "priority",
            "category",
            "kind",
            "customer_id",
            "_ext",
            "_in_scope",
            "requester_name",
            "requester_email",
            "requester_phone",
            "_assignee",
            "_team",
            "created_at",
            "first_responded_at",
            "resolved_at",
            "first_response_due",
            "resolution_due",
            "sla_paused_since",
            "sla_due",
            "_messages",
        )
    )
    for (
        number,
        subject,
        status,
        priority,
        category,
        kind,
        customer_id,
        ext,
        in_scope,
        name,
        email,
        phone,
        assignee,
        team,
        created,
        first_at,
        resolved_at,
        first_due,
        resolution_due,
        paused_since,
        sla_due,
        messages,
    ) in rows.iterator(chunk_size=CHUNK):
        if customer_id is not None and not in_scope:
            # As the queue and the ticket page: a customer outside the reader's records is
            # not named, neither by external id nor by the requester's name and contacts.
            ext = name = email = phone = ""
        elif not personal:
            email = mask_email(email) if email else ""
            phone = mask_phone(phone) if phone else ""
        requester = " ".join(part for part in (name, f"<{email}>" if email else "", phone) if part)
        yield [
            ticket_reference(number),
            subject,
            status,
            priority,
            category,
            kind,
            ext or "",
            requester,
            assignee or "",
            team or "",
            _stamp(created),
            _stamp(first_at),
            _stamp(resolved_at),
            sla_state(
                status=status,
                first_due=first_due,
                first_at=first_at,
                resolution_due=resolution_due,
                resolved_at=resolved_at,
                paused_since=paused_since,
                sla_due=sla_due,
                now=now,
                margin=margin,
            ),
            messages,
        ]


def tickets_export_count(user: Any, params: QueryDict) -> int | None:
    return _tickets(user, params, timezone.now()).order_by().count()


def register() -> None:
    export_kind_register(
        ExportKind(
            key="tickets",
            label=gettext_lazy("Tickets"),
            capability=cap.EXPORT,
            headers=HEADERS,
            rows_for=tickets_export_rows,
            estimated_count=tickets_export_count,
        )
    )
