"""A customer opens a ticket through the public web form on a phone-sized screen (390 px),
without signing in: the page fits, the honeypot stays out of sight, the reference is shown,
and the ticket exists with the channel "web form"."""

import re
import uuid

import pytest
from django.core.cache import cache
from django_tenants.utils import schema_context
from playwright.sync_api import Browser, expect

from support import web_form
from support.models import Ticket
from support.models_portal import WebFormSettings
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_browser import tenant_url
from tests.e2e.test_layout import Trouble, _overflow

pytestmark = [pytest.mark.e2e]


def test_a_customer_opens_a_ticket_on_a_phone(
    browser: Browser, live_server_url, acme, committed_db
):
    base = tenant_url(live_server_url, "acme")
    marker = uuid.uuid4().hex[:6]
    with schema_context(acme.schema):
        WebFormSettings.objects.update_or_create(
            id=1,
            defaults={
                "enabled": True,
                "intro": "We answer within a day.",
                "categories": ["Delivery", "Refunds"],
            },
        )
        for address in ("127.0.0.1", "::1"):  # earlier runs' submissions from this machine
            cache.delete(web_form._key("ip", address))
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    trouble = Trouble()
    trouble.watch(page)
    try:
        page.goto(base + "/help/")
        expect(page.get_by_role("heading", name="Contact us")).to_be_visible()
        expect(page.get_by_text("We answer within a day.")).to_be_visible()
        expect(page.locator("#id_website")).not_to_be_in_viewport()
        assert _overflow(page) <= 1, "the form must fit a phone"
        page.get_by_label("Your name").fill("李梅")
        page.get_by_label("Email").fill(f"li.mei.{marker}@example.cn")
        page.get_by_label("Subject").fill(f"Parcel late {marker}")
        page.get_by_label("How can we help?").fill("我周一下的订单还没有到。")
        page.get_by_label("Topic").select_option("Delivery")
        page.screenshot(path=str(SCREENSHOTS / "web-form-390.png"), full_page=True)
        page.wait_for_timeout(3_200)  # a person takes longer than the form's minimum fill time
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("heading", name="Thank you, we have your message")).to_be_visible()
        reference = page.locator(".web-form-reference").inner_text().strip()
        assert re.fullmatch(r"T-\d{6}", reference)
        assert _overflow(page) <= 1
        page.screenshot(path=str(SCREENSHOTS / "web-form-sent-390.png"), full_page=True)
        assert trouble.lines == [], trouble.lines
        with schema_context(acme.schema):
            made = Ticket.objects.get(subject=f"Parcel late {marker}")
            assert made.reference == reference
            assert (made.channel, made.category, made.requester_name) == ("web", "Delivery", "李梅")
    finally:
        context.close()
        with schema_context(acme.schema):
            Ticket.objects.filter(subject=f"Parcel late {marker}").delete()
