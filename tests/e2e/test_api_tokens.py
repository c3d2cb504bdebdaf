"""An admin makes an API token in Chromium, copies it from the page (shown once), a till uses
it, and the admin revokes it; the page fits a laptop and a phone."""

import json
import urllib.error
import urllib.request

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Browser, expect

from crm.api.models import ApiToken
from tests.e2e.conftest import SCREENSHOTS, enter_code
from tests.e2e.test_browser import tenant_url
from tests.e2e.test_layout import Trouble, _overflow
from tests.testkit.cast import PASSWORD

pytestmark = [pytest.mark.e2e]


def _status(url: str, host: str, secret: str) -> int:
    headers = {"Host": host, "Authorization": f"Bearer {secret}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        json.loads(error.read())
        return error.code


@pytest.mark.parametrize("width", [(1366, 800), (390, 844)], ids=["laptop", "phone"])
def test_an_admin_makes_uses_and_revokes_a_token(
    browser: Browser, width, live_server_url, acme, committed_db, authenticator
):
    base = tenant_url(live_server_url, "acme")
    device = authenticator(acme.schema, acme.admin.pk)
    context = browser.new_context(viewport={"width": width[0], "height": width[1]}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    trouble = Trouble()
    trouble.watch(page)
    name = f"Till e2e {width[0]}"
    try:
        page.goto(base + "/login/")
        page.get_by_label("Email").fill(acme.email("admin"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        enter_code(page, acme.schema, device)
        page.goto(base + "/admin-console/api-tokens/")
        expect(page.get_by_role("heading", name="API tokens", exact=True)).to_be_visible()
        page.get_by_label("Name").fill(name)
        page.get_by_label("Loyalty: post orders, read balances, redeem points").check()
        page.get_by_role("button", name="Create token").click()
        secret = page.locator("code.token-secret").inner_text().strip()
        assert secret.startswith("crm_")
        assert _overflow(page) <= 1, "the token must wrap on a phone"
        page.screenshot(path=str(SCREENSHOTS / f"api-tokens-{width[0]}.png"), full_page=True)

        port = live_server_url.rsplit(":", 1)[1]
        api = f"http://127.0.0.1:{port}/api/v1/customers/nobody/loyalty"
        assert _status(api, f"{acme.host}:{port}", secret) == 404  # known token, no customer

        page.reload()  # the secret is not shown again, and no second token is made
        expect(page.locator("code.token-secret")).to_have_count(0)
        row = page.get_by_role("row").filter(has_text=name)
        row.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text(f"The token “{name}” no longer works.")).to_be_visible()
        assert _status(api, f"{acme.host}:{port}", secret) == 401
        with schema_context(acme.schema):
            assert ApiToken.objects.filter(name=name).count() == 1
        assert trouble.lines == []
    finally:
        context.close()
        with schema_context(acme.schema):
            ApiToken.objects.filter(name=name).delete()
