"""The ledger through the services: earning from orders, redeeming (FIFO lots, idempotency,
refusals that change nothing), cancelling a redemption, refunds after spending (shortfall),
adjustments and their approval, and the default programme."""

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import User
from customers.models import Order
from customers.services import order_status_set
from loyalty.errors import InsufficientPoints
from loyalty.models import (
    Adjustment,
    EarnRule,
    LedgerEntry,
    Lot,
    Programme,
    Redemption,
    Reward,
    Tier,
)
from loyalty.selectors import account_balance, loyalty_summary, order_points
from loyalty.services import (
    adjustment_approve,
    adjustment_reject,
    points_adjust,
    points_redeem,
    redemption_cancel,
)
from tests.loyalty.helpers import account, assert_consistent, customer, order

pytestmark = pytest.mark.django_db
LONDON = zoneinfo.ZoneInfo("Europe/London")  # acme's time zone


def test_default_programme_and_tiers_work_out_of_the_box(acme):
    with schema_context(acme.schema):
        rules = Programme.objects.get(pk=1)
        assert (rules.points_per_unit, rules.expiry_months) == (1, 24)
        assert list(Tier.objects.values_list("name", flat=True)) == [
            "Bronze",
            "Silver",
            "Gold",
            "Platinum",
        ]


def test_completed_order_earns_one_point_per_unit_rounded_down(acme):
    with schema_context(acme.schema):
        who = customer()
        at = datetime.datetime(2026, 3, 5, 23, 30, tzinfo=datetime.UTC)
        placed = order(who, "99.99", at=at)
        assert account_balance(who) == 99
        assert order_points(placed) == 99
        acct = account(who)
        assert acct.tier is not None and acct.tier.name == "Bronze"
        lot = Lot.objects.get(account=acct)
        # Earned on 5 March in London: spendable through 5 March two years on.
        assert lot.expires_on == datetime.date(2028, 3, 5)
        summary = loyalty_summary(who)
        assert summary.balance == 99 and summary.tier == "Bronze"
        assert summary.qualifying_points == 99
        assert summary.expiring == [(99, datetime.date(2028, 3, 5))]
        assert_consistent(acct)


def test_refunded_and_cancelled_orders_earn_nothing(acme):
    with schema_context(acme.schema):
        who = customer()
        order(who, "50", status=Order.Status.REFUNDED)
        order(who, "50", status=Order.Status.CANCELLED)
        assert account_balance(who) == 0
        assert not LedgerEntry.objects.filter(account__customer=who).exists()


def test_earn_rules_and_tier_multiplier(acme):
    with schema_context(acme.schema):
        today = timezone.localdate(timezone.now(), LONDON)
        EarnRule.objects.create(name="web", channel="web", multiplier="1.5")
        EarnRule.objects.create(name="double", multiplier=2, starts_on=today, ends_on=today)
        EarnRule.objects.create(
            name="past",
            multiplier=5,
            starts_on=today - datetime.timedelta(days=9),
            ends_on=today - datetime.timedelta(days=2),
        )
        who = customer()
        order(who, "10", channel="web")  # the best rule: double (2 > 1.5)
        assert account_balance(who) == 20
        old = timezone.now() - datetime.timedelta(days=30)
        order(who, "10", channel="web", at=old)  # only the channel rule then
        assert account_balance(who) == 35


def test_redeem_takes_oldest_expiry_first_and_cancel_gives_back(acme):
    with schema_context(acme.schema):
        who = customer()
        now = timezone.now()
        order(who, "30", at=now - datetime.timedelta(days=400))
        order(who, "50", at=now)
        acct = account(who)
        old_lot, new_lot = Lot.objects.filter(account=acct).order_by("expires_on")
        redemption = points_redeem(actor=None, customer=who, points=40, note="at the till")
        old_lot.refresh_from_db()
        new_lot.refresh_from_db()
        assert (old_lot.remaining, new_lot.remaining) == (0, 40)
        spent = LedgerEntry.objects.get(redemption=redemption, kind="redeem")
        assert sorted(spent.lot_uses.values_list("lot_id", "points")) == sorted(
            [(old_lot.pk, 30), (new_lot.pk, 10)]
        )
        assert_consistent(acct)
        redemption_cancel(actor=None, redemption=redemption)
        old_lot.refresh_from_db()
        new_lot.refresh_from_db()
        assert (old_lot.remaining, new_lot.remaining) == (30, 50)
        assert account_balance(who) == 80
        with pytest.raises(ValidationError):
            redemption_cancel(actor=None, redemption=redemption)
        assert account_balance(who) == 80
        assert_consistent(acct)


def test_redeem_refusals_change_nothing(acme):
    with schema_context(acme.schema):
        who = customer()
        order(who, "25")
        with pytest.raises(InsufficientPoints) as short:
            points_redeem(actor=None, customer=who, points=26)
        assert (short.value.balance, short.value.wanted) == (25, 26)
        with pytest.raises(ValidationError):
            points_redeem(actor=None, customer=who, points=0)
        nobody = customer()
        with pytest.raises(InsufficientPoints):
            points_redeem(actor=None, customer=nobody, points=1)
        assert account_balance(who) == 25
        assert not Redemption.objects.filter(account__customer=who).exists()
        assert_consistent(account(who))


def test_same_idempotency_key_redeems_once(acme):
    with schema_context(acme.schema):
        who = customer()
        order(who, "100")
        first = points_redeem(
            actor=None, customer=who, points=30, idempotency_key="k-1-" + who.name
        )
        again = points_redeem(
            actor=None, customer=who, points=30, idempotency_key="k-1-" + who.name
        )
        assert first.pk == again.pk
        assert account_balance(who) == 70
        other = customer()
        order(other, "100")
        with pytest.raises(ValidationError):
            points_redeem(actor=None, customer=other, points=30, idempotency_key="k-1-" + who.name)
        assert account_balance(other) == 100


def test_reward_stock_and_per_customer_limit(acme):
    with schema_context(acme.schema):
        reward = Reward.objects.create(name="Mug", points_cost=10, stock=2, per_customer_limit=1)
        who, other, third = customer(), customer(), customer()
        for person in (who, other, third):
            order(person, "100")
        points_redeem(actor=None, customer=who, points=10, reward=reward)
        with pytest.raises(ValidationError):
            points_redeem(actor=None, customer=who, points=10, reward=reward)  # limit
        with pytest.raises(ValidationError):
            points_redeem(actor=None, customer=other, points=5, reward=reward)  # wrong cost
        points_redeem(actor=None, customer=other, points=10, reward=reward)
        with pytest.raises(ValidationError):
            points_redeem(actor=None, customer=third, points=10, reward=reward)  # stock
        reward.refresh_from_db()
        assert reward.stock == 0
        assert account_balance(third) == 100


def test_refund_after_partial_redemption_records_the_shortfall(acme):
    with schema_context(acme.schema):
        who = customer()
        placed = order(who, "100")
        points_redeem(actor=None, customer=who, points=70)
        order_status_set(actor=None, order=placed, status=Order.Status.REFUNDED)
        acct = account(who)
        reverse = LedgerEntry.objects.get(order_id=placed.pk, kind="reverse")
        assert (reverse.points, reverse.shortfall, reverse.qualifying) == (-30, 70, -100)
        assert acct.balance == 0
        assert order_points(placed) == 0
        assert_consistent(acct)
        # Posting the refund again takes nothing more.
        order_status_set(actor=None, order=placed, status=Order.Status.CANCELLED)
        assert LedgerEntry.objects.filter(order_id=placed.pk, kind="reverse").count() == 1


def test_refund_takes_from_other_lots_when_its_own_was_spent(acme):
    with schema_context(acme.schema):
        who = customer()
        first = order(who, "40", at=timezone.now() - datetime.timedelta(days=10))
        order(who, "60")
        points_redeem(actor=None, customer=who, points=40)  # the first order's lot
        order_status_set(actor=None, order=first, status=Order.Status.REFUNDED)
        reverse = LedgerEntry.objects.get(order_id=first.pk, kind="reverse")
        assert (reverse.points, reverse.shortfall) == (-40, 0)
        assert account_balance(who) == 20
        assert_consistent(account(who))


def test_adjustment_within_limit_applies_and_above_waits_for_a_second_user(acme):
    with schema_context(acme.schema):
        manager = User.objects.get(pk=acme.manager.pk)
        admin = User.objects.get(pk=acme.admin.pk)
        who = customer()
        with pytest.raises(ValidationError):
            points_adjust(actor=manager, customer=who, points=10, reason="  ")
        small = points_adjust(actor=manager, customer=who, points=100, reason="goodwill")
        assert small.status == Adjustment.Status.APPLIED
        assert account_balance(who) == 100
        with pytest.raises(InsufficientPoints):
            points_adjust(actor=manager, customer=who, points=-101, reason="typo")
        big = points_adjust(actor=manager, customer=who, points=1000, reason="complaint")
        assert big.status == Adjustment.Status.PENDING
        assert account_balance(who) == 100
        with pytest.raises(ValidationError):
            adjustment_approve(actor=manager, adjustment=big)  # the requester
        agent = User.objects.get(pk=acme.agent.pk)
        with pytest.raises(ValidationError):
            adjustment_approve(actor=agent, adjustment=big)  # may not adjust over the limit
        assert account_balance(who) == 100
        adjustment_approve(actor=admin, adjustment=big)
        assert account_balance(who) == 1100
        with pytest.raises(ValidationError):
            adjustment_reject(actor=admin, adjustment=big)
        assert_consistent(account(who))


def test_sign_up_bonus_once_when_the_account_opens(acme):
    with schema_context(acme.schema):
        Programme.objects.filter(pk=1).update(signup_bonus=25)
        who = customer()
        order(who, "10")
        order(who, "10")
        assert account_balance(who) == 45
        assert LedgerEntry.objects.filter(account__customer=who, bonus="signup").count() == 1
        other = customer()
        points_adjust(actor=None, customer=other, points=5, reason="welcome call")
        assert account_balance(other) == 30
        assert_consistent(account(who))
        assert_consistent(account(other))


def test_the_tier_multiplier_applies_to_later_orders(acme):
    with schema_context(acme.schema):
        who = customer()
        order(who, "1000")  # Silver from here (1.10)
        assert account(who).tier.name == "Silver"
        order(who, "100")
        assert account_balance(who) == 1000 + 110
        assert loyalty_summary(who).qualifying_points == 1110


def test_a_reward_outside_its_dates_is_refused(acme):
    with schema_context(acme.schema):
        today = timezone.localdate(timezone.now(), LONDON)
        later = Reward.objects.create(
            name="Later", points_cost=5, valid_from=today + datetime.timedelta(days=2)
        )
        gone = Reward.objects.create(name="Gone", points_cost=5, active=False)
        who = customer()
        order(who, "50")
        for reward in (later, gone):
            with pytest.raises(ValidationError):
                points_redeem(actor=None, customer=who, points=5, reward=reward)
        assert account_balance(who) == 50
