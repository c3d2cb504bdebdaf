"""The segment fields analytics knows from the apps below it: the customer's own columns
(customers.schema), tags, custom fields, lifecycle stage, orders, the loyalty account (tier,
points) and tickets (open tickets, recent complaints). RFM, churn and feedback fields register
beside these when those parts are merged."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils.translation import gettext_lazy as _

from analytics.segment_fields import (
    SegmentField,
    as_of,
    day_start,
    segment_field_provider_register,
    segment_field_register,
)
from customers import schema
from customers.custom_fields import CustomFilter, custom_filter, field_definitions
from customers.models import Customer, CustomField, Order
from loyalty.models import Account, Tier
from support.models import Kind as TicketKind
from support.models import Status as TicketStatus
from support.models import Ticket

TEXT_OPS = ("eq", "ne", "contains", "empty", "present")
CHOICE_OPS = ("eq", "ne", "empty", "present")
NUMBER_OPS = ("gte", "lte", "eq")
DATE_OPS = ("after", "before", "within_days")
TAG_OPS = ("has", "lacks")
OPEN_STATUSES = [
    s.value for s in TicketStatus if s not in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
]

GROUP_CUSTOMER = _("Customer")
GROUP_CUSTOM = _("Custom fields")
GROUP_ORDERS = _("Orders")
GROUP_LOYALTY = _("Loyalty")
GROUP_SUPPORT = _("Support")


def _text_q(column: str) -> Any:
    def to_q(op: str, value: Any) -> Q:
        if op == "eq":
            return Q(**{f"{column}__iexact": value})
        if op == "ne":
            return ~Q(**{f"{column}__iexact": value})
        if op == "contains":
            return Q(**{f"{column}__icontains": value})
        if op == "empty":
            return Q(**{column: ""})
        if op == "present":
            return ~Q(**{column: ""})
        raise ValueError(op)

    return to_q


def _choice_q(column: str) -> Any:
    def to_q(op: str, value: Any) -> Q:
        if op == "eq":
            return Q(**{column: value})
        if op == "ne":
            return ~Q(**{column: value})
        if op == "empty":
            return Q(**{column: ""})
        if op == "present":
            return ~Q(**{column: ""})
        raise ValueError(op)

    return to_q


def _compare(expression: Any, op: str, value: Any) -> Q:
    if op == "gte":
        return Q(GreaterThanOrEqual(expression, value))
    if op == "lte":
        return Q(LessThanOrEqual(expression, value))
    if op == "eq":
        return Q(GreaterThanOrEqual(expression, value)) & Q(LessThanOrEqual(expression, value))
    raise ValueError(op)


def _date_q(column: str) -> Any:
    """Dates and moments: on or after, on or before, or within the last N days of as_of()."""

    def to_q(op: str, value: Any) -> Q:
        if op == "within_days":
            start = as_of() - datetime.timedelta(days=value - 1)
            end = as_of() + datetime.timedelta(days=1)
            return Q(**{f"{column}__gte": day_start(start), f"{column}__lt": day_start(end)})
        if op == "after":
            return Q(**{f"{column}__gte": day_start(value)})
        if op == "before":
            return Q(**{f"{column}__lt": day_start(value + datetime.timedelta(days=1))})
        raise ValueError(op)

    return to_q


def _tags_q(op: str, value: Any) -> Q:
    has = Q(tags__contains=[value])
    return has if op == "has" else ~has


# --- orders ---------------------------------------------------------------------------------


def _completed_orders() -> Any:
    return Order.objects.filter(
        customer_id=OuterRef("pk"), status=Order.Status.COMPLETED
    ).order_by()


def _order_count() -> Any:
    counted = _completed_orders().values("customer_id").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _order_total() -> Any:
    total = _completed_orders().values("customer_id").annotate(t=Sum("amount")).values("t")
    return Coalesce(
        Subquery(total, output_field=DecimalField()), Value(Decimal(0)), output_field=DecimalField()
    )


def _orders_q(op: str, value: Any) -> Q:
    return _compare(_order_count(), op, value)


def _spent_q(op: str, value: Any) -> Q:
    return _compare(_order_total(), op, value)


def _last_order_q(op: str, value: Any) -> Q:
    """The last completed order's moment, compared like a date (no order: never matches)."""
    last = _completed_orders().values("customer_id").annotate(at=Max("ordered_at")).values("at")
    moment = Subquery(last)
    if op == "within_days":
        start = day_start(as_of() - datetime.timedelta(days=value - 1))
        end = day_start(as_of() + datetime.timedelta(days=1))
        return Q(GreaterThanOrEqual(moment, start)) & ~Q(GreaterThanOrEqual(moment, end))
    if op == "after":
        return Q(GreaterThanOrEqual(moment, day_start(value)))
    if op == "before":
        return ~Q(GreaterThanOrEqual(moment, day_start(value + datetime.timedelta(days=1)))) & Q(
            Exists(_completed_orders())
        )
    raise ValueError(op)


# --- loyalty --------------------------------------------------------------------------------


def _points_q(op: str, value: Any) -> Q:
    balance = Subquery(
        Account.objects.filter(customer_id=OuterRef("pk")).values("balance")[:1],
        output_field=IntegerField(),
    )
    return _compare(Coalesce(balance, Value(0)), op, value)


def _tier_choices() -> list[tuple[str, str]]:
    return [
        (str(pk), name) for pk, name in Tier.objects.order_by("position").values_list("pk", "name")
    ]


def _tier_q(op: str, value: Any) -> Q:
    if op == "empty":
        return ~Q(loyalty_account__tier__isnull=False)
    if op == "present":
        return Q(loyalty_account__tier__isnull=False)
    in_tier = Q(Exists(Account.objects.filter(customer_id=OuterRef("pk"), tier_id=int(value))))
    return in_tier if op == "eq" else ~in_tier


# --- support --------------------------------------------------------------------------------


def _ticket_count(tickets: Any) -> Any:
    counted = tickets.order_by().values("customer_id").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _open_tickets_q(op: str, value: Any) -> Q:
    tickets = Ticket.objects.filter(customer_id=OuterRef("pk"), status__in=OPEN_STATUSES)
    return _compare(_ticket_count(tickets), op, value)


def _complaints_q(days: int) -> Any:
    def to_q(op: str, value: Any) -> Q:
        since = day_start(as_of() - datetime.timedelta(days=days - 1))
        until = day_start(as_of() + datetime.timedelta(days=1))
        tickets = Ticket.objects.filter(
            customer_id=OuterRef("pk"),
            kind=TicketKind.COMPLAINT,
            created_at__gte=since,
            created_at__lt=until,
        )
        return _compare(_ticket_count(tickets), op, value)

    return to_q


# --- custom fields --------------------------------------------------------------------------


def _custom_q(definition: CustomField) -> Any:
    key, kind = definition.key, definition.kind

    def matching(op: str, value: Any) -> Q:
        found = custom_filter(
            Customer.objects.all(), [CustomFilter(key, kind, op, str(value), False)]
        )
        return Q(pk__in=found.values("pk"))

    def to_q(op: str, value: Any) -> Q:
        present = Q(custom__has_key=key) & ~Q(custom__contains={key: ""})
        if op == "empty":
            return ~present
        if op == "present":
            return present
        if op in ("eq", "ne"):
            equal = matching("equals", value)
            return equal if op == "eq" else ~equal
        if op == "contains":
            return matching("contains", value)
        if op in ("gte", "after"):
            return matching("min", value)
        if op in ("lte", "before"):
            return matching("max", value)
        raise ValueError(op)

    return to_q


_CUSTOM_KINDS = {
    CustomField.Kind.TEXT: ("text", ("eq", "ne", "contains", "empty", "present")),
    CustomField.Kind.NUMBER: ("number", ("gte", "lte", "empty", "present")),
    CustomField.Kind.DATE: ("date", ("after", "before", "empty", "present")),
    CustomField.Kind.CHOICE: ("choice", ("eq", "ne", "empty", "present")),
}


def _fixed(options: list[tuple[str, str]]) -> Callable[[], list[tuple[str, str]]]:
    return lambda: options


def custom_segment_fields() -> list[SegmentField]:
    fields = []
    for position, definition in enumerate(field_definitions()):
        if definition.archived_at is not None:
            continue
        kind, operators = _CUSTOM_KINDS[CustomField.Kind(definition.kind)]
        choices = [(v, v) for v in definition.choices]
        fields.append(
            SegmentField(
                key=f"custom:{definition.key}",
                label=definition.label,
                kind=kind,
                operators=operators,
                to_q=_custom_q(definition),
                group=GROUP_CUSTOM,
                choices=_fixed(choices) if kind == "choice" else None,
                personal=definition.personal,
                position=300 + position,
            )
        )
    return fields


# --- the customer's columns -----------------------------------------------------------------

# customers.schema columns a condition may test (personal columns are not offered: a count
# would tell what the masking hides), with the kind each compares as.
_COLUMN_KINDS = {
    "name": "text",
    "kind": "choice",
    "gender": "choice",
    "language": "choice",
    "city": "text",
    "region": "text",
    "postal_code": "text",
    "country": "text",
    "stage": "choice",
    "source": "text",
    "channel": "text",
    "created_at": "date",
}


def _column_fields() -> list[SegmentField]:
    fields = []
    for position, column in enumerate(schema.COLUMNS):
        kind = _COLUMN_KINDS.get(column.key)
        if kind is None or column.personal:
            continue
        model_field = column.model_field
        assert model_field is not None
        operators: tuple[str, ...]
        choices: Callable[[], list[tuple[str, str]]] | None = None
        if kind == "choice":
            options = [(str(k), str(v)) for k, v in model_field.choices or ()]
            to_q, operators, choices = _choice_q(column.key), CHOICE_OPS, _fixed(options)
        elif kind == "date":
            to_q, operators = _date_q(column.key), DATE_OPS
        else:
            to_q, operators = _text_q(column.key), TEXT_OPS
        fields.append(
            SegmentField(
                key=column.key,
                label=column.label,
                kind=kind,
                operators=operators,
                to_q=to_q,
                group=GROUP_CUSTOMER,
                choices=choices,
                position=100 + position,
            )
        )
    return fields


def register() -> None:
    for field in _column_fields():
        segment_field_register(field)
    register_field = segment_field_register
    register_field(
        SegmentField("tags", _("Tag"), "tag", TAG_OPS, _tags_q, GROUP_CUSTOMER, position=150)
    )
    register_field(
        SegmentField(
            "orders",
            _("Completed orders"),
            "number",
            NUMBER_OPS,
            _orders_q,
            GROUP_ORDERS,
            position=200,
        )
    )
    register_field(
        SegmentField(
            "spent", _("Total spent"), "number", NUMBER_OPS, _spent_q, GROUP_ORDERS, position=201
        )
    )
    register_field(
        SegmentField(
            "last_order",
            _("Last order"),
            "date",
            DATE_OPS,
            _last_order_q,
            GROUP_ORDERS,
            position=202,
        )
    )
    register_field(
        SegmentField(
            "loyalty_tier",
            _("Loyalty tier"),
            "choice",
            CHOICE_OPS,
            _tier_q,
            GROUP_LOYALTY,
            choices=_tier_choices,
            position=400,
        )
    )
    register_field(
        SegmentField(
            "loyalty_points",
            _("Points balance"),
            "number",
            NUMBER_OPS,
            _points_q,
            GROUP_LOYALTY,
            position=401,
        )
    )
    register_field(
        SegmentField(
            "open_tickets",
            _("Open tickets"),
            "number",
            NUMBER_OPS,
            _open_tickets_q,
            GROUP_SUPPORT,
            position=500,
        )
    )
    for days, label in (
        (30, _("Complaints in the last 30 days")),
        (90, _("Complaints in the last 90 days")),
    ):
        register_field(
            SegmentField(
                f"complaints_{days}d",
                label,
                "number",
                NUMBER_OPS,
                _complaints_q(days),
                GROUP_SUPPORT,
                position=500 + days,
            )
        )
    segment_field_provider_register("custom_fields", custom_segment_fields)
