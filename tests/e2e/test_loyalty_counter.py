"""A redemption at the counter in Chromium: the agent opens the member, goes to the Points tab,
picks a reward, redeems with one click, and the receipt shows the new balance."""

import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from crm.accounts.models import User
from customers.services import CustomerInput, customer_create, order_create
from loyalty.models import Account, Reward
from tests.e2e.conftest import shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD
from tests.testkit.cleanup import customers_delete

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def member(acme, committed_db):
    marker = uuid.uuid4().hex[:6]
    with schema_context(acme.schema):
        who = customer_create(
            actor=None,
            data=CustomerInput(name=f"积分会员 {marker}", owner=User.objects.get(pk=acme.agent.pk)),
        )
        order_create(
            actor=None,
            customer=who,
            number=f"E2E-{marker}",
            ordered_at=timezone.now(),
            amount=Decimal("500"),
            currency="GBP",
            status="completed",
        )
        reward = Reward.objects.create(name=f"Tote bag {marker}", points_cost=200, stock=5)
    yield who, reward
    with schema_context(acme.schema):
        customers_delete([who.pk])
        Reward.objects.filter(pk=reward.pk).delete()


def test_redeem_a_reward_at_the_counter(page: Page, live_server_url, acme, member):
    who, reward = member
    base = tenant_url(live_server_url, "acme")
    page.goto(base + "/login/")
    page.get_by_label("Email").fill(acme.email("agent"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("header nav").get_by_role("link", name="Customers", exact=True).click()
    page.get_by_role("textbox", name="Search").fill(who.name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=who.name).click()

    page.get_by_role("link", name="Points", exact=True).click()
    expect(page.get_by_test_id("points-balance")).to_contain_text("500")
    form = page.get_by_test_id("redeem-form")
    form.get_by_label("Reward").select_option(label=f"{reward.name} (200 points) · 5 left")
    shot(page, "loyalty-points-tab")
    form.get_by_role("button", name="Redeem").click()

    expect(page.get_by_role("heading", name="Redemption receipt")).to_be_visible()
    expect(page.get_by_test_id("receipt-balance")).to_have_text("300")
    expect(page.get_by_test_id("receipt-points")).to_have_text("200")
    expect(page.get_by_test_id("receipt")).to_contain_text(reward.name)
    expect(page.get_by_test_id("receipt")).to_contain_text("acme agent")
    shot(page, "loyalty-receipt")
    with schema_context(acme.schema):
        assert Account.objects.get(customer_id=who.pk).balance == 300
        assert Reward.objects.get(pk=reward.pk).stock == 4

    page.get_by_role("link", name="Back to the customer").click()
    expect(page.get_by_test_id("points-balance")).to_contain_text("300")
