"""Building a segment in Chromium: a marketer picks conditions with the keyboard-friendly
builder, the live count follows every change, saving lists the members, and the dashboard
draws its charts (at a laptop's and a phone's width)."""

import uuid

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from analytics.models_segments import Segment
from customers.services import CustomerInput, customer_create
from tests.e2e.conftest import shot
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD
from tests.testkit.cleanup import customers_delete

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def city_customers(acme, committed_db):
    marker = uuid.uuid4().hex[:6]
    city = f"杭州{marker}"
    with schema_context(acme.schema):
        made = [
            customer_create(
                actor=None,
                data=CustomerInput(name=f"分群客户 {marker} {i}", city=city, tags=tags),
            )
            for i, tags in enumerate([["vip"], [], ["tea"]])
        ]
    yield city, marker
    with schema_context(acme.schema):
        Segment.objects.filter(name__contains=marker).delete()
        customers_delete([c.pk for c in made])


def _redrawn(page: Page, action) -> None:
    """Do what redraws the rules (htmx) and wait until the new rules are live: htmx wires the
    swapped-in controls when it settles, and a person is never faster than that."""
    with page.expect_response(lambda r: "/analytics/segments/new/" in r.url):
        action()
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def _count(page: Page):
    return page.get_by_test_id("segment-count").locator("strong")


def test_build_a_segment_with_a_live_count_and_open_the_dashboard(
    page: Page, live_server_url, acme, city_customers
):
    city, marker = city_customers
    base = tenant_url(live_server_url, "acme")
    page.goto(base + "/login/")
    page.get_by_label("Email").fill(acme.email("marketing"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("header nav").get_by_role("link", name="Analytics", exact=True).click()
    page.get_by_role("link", name="Segments", exact=True).click()
    page.get_by_role("button", name="New segment").click()

    page.get_by_label("Name").fill(f"Hangzhou {marker}")
    # Choosing the field redraws the condition (htmx) with its operators and value input.
    _redrawn(
        page, lambda: page.get_by_label("Condition 1: what to test").select_option(label="City")
    )
    expect(page.get_by_label("How to compare")).to_have_value("eq")
    value = page.get_by_label("Value")
    value.fill(city)
    expect(_count(page)).to_have_attribute("data-count", "3")

    _redrawn(page, lambda: page.get_by_role("button", name="Add a condition").click())
    second = page.get_by_label("Condition 2: what to test")
    expect(second).to_be_focused()
    _redrawn(page, lambda: second.select_option(label="Tag"))
    expect(page.locator("#g0-c1-op")).to_have_value("has")
    page.locator("#g0-c1-value").fill("vip")
    expect(_count(page)).to_have_attribute("data-count", "1")

    # Any of the two conditions: the count follows the group's join.
    page.get_by_label("In this group, match").select_option(label="any of these conditions")
    expect(_count(page)).to_have_attribute("data-count", "3")
    page.get_by_label("In this group, match").select_option(label="all of these conditions")
    expect(_count(page)).to_have_attribute("data-count", "1")
    shot(page, "segment-builder")

    page.get_by_role("button", name="Save and refresh members").click()
    expect(page.get_by_role("heading", name=f"Hangzhou {marker}")).to_be_visible()
    expect(page.get_by_test_id("segment-size")).to_contain_text("1 member")
    expect(page.get_by_test_id("segment-members")).to_contain_text(f"分群客户 {marker} 0")
    shot(page, "segment-detail")

    page.get_by_role("link", name="Dashboard", exact=True).click()
    dashboard = page.get_by_test_id("dashboard")
    expect(dashboard).to_be_visible()
    segments_panel = dashboard.locator('[data-panel="segments"]')
    expect(segments_panel.locator("svg")).to_be_visible()
    segments_panel.get_by_text("Numbers of").click()
    expect(segments_panel.locator("table")).to_contain_text(f"Hangzhou {marker}")
    shot(page, "analytics-dashboard")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(segments_panel.locator("svg")).to_be_visible()
    box = segments_panel.locator("svg").bounding_box()
    assert box is not None and box["width"] <= 390
    shot(page, "analytics-dashboard-phone")
