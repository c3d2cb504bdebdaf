"""The customer's context beside the conversation: loyalty's tier and points and analytics'
segment and churn flags, registered with support.customer_context, read in the ticket page's
one side query (the page's 8-query budget is tests/tickets/test_slarep_query_budget.py)."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.models import RfmScore
from analytics.models_churn import ChurnScore
from loyalty.models import Account, Tier
from loyalty.services import points_adjust
from support.customer_context import ticket_context_items
from tests.conftest import client_for
from tests.tickets.factory import customer, in_tenant, staff, ticket

pytestmark = pytest.mark.django_db


def _scored(buyer_id: int) -> None:
    RfmScore.objects.create(
        customer_id=buyer_id,
        as_of=datetime.date(2026, 1, 1),
        recency_days=3,
        frequency=9,
        monetary=Decimal("900"),
        r=5,
        f=5,
        m=5,
        fm=5,
        segment="champions",
    )
    ChurnScore.objects.create(
        customer_id=buyer_id,
        as_of=datetime.date(2026, 1, 1),
        flags=[
            {"code": "overdue", "days_since": 90, "times": 3, "usual_gap_days": 30, "multiple": 2}
        ],
    )


def test_the_panel_shows_tier_points_segment_and_churn_flags(acme):
    with in_tenant(acme):
        agent = staff(acme, "agent")
        buyer = customer("上下文 Context", owner=agent)
        points_adjust(actor=None, customer=buyer, points=37, reason="welcome")
        Account.objects.filter(customer=buyer).update(tier=Tier.objects.order_by("position")[0])
        tier_name = Tier.objects.order_by("position")[0].name
        _scored(buyer.pk)
        made = ticket(assignee=agent, customer_=buyer)
        bare = ticket(assignee=agent, customer_=customer("No history", owner=agent))
        keys = [item.key for item in ticket_context_items(agent)]
    assert keys == ["loyalty.tier", "loyalty.points", "analytics.segment", "analytics.churn"]
    browser = client_for(acme, "agent")
    page = browser.get(reverse("support:detail", args=[made.pk])).content.decode()
    assert f'<dd data-context="loyalty.tier">{tier_name}</dd>' in page
    assert '<dd data-context="loyalty.points">37</dd>' in page
    assert '<dd data-context="analytics.segment">Champions</dd>' in page
    assert '<dd data-context="analytics.churn">Overdue for a purchase</dd>' in page
    # A customer without an account, scores or flags shows none of the lines.
    page = browser.get(reverse("support:detail", args=[bare.pk])).content.decode()
    assert 'id="customer-context"' not in page


def test_the_items_cost_no_query_of_their_own_and_skip_hidden_customers(acme):
    with in_tenant(acme):
        agent, manager = staff(acme, "agent"), staff(acme, "manager")
        buyer = customer("预算 Context", owner=agent)
        points_adjust(actor=None, customer=buyer, points=5, reason="welcome")
        _scored(buyer.pk)
        made = ticket(assignee=agent, customer_=buyer)
        hidden = ticket(assignee=agent, customer_=customer("Elsewhere", owner=manager))
        points_adjust(actor=None, customer=hidden.customer, points=999, reason="x")
    browser = client_for(acme, "agent")
    url = reverse("support:detail", args=[made.pk])
    browser.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert browser.get(url).status_code == 200
    side = [q["sql"] for q in captured.captured_queries if "loyalty_account" in q["sql"]]
    # Tier, points, segment and flags ride in the one side query with orders and tickets.
    assert len(side) == 1 and "analytics_churnscore" in side[0] and "customers_order" in side[0]
    page = browser.get(reverse("support:detail", args=[hidden.pk])).content.decode()
    assert "999" not in page and 'id="customer-context"' not in page
