"""A manager finds two records of the same person in Chromium, merges them choosing a field,
sees the orders on the survivor, and undoes the merge from the merge history."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from customers.models import Customer, CustomerMerge, Order
from customers.services import CustomerInput, customer_create, order_create
from tests.e2e.conftest import shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD
from tests.testkit.cleanup import customers_delete

pytestmark = [pytest.mark.e2e]


def test_find_merge_and_undo(page: Page, live_server_url, committed_db, celery_worker, acme):
    marker = uuid.uuid4().hex[:6]
    email = f"merge-{marker}@example.cn"
    with schema_context(acme.schema):
        first = customer_create(
            actor=None,
            data=CustomerInput(name=f"Zhao Lei {marker}", emails=[email], city="Suzhou"),
        )
        second = customer_create(
            actor=None,
            data=CustomerInput(
                name=f"Zhao  Lei {marker}",
                emails=[email],
                city="Wuxi",
                birthday=datetime.date(1988, 8, 8),
            ),
        )
        order = order_create(
            actor=None,
            customer=second,
            number=f"E2E-{marker}",
            ordered_at=timezone.now(),
            amount=Decimal("99"),
            currency="CNY",
        )
    try:
        base = tenant_url(live_server_url, "acme")
        page.goto(base + "/login/")
        page.get_by_label("Email").fill(acme.email("manager"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(base + "/customers/duplicates/")
        page.get_by_role("button", name="Find duplicates now").click()
        row = page.get_by_role("row").filter(has_text=f"Zhao Lei {marker}")
        for _ in range(30):
            if row.count():
                break
            page.wait_for_timeout(1000)
            page.reload()
        expect(row).to_have_count(1)
        expect(row.get_by_text("same email address")).to_be_visible()
        shot(page, "duplicates-queue")

        row.get_by_role("button", name="Compare and merge").click()
        expect(page.get_by_role("heading", name="Compare and merge")).to_be_visible()
        # Keep the first record, but take the second one's city.
        page.get_by_role("radio", name="Wuxi").check()
        shot(page, "merge-compare")
        page.get_by_role("button", name="Merge").click()
        expect(page.get_by_role("heading", name=f"Zhao Lei {marker}")).to_be_visible()
        expect(page.get_by_text(f"E2E-{marker}")).to_be_visible()
        expect(page.get_by_text("Merged with")).to_be_visible()
        shot(page, "merge-survivor")
        with schema_context(acme.schema):
            assert not Customer.objects.filter(pk=second.pk).exists()
            kept = Customer.objects.get(pk=first.pk)
            assert kept.city == "Wuxi" and kept.birthday == datetime.date(1988, 8, 8)
            assert Order.objects.get(pk=order.pk).customer_id == first.pk

        page.goto(base + "/customers/merges/")
        merge_row = page.get_by_role("row").filter(has_text=f"Zhao Lei {marker}").first
        merge_row.get_by_role("button", name="Revert this merge").click()
        expect(page.get_by_text("The merge was undone.")).to_be_visible()
        shot(page, "merge-undone")
        with schema_context(acme.schema):
            assert Customer.objects.get(pk=second.pk).city == "Wuxi"
            assert Customer.objects.get(pk=first.pk).city == "Suzhou"
            assert Order.objects.get(pk=order.pk).customer_id == second.pk
    finally:
        with schema_context(acme.schema):
            Order.objects.filter(number=f"E2E-{marker}").delete()
            CustomerMerge.objects.filter(dropped_id__in=[first.pk, second.pk]).delete()
            customers_delete([first.pk, second.pk])
