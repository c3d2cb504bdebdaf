"""Marketing exports the customer list's current filter from Chromium and finds earlier
exports on the exports page."""

import uuid
from pathlib import Path

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from crm.accounts.models import User
from crm.transfer.models import ExportJob
from customers.models import Customer
from customers.services import CustomerInput, customer_create
from tests.e2e.conftest import shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD

pytestmark = [pytest.mark.e2e]


def test_export_menu_download_and_exports_page(page: Page, live_server_url, committed_db, acme):
    marker = f"exp{uuid.uuid4().hex[:6]}"
    with schema_context(acme.schema):
        made = [
            customer_create(actor=None, data=CustomerInput(name=name, tags=[marker]))
            for name in ("=1+1 导出", "钱八")
        ]
        job = ExportJob.objects.create(
            kind="customers",
            query=f"tag={marker}",
            file_format="xlsx",
            status=ExportJob.Status.RUNNING,
            rows_total=120000,
            rows_done=45000,
            created_by=User.objects.get(pk=acme.marketing.pk),
        )
    base = tenant_url(live_server_url, "acme")
    try:
        page.goto(base + "/login/")
        page.get_by_label("Email").fill(acme.email("marketing"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{base}/customers/?tag={marker}")
        page.get_by_text("Export", exact=True).click()
        expect(page.get_by_role("link", name="CSV (current filter)")).to_be_visible()
        shot(page, "customer-list-export-menu")
        with page.expect_download() as download:
            page.get_by_role("link", name="CSV (current filter)").click()
        text = Path(download.value.path()).read_text(encoding="utf-8-sig")
        assert "'=1+1 导出" in text and "钱八" in text
        page.goto(base + "/transfer/exports/")
        expect(page.get_by_role("heading", name="Exports")).to_be_visible()
        expect(page.locator("progress")).to_be_visible()
        shot(page, "exports-page")
    finally:
        with schema_context(acme.schema):
            ExportJob.objects.filter(pk=job.pk).delete()
            for customer in made:
                customer.phones.all().delete()
                customer.emails.all().delete()
            Customer.objects.filter(pk__in=[c.pk for c in made]).delete()
