"""The API's docs page (/api/v1/docs) in Chromium: Swagger UI draws the operations from our own
static files, offline and under the strict CSP, with no console error."""

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.test_browser import tenant_url
from tests.e2e.test_layout import Trouble

pytestmark = [pytest.mark.e2e]


def test_the_api_docs_page_works_under_the_csp(browser: Browser, live_server_url, acme):
    context = browser.new_context(viewport={"width": 1366, "height": 800}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    trouble = Trouble()
    trouble.watch(page)
    outside: list[str] = []
    base = tenant_url(live_server_url, "acme")
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(base) else None,
    )
    try:
        response = page.goto(base + "/api/v1/docs")
        assert response is not None and response.ok
        expect(page.get_by_role("heading", name="CRM API")).to_be_visible()
        expect(page.get_by_text("/api/v1/customers/{external_id}").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert trouble.lines == []
        assert outside == [], "the page fetched something from elsewhere"
    finally:
        context.close()
