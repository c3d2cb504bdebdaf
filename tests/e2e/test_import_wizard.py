"""A manager imports customers in Chromium: uploads a GB18030 CSV with Chinese headers and one bad
row, finds the mapping preselected, runs the dry run in the real worker (the file is larger than
CRM_TRANSFER_INLINE_ROWS) with its progress bar, sees and downloads the rejected row, switches to
"import valid rows only", commits, finds the customers in the list, undoes, and they are gone."""

import csv
import io
import re
import uuid

import pytest
from django.conf import settings
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from customers.models import Customer
from tests.e2e.conftest import SCREENSHOTS, shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD

pytestmark = [pytest.mark.e2e]


def _file(marker: str, rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["姓名", "手机号", "邮箱", "城市"])
    for i in range(rows):
        writer.writerow(
            [f"导入{marker}-{i:05d}", f"137{i:08d}", f"{marker}.{i}@example.cn", "上海"]
        )
    writer.writerow([f"坏行{marker}", "12", "not-an-email", "北京"])
    return buffer.getvalue().encode("gb18030")


def test_import_wizard(page: Page, live_server_url, committed_db, celery_worker, acme, tmp_path):
    base = tenant_url(live_server_url, "acme")
    marker = uuid.uuid4().hex[:6]
    rows = settings.CRM_TRANSFER_INLINE_ROWS + 50
    upload = tmp_path / "客户名单.csv"
    upload.write_bytes(_file(marker, rows))

    page.goto(base + "/login/")
    page.get_by_label("Email").fill(acme.email("manager"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("header nav").get_by_role("link", name="Import / export").click()
    expect(page.get_by_role("heading", name="Imports", exact=True)).to_be_visible()
    shot(page, "import-01-list")

    page.get_by_role("button", name="Import a file").first.click()
    page.get_by_label("What to import").select_option("customers")
    page.get_by_label("File").set_input_files(str(upload))
    shot(page, "import-02-upload")
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    for header in ("姓名", "手机号", "邮箱"):
        select = page.get_by_label(header, exact=True)
        expect(select).not_to_have_value("")
    expect(page.get_by_text(f"导入{marker}-00000")).to_be_visible()
    page.get_by_label("Match existing records by").select_option("phone")
    shot(page, "import-03-mapping")
    page.get_by_role("button", name="Check the file").click()

    # The dry run goes to the worker: the progress bar first, then the results replace it.
    expect(page.get_by_role("heading", name="Rejected rows")).to_be_visible(timeout=90_000)
    expect(page.locator("table.rejected")).to_contain_text(f"坏行{marker}")
    shot(page, "import-04-checked")
    commit = page.get_by_role("button", name="Import", exact=True)
    expect(commit).to_be_disabled()
    expect(
        page.get_by_text("Fix the rejected rows, or choose 'import valid rows only'")
    ).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download rejected rows (CSV)").click()
    download = download_info.value
    saved = SCREENSHOTS.parent / f"import-rejected-{marker}.csv"
    download.save_as(saved)
    text = saved.read_bytes().decode("utf-8-sig")
    assert f"坏行{marker}" in text and f"导入{marker}-00000" not in text

    page.get_by_role("button", name="Change mapping").click()
    page.get_by_label("Import valid rows only").check()
    page.get_by_role("button", name="Check the file").click()
    valid = page.get_by_role("button", name=re.compile(r"^Import \d+ valid rows$"))
    expect(valid).to_be_enabled(timeout=90_000)
    shot(page, "import-05-valid-only")
    valid.click()
    expect(page.locator("#import-state progress")).to_be_visible()
    shot(page, "import-06-progress")
    expect(page.get_by_role("button", name="Undo this import")).to_be_visible(timeout=120_000)
    shot(page, "import-07-done")
    with schema_context(acme.schema):
        assert Customer.objects.filter(name__startswith=f"导入{marker}-").count() == rows
        assert not Customer.objects.filter(name=f"坏行{marker}").exists()

    page.locator("header nav").get_by_role("link", name="Customers", exact=True).click()
    page.get_by_role("textbox", name="Search").fill(f"导入{marker}-00001")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=f"导入{marker}-00001")).to_be_visible()
    shot(page, "import-08-in-customer-list")

    expect(page.get_by_role("button", name="Import", exact=True)).to_be_visible()
    page.locator("header nav").get_by_role("link", name="Import / export").click()
    expect(page.get_by_role("heading", name="Imports", exact=True)).to_be_visible()
    page.get_by_role("link", name="客户名单.csv").first.click()
    page.get_by_role("button", name="Undo this import").click()
    shot(page, "import-09-undo-confirm")
    page.get_by_role("button", name="Yes, undo the import").click()
    expect(page.locator("#import-state .badge")).to_have_text("Undone", timeout=120_000)
    shot(page, "import-10-undone")
    with schema_context(acme.schema):
        assert not Customer.objects.filter(name__startswith=f"导入{marker}-").exists()

    page.locator("header nav").get_by_role("link", name="Customers", exact=True).click()
    page.get_by_role("textbox", name="Search").fill(f"导入{marker}-00001")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=f"导入{marker}-00001")).to_have_count(0)

    # The same pages in Simplified Chinese.
    page.goto(base + "/transfer/imports/")
    page.context.add_cookies([{"name": "crm_language", "value": "zh-hans", "url": base}])
    page.reload()
    shot(page, "import-11-list-zh")
