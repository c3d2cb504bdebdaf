import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context, schema_exists
from playwright.sync_api import Browser, Page, expect, sync_playwright

from crm.accounts.models import User
from tests.testkit.cast import TenantCast
from tests.testkit.otp import authenticator_for, totp_code

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in the test thread; Django's guard against ORM use
    # from async code would misfire on the tests' own (synchronous) database calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(
    browser: Browser,
    request: pytest.FixtureRequest,
    cast: dict[str, TenantCast],
    django_db_blocker: Any,
) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()
    with django_db_blocker.unblock():
        _languages_reset(cast)


def _languages_reset(cast: dict[str, TenantCast]) -> None:
    """A browser test that picks a language stores it on the user (committed, for the live
    server); the next test signing in as that user would get it too. Back to the workspace's."""
    for member in cast.values():
        with schema_context(member.schema):
            User.objects.filter(pk__in=[u.pk for u in member.users.values()]).exclude(
                language=""
            ).update(language="")


def shot(page: Page, name: str) -> None:
    """Keep a screenshot of a step, to look at the pages as a user would."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def authenticator(committed_db: None) -> Iterator[Callable[[str, int], TOTPDevice]]:
    """Give a user (schema, pk) an authenticator the web server sees; removed afterwards
    (with its schema, if the test deleted its tenant)."""
    made: list[tuple[str, int]] = []

    def make(schema: str, user_pk: int) -> TOTPDevice:
        with schema_context(schema):
            device = authenticator_for(User.objects.get(pk=user_pk))
        made.append((schema, device.pk))
        return device

    yield make
    for schema, pk in made:
        if schema_exists(schema):
            with schema_context(schema):
                TOTPDevice.objects.filter(pk=pk).delete()


def enter_code(page: Page, schema: str, device: TOTPDevice) -> None:
    """The second sign-in step, in any language: the authenticator's current code."""
    expect(page).to_have_url(re.compile(r"/two-factor/verify/"))
    with schema_context(schema):
        code = totp_code(device)
    page.locator("#id_code").fill(code)
    page.locator("#id_code").press("Enter")
