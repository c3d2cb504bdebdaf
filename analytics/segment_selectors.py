"""Reads of segments: the list, a live count while editing, a page of members, the history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from analytics.models_segments import Segment, SegmentMember, SegmentRefresh
from analytics.segment_rules import Rules, segment_customers
from customers.models import CustomerEmail, CustomerPhone
from customers.selectors import visible_customers

PAGE_SIZE = 50


def segments_listed() -> QuerySet[Segment]:
    return Segment.objects.select_related("created_by").order_by("name", "id")


def segment_live_count(user: Any, rules: Rules) -> int:
    """How many customers within the user's record scope the rules match now (ValidationError
    for rules that do not check). The rules may use only fields offered to the user."""
    matching = segment_customers(rules, user=user)
    return visible_customers(user).filter(pk__in=matching.values("pk")).count()


@dataclass
class MemberPage:
    customers: list[Any]  # Customer with first_phone and first_email
    next_after: int | None


def _first(model: Any, column: str) -> Subquery:
    return Subquery(
        model.objects.filter(customer=OuterRef("pk"))
        .order_by("-is_primary", "id")
        .values(column)[:1]
    )


def segment_member_page(user: Any, segment: Segment, *, after: int | None = None) -> MemberPage:
    """One page of the segment's members the user may see, newest customer first (keyset on
    the id: no OFFSET, no COUNT), with their first phone and email for masking in the page."""
    members = SegmentMember.objects.filter(segment_id=segment.pk, customer_id=OuterRef("pk"))
    customers = (
        visible_customers(user)
        .filter(Exists(members))
        .only("id", "name", "city", "stage", "tags")
        .annotate(
            first_phone=_first(CustomerPhone, "e164"), first_email=_first(CustomerEmail, "email")
        )
        .order_by("-pk")
    )
    if after is not None:
        customers = customers.filter(pk__lt=after)
    rows = list(customers[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return MemberPage(rows, rows[-1].pk if more and rows else None)


def segment_history(segment: Segment, *, size: int = 20) -> list[SegmentRefresh]:
    return list(SegmentRefresh.objects.filter(segment=segment).order_by("-at", "-id")[:size])
