"""Sign-in security in Chromium: the lockout page, and two-factor enrolment then sign-in."""

import base64
import re
import time
import uuid
from collections.abc import Iterator

import pytest
from axes.models import AccessAttempt
from django_otp.oath import TOTP
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from crm.accounts import roles
from crm.accounts.models import User
from crm.accounts.services import staff_create
from tests.e2e.conftest import shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def newcomer(acme, committed_db) -> Iterator[User]:
    """An acme admin of this test alone (committed, for the web server), removed afterwards
    with their devices and any failed attempts."""
    with schema_context(acme.schema):
        user = staff_create(
            actor=None,
            email=f"e2e-{uuid.uuid4().hex[:8]}@acme.test",
            full_name="Security Tester",
            role=roles.ADMIN,
            password=PASSWORD,
        )
    yield user
    with schema_context(acme.schema):
        AccessAttempt.objects.filter(username=user.email).delete()
        user.delete()


def _log_in(page: Page, base: str, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_five_wrong_passwords_lock_the_sign_in_with_a_clear_message(
    page: Page, live_server_url, newcomer
):
    base = tenant_url(live_server_url, "acme")
    page.goto(base + "/login/")
    for _ in range(4):
        _log_in(page, base, newcomer.email, "wrong-password")
        expect(page.get_by_text("do not match an active account")).to_be_visible()
    _log_in(page, base, newcomer.email, "wrong-password")
    expect(page.get_by_role("heading", name="Sign-in locked for now")).to_be_visible()
    expect(page.get_by_text("After 5 failed attempts")).to_be_visible()
    expect(page.get_by_text("Try again in 15 minutes")).to_be_visible()
    expect(page.get_by_text("Ask an administrator of your workspace")).to_be_visible()
    shot(page, "security-locked-out")

    page.goto(base + "/login/")
    _log_in(page, base, newcomer.email, PASSWORD)
    expect(page.get_by_role("heading", name="Sign-in locked for now")).to_be_visible()


def _code(secret: str, *, steps_ahead: int = 0) -> str:
    """What the phone app shows for the key typed in from the page."""
    totp = TOTP(base64.b32decode(secret.replace(" ", "")))
    totp.time = time.time() + steps_ahead * totp.step
    return str(totp.token()).zfill(6)


def test_an_admin_enrols_then_signs_in_with_a_code(page: Page, live_server_url, newcomer):
    base = tenant_url(live_server_url, "acme")
    page.goto(base + "/")
    _log_in(page, base, newcomer.email, PASSWORD)

    # Admins must enrol before anything else opens.
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    shot(page, "security-enrol")
    page.goto(base + "/customers/")
    expect(page).to_have_url(re.compile(r"/two-factor/\?next=%2Fcustomers%2F$"))

    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_text("That code does not match")).to_be_visible()
    page.get_by_label("Code").fill(_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(
        10
    )
    shot(page, "security-recovery-codes")
    page.get_by_role("button", name="I have saved them, continue").click()
    expect(page).to_have_url(base + "/customers/")

    page.get_by_role("button", name="Log out").click()
    page.goto(base + "/login/")
    _log_in(page, base, newcomer.email, PASSWORD)
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    shot(page, "security-verify")
    # This time step's code was spent on enrolment; the app's next one is accepted already.
    page.get_by_label("Code").fill(_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Welcome, Security")).to_be_visible()

    page.locator("header nav").get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("link", name="Security", exact=True).click()
    row = page.get_by_role("row").filter(has_text=newcomer.email)
    expect(row.get_by_text("On", exact=True)).to_be_visible()
    shot(page, "security-admin-page")
