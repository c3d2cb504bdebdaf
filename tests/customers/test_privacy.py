"""Data subject requests: export everything held about a customer; erase them and keep totals."""

import csv
import io
import json
import zipfile
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from customers.models import Customer, CustomerEmail, CustomerPhone, Order
from customers.services import (
    CustomerInput,
    consent_set,
    customer_create,
    customer_update,
    order_create,
    timeline_add,
)
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(acme):
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.agent.pk)
        customer = customer_create(
            actor=agent,
            data=CustomerInput(
                name='=HYPERLINK("http://evil") 陈小姐',
                phones=["139 8888 7777"],
                emails=["chen@example.cn"],
                address="1 Secret Lane",
                notes="Allergic to lilies",
                owner=agent,
            ),
        )
        customer_update(
            actor=agent,
            customer=customer,
            data=CustomerInput(
                name="陈静",
                phones=["139 8888 7777"],
                emails=["chen@example.cn"],
                address="1 Secret Lane",
                notes="Allergic to lilies",
                owner=agent,
            ),
        )
        consent_set(actor=agent, customer=customer, channel="sms", granted=True, source="store")
        timeline_add(customer=customer, kind="call", title="Called about her order", actor=agent)
        for n, amount in enumerate(["120.50", "80.00"]):
            order_create(
                actor=agent,
                customer=customer,
                number=f"P-{customer.pk}-{n}",
                ordered_at=timezone.now(),
                amount=Decimal(amount),
                currency="GBP",
            )
    return customer


def test_a_manager_downloads_everything_held_about_a_customer(acme, person):
    response = client_for(acme, "manager").post(reverse("customers:export", args=[person.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert set(archive.namelist()) == {
        "customer.json",
        "profile.csv",
        "contacts.csv",
        "orders.csv",
        "timeline.csv",
        "consent.csv",
    }
    document = json.loads(archive.read("customer.json"))
    assert document["customer"]["name"] == "陈静"
    assert {c["value"] for c in document["contacts"]} == {"+8613988887777", "chen@example.cn"}
    assert [o["amount"] for o in document["orders"]] != []
    assert document["timeline"][0]["title"] == "Called about her order"
    orders = list(csv.DictReader(io.StringIO(archive.read("orders.csv").decode("utf-8-sig"))))
    assert sorted(o["amount"] for o in orders) == ["120.50", "80.00"]
    with schema_context(acme.schema):
        entry = AuditEntry.objects.filter(action="personal_data_export").first()
        assert entry.record_id == str(person.pk) and entry.actor_id == acme.manager.pk


def test_exported_cells_never_start_a_formula(acme, person):
    with schema_context(acme.schema):
        Customer.objects.filter(pk=person.pk).update(name='=HYPERLINK("http://evil")', notes="+1+1")
    response = client_for(acme, "admin").post(reverse("customers:export", args=[person.pk]))
    profile = zipfile.ZipFile(io.BytesIO(response.content)).read("profile.csv").decode("utf-8-sig")
    row = next(csv.DictReader(io.StringIO(profile)))
    assert row["name"] == '\'=HYPERLINK("http://evil")' and row["notes"] == "'+1+1"


def test_who_may_not_export_gets_403_and_no_file(acme, person):
    for role in ("agent", "marketing", "viewer"):
        response = client_for(acme, role).post(reverse("customers:export", args=[person.pk]))
        assert response.status_code == 403, role
    with schema_context(acme.schema):
        assert not AuditEntry.objects.filter(action="personal_data_export").exists()


def test_erasing_removes_the_person_everywhere_and_keeps_order_totals(acme, person):
    with schema_context(acme.schema):
        revenue = Order.objects.aggregate(total=Sum("amount"))["total"]
    refused = client_for(acme, "admin").post(reverse("customers:erase", args=[person.pk]))
    assert refused.status_code == 302
    with schema_context(acme.schema):
        assert Customer.objects.get(pk=person.pk).erased_at is None, "not without confirmation"

    client_for(acme, "admin").post(
        reverse("customers:erase", args=[person.pk]), {"confirm": "erase"}
    )
    with schema_context(acme.schema):
        erased = Customer.objects.get(pk=person.pk)
        assert erased.name == f"Erased customer #{person.pk}" and erased.erased_at
        assert (erased.address, erased.notes, erased.birthday) == ("", "", None)
        assert not CustomerPhone.objects.filter(customer=erased).exists()
        assert not CustomerEmail.objects.filter(customer=erased).exists()
        assert not erased.interactions.exists() and not erased.consent_events.exists()
        assert erased.orders.count() == 2
        assert Order.objects.aggregate(total=Sum("amount"))["total"] == revenue

        # Nothing the erasure removed survives in the audit log, before or after the erasure.
        log = " ".join(
            f"{e.before} {e.after} {e.detail}"
            for e in AuditEntry.objects.filter(table_name__startswith="customers_")
        )
        for secret in ("陈静", "HYPERLINK", "8888", "chen@example.cn", "Secret Lane", "lilies"):
            assert secret not in log, secret
        assert AuditEntry.objects.filter(action="erase", record_id=str(person.pk)).exists()

    page = client_for(acme, "admin").get(reverse("customers:detail", args=[person.pk]))
    assert "Personal data erased on" in page.content.decode()
    again = client_for(acme, "admin").post(
        reverse("customers:erase", args=[person.pk]), {"confirm": "erase"}, follow=True
    )
    assert "already erased" in again.content.decode()


def test_only_admins_and_managers_erase(acme, person):
    for role in ("agent", "marketing", "viewer"):
        response = client_for(acme, role).post(
            reverse("customers:erase", args=[person.pk]), {"confirm": "erase"}
        )
        assert response.status_code == 403, role
    with schema_context(acme.schema):
        assert Customer.objects.get(pk=person.pk).name == "陈静"
