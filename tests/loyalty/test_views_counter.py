"""The counter pages per role: the Points tab, redeeming a reward (receipt, errors), cancelling,
manual adjustments with the approval queue, the history. Refused actions change nothing."""

import re

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import User
from customers.models import Interaction
from loyalty.models import Adjustment, LedgerEntry, Redemption, Reward
from loyalty.programme import programme
from loyalty.services import points_adjust
from tests.conftest import client_for
from tests.loyalty.helpers import account, assert_consistent, customer, order

pytestmark = pytest.mark.django_db

ROLES = ("admin", "manager", "agent", "marketing", "viewer")
WRITERS = ("admin", "manager", "agent")


def _member(acme, amount: str = "500", **reward_fields):
    """A member owned by the agent (so every role may see them) with `amount` points."""
    with schema_context(acme.schema):
        who = customer(owner=User.objects.get(pk=acme.agent.pk))
        order(who, amount)
        reward = Reward.objects.create(
            name=reward_fields.pop("name", "Tote bag 托特包"),
            points_cost=reward_fields.pop("points_cost", 200),
            **reward_fields,
        )
    return who, reward


def _balance(acme, who) -> int:
    with schema_context(acme.schema):
        return account(who).balance


def _page(client, who) -> str:
    response = client.get(reverse("customers:detail", kwargs={"pk": who.pk}))
    assert response.status_code == 200
    return response.content.decode()


def _redeem(client, who, **data):
    return client.post(reverse("loyalty:redeem", kwargs={"pk": who.pk}), {"key": "k1", **data})


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_points_tab_and_only_writers_get_the_counter(role, acme):
    who, reward = _member(acme)
    page = _page(client_for(acme, role), who)
    assert 'id="tab-points"' in page
    assert 'data-testid="points-balance">500' in page
    with schema_context(acme.schema):
        code = account(who).referral_code
    assert code in page
    assert ("redeem-form" in page) == (role in WRITERS)
    assert (reward.name in page) == (role in WRITERS)


@pytest.mark.parametrize("role", ROLES)
def test_redeeming_a_reward_gives_a_receipt_to_writers_and_nothing_to_others(role, acme):
    who, reward = _member(acme)
    client = client_for(acme, role)
    response = _redeem(client, who, reward=reward.pk)
    if role not in WRITERS:
        assert response.status_code == 403
        assert _balance(acme, who) == 500
        with schema_context(acme.schema):
            assert not Redemption.objects.filter(account__customer=who).exists()
        return
    assert response.status_code == 302
    with schema_context(acme.schema):
        redemption = Redemption.objects.get(account__customer=who)
        assert redemption.reward_id == reward.pk and redemption.points == 200
        assert Interaction.objects.filter(customer=who, source="points_redeem").count() == 1
        assert_consistent(account(who))
    assert response.url == reverse("loyalty:receipt", kwargs={"pk": redemption.pk})
    receipt = client.get(response.url).content.decode()
    assert f'data-testid="receipt-id">#{redemption.pk}' in receipt
    assert 'data-testid="receipt-balance"><strong>300</strong>' in receipt
    assert reward.name in receipt and acme.users[role].full_name in receipt

    # The same form sent again (a double click) redeems nothing more.
    again = _redeem(client, who, reward=reward.pk)
    assert again.url == response.url
    assert _balance(acme, who) == 300


def _error_after(client, response) -> str:
    assert response.status_code == 302 and response.url.endswith("#tab-points")
    return client.get(response.url).content.decode()


def test_refusals_are_shown_and_change_nothing(acme):
    who, reward = _member(acme, "150", points_cost=100, stock=0)
    client = client_for(acme, "agent")
    page = _error_after(client, _redeem(client, who, points=999))
    assert "Not enough points: the balance is 150, 999 were asked for." in page
    with schema_context(acme.schema):
        Reward.objects.filter(pk=reward.pk).update(stock=5, per_customer_limit=1)
    assert _redeem(client, who, reward=reward.pk, key="a").status_code == 302
    page = _error_after(client, _redeem(client, who, points=10, key="b", reward=reward.pk))
    assert "costs 100 points" in page
    with schema_context(acme.schema):
        Reward.objects.filter(pk=reward.pk).update(stock=0)
    # Out of stock since the page was drawn: the tab no longer offers it, the service says why.
    assert f'<option value="{reward.pk}">' not in _page(client, who)
    page = _error_after(client, _redeem(client, who, reward=reward.pk, key="c"))
    assert "This reward is out of stock." in page
    with schema_context(acme.schema):
        Reward.objects.filter(pk=reward.pk).update(stock=5)
    page = _error_after(client, _redeem(client, who, reward=reward.pk, key="d"))
    assert "the most allowed" in page
    page = _error_after(client, _redeem(client, who, key="e"))
    assert "Choose a reward or enter the points to redeem." in page
    assert _balance(acme, who) == 50
    with schema_context(acme.schema):
        assert Redemption.objects.filter(account__customer=who).count() == 1
        assert Reward.objects.get(pk=reward.pk).stock == 5


def test_cancelling_gives_the_points_back_once(acme):
    who, reward = _member(acme, stock=3)
    client = client_for(acme, "agent")
    receipt_url = _redeem(client, who, reward=reward.pk).url
    pk = int(re.findall(r"\d+", receipt_url)[-1])
    viewer = client_for(acme, "viewer")
    cancel = reverse("loyalty:redemption_cancel", kwargs={"pk": pk})
    assert viewer.post(cancel).status_code == 403
    assert _balance(acme, who) == 300
    response = client.post(cancel)
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "points are back on the balance" in page and "Cancel the redemption" not in page
    assert _balance(acme, who) == 500
    again = client.get(client.post(cancel).url).content.decode()
    assert "already cancelled" in again
    assert _balance(acme, who) == 500
    with schema_context(acme.schema):
        assert Reward.objects.get(pk=reward.pk).stock == 3
        assert_consistent(account(who))


def test_a_small_adjustment_applies_and_a_large_one_waits_for_another_user(acme):
    who, _reward = _member(acme)
    with schema_context(acme.schema):
        limit = programme().adjustment_limit
    agent = client_for(acme, "agent")
    url = reverse("loyalty:adjust", kwargs={"pk": who.pk})
    page = _error_after(agent, agent.post(url, {"points": "25", "reason": " "}))
    assert "This field is required." in page or "Say why" in page
    assert _balance(acme, who) == 500
    assert agent.post(url, {"points": "25", "reason": "Goodwill"}).status_code == 302
    assert _balance(acme, who) == 525
    page = _error_after(agent, agent.post(url, {"points": str(limit + 1), "reason": "Big"}))
    assert "it waits for a second user" in page
    assert _balance(acme, who) == 525
    with schema_context(acme.schema):
        pending = Adjustment.objects.get(account__customer=who, status="pending")

    # The agent may not open the queue; the manager approves; the requester could not.
    assert agent.get(reverse("loyalty:approvals")).status_code == 403
    manager = client_for(acme, "manager")
    queue = manager.get(reverse("loyalty:approvals")).content.decode()
    assert "Big" in queue and who.name in queue
    decide = reverse("loyalty:adjustment_decide", kwargs={"pk": pending.pk})
    assert agent.post(decide, {"decision": "approve"}).status_code == 403
    assert manager.post(decide, {"decision": "approve"}).status_code == 302
    assert _balance(acme, who) == 525 + limit + 1
    with schema_context(acme.schema):
        pending.refresh_from_db()
        assert pending.status == "applied" and pending.decided_by_id == acme.manager.pk
        assert_consistent(account(who))


def test_the_requester_cannot_approve_their_own_adjustment(acme):
    who, _reward = _member(acme)
    manager = client_for(acme, "manager")
    with schema_context(acme.schema):
        limit = programme().adjustment_limit
    url = reverse("loyalty:adjust", kwargs={"pk": who.pk})
    manager.post(url, {"points": str(-(limit + 1)), "reason": "Fraud"})
    with schema_context(acme.schema):
        pending = Adjustment.objects.get(account__customer=who, status="pending")
    queue = manager.get(reverse("loyalty:approvals")).content.decode()
    assert "another user decides" in queue
    decide = reverse("loyalty:adjustment_decide", kwargs={"pk": pending.pk})
    page = manager.get(manager.post(decide, {"decision": "approve"}).url).content.decode()
    assert "Someone other than the requester" in page
    with schema_context(acme.schema):
        assert Adjustment.objects.get(pk=pending.pk).status == "pending"
    admin = client_for(acme, "admin")
    assert admin.post(decide, {"decision": "reject"}).status_code == 302
    assert _balance(acme, who) == 500
    with schema_context(acme.schema):
        assert Adjustment.objects.get(pk=pending.pk).status == "rejected"


@pytest.mark.parametrize("role", ROLES)
def test_the_history_pages_through_entries(role, acme):
    who, _reward = _member(acme)
    with schema_context(acme.schema):
        for _ in range(30):
            order(who, "1")
        assert LedgerEntry.objects.filter(account__customer=who).count() == 31
    client = client_for(acme, role)
    url = reverse("loyalty:history", kwargs={"pk": who.pk})
    first = client.get(url).content.decode()
    assert "Page 1 of 2" in first
    assert client.get(url + "?page=2").status_code == 200


def test_another_scope_is_a_404(acme):
    """The agent sees their own and their teams' customers only."""
    with schema_context(acme.schema):
        other = customer()
        order(other, "100")
    agent = client_for(acme, "agent")
    assert _redeem(agent, other, points=10).status_code == 404
    assert agent.get(reverse("loyalty:history", kwargs={"pk": other.pk})).status_code == 404
    assert _balance(acme, other) == 100


def test_an_approver_with_a_narrow_scope_sees_only_their_customers_adjustments(acme):
    from django.test import Client

    from crm.accounts.services import role_create, staff_create

    with schema_context(acme.schema):
        limit = programme().adjustment_limit
        role = role_create(
            actor=None,
            name="Approver (own customers)",
            description="",
            scope="own",
            codenames=["view_records", "adjust_points_over_limit"],
        )
        approver = staff_create(
            actor=None,
            email="approver@acme.test",
            full_name="Own Approver",
            role=role,
            password=None,
        )
        mine = customer(name="Mine 我的", owner=approver)
        theirs = customer(name="Theirs 他的")
        requester = User.objects.get(pk=acme.manager.pk)
        for who in (mine, theirs):
            order(who, "100")
            points_adjust(actor=requester, customer=who, points=limit + 1, reason="Big one")
        hidden = Adjustment.objects.get(account__customer=theirs)
    client = Client(HTTP_HOST=acme.host)
    with schema_context(acme.schema):
        client.force_login(approver)
    queue = client.get(reverse("loyalty:approvals")).content.decode()
    assert "Mine 我的" in queue and "Theirs 他的" not in queue
    decide = reverse("loyalty:adjustment_decide", kwargs={"pk": hidden.pk})
    assert client.post(decide, {"decision": "approve"}).status_code == 404
    with schema_context(acme.schema):
        assert Adjustment.objects.get(pk=hidden.pk).status == "pending"


def test_the_tab_shows_progress_to_the_next_tier(acme):
    who, _reward = _member(acme, "400")
    with schema_context(acme.schema):
        newcomer = customer(owner=User.objects.get(pk=acme.agent.pk))
    client = client_for(acme, "viewer")
    assert "600 more to Silver" in _page(client, who)
    page = _page(client, newcomer)
    assert 'data-testid="points-balance">0' in page and "1000 more to Silver" in page
    with schema_context(acme.schema):
        order(who, "20000")  # Platinum at once: the top
    assert "Top tier reached" in _page(client, who)
