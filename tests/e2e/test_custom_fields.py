"""Custom fields in Chromium: an admin adds a choice field and a personal date field, a manager
fills them in on a customer and sees them on the customer page, and a viewer (who may not see
personal data) sees the date masked."""

import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from crm.accounts.models import User
from customers.models import Customer, CustomField
from customers.services import CustomerInput, customer_create
from tests.e2e.conftest import enter_code, shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD

pytestmark = [pytest.mark.e2e]


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_admin_defines_fields_manager_fills_them_viewer_sees_them_masked(
    page: Page, live_server_url, committed_db, acme, authenticator
):
    marker = uuid.uuid4().hex[:6]
    store_key, day_key = f"store_{marker}", f"anniversary_{marker}"
    with schema_context(acme.schema):
        customer = customer_create(
            actor=None,
            data=CustomerInput(
                name=f"周杰 {marker}", owner=User.objects.get(pk=acme.users["manager"].pk)
            ),
        )
    base = tenant_url(live_server_url, "acme")
    try:
        device = authenticator(acme.schema, acme.admin.pk)
        _sign_in(page, base, acme.email("admin"))
        enter_code(page, acme.schema, device)
        page.locator("header nav").get_by_role("link", name="Admin", exact=True).click()
        page.get_by_role("link", name="Custom fields").click()
        expect(page.get_by_role("heading", name="Custom fields", exact=True)).to_be_visible()
        shot(page, "custom-fields-start")

        page.get_by_role("button", name="Add a field").first.click()
        page.get_by_label("Label").fill(f"Preferred store {marker}")
        page.get_by_label("Key").fill(store_key)
        page.get_by_label("Kind").select_option(label="Choice")
        page.get_by_label("Choices").fill("Pudong 浦东\nXuhui 徐汇\nJing'an 静安")
        page.get_by_label("Help text").fill("Where they like to shop")
        shot(page, "custom-fields-add-choice")
        page.get_by_role("button", name="Add field").click()
        expect(page.get_by_text(f"Field “Preferred store {marker}” added.")).to_be_visible()

        page.get_by_role("button", name="Add a field").first.click()
        # A bad key first: the message says how to write one, and nothing is saved.
        page.get_by_label("Label").fill(f"Wedding anniversary {marker}")
        page.get_by_label("Key").fill("Wedding Day")
        page.get_by_label("Kind").select_option(label="Date")
        page.get_by_label("Personal data").check()
        page.get_by_role("button", name="Add field").click()
        expect(page.get_by_text("Use 1 to 40 lower-case letters")).to_be_visible()
        shot(page, "custom-fields-bad-key")
        page.get_by_label("Key").fill(day_key)
        page.get_by_role("button", name="Add field").click()
        row = page.get_by_role("row").filter(has_text=f"Wedding anniversary {marker}")
        expect(row).to_have_count(1)
        expect(row.get_by_role("cell", name=day_key)).to_be_visible()
        shot(page, "custom-fields-list")
        page.get_by_role("button", name="Log out").click()

        _sign_in(page, base, acme.email("manager"))
        page.goto(f"{base}/customers/{customer.pk}/")
        page.get_by_role("button", name="Edit", exact=True).click()
        page.get_by_label(f"Preferred store {marker}").select_option(label="Xuhui 徐汇")
        page.get_by_label(f"Wedding anniversary {marker}").fill("2019-05-20")
        shot(page, "custom-fields-customer-form")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved.")).to_be_visible()
        block = page.locator("section.custom-values")
        expect(block.get_by_role("heading", name="Custom fields")).to_be_visible()
        expect(block).to_contain_text("Xuhui 徐汇")
        expect(block).to_contain_text("May 20, 2019")
        shot(page, "custom-fields-customer-page")
        with schema_context(acme.schema):
            assert Customer.objects.get(pk=customer.pk).custom == {
                store_key: "Xuhui 徐汇",
                day_key: "2019-05-20",
            }
        page.get_by_role("button", name="Log out").click()

        _sign_in(page, base, acme.email("viewer"))
        page.goto(f"{base}/customers/{customer.pk}/")
        block = page.locator("section.custom-values")
        expect(block).to_contain_text("Xuhui 徐汇")
        expect(block).to_contain_text("••••••")
        expect(page.get_by_text("2019")).to_have_count(0)
        shot(page, "custom-fields-viewer-masked")
    finally:
        with schema_context(acme.schema):
            Customer.objects.filter(pk=customer.pk).delete()
            CustomField.objects.filter(key__in=[store_key, day_key]).delete()
