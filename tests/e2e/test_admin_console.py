"""A tenant admin runs the admin console in Chromium: invites someone, who accepts by email."""

import re
import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from crm.accounts.models import User
from tests.e2e.conftest import enter_code, shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD
from tests.testkit.smtp import first_link

pytestmark = [pytest.mark.e2e]


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_admin_invites_a_colleague_who_accepts_by_email(
    page: Page, live_server_url, committed_db, smtp_server, acme, authenticator
):
    base = tenant_url(live_server_url, "acme")
    invitee = f"colleague-{uuid.uuid4().hex[:6]}@example.com"
    device = authenticator(acme.schema, acme.admin.pk)  # admins sign in with a second factor
    _sign_in(page, base, acme.email("admin"))
    enter_code(page, acme.schema, device)
    page.locator("header nav").get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Staff")).to_be_visible()
    shot(page, "admin-staff-list")

    page.get_by_role("button", name="Invite staff").click()
    page.get_by_label("Email").fill(invitee)
    page.get_by_label("Full name").fill("Chen Jing 陈静")
    page.get_by_label("Role").select_option(label="Agent")
    shot(page, "admin-invite")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {invitee}.")).to_be_visible()
    expect(page.get_by_role("cell", name=invitee)).to_be_visible()

    page.get_by_role("link", name="Roles").click()
    expect(page.get_by_role("heading", name="Roles")).to_be_visible()
    shot(page, "admin-roles-matrix")
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="Invitation #", exact=False).first).to_be_visible()
    shot(page, "admin-audit-log")

    link = first_link(smtp_server.wait_for(invitee))
    page.get_by_role("button", name="Log out").click()
    page.goto(link)
    expect(page.get_by_text(f"You will sign in as {invitee}.")).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_value("Chen Jing 陈静")
    page.get_by_label("Password", exact=True).fill("tea-garden-2026")
    page.get_by_label("Password again").fill("tea-garden-2026")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name=re.compile("Welcome, Chen"))).to_be_visible()
    expect(page.locator("header nav").get_by_role("link", name="Admin", exact=True)).to_have_count(
        0
    )

    with schema_context(acme.schema):
        user = User.objects.get(email=invitee)
        assert [g.name for g in user.groups.all()] == ["Agent"]
        user.delete()
