"""The customer list's columns and filters by registration (customers.list_columns): the header
and the cells follow the same registered columns, every table a column or filter reads moves
the list version, a column's personal kind is masked, and a column or filter registered by
another app (here: this test) reaches the page without customers knowing about it."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django import forms
from django.db.models import Count, OuterRef, Subquery
from django_tenants.utils import schema_context

from crm.accounts import capabilities as cap
from customers import list_columns
from customers.list_columns import ListColumn, ListFilter
from customers.models import Customer, Interaction, Order
from customers.services import CustomerInput, customer_create, timeline_add
from tests.conftest import client_for
from tests.testkit.listing import listed_names

pytestmark = pytest.mark.django_db

HOME = "/customers/"
_TH = re.compile(r"<th scope=\"col\"[^>]*>(.*?)</th>", re.S)


def _table(response) -> tuple[list[str], list[int]]:
    """The header cells' texts and each body row's number of cells."""
    page = response.content.decode()
    head = page[page.index("<thead>") : page.index("</thead>")]
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    headers = [re.sub(r"<[^>]+>", "", h).strip() for h in _TH.findall(head)]
    rows = [row.count("<td") for row in body.split("<tr>")[1:]]
    return headers, rows


def _add(member, name, **extra):
    with schema_context(member.schema):
        return customer_create(actor=None, data=CustomerInput(name=name, **extra))


def _order(customer, number, amount, status=Order.Status.COMPLETED):
    return Order.objects.create(
        number=number,
        customer=customer,
        ordered_at=datetime(2026, 1, 5, tzinfo=UTC),
        amount=Decimal(amount),
        currency="GBP",
        status=status,
    )


def _interactions() -> Subquery:
    return Subquery(
        Interaction.objects.filter(customer=OuterRef("pk"))
        .order_by()
        .values("customer")
        .annotate(n=Count("id"))
        .values("n")
    )


@pytest.fixture
def contact_count():
    """A column another app would register: how often a customer was contacted, read from a
    table (interactions) the list version does not watch, shown to exporters only."""
    column = ListColumn(
        key="test_contacts",
        header="Contacts (test)",
        value=lambda row: row.test_contacts or 0,
        annotations=lambda: {"test_contacts": _interactions()},
        tables=("customers_interaction",),
        capability=cap.EXPORT,
        position=70,
    )
    list_columns.list_column_register(column)
    yield column
    list_columns.list_column_unregister(column.key)


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "viewer"])
def test_headers_and_cells_agree_for_every_reader(role, acme):
    _add(acme, "Ada Lovelace", phones=["+44 20 7946 0958"], emails=["ada@example.com"])
    _add(acme, "Babbage Ltd", kind="company", owner=acme.agent)
    response = client_for(acme, role).get(HOME)
    headers, rows = _table(response)
    names = [str(c.header) for c in response.context["columns"]]
    expected = names if role == "viewer" else ["Select", *names]
    assert headers == expected
    assert rows and all(cells == len(headers) for cells in rows), (headers, rows)
    assert names[:7] == ["Name", "Phone", "Email", "Stage", "Tags", "Lifetime value", "Owner"]


def test_a_column_registered_by_another_app_reaches_header_cells_and_query(acme, contact_count):
    ada = _add(acme, "Ada Lovelace")
    with schema_context(acme.schema):
        timeline_add(actor=None, customer=ada, kind="call", title="Called")
        timeline_add(actor=None, customer=ada, kind="note", title="Noted")
    headers, rows = _table(client_for(acme, "manager").get(HOME))
    assert headers[-1] == "Contacts (test)" and rows == [len(headers)]
    # The viewer lacks the column's capability: no header, no cell, and still in agreement.
    viewer_headers, viewer_rows = _table(client_for(acme, "viewer").get(HOME))
    assert "Contacts (test)" not in viewer_headers and viewer_rows == [len(viewer_headers)]
    page = client_for(acme, "manager").get(HOME).content.decode()
    assert page.count("<td>2</td>") == 1


def test_every_registered_table_is_watched_by_the_list_version(acme):
    with schema_context(acme.schema):
        watched = list_columns.watched_tables(acme.schema)
    assert "customers_order" in watched
    assert list_columns.registered_tables() <= watched, (
        f"not watched: {list_columns.registered_tables() - watched}: add a migration creating"
        " the customers_list_changed trigger on them (customers/migrations/0009)"
    )


def test_an_unwatched_table_is_caught(acme, contact_count):
    """The check above fails for a column reading a table no trigger watches."""
    with schema_context(acme.schema):
        watched = list_columns.watched_tables(acme.schema)
    assert list_columns.registered_tables() - watched == {"customers_interaction"}


def test_lifetime_value_sums_completed_orders_and_a_new_order_shows_at_once(acme):
    ada = _add(acme, "Ada Lovelace")
    _add(acme, "Brunel")
    with schema_context(acme.schema):
        _order(ada, "A-1", "1200.50")
        _order(ada, "A-2", "20")
        _order(ada, "A-3", "999", status=Order.Status.REFUNDED)
    client = client_for(acme, "manager")
    rows = client.get(HOME).context["rows"].html
    assert '<td class="nowrap">1,220.50</td>' in rows
    assert '<td class="nowrap">0.00</td>' in rows
    with schema_context(acme.schema):
        _order(ada, "A-4", "9.50")
    # The page is cached; the order's trigger moved the list version, so it is read again.
    assert '<td class="nowrap">1,230.00</td>' in client.get(HOME).context["rows"].html


def test_a_personal_column_is_masked_as_its_kind_says(acme):
    """A registered column naming its personal kind is masked for readers without "see
    personal data", whatever its value function returns."""
    column = ListColumn(
        key="test_backup_email",
        header="Backup email (test)",
        value=lambda row: f"{row.name.split()[0].lower()}@backup.example",
        fields=("name",),
        personal="email",
    )
    list_columns.list_column_register(column)
    try:
        _add(acme, "Ada Lovelace")
        shown = client_for(acme, "manager").get(HOME).context["rows"].html
        masked = client_for(acme, "viewer").get(HOME).context["rows"].html
    finally:
        list_columns.list_column_unregister(column.key)
    assert "ada@backup.example" in shown
    assert "ada@backup.example" not in masked and "a•••@•••.example" in masked


def test_registered_filters_narrow_the_list_and_its_export_query(acme):
    _add(acme, "Ada Lovelace")
    _add(acme, "Babbage Ltd", kind="company")
    _add(acme, "Brunel Works", kind="company", tags=["rail"])
    client = client_for(acme, "manager")
    assert listed_names(client.get(HOME, {"kind": "company"})) == ["Babbage Ltd", "Brunel Works"]
    refused = client.get(HOME, {"kind": "robot"})
    assert refused.context["filter_errors"] and listed_names(refused) == []

    # Another app's filter, with its own input.
    def tagged(customers, value):
        return customers.filter(tags__contains=[value])

    list_columns.list_filter_register(
        ListFilter(
            key="test_tag",
            field=lambda: forms.CharField(label="Tagged (test)", required=False),
            apply=tagged,
        )
    )
    try:
        page = client.get(HOME, {"kind": "company", "test_tag": "rail"})
        assert "Tagged (test)" in page.content.decode()
        assert listed_names(page) == ["Brunel Works"]
    finally:
        list_columns.list_filter_unregister("test_tag")
    with schema_context(acme.schema):
        assert Customer.objects.count() == 3


def test_a_sort_the_list_cannot_page_is_refused():
    with pytest.raises(ValueError, match="no keyset order"):
        list_columns.list_column_register(
            ListColumn(key="test_sorted", header="x", value=str, sort="lifetime_value")
        )
    assert all(c.key != "test_sorted" for c in list_columns.list_columns())
