"""What the queue and the ticket page read besides their main rows, in as few statements as
bench/support.py's goal (at most 8 queries a page) allows: each function below is ONE query
of scalar subqueries, built from the same querysets (and so the same scope rules) the
selectors use, returned as JSON and turned back into light model instances for the
templates."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from crm.accounts.models import Team, User
from customers.models import CustomerEmail, Order
from support.customer_context import context_values, ticket_context_items
from support.models import (
    CannedResponse,
    MailHeader,
    Status,
    SupportSettings,
    Ticket,
    TicketAttachment,
    TicketSavedView,
)
from support.selectors import FINISHED, CustomerContext, StaffChoices, visible_tickets
from support.sla import support_settings

# Order amounts come back from JSON as floats (16000.0): shown as money again.
CENTS = Decimal("0.01")


def _json_rows(queryset: QuerySet[Any]) -> tuple[str, list[Any]]:
    """A subquery giving the queryset's rows as a JSON array of objects (keys: its values())."""
    sql, params = queryset.query.sql_with_params()
    subquery = f"(SELECT coalesce(json_agg(row_to_json(r)), '[]') FROM ({sql}) AS r)"  # noqa: S608
    return subquery, list(params)


def _one(parts: list[tuple[str, list[Any]]]) -> list[Any]:
    selects = ", ".join(sql for sql, _params in parts)
    params = [p for _sql, found in parts for p in found]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {selects}", params)
        row = cursor.fetchone()
    return [json.loads(v) if isinstance(v, str) else v for v in row]


@dataclass
class ReferenceData:
    choices: StaffChoices
    canned: list[CannedResponse]
    settings: SupportSettings
    saved_views: list[TicketSavedView] = field(default_factory=list)


def reference_data(*, with_canned: bool = False, views_for: Any = None) -> ReferenceData:
    """Active staff and teams (the forms' choices), canned responses (when asked for), the
    support settings and the saved queue views `views_for` may open (theirs and the shared
    ones, when asked for): one query."""
    parts = [
        _json_rows(User.objects.filter(is_active=True).values("id", "full_name", "email")),
        _json_rows(Team.objects.order_by("name").values("id", "name")),
        _json_rows(CannedResponse.objects.values("id", "title", "body"))
        if with_canned
        else ("'[]'::json", []),
        _json_rows(
            SupportSettings.objects.filter(id=1).values(
                "id", "holiday_country", "near_breach_minutes", "pause_on_hold"
            )
        ),
        _json_rows(
            TicketSavedView.objects.filter(Q(user_id=views_for.pk) | Q(shared=True))
            .order_by("name", "id")
            .values("id", "user_id", "name", "query", "shared")[:100]
        )
        if views_for is not None
        else ("'[]'::json", []),
    ]
    staff_rows, team_rows, canned_rows, settings_rows, view_rows = _one(parts)
    staff = sorted(
        ((r["id"], r["full_name"] or r["email"]) for r in staff_rows),
        key=lambda s: s[1].casefold(),
    )
    settings = SupportSettings(**settings_rows[0]) if settings_rows else support_settings()
    return ReferenceData(
        choices=StaffChoices(staff=staff, teams=[(r["id"], r["name"]) for r in team_rows]),
        canned=[CannedResponse(**r) for r in canned_rows],
        settings=settings,
        saved_views=[TicketSavedView(**r) for r in view_rows],
    )


@dataclass
class TicketMailData:
    """What the ticket page shows of email (support.views_mail.ticket_mail_context): the
    attachments by message id (None: the opening email's), each inbound message's sender and a
    reply's last delivery error by message id, and whether a reply has an address to go to."""

    files: dict[int | None, list[TicketAttachment]]
    headers: dict[int, tuple[str, str]]
    reply_emailed: bool


@dataclass
class TicketSide:
    watchers: list[User]
    watching: bool
    next_ticket: Ticket | None
    context: CustomerContext
    mail: TicketMailData


def _moment(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def ticket_side(user: Any, ticket: Ticket, *, customer_in_scope: bool) -> TicketSide:
    """The ticket page's side: its watchers, the reader's next ticket, and the customer's
    latest orders and other tickets in the reader's scope: one query. `customer_in_scope`
    comes with the ticket (support.selectors.ticket_for)."""
    mine = visible_tickets(user).exclude(status__in=FINISHED).exclude(pk=ticket.pk)
    mine = mine.filter(Q(assignee_id=user.pk) | Q(assignee__isnull=True))
    parts = [
        _json_rows(User.objects.filter(watched_tickets=ticket).values("id", "full_name", "email")),
        _json_rows(mine.filter(id__lt=ticket.pk).order_by("-id").values("id", "number")[:1]),
        _json_rows(mine.order_by("-id").values("id", "number")[:1]),
        # Email: attachments, inbound senders and delivery errors, a reply's address.
        _json_rows(
            TicketAttachment.objects.filter(ticket=ticket)
            .order_by("id")
            .values("id", "message_id", "filename", "size")
        ),
        _json_rows(
            MailHeader.objects.filter(ticket=ticket, message__isnull=False).values(
                "message_id", "sender", "last_error"
            )
        ),
        _json_rows(
            CustomerEmail.objects.filter(customer_id=ticket.customer_id)
            .order_by("-is_primary", "id")
            .values("email")[:1]
        )
        if ticket.customer_id is not None and not ticket.requester_email
        else ("'[]'::json", []),
    ]
    customer_id = ticket.customer_id
    # The registered context items ride in the same query, one JSON subquery each.
    items = ticket_context_items(user) if customer_id is not None and customer_in_scope else []
    if customer_id is not None and customer_in_scope:
        parts += [
            _json_rows(
                Order.objects.filter(customer_id=customer_id).values(
                    "id", "number", "amount", "currency", "ordered_at"
                )[:5]
            ),
            _json_rows(
                visible_tickets(user)
                .filter(customer_id=customer_id)
                .exclude(pk=ticket.pk)
                .order_by("-id")
                .values("id", "number", "subject", "status", "created_at")[:5]
            ),
        ]
        parts += [_json_rows(item.rows([customer_id])) for item in items]
    found = _one(parts)
    watchers = [User(**r) for r in found[0]]
    following = found[1] or found[2]
    next_ticket = Ticket(**following[0]) if following else None
    files: dict[int | None, list[TicketAttachment]] = {}
    for r in found[3]:
        files.setdefault(r["message_id"], []).append(TicketAttachment(ticket=ticket, **r))
    mail = TicketMailData(
        files=files,
        headers={r["message_id"]: (r["sender"], r["last_error"]) for r in found[4]},
        reply_emailed=bool(ticket.requester_email or found[5]),
    )
    found = found[:3] + found[6:]
    if ticket.customer_id is None:
        context = CustomerContext(None, False, [], [])
    elif not customer_in_scope:
        context = CustomerContext(None, True, [], [])
    else:
        orders = [
            Order(
                id=r["id"],
                number=r["number"],
                amount=Decimal(str(r["amount"])).quantize(CENTS),
                currency=r["currency"],
                ordered_at=_moment(r["ordered_at"]),
            )
            for r in found[3]
        ]
        others = [
            Ticket(
                id=r["id"],
                number=r["number"],
                subject=r["subject"],
                status=r["status"] if r["status"] in Status.values else Status.OPEN,
                created_at=_moment(r["created_at"]),
            )
            for r in found[4]
        ]
        extras = context_values(items, found[5:], ticket.customer_id)
        context = CustomerContext(ticket.customer, False, orders, others, extras)
    return TicketSide(
        watchers=watchers,
        watching=any(w.pk == user.pk for w in watchers),
        next_ticket=next_ticket,
        context=context,
        mail=mail,
    )
