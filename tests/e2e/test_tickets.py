"""An agent works the queue in Chromium with the keyboard: opens a ticket, presses r to reply,
sends it, presses a to reach the assignee list and j for the next ticket."""

import re
import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from crm.accounts.models import User
from customers.models import Customer
from support.models import Ticket, TicketMessage
from support.services import TicketInput, ticket_create
from tests.e2e.conftest import shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD

pytestmark = [pytest.mark.e2e]


def test_an_agent_replies_with_the_keyboard(page: Page, live_server_url, committed_db, acme):
    base = tenant_url(live_server_url, "acme")
    marker = uuid.uuid4().hex[:6]
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.agent.pk)
        made = [
            ticket_create(
                actor=None,
                data=TicketInput(
                    subject=f"{subject} {marker}",
                    description="Ordered on Monday.",
                    requester_name="李梅",
                    requester_email=f"li.mei.{marker}@example.cn",
                    channel="email",
                    assignee=agent,
                ),
            )
            for subject in ("Parcel late", "发票抬头错误")
        ]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(base + "/login/")
        page.get_by_label("Email").fill(acme.email("agent"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(base + "/support/?queue=mine")
        page.get_by_role("link", name=f"发票抬头错误 {marker}").click()
        expect(page.get_by_role("heading", name=f"发票抬头错误 {marker}")).to_be_visible()
        reply = page.locator("#id_reply-body")
        expect(reply).to_be_hidden()  # folded until asked for

        page.locator("body").press("r")
        expect(reply).to_be_visible()
        expect(reply).to_be_focused()
        page.keyboard.type("您好，发票已重新开具。")  # typing "r" here must not re-trigger
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator(".message-success")).to_contain_text("Reply saved")
        conversation = page.locator("ol.conversation")
        expect(conversation.get_by_text("您好，发票已重新开具。")).to_be_visible()
        # The live mail worker may already have sent it by the time the page renders.
        expect(conversation.get_by_text(re.compile(r"^(Waiting to be sent|Sent)$"))).to_be_visible()
        shot(page, "ticket-replied")

        page.locator("body").press("a")
        expect(page.locator("#assign-form select").first).to_be_focused()
        page.locator("body").click(position={"x": 5, "y": 5})
        page.locator("body").press("j")
        expect(page.get_by_role("heading", name=f"Parcel late {marker}")).to_be_visible()
        assert errors == [], errors

        with schema_context(acme.schema):
            second = Ticket.objects.get(pk=made[1].pk)
            assert second.first_responded_at is not None and second.status == "open"
            message = TicketMessage.objects.get(ticket=second)
            assert (message.kind, message.author_id) == ("reply", agent.pk)
            # The live worker may have emailed it already (support.mail_outbound).
            assert message.delivery in ("pending", "sent")
    finally:
        with schema_context(acme.schema):
            customers = {t.customer_id for t in Ticket.objects.filter(pk__in=[t.pk for t in made])}
            Ticket.objects.filter(pk__in=[t.pk for t in made]).delete()
            Customer.objects.filter(pk__in=[c for c in customers if c]).delete()
