"""Reads of tickets for the queues, the ticket page and the customer page. Every one applies
the reader's record scope: a ticket is in scope through its assignee and its team
(crm.accounts.permissions.scope_filter), as customers are through their owner and team."""

import base64
import datetime
import json
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.accounts.models import RecordScope, Team, User
from crm.accounts.permissions import record_scope, scope_filter
from crm.lib.columns import INT64_MAX
from customers.models import Customer, Order
from customers.selectors import visible_customers
from support.models import (
    CannedResponse,
    SlaNotice,
    Status,
    Ticket,
    TicketEvent,
    TicketMessage,
)
from support.ticket_actions import action_history_text

FINISHED = (Status.RESOLVED, Status.CLOSED)
QUEUES = ("mine", "unassigned", "near", "all")


def reader_scope(user: Any) -> str:
    """The user's record scope, read once per user object (a request's user): the queue asks
    for it for its page, its badges, its alerts and the customers' names."""
    cached = getattr(user, "_support_record_scope", None)
    if cached is None:
        cached = record_scope(user)
        user._support_record_scope = cached
    return str(cached)


def visible_tickets(user: Any, *, scope: str | None = None) -> QuerySet[Ticket]:
    return Ticket.objects.filter(
        scope_filter(
            user,
            owner_field="assignee",
            team_field="team",
            scope=scope or reader_scope(user),
        )
    )


def ticket_scope_sql(user: Any, column: str, *, scope: str | None = None) -> tuple[str, list[Any]]:
    """For raw SQL (the dashboard's ticket panel): " AND <column> IN (...)" limiting `column`, a
    ticket id, to the tickets `user` may see, with its parameters: visible_tickets compiled, so
    the queues and the reports share one definition of scope; ("", []) when the user sees every
    ticket. `scope`: the user's record scope when the caller already read it."""
    scope = scope or reader_scope(user)
    if scope == RecordScope.ALL:
        return "", []
    sql, params = visible_tickets(user, scope=scope).values("pk").query.sql_with_params()
    return f" AND {column} IN ({sql})", list(params)


def ticket_for(user: Any, pk: int) -> Ticket:
    """One ticket the user may see; Ticket.DoesNotExist otherwise (a 404 to the view)."""
    return (
        visible_tickets(user)
        # sla_applied: which targets the ticket got (support.sla_overrides), and whether the
        # reader may see its customer, in the same query.
        .select_related("customer", "assignee", "team", "merged_into", "sla_applied")
        .annotate(
            customer_in_scope=Exists(
                visible_customers(user, scope=reader_scope(user))
                .filter(pk=OuterRef("customer_id"))
                .values("pk")
            )
        )
        .get(pk=pk)
    )


@dataclass(frozen=True)
class TicketQuery:
    queue: str = "all"
    status: str = ""  # "" open work (not resolved or closed), "any", or one status
    priority: str = ""
    team_id: int | None = None
    assignee_id: int | None = None
    category: str = ""
    text: str = ""  # a reference ("T-000123", "123") or part of the subject
    escalated: bool = False  # only complaints escalated to the managers


def near_breach_condition(now: datetime.datetime, margin: datetime.timedelta) -> Q:
    """Unfinished, running clock, a due moment not met that falls within `margin` (or passed):
    Ticket.sla_due, kept by support.services, says all of it."""
    return Q(sla_due__lte=now + margin)


def _filtered(tickets: QuerySet[Ticket], user: Any, query: TicketQuery) -> QuerySet[Ticket]:
    if query.status == "any":
        pass
    elif query.status in Status.values:
        tickets = tickets.filter(status=query.status)
    else:
        tickets = tickets.exclude(status__in=FINISHED)
    if query.priority:
        tickets = tickets.filter(priority=query.priority)
    if query.team_id is not None:
        tickets = tickets.filter(team_id=query.team_id)
    if query.assignee_id is not None:
        tickets = tickets.filter(assignee_id=query.assignee_id)
    if query.category:
        tickets = tickets.filter(category=query.category)
    if query.escalated:
        tickets = tickets.filter(escalated_at__isnull=False)
    text = query.text.strip()
    if text:
        number = number_from_reference(text)
        subject = Q(subject__icontains=text) if len(text) >= 2 else Q(pk__in=[])
        tickets = tickets.filter(subject | Q(number=number) if number is not None else subject)
    if query.queue == "mine":
        tickets = tickets.filter(assignee_id=user.pk)
    elif query.queue == "unassigned":
        tickets = tickets.filter(assignee__isnull=True)
    return tickets


def tickets_filtered(
    user: Any, query: TicketQuery, *, now: datetime.datetime, margin: datetime.timedelta
) -> QuerySet[Ticket]:
    """Every ticket of a queue with its filters, in the reader's scope (the queue's pages and
    the tickets export read the same rule); unordered. `user` None (the operator's command
    line): every ticket, and "mine" means nobody's in particular (all)."""
    if user is None:
        tickets = _filtered(Ticket.objects.all(), user, replace(query, queue="all"))
        if query.queue == "unassigned":
            tickets = tickets.filter(assignee__isnull=True)
    else:
        tickets = _filtered(visible_tickets(user), user, query)
    if query.queue == "near":
        tickets = tickets.filter(near_breach_condition(now, margin))
    return tickets


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str, *, by_due: bool) -> tuple[Any, ...] | None:
    """The position a cursor names; None for anything not made by _encode for this order."""
    if not cursor or len(cursor) > 200:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or not values:
        return None
    pk = values[-1]
    if type(pk) is not int or not 0 < pk <= INT64_MAX:
        return None
    if not by_due:
        return (pk,) if len(values) == 1 else None
    if len(values) != 2 or not isinstance(values[0], str):
        return None
    try:
        due = datetime.datetime.fromisoformat(values[0])
    except ValueError:
        return None
    return (due, pk) if due.tzinfo else None


@dataclass
class TicketRow:
    ticket: Ticket
    due: datetime.datetime | None  # the nearest due moment not met
    clock: str  # "first_response", "resolution", "paused" or ""
    overdue: bool
    near: bool
    left: str  # "2 h 10 min left", "overdue 35 min", "paused"


def _span_text(delta: datetime.timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": minutes}


def sla_row(ticket: Ticket, now: datetime.datetime, margin: datetime.timedelta) -> TicketRow:
    """What the queue says about a ticket's clock."""
    if ticket.status in FINISHED:
        return TicketRow(ticket, None, "", False, False, "")
    if ticket.sla_paused_since is not None:
        return TicketRow(ticket, None, "paused", False, False, _("paused"))
    if ticket.first_responded_at is None and ticket.first_response_due is not None:
        due, clock = ticket.first_response_due, "first_response"
    elif ticket.resolution_due is not None:
        due, clock = ticket.resolution_due, "resolution"
    else:
        return TicketRow(ticket, None, "", False, False, "")
    left = due - now
    if left.total_seconds() < 0:
        text = _("overdue %(span)s") % {"span": _span_text(left)}
        return TicketRow(ticket, due, clock, True, True, text)
    text = _("%(span)s left") % {"span": _span_text(left)}
    return TicketRow(ticket, due, clock, False, left <= margin, text)


@dataclass
class TicketPage:
    rows: list[TicketRow]
    next_cursor: str | None


def ticket_page(
    user: Any,
    query: TicketQuery,
    *,
    after: str = "",
    size: int = 50,
    margin: datetime.timedelta = datetime.timedelta(hours=1),
    now: datetime.datetime | None = None,
) -> TicketPage:
    """One page of a queue in one query: keyset pagination (no COUNT, no OFFSET), newest first;
    the near-breach queue by due moment, soonest first."""
    now = now or timezone.now()
    tickets = _filtered(_queue_base(user, query.queue), user, query)
    by_due = query.queue == "near"
    position = _decode(after, by_due=by_due) if after else None
    if by_due:
        tickets = tickets.filter(near_breach_condition(now, margin))
        if position:
            due, pk = position
            tickets = tickets.filter(Q(sla_due__gt=due) | Q(sla_due=due, id__gt=pk))
        tickets = tickets.order_by("sla_due", "id")
    else:
        if position:
            tickets = tickets.filter(id__lt=position[0])
        tickets = tickets.order_by("-id")
    found = list(
        tickets.select_related("customer", "assignee", "team").only(
            "id",
            "number",
            "subject",
            "status",
            "priority",
            "category",
            "kind",
            "escalated_at",
            "created_at",
            "first_response_due",
            "resolution_due",
            "sla_due",
            "first_responded_at",
            "sla_paused_since",
            "requester_name",
            "customer__id",
            "customer__name",
            "assignee__id",
            "assignee__full_name",
            "assignee__email",
            "team__id",
            "team__name",
        )[: size + 1]
    )
    more = len(found) > size
    found = found[:size]
    customers_mark_in_scope(user, found)
    cursor = None
    if more:
        last = found[-1]
        if by_due:
            due_text = last.sla_due.isoformat() if last.sla_due else None
            cursor = _encode([due_text, last.pk]) if due_text else None
        else:
            cursor = _encode([last.pk])
    return TicketPage([sla_row(t, now, margin) for t in found], cursor)


# A queue's badge counts this many tickets at most ("999+"): a badge, not a report, and an
# exact COUNT of a large queue would cost more than the page itself.
BADGE_CAP = 1000


def _queue_base(user: Any, queue: str) -> QuerySet[Ticket]:
    """The tickets a queue starts from. A reader's own tickets are within every record scope
    (scope_filter always keeps the owner's), so "mine" skips the scope's OR, which would keep
    the planner from the (assignee, id) index of open work."""
    if queue == "mine":
        return Ticket.objects.filter(assignee_id=user.pk)
    return visible_tickets(user)


def customers_mark_in_scope(user: Any, tickets: list[Ticket]) -> None:
    """Mark each ticket's `customer_in_scope`: a linked customer outside the reader's scope is
    not named (the row says so instead). One pk lookup for the page's customers, none for a
    reader who sees every customer (a correlated EXISTS per row was planned as a scan of every
    customer the reader may see: bench/support.py)."""
    # None: the command line or a task, which see every customer.
    scope = RecordScope.ALL if user is None else reader_scope(user)
    ids = {t.customer_id for t in tickets if t.customer_id is not None}
    if scope == RecordScope.ALL or not ids:
        shown = ids
    else:
        shown = set(
            visible_customers(user, scope=scope).filter(pk__in=ids).values_list("pk", flat=True)
        )
    for ticket in tickets:
        ticket.customer_in_scope = ticket.customer_id in shown  # type: ignore[attr-defined]


def queue_counts(user: Any, margin: datetime.timedelta) -> dict[str, int | str]:
    """How many open tickets each queue holds, each count stopping at BADGE_CAP: one query of
    three LIMITed subqueries (the open-work partial indexes serve them)."""
    from django.db import connection

    now = timezone.now()
    open_work = visible_tickets(user).exclude(status__in=FINISHED)
    parts = {
        "mine": _queue_base(user, "mine").exclude(status__in=FINISHED),
        "unassigned": open_work.filter(assignee__isnull=True),
        "near": open_work.filter(near_breach_condition(now, margin)),
    }
    selects: list[str] = []
    params: list[Any] = []
    for queryset in parts.values():
        # No ORDER BY: the count may stop at any BADGE_CAP rows, through any index.
        sql, found = queryset.order_by().values("id")[:BADGE_CAP].query.sql_with_params()
        selects.append(f"(SELECT count(*) FROM ({sql}) AS capped)")  # noqa: S608 (compiled ORM)
        params.extend(found)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(selects)}", params)
        row = cursor.fetchone()
    return {
        key: f"{BADGE_CAP - 1}+" if value >= BADGE_CAP else int(value)
        for key, value in zip(parts, row, strict=True)
    }


@dataclass
class StaffChoices:
    staff: list[tuple[int, str]]
    teams: list[tuple[int, str]]


def staff_choices() -> StaffChoices:
    staff = [
        (u.pk, u.full_name or u.email)
        for u in User.objects.filter(is_active=True).only("id", "full_name", "email")
    ]
    return StaffChoices(
        staff=sorted(staff, key=lambda s: s[1].casefold()),
        teams=list(Team.objects.values_list("id", "name")),
    )


CATEGORIES_CACHE_SECONDS = 300


def categories() -> list[str]:
    """Categories in use, for the forms' suggestions and the queue filter: remembered for a
    few minutes per tenant (a DISTINCT over every ticket would cost more than the queue page;
    a new category shows in the suggestions a little later)."""
    from django.core.cache import cache

    def read() -> list[str]:
        return list(
            Ticket.objects.exclude(category="")
            .order_by("category")
            .values_list("category", flat=True)
            .distinct()[:200]
        )

    return list(cache.get_or_set("support:categories", read, CATEGORIES_CACHE_SECONDS) or [])


@dataclass
class CustomerContext:
    customer: Customer | None  # None: no customer linked, or one outside the reader's scope
    hidden: bool  # a customer is linked but outside the reader's scope
    orders: list[Order]
    tickets: list[Ticket]
    # Registered items (support.customer_context): tier, points, segment, churn flags...
    extras: list[Any] = field(default_factory=list)


def customer_context(user: Any, ticket: Ticket) -> CustomerContext:
    """What the ticket page shows beside the conversation: the customer (if the reader may see
    them), their latest orders and their other tickets within the reader's scope."""
    if ticket.customer_id is None:
        return CustomerContext(None, False, [], [])
    customer = visible_customers(user).filter(pk=ticket.customer_id).first()
    if customer is None:
        return CustomerContext(None, True, [], [])
    orders = list(customer.orders.all()[:5])
    others = list(
        visible_tickets(user)
        .filter(customer=customer)
        .exclude(pk=ticket.pk)
        .only("id", "number", "subject", "status", "created_at")
        .order_by("-id")[:5]
    )
    return CustomerContext(customer, False, orders, others)


def conversation(ticket: Ticket) -> list[TicketMessage]:
    return list(ticket.messages.select_related("author"))


EVENT_LABELS = {
    "created": gettext_lazy("opened the ticket"),
    "replied": gettext_lazy("replied"),
    "first_response": gettext_lazy("first response given"),
    "noted": gettext_lazy("added an internal note"),
    "status": gettext_lazy("changed the status"),
    "assigned": gettext_lazy("changed the assignment"),
    "details": gettext_lazy("changed the details"),
    "watch": gettext_lazy("started watching"),
    "unwatch": gettext_lazy("stopped watching"),
    "merged_in": gettext_lazy("merged another ticket into this one"),
    "merged_into": gettext_lazy("merged this ticket into another"),
    "imported": gettext_lazy("imported the ticket"),
    # Email (support.mail_outbound, support.mail_inbound).
    "emailed": gettext_lazy("emailed a reply to the customer"),
    "email_failed": gettext_lazy("could not email a reply"),
    "email_retry": gettext_lazy("asked to send a reply again"),
    "email_unaddressed": gettext_lazy("kept a reply unsent: no email address"),
    "customer_wrote": gettext_lazy("received an email from the customer"),
    "follow_up_of": gettext_lazy("opened by an email to a closed ticket"),
    "follow_up": gettext_lazy("an email to this closed ticket opened a new one"),
    "customer": gettext_lazy("linked the customer"),
    # Complaints (support.complaint_services).
    "escalated": gettext_lazy("escalated the complaint to the team's managers"),
    "action": gettext_lazy("ran an action"),
}


def history(ticket: Ticket, choices: StaffChoices | None = None) -> list[TicketEvent]:
    """The ticket's events, each with the `text` the history shows (with the names of the
    staff and teams an assignment named, from `choices`)."""
    names = dict(choices.staff) if choices else {}
    teams = dict(choices.teams) if choices else {}
    events = list(ticket.events.select_related("actor"))
    for event in events:
        text = str(EVENT_LABELS.get(event.kind, event.kind))
        if event.kind == "status":
            before, after = event.data.get("before"), event.data.get("after")
            if before in Status.values and after in Status.values:
                text = f"{text}: {Status(before).label} → {Status(after).label}"
        elif event.kind == "action":
            text = action_history_text(event.data)
        elif event.kind == "assigned":
            parts = []
            if "assignee" in event.data:
                pk = event.data["assignee"][1]
                parts.append(names.get(pk, "—") if pk else str(_("Unassigned")))
            if "team" in event.data:
                pk = event.data["team"][1]
                parts.append(teams.get(pk, "—") if pk else str(_("No team")))
            if parts:
                text = f"{text}: {' · '.join(parts)}"
        event.text = text  # type: ignore[attr-defined]
    return events


def next_ticket(user: Any, ticket: Ticket) -> Ticket | None:
    """The next ticket of the reader's open work after this one (j / n on the ticket page):
    their own, then the unassigned ones, newest first, wrapping around."""
    mine = visible_tickets(user).exclude(status__in=FINISHED).exclude(pk=ticket.pk)
    mine = mine.filter(Q(assignee_id=user.pk) | Q(assignee__isnull=True)).only("id", "number")
    return mine.filter(id__lt=ticket.pk).order_by("-id").first() or mine.order_by("-id").first()


def customer_tickets(user: Any, customer: Customer, *, size: int = 20) -> list[Ticket]:
    """The customer page's Tickets tab: their tickets within the reader's scope."""
    return list(
        visible_tickets(user)
        .filter(customer=customer)
        .select_related("assignee")
        .order_by("-id")[:size]
    )


def number_from_reference(text: str) -> int | None:
    """The ticket number in "T-000123", "t123" or "123"; None for anything else."""
    text = text.strip().upper().removeprefix("T-").removeprefix("T")
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def sla_notices_for(user: Any, *, size: int = 5) -> list[SlaNotice]:
    """The reader's latest SLA notices (warnings, breaches, escalations) on tickets they may
    still see and that are not finished: one query."""
    return list(
        SlaNotice.objects.filter(
            recipient_id=user.pk,
            ticket__in=visible_tickets(user).exclude(status__in=FINISHED).values("pk"),
        )
        .select_related("ticket")
        .only(
            "id",
            "clock",
            "level",
            "due_at",
            "created_at",
            "ticket__id",
            "ticket__number",
            "ticket__subject",
        )
        .order_by("-created_at", "-id")[:size]
    )


def canned_responses() -> list[CannedResponse]:
    return list(CannedResponse.objects.all())
