"""A manager works with customer records in Chromium: adds one, is warned about a duplicate,
finds people by pinyin and by part of a phone number, and opens the customer page."""

import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from customers.models import Customer
from tests.e2e.conftest import shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD

pytestmark = [pytest.mark.e2e]


def test_add_find_and_open_customers(page: Page, live_server_url, committed_db, acme):
    base = tenant_url(live_server_url, "acme")
    marker = uuid.uuid4().hex[:6]
    page.goto(base + "/login/")
    page.get_by_label("Email").fill(acme.email("manager"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("header nav").get_by_role("link", name="Customers", exact=True).click()

    def add(name: str, phone: str) -> None:
        page.get_by_role("button", name="New customer").click()
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Phone numbers").fill(phone)
        page.get_by_label("Email addresses").fill(f"{marker}.{len(name)}@example.cn")
        page.get_by_label("Tags").fill(f"e2e-{marker}")
        page.get_by_role("button", name="Add customer").click()

    add("欧阳娜娜", "186 0000 " + marker[:4].translate(str.maketrans("abcdef", "123456")))
    expect(page.get_by_role("heading", name="欧阳娜娜")).to_be_visible()
    shot(page, "customer-detail")
    phone_digits = page.locator("dl.kv dd").first.inner_text().replace(" ", "")

    page.get_by_role("link", name="All customers").click()
    add("欧阳娜娜", phone_digits)
    expect(page.get_by_text("This may be a customer you already have")).to_be_visible()
    expect(page.get_by_text("same phone number")).to_be_visible()
    shot(page, "customer-duplicate-warning")
    page.get_by_role("link", name="Cancel").click()

    page.get_by_role("textbox", name="Search").fill("ouyang")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="欧阳娜娜")).to_have_count(1)
    page.get_by_role("textbox", name="Search").fill(phone_digits[-8:-3])
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="欧阳娜娜")).to_have_count(1)
    shot(page, "customer-search-by-phone")
    page.get_by_role("link", name="欧阳娜娜").click()
    expect(page.get_by_text(f"e2e-{marker}")).to_be_visible()

    with schema_context(acme.schema):
        Customer.objects.filter(tags__contains=[f"e2e-{marker}"]).delete()
