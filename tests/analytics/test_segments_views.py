"""The segment pages per role: building with the builder's buttons and live count, saving
(audited, members materialised), bad rules refused, the members page masked and paged,
refresh and delete."""

import pytest
from django.test import Client
from django.urls import reverse
from django_tenants.utils import schema_context

from analytics import segment_selectors
from analytics.models_segments import Segment, SegmentRefresh
from analytics.segment_rules import rules_from_json
from crm.accounts import capabilities as cap
from crm.accounts.models import AuditEntry, User
from crm.accounts.services import role_create, staff_create
from tests.analytics.helpers import form_data, rules, segment
from tests.conftest import client_for
from tests.loyalty.helpers import customer

pytestmark = pytest.mark.django_db

BUILDERS = ("admin", "manager", "marketing")
SHANGHAI = rules([("city", "eq", "上海"), ("name", "contains", "View")])


def _shanghai_customers(acme, count: int = 2, **fields) -> None:
    with schema_context(acme.schema):
        for i in range(count):
            customer(f"View 王{i}", city="上海", phones=[f"+86 138 0013 80{i:02d}"], **fields)
        customer("View 北京", city="北京")


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "marketing", "viewer"])
def test_only_segment_managers_build_and_save(role, acme):
    _shanghai_customers(acme)
    client = client_for(acme, role)
    post = form_data(SHANGHAI, name=f"Shanghai {role}", description="", action="save")
    response = client.post(reverse("analytics:segment_new"), post)
    with schema_context(acme.schema):
        saved = Segment.objects.filter(name=f"Shanghai {role}").first()
        if role not in BUILDERS:
            assert response.status_code == 403
            assert saved is None
            return
        assert response.status_code == 302
        assert saved is not None and saved.rules == SHANGHAI
        assert saved.member_count == 2
        assert response.url == reverse("analytics:segment_detail", args=[saved.pk])
        entry = AuditEntry.objects.filter(table_name="analytics_segment", record_id=str(saved.pk))
        assert entry.filter(actor_id=acme.users[role].pk).exists()


def test_builder_buttons_add_and_remove_conditions_and_groups(acme):
    client = client_for(acme, "marketing")
    url = reverse("analytics:segment_new")
    first = client.get(url)
    assert first.status_code == 200
    body = first.content.decode()
    assert 'name="g0-c0-field"' in body and 'name="g0-c1-field"' not in body
    base = form_data(rules([("city", "eq", "上海")]), name="x", description="")
    added = client.post(url, {**base, "action": "add:0"}).content.decode()
    assert 'name="g0-c1-field"' in added and "autofocus" in added
    grouped = client.post(url, {**base, "action": "add_group"}).content.decode()
    assert 'name="g1-c0-field"' in grouped
    removed = client.post(url, {**base, "action": "remove:0:0"}).content.decode()
    assert 'name="g0-c0-field"' not in removed
    # Choosing a field redraws its operators (htmx posts action=redraw): numbers compare.
    redraw = {**base, "g0-c0-field": "loyalty_points", "g0-c0-op": "eq", "action": "redraw"}
    drawn = client.post(url, redraw).content.decode()
    assert '<option value="gte"' in drawn and '<option value="contains"' not in drawn
    assert 'type="number"' in drawn
    with schema_context(acme.schema):
        assert not Segment.objects.filter(name="x").exists(), "builder buttons save nothing"


def test_live_count_and_its_errors(acme):
    _shanghai_customers(acme, 3)
    client = client_for(acme, "marketing")
    url = reverse("analytics:segment_count")
    counted = client.post(url, form_data(SHANGHAI)).content.decode()
    assert 'data-count="3"' in counted
    bad = form_data(rules([("loyalty_points", "gte", "lots")]))
    refused = client.post(url, bad).content.decode()
    assert "data-count" not in refused and "Enter a number." in refused
    assert client.get(url).status_code == 405
    # A new segment, nothing chosen yet: a hint, not an error.
    fresh = client.get(reverse("analytics:segment_new")).content.decode()
    assert (
        "Choose what to test: the number" in fresh
        and "errorlist" not in fresh.split('id="segment-count"')[1].split("</div>")[0]
    )


def test_live_count_keeps_to_the_record_scope(acme):
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.users["agent"].pk)
        admin = User.objects.get(pk=acme.users["admin"].pk)
        customer("View Agent's", city="上海", owner=agent)
        customer("View Nobody's", city="上海")
        shanghai = rules_from_json(SHANGHAI)
        assert segment_selectors.segment_live_count(admin, shanghai) == 2
        assert segment_selectors.segment_live_count(agent, shanghai) == 1


def test_bad_rules_are_refused_and_nothing_saved(acme):
    client = client_for(acme, "marketing")
    post = form_data(rules([("city", "eq", "")]), name="Broken", description="", action="save")
    response = client.post(reverse("analytics:segment_new"), post)
    assert response.status_code == 400
    assert "Group 1, condition 1: City: Enter a value." in response.content.decode()
    with schema_context(acme.schema):
        assert not Segment.objects.filter(name="Broken").exists()


def test_members_page_masks_contacts_and_pages_by_keyset(acme, monkeypatch):
    _shanghai_customers(acme, 3)
    with schema_context(acme.schema):
        seg = segment("Shanghai members", SHANGHAI)
    monkeypatch.setattr(segment_selectors, "PAGE_SIZE", 2)
    url = reverse("analytics:segment_detail", args=[seg.pk])
    marketing = client_for(acme, "marketing")  # no "see personal data"
    page = marketing.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert "View 王2" in body and "View 王1" in body and "View 王0" not in body
    assert "138 0013 8002" not in body and "13800138002" not in body
    assert "•••8002" in body  # crm.accounts.masking keeps the last four digits
    assert "City is 上海" in body
    next_page = marketing.get(url + "?" + page.context["next_query"]).content.decode()
    assert "View 王0" in next_page and "View 王2" not in next_page
    manager = client_for(acme, "manager").get(url).content.decode()
    assert "138 0013 8002" in manager


def test_refresh_and_delete(acme):
    _shanghai_customers(acme)
    with schema_context(acme.schema):
        seg = segment("Shanghai refresh", SHANGHAI)
    client = client_for(acme, "marketing")
    done = client.post(reverse("analytics:segment_refresh", args=[seg.pk]))
    assert done.status_code == 302
    with schema_context(acme.schema):
        assert SegmentRefresh.objects.filter(segment=seg).count() == 2
    assert client.get(reverse("analytics:segment_refresh", args=[seg.pk])).status_code == 405
    gone = client.post(reverse("analytics:segment_delete", args=[seg.pk]))
    assert gone.status_code == 302
    with schema_context(acme.schema):
        assert not Segment.objects.filter(pk=seg.pk).exists()
        assert not SegmentRefresh.objects.filter(segment_id=seg.pk).exists()


def test_segment_pages_do_not_grow_with_rows(acme):
    """The list of segments and a segment's page run a bounded number of queries."""
    from tests.test_query_counts import _queries

    _shanghai_customers(acme, 2)
    with schema_context(acme.schema):
        seg = segment("Shanghai counted", SHANGHAI)
    client = client_for(acme, "manager")
    detail = reverse("analytics:segment_detail", args=[seg.pk])
    few_detail, few_list = _queries(client, detail), _queries(client, reverse("analytics:segments"))
    _shanghai_customers(acme, 12)
    with schema_context(acme.schema):
        for i in range(5):
            segment(f"Shanghai counted {i}", SHANGHAI)
        from analytics.segment_services import segment_refresh

        segment_refresh(actor=None, segment=seg)
    assert _queries(client, detail) == few_detail
    assert _queries(client, reverse("analytics:segments")) == few_list


def test_a_personal_fields_value_in_a_rule_is_masked_for_readers_without_personal_data(acme):
    from customers.custom_field_services import CustomFieldInput, custom_field_create

    with schema_context(acme.schema):
        custom_field_create(
            actor=None,
            key="view_idcard",
            data=CustomFieldInput(label="ID card", kind="text", personal=True),
        )
        seg = segment("By ID card", rules([("custom:view_idcard", "eq", "110101199003077777")]))
    url = reverse("analytics:segment_detail", args=[seg.pk])
    assert "110101199003077777" not in client_for(acme, "marketing").get(url).content.decode()
    assert "110101199003077777" in client_for(acme, "manager").get(url).content.decode()
    # Nor can the marketer open it in the builder, whose fields leave the personal one out.
    edit = client_for(acme, "marketing").get(reverse("analytics:segment_edit", args=[seg.pk]))
    assert "110101199003077777" not in edit.content.decode()
    assert "you may not test “ID card”" in edit.content.decode()


def test_segment_list_shows_the_tenant_wide_count_only_to_a_reader_who_sees_everyone(acme):
    """The stored member count is over every customer: a reader of a narrower record scope
    sees it neither on the segment's page nor in the list of segments."""
    _shanghai_customers(acme, 3)
    with schema_context(acme.schema):
        seg = segment("Shanghai counted", SHANGHAI)
        assert seg.member_count == 3
        role = role_create(
            actor=None,  # type: ignore[arg-type]
            name="Own-scope reports",
            description="",
            scope="own",
            codenames=[cap.VIEW, cap.REPORTS],
        )
        reader = staff_create(
            actor=None, email="own-reports@acme.test", full_name="Own", role=role, password=None
        )
        narrow = Client(HTTP_HOST=acme.host)
        narrow.force_login(reader)

    def count_cell(client: Client) -> str:
        body = client.get(reverse("analytics:segments")).content.decode()
        row = body.split("Shanghai counted</a>")[1].split("</tr>")[0]
        return row.split('<td class="num">')[1].split("</td>")[0]

    assert count_cell(client_for(acme, "marketing")) == "3"
    assert count_cell(narrow) == "—"
