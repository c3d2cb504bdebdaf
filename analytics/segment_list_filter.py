"""The customer list's "segment" filter (customers.list_columns): customers who are members of a
segment at its last refresh. The exports of the list's filter and the surveys built on it take
the same filter, so a segment is an audience everywhere the list is. It reads
analytics_segmentmember, whose changes stamp the list version (migration
0004_dash_segment_triggers)."""

from typing import Any

from django import forms
from django.core.cache import cache
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _

from analytics.models_segments import Segment, SegmentMember
from crm.lib.widgets import ListSelect
from customers.list_columns import ListFilter, list_filter_register

# The segments' names, cached per tenant (the cache's keys carry the schema): the customer list
# draws this filter on every page, within its query budget. Dropped when a segment is saved or
# deleted (segment_services).
CHOICES_KEY = "analytics:segment-choices"
CHOICES_SECONDS = 600


def segment_choices_forget() -> None:
    cache.delete(CHOICES_KEY)


def _segment_choices() -> list[tuple[str, str]]:
    named = cache.get(CHOICES_KEY)
    if named is None:
        named = [
            (str(pk), name)
            for pk, name in Segment.objects.order_by("name").values_list("pk", "name")
        ]
        cache.set(CHOICES_KEY, named, CHOICES_SECONDS)
    return [("", str(_("Any"))), *named]


def _segment_field() -> forms.Field:
    return forms.TypedChoiceField(
        label=_("Segment"),
        required=False,
        choices=_segment_choices,
        coerce=int,
        empty_value=None,
        widget=ListSelect,
    )


def in_segment(customers: QuerySet[Any], segment_id: Any) -> QuerySet[Any]:
    members = SegmentMember.objects.filter(segment_id=segment_id, customer_id=OuterRef("pk"))
    return customers.filter(Exists(members))


def register() -> None:
    list_filter_register(
        ListFilter(
            key="segment",
            field=_segment_field,
            apply=in_segment,
            tables=("analytics_segmentmember",),
            position=50,
        )
    )
