"""On a phone-sized screen, an agent saves a filtered queue as a view and opens it again, then
escalates a complaint and grants goodwill points on it."""

import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Browser, expect

from crm.accounts.models import User
from loyalty.models import Account
from support.models import Ticket, TicketSavedView
from support.services import TicketInput, ticket_create
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD
from tests.tickets.factory import customer

pytestmark = [pytest.mark.e2e]


def test_an_agent_saves_a_view_escalates_and_grants_goodwill_on_a_phone(
    browser: Browser, live_server_url, committed_db, acme
):
    base = tenant_url(live_server_url, "acme")
    marker = uuid.uuid4().hex[:6]
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.agent.pk)
        complaint = ticket_create(
            actor=None,
            data=TicketInput(
                subject=f"茶具破损 Broken teapot {marker}",
                customer=customer(f"赵敏 {marker}", owner=agent),
                kind="complaint",
                severity="major",
                priority="urgent",
                assignee=agent,
            ),
        )
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(base + "/login/")
        page.get_by_label("Email").fill(acme.email("agent"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(base + "/support/?queue=all&priority=urgent")
        page.locator("#saved-views").evaluate("details => { details.open = true; }")
        page.get_by_label("Save this queue and filter as").fill(f"紧急 Urgent {marker}")
        page.get_by_role("button", name="Save view").click()
        expect(page.locator(".message-success")).to_contain_text("saved")
        page.goto(base + "/support/?queue=mine")
        page.get_by_role("link", name=f"紧急 Urgent {marker}").click()
        expect(page).to_have_url(base + "/support/?queue=all&priority=urgent")
        expect(page.get_by_role("link", name=f"茶具破损 Broken teapot {marker}")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 391, f"the queue scrolls sideways: {width}px"

        page.get_by_role("link", name=f"茶具破损 Broken teapot {marker}").click()
        page.get_by_role("button", name="Escalate").click()
        expect(page.locator(".message-success")).to_contain_text("Complaint escalated")
        expect(page.locator("#escalated")).to_be_visible()
        page.locator('[data-action="loyalty.goodwill"] summary').click()
        page.get_by_label("Points").fill("30")
        page.get_by_label("Reason").fill("茶具破损，致歉")
        page.locator('[data-action="loyalty.goodwill"] button[type="submit"]').click()
        expect(page.locator(".message-success")).to_contain_text("Goodwill of +30 points granted")
        assert errors == [], errors
        with schema_context(acme.schema):
            made = Ticket.objects.get(pk=complaint.pk)
            assert made.escalated_at is not None
            assert made.compensation == "Goodwill points: +30 points"
            assert made.customer_id is not None
            assert Account.objects.get(customer_id=made.customer_id).balance == 30
            assert TicketSavedView.objects.filter(user=agent, name=f"紧急 Urgent {marker}")
    finally:
        context.close()
