"""The programme pages per role: settings (rules, tiers, earn rules, rewards) with their
validation, the dashboard's figures and reconciliation issues, a member's statement, and points
and tier on the customer list."""

import datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import User
from loyalty.jobs import ledger_reconcile
from loyalty.models import EarnRule, LedgerEntry, Programme, Reward, Tier
from loyalty.services import points_adjust, points_redeem
from tests.conftest import client_for
from tests.loyalty.helpers import account, customer, order
from tests.testkit.listing import listed_names

pytestmark = pytest.mark.django_db

ROLES = ("admin", "manager", "agent", "marketing", "viewer")
MANAGERS = ("admin", "manager")

RULES = {
    "points_per_unit": "2",
    "expiry_months": "12",
    "tier_basis": "spend",
    "tier_window_months": "12",
    "downgrade_grace_days": "10",
    "adjustment_limit": "300",
    "signup_bonus": "5",
    "birthday_bonus": "50",
    "referral_bonus": "100",
}


def _programme(acme) -> Programme:
    with schema_context(acme.schema):
        return Programme.objects.get(pk=1)


@pytest.mark.parametrize("role", ROLES)
def test_only_loyalty_managers_change_the_rules(role, acme):
    client = client_for(acme, role)
    before = _programme(acme)
    response = client.post(reverse("loyalty:settings"), RULES)
    if role not in MANAGERS:
        assert response.status_code == 403
        assert client.get(reverse("loyalty:settings")).status_code == 403
        after = _programme(acme)
        assert (after.points_per_unit, after.adjustment_limit) == (
            before.points_per_unit,
            before.adjustment_limit,
        )
        return
    assert response.status_code == 302
    after = _programme(acme)
    assert (str(after.points_per_unit), after.expiry_months, after.tier_basis) == (
        "2.00",
        12,
        "spend",
    )
    assert after.adjustment_limit == 300 and after.signup_bonus == 5


def test_the_rules_refuse_bad_values_with_clear_messages(acme):
    client = client_for(acme, "manager")
    response = client.post(
        reverse("loyalty:settings"), RULES | {"expiry_months": "0", "points_per_unit": "-1"}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "expiry_months" in errors and "points_per_unit" in errors
    assert _programme(acme).expiry_months == 24


def test_tiers_earn_rules_and_rewards_are_edited_and_validated(acme):
    client = client_for(acme, "admin")
    with schema_context(acme.schema):
        gold = Tier.objects.get(name="Gold")
    clash = client.post(
        reverse("loyalty:tier_new"),
        {"name": "Gold", "position": "9", "threshold": "1", "multiplier": "1"},
    )
    assert clash.status_code == 200 and "name" in clash.context["form"].errors
    out_of_order = client.post(
        reverse("loyalty:tier_new"),
        {"name": "Diamond 钻石", "position": "9", "threshold": "100", "multiplier": "3"},
    )
    assert "Platinum, a lower tier, already needs 15000" in out_of_order.content.decode()
    made = client.post(
        reverse("loyalty:tier_new"),
        {"name": "Diamond 钻石", "position": "9", "threshold": "90000", "multiplier": "3"},
    )
    assert made.status_code == 302
    edit = client.post(
        reverse("loyalty:tier_edit", kwargs={"pk": gold.pk}),
        {
            "name": "Gold",
            "position": gold.position,
            "threshold": "4242",
            "multiplier": "1.5",
            "benefits": "Free delivery",
        },
    )
    assert edit.status_code == 302
    with schema_context(acme.schema):
        assert Tier.objects.get(pk=gold.pk).threshold == 4242
        assert Tier.objects.filter(name="Diamond 钻石").exists()

    bad_rule = client.post(
        reverse("loyalty:rule_new"),
        {
            "name": "Weekend",
            "multiplier": "2",
            "starts_on": "2026-12-12",
            "ends_on": "2026-12-11",
            "active": "on",
        },
    )
    assert bad_rule.status_code == 200 and "ends_on" in bad_rule.context["form"].errors
    good_rule = client.post(
        reverse("loyalty:rule_new"),
        {
            "name": "Weekend",
            "multiplier": "2",
            "starts_on": "2026-12-12",
            "ends_on": "2026-12-13",
            "active": "on",
        },
    )
    assert good_rule.status_code == 302
    with schema_context(acme.schema):
        assert EarnRule.objects.get(name="Weekend").multiplier == 2

    bad = client.post(reverse("loyalty:reward_new"), {"name": "Mug", "points_cost": "0"})
    assert bad.status_code == 200 and "points_cost" in bad.context["form"].errors
    assert (
        client.post(
            reverse("loyalty:reward_new"),
            {
                "name": "Mug",
                "points_cost": "150",
                "stock": "10",
                "per_customer_limit": "2",
                "active": "on",
            },
        ).status_code
        == 302
    )
    with schema_context(acme.schema):
        mug = Reward.objects.get(name="Mug")
    assert (mug.stock, mug.per_customer_limit, mug.active) == (10, 2, True)
    client.post(reverse("loyalty:reward_active", kwargs={"pk": mug.pk}), {"active": "0"})
    with schema_context(acme.schema):
        assert Reward.objects.get(pk=mug.pk).active is False
    page = client.get(reverse("loyalty:settings")).content.decode()
    assert "Mug" in page and "Not offered" in page and "Diamond 钻石" in page


@pytest.mark.parametrize("role", ROLES)
def test_the_dashboard_shows_figures_to_readers_of_reports(role, acme):
    with schema_context(acme.schema):
        who = customer(owner=User.objects.get(pk=acme.agent.pk))
        order(who, "12000")
        points_redeem(actor=None, customer=who, points=300)
        points_adjust(actor=None, customer=who, points=-100, reason="Damaged")
    client = client_for(acme, role)
    response = client.get(reverse("loyalty:home") + "?point_value=0.05")
    assert response.status_code == 200
    page = response.content.decode()
    if role in ("admin", "manager", "marketing"):
        figures = response.context["figures"]
        assert figures.issued >= 1000 and figures.redeemed >= 300
        assert figures.outstanding >= 600
        assert 'data-testid="liability-money"' in page and "GBP" in page
        assert "at 0.05 GBP a point" in page
        # Large figures are grouped (1,000 and more).
        assert figures.outstanding >= 11_600
        assert f'data-testid="liability-points">{figures.outstanding:,}<' in page
    else:
        assert "figures" not in response.context and "liability" not in page
    assert ("Reconciliation" in page) == (role in MANAGERS)


def test_the_dashboard_lists_what_reconciliation_found(acme):
    with schema_context(acme.schema):
        who = customer(name="Mismatch 对不上")
        order(who, "80")
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE loyalty_account SET balance = balance + 7 WHERE id = %s", [account(who).pk]
            )
        ledger_reconcile(actor=None)
    page = client_for(acme, "manager").get(reverse("loyalty:home")).content.decode()
    assert "Mismatch 对不上" in page and "Balance differs from the ledger" in page


@pytest.mark.parametrize("role", ROLES)
def test_a_statement_has_opening_and_closing_balances(role, acme):
    with schema_context(acme.schema):
        who = customer(owner=User.objects.get(pk=acme.agent.pk))
        long_ago = timezone.now() - datetime.timedelta(days=40)
        order(who, "100", at=long_ago)
        order(who, "50")
        points_redeem(actor=None, customer=who, points=30, note="coffee")
    today = timezone.localdate()
    start = today - datetime.timedelta(days=10)
    url = reverse("loyalty:statement", kwargs={"pk": who.pk})
    response = client_for(acme, role).get(f"{url}?start={start}&end={today}")
    assert response.status_code == 200
    statement = response.context["statement"]
    assert (statement.opening, statement.credited, statement.debited, statement.closing) == (
        100,
        50,
        30,
        120,
    )
    assert [e.kind for e in statement.entries] == [LedgerEntry.Kind.EARN, LedgerEntry.Kind.REDEEM]
    page = response.content.decode()
    assert 'data-testid="closing"><strong>120' in page and "coffee" in page
    bad = client_for(acme, role).get(f"{url}?start={today}&end={start}")
    assert "The period must end on or after its first day." in bad.content.decode()


def test_the_customer_list_shows_and_filters_points_and_tier(acme):
    with schema_context(acme.schema):
        rich, poor = customer(name="Rich 富"), customer(name="Poor 穷")
        order(rich, "6000")
        order(poor, "10")
        silver = Tier.objects.get(name="Silver")
        rich_tier = account(rich).tier
    client = client_for(acme, "viewer")
    home = reverse("customers:home")
    page = client.get(home).content.decode()
    assert "<th" in page and ">Points<" in page and ">Tier<" in page
    assert listed_names(client.get(f"{home}?points_min=5000")) == ["Rich 富"]
    assert "Poor 穷" in listed_names(client.get(f"{home}?points_min=5"))
    tiered = listed_names(client.get(f"{home}?tier={rich_tier.pk}"))
    assert "Rich 富" in tiered and "Poor 穷" not in tiered
    assert rich_tier.name == "Gold"
    silver_list = listed_names(client.get(f"{home}?tier={silver.pk}"))
    assert "Rich 富" not in silver_list
    # A change of points shows at once: the account stamps the list version.
    with schema_context(acme.schema):
        order(poor, "7000")
    assert "Poor 穷" in listed_names(client.get(f"{home}?points_min=5000"))
