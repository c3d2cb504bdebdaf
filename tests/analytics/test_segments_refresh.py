"""Segment membership: materialised on save and at each refresh, set-based, with who joined and
who left; the customer list's "segment" filter shows the members within the reader's scope."""

import datetime

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from analytics.models_segments import Segment, SegmentChange, SegmentMember, SegmentRefresh
from analytics.segment_services import segment_delete, segment_refresh
from analytics.segments import segments_refresh
from crm.accounts.models import User
from customers.custom_field_services import (
    CustomFieldInput,
    custom_field_archive,
    custom_field_create,
)
from customers.models import Customer, CustomField, ListVersion
from tests.analytics.helpers import rules, segment
from tests.conftest import client_for
from tests.loyalty.helpers import customer
from tests.testkit.listing import listed_names

pytestmark = pytest.mark.django_db

SHANGHAI = rules([("city", "eq", "上海"), ("name", "contains", "Ref ")])


def _members(seg: Segment) -> set[str]:
    ids = SegmentMember.objects.filter(segment=seg).values("customer_id")
    return set(Customer.objects.filter(pk__in=ids).values_list("name", flat=True))


def _changes(refresh: SegmentRefresh) -> tuple[set[str], set[str]]:
    def names(joined: bool) -> set[str]:
        ids = SegmentChange.objects.filter(refresh=refresh, joined=joined).values("customer_id")
        return set(Customer.objects.filter(pk__in=ids).values_list("name", flat=True))

    return names(True), names(False)


def test_save_materialises_and_refresh_records_joins_and_leaves(acme):
    with schema_context(acme.schema):
        wang = customer("Ref Wang", city="上海")
        customer("Ref Li", city="上海")
        zhao = customer("Ref Zhao", city="北京")
        seg = segment("Shanghai", SHANGHAI)
        assert _members(seg) == {"Ref Wang", "Ref Li"}
        assert seg.member_count == 2 and seg.refreshed_at is not None
        first = SegmentRefresh.objects.get(segment=seg)
        assert (first.members, first.joined, first.left) == (2, 2, 0)
        assert _changes(first) == ({"Ref Wang", "Ref Li"}, set())

        Customer.objects.filter(pk=wang.pk).update(city="杭州")
        Customer.objects.filter(pk=zhao.pk).update(city="上海")
        as_of = timezone.localdate() - datetime.timedelta(days=1)
        summary = segments_refresh(as_of=as_of)
        assert summary["members"]["Shanghai"] == 2 and summary["failed"] == {}
        second = SegmentRefresh.objects.filter(segment=seg).order_by("-id").first()
        assert second.as_of == as_of
        assert (second.members, second.joined, second.left) == (2, 1, 1)
        assert _changes(second) == ({"Ref Zhao"}, {"Ref Wang"})
        assert _members(seg) == {"Ref Li", "Ref Zhao"}

        # Nothing changed: a refresh again moves nobody (idempotent).
        third = segment_refresh(actor=None, segment=seg)
        assert (third.members, third.joined, third.left) == (2, 0, 0)
        assert not SegmentChange.objects.filter(refresh=third).exists()


def test_erased_and_deleted_customers_leave_at_the_next_refresh(acme):
    with schema_context(acme.schema):
        gone = customer("Ref Gone", city="上海")
        erased = customer("Ref Erased", city="上海")
        seg = segment("Shanghai again", SHANGHAI)
        assert seg.member_count == 2
        Customer.objects.filter(pk=erased.pk).update(erased_at=timezone.now())
        gone_id = gone.pk
        Customer.objects.filter(pk=gone_id).delete()  # membership never blocks a delete
        refresh = segment_refresh(actor=None, segment=seg)
        assert (refresh.members, refresh.left) == (0, 2)
        assert set(
            SegmentChange.objects.filter(refresh=refresh).values_list("customer_id", flat=True)
        ) == {gone_id, erased.pk}


def test_a_segment_whose_field_went_away_fails_alone(acme):
    with schema_context(acme.schema):
        field = custom_field_create(
            actor=None, key="ref_size", data=CustomFieldInput(label="Size", kind="text")
        )
        customer("Ref Sized", city="上海", custom={"ref_size": "L"})
        sized = segment("Sized", rules([("custom:ref_size", "eq", "L")]))
        shanghai = segment("Shanghai third", SHANGHAI)
        assert sized.member_count == 1
        custom_field_archive(actor=None, custom_field=CustomField.objects.get(pk=field.pk))
        summary = segments_refresh(as_of=timezone.localdate())
        assert "Sized" in summary["failed"]
        assert "can no longer be tested" in summary["failed"]["Sized"][0]
        assert summary["members"]["Shanghai third"] == 1
        # The failed segment keeps its last membership rather than emptying.
        assert Segment.objects.get(pk=sized.pk).member_count == 1
        assert shanghai.pk != sized.pk


def test_the_customer_list_filters_by_segment_within_scope(acme):
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.users["agent"].pk)
        customer("Ref Mine", city="上海", owner=agent)
        customer("Ref Theirs", city="上海")
        customer("Ref Elsewhere", city="北京")
        version = ListVersion.objects.aggregate(n=Sum("n"))["n"]
        seg = segment("Shanghai list", SHANGHAI)
        # The membership change moved the list's data version (its cached pages are dropped).
        assert ListVersion.objects.aggregate(n=Sum("n"))["n"] != version
    url = reverse("customers:home") + f"?segment={seg.pk}&q=Ref"
    admin_list = client_for(acme, "admin").get(url)
    assert admin_list.status_code == 200
    assert sorted(listed_names(admin_list)) == ["Ref Mine", "Ref Theirs"]
    agent_list = client_for(acme, "agent").get(url)
    assert listed_names(agent_list) == ["Ref Mine"]


def test_a_segment_is_the_audience_of_an_export(acme):
    """Exports take the list's filter: ?segment=<id> exports the members, and a deleted
    segment's filter is refused rather than exported unfiltered."""
    from django.http import QueryDict

    from crm.transfer.exporting import InvalidFilter
    from customers.transfer_exports import customers_export_count, customers_export_rows

    with schema_context(acme.schema):
        customer("Ref Export A", city="上海")
        customer("Ref Export B", city="上海")
        customer("Ref Export C", city="北京")
        seg = segment("Shanghai export", SHANGHAI)
        admin = User.objects.get(pk=acme.users["admin"].pk)
        params = QueryDict(f"segment={seg.pk}")
        assert customers_export_count(admin, params) == 2
        names = sorted(row[1] for row in customers_export_rows(admin, params))
        assert names == ["Ref Export A", "Ref Export B"]
        segment_delete(actor=None, segment=seg)
        with pytest.raises(InvalidFilter, match=r"(?i)segment"):
            customers_export_count(admin, params)
