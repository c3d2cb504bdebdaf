"""The programme's jobs and rules over time: expiry at the end of the day in the tenant's time
zone (and idempotent), tier upgrades at once and downgrades after the grace days, referral
bonus once (self-referral and cycles refused), birthday bonus once a year, reconciliation of
a balance changed behind the services' back."""

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from customers.models import Order
from customers.services import order_status_set
from loyalty.jobs import birthday_bonuses, ledger_reconcile, points_expire, tiers_refresh
from loyalty.models import (
    Account,
    LedgerEntry,
    Lot,
    Programme,
    ReconciliationIssue,
    Tier,
    TierChange,
)
from loyalty.selectors import account_balance
from loyalty.services import points_redeem, referral_link
from loyalty.tiers import tiers_evaluate
from tests.loyalty.helpers import account, assert_consistent, customer, order

pytestmark = pytest.mark.django_db
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")  # globex's time zone


def test_points_expire_at_the_end_of_the_local_day_and_only_once(globex):
    with schema_context(globex.schema):
        who = customer()
        # 00:30 on 1 March in Shanghai is still 28 February in UTC: the local date counts.
        earned_at = datetime.datetime(2024, 3, 1, 0, 30, tzinfo=SHANGHAI)
        order(who, "80", at=earned_at)
        acct = account(who)
        lot = Lot.objects.get(account=acct)
        assert lot.expires_on == datetime.date(2026, 3, 1)
        # The last local day: still spendable.
        assert points_expire(actor=None, today=datetime.date(2026, 3, 1)) == 0
        assert account_balance(who) == 80
        points_redeem(actor=None, customer=who, points=30)
        # The next local day: what is left expires, once.
        assert points_expire(actor=None, today=datetime.date(2026, 3, 2)) >= 1
        assert account_balance(who) == 0
        assert points_expire(actor=None, today=datetime.date(2026, 3, 2)) == 0
        expired = LedgerEntry.objects.get(account=acct, kind="expire")
        assert expired.points == -50
        assert_consistent(acct)


def test_expiry_uses_today_in_the_tenants_zone(globex):
    with schema_context(globex.schema):
        who = customer()
        now_local = timezone.localtime(timezone.now(), SHANGHAI)
        order(who, "10", at=now_local - datetime.timedelta(days=3))
        acct = account(who)
        # Made to end yesterday (local): the default run (no date given) expires it.
        Lot.objects.filter(account=acct).update(
            expires_on=now_local.date() - datetime.timedelta(days=1)
        )
        other = customer()
        order(other, "10")
        Lot.objects.filter(account=account(other)).update(expires_on=now_local.date())
        points_expire(actor=None)
        assert account_balance(who) == 0
        assert account_balance(other) == 10


def _tiers() -> dict[str, Tier]:
    return {t.name: t for t in Tier.objects.all()}


def test_tier_upgrade_at_once_and_downgrade_after_the_grace_period(acme):
    with schema_context(acme.schema):
        Programme.objects.filter(pk=1).update(downgrade_grace_days=30)
        tiers = _tiers()
        who = customer()
        big = order(who, "1200")  # Silver needs 1000 qualifying points
        acct = account(who)
        assert acct.tier_id == tiers["Silver"].pk
        assert TierChange.objects.filter(account=acct, to_tier=tiers["Silver"]).exists()
        # Spending never lowers a tier.
        points_redeem(actor=None, customer=who, points=1000)
        today = timezone.localdate()
        tiers_evaluate(account_ids=[acct.pk], today=today)
        acct.refresh_from_db()
        assert acct.tier_id == tiers["Silver"].pk and acct.below_tier_since is None
        # A refund does: the member falls below Silver, and keeps it through the grace days.
        order(who, "10")
        order_status_set(actor=None, order=big, status=Order.Status.REFUNDED)
        tiers_evaluate(account_ids=[acct.pk], today=today)
        acct.refresh_from_db()
        assert acct.tier_id == tiers["Silver"].pk and acct.below_tier_since == today
        tiers_evaluate(account_ids=[acct.pk], today=today + datetime.timedelta(days=29))
        acct.refresh_from_db()
        assert acct.tier_id == tiers["Silver"].pk
        tiers_evaluate(account_ids=[acct.pk], today=today + datetime.timedelta(days=30))
        acct.refresh_from_db()
        assert acct.tier_id == tiers["Bronze"].pk and acct.below_tier_since is None
        history = list(
            TierChange.objects.filter(account=acct)
            .order_by("at", "id")
            .values_list("to_tier__name", flat=True)
        )
        assert history[-2:] == ["Silver", "Bronze"]


def test_back_above_the_tier_during_the_grace_period_cancels_the_downgrade(acme):
    with schema_context(acme.schema):
        tiers = _tiers()
        who = customer()
        big = order(who, "1500")
        order_status_set(actor=None, order=big, status=Order.Status.CANCELLED)
        acct = account(who)
        today = timezone.localdate()
        tiers_evaluate(account_ids=[acct.pk], today=today)
        order(who, "1100")
        tiers_refresh(actor=None, today=today + datetime.timedelta(days=5))
        acct.refresh_from_db()
        assert acct.tier_id == tiers["Silver"].pk and acct.below_tier_since is None


def test_spend_basis(acme):
    with schema_context(acme.schema):
        Programme.objects.filter(pk=1).update(tier_basis="spend", points_per_unit=0)
        tiers = _tiers()
        who = customer()
        order(who, "5000")
        acct = account(who)
        assert acct.balance == 0
        assert acct.tier_id == tiers["Gold"].pk


def test_referral_bonus_is_paid_once_when_the_first_order_completes(acme):
    with schema_context(acme.schema):
        Programme.objects.filter(pk=1).update(referral_bonus=150)
        referrer = customer()
        order(referrer, "10")
        code = account(referrer).referral_code
        friend = customer()
        referral_link(actor=None, customer=friend, code=code.lower())
        assert account_balance(referrer) == 10
        order(friend, "20", status=Order.Status.CANCELLED)  # not completed: no bonus yet
        assert account_balance(referrer) == 10
        order(friend, "20")
        order(friend, "30")
        assert account_balance(referrer) == 160
        bonus = LedgerEntry.objects.filter(account=account(referrer), bonus="referral")
        assert bonus.count() == 1
        with pytest.raises(ValidationError):
            referral_link(actor=None, customer=friend, code=code)  # already referred


def test_self_referral_and_cycles_are_refused(acme):
    with schema_context(acme.schema):
        a, b, c = customer(), customer(), customer()
        for person in (a, b, c):
            order(person, "1")
        codes = {p.pk: account(p).referral_code for p in (a, b, c)}
        with pytest.raises(ValidationError):
            referral_link(actor=None, customer=a, code=codes[a.pk])
        with pytest.raises(ValidationError):
            referral_link(actor=None, customer=a, code="NOPE")
        referral_link(actor=None, customer=b, code=codes[a.pk])  # a referred b
        referral_link(actor=None, customer=c, code=codes[b.pk])  # b referred c
        with pytest.raises(ValidationError):
            referral_link(actor=None, customer=a, code=codes[c.pk])  # would close a cycle
        assert account(a).referred_by_id is None


def test_birthday_bonus_once_a_year_in_the_tenants_zone(acme):
    with schema_context(acme.schema):
        Programme.objects.filter(pk=1).update(birthday_bonus=50)
        who = customer(birthday=datetime.date(1992, 2, 29))
        order(who, "1")
        other = customer(birthday=datetime.date(1990, 3, 1))
        order(other, "1")
        day = datetime.date(2027, 2, 28)  # not a leap year: 29 Feb birthdays count today
        birthday_bonuses(actor=None, today=day)
        birthday_bonuses(actor=None, today=day)
        assert account_balance(who) == 51
        assert account_balance(other) == 1
        birthday_bonuses(actor=None, today=datetime.date(2028, 2, 29))
        assert account_balance(who) == 101


def test_reconciliation_catches_a_balance_changed_in_the_database(acme):
    with schema_context(acme.schema):
        who = customer()
        order(who, "40")
        acct = account(who)
        ledger_reconcile(actor=None)
        assert not ReconciliationIssue.objects.filter(account=acct).exists()
        with connection.cursor() as cursor:
            cursor.execute("UPDATE loyalty_account SET balance = 1000 WHERE id = %s", [acct.pk])
        ledger_reconcile(actor=None)
        ledger_reconcile(actor=None)  # found once while it stays open
        issues = ReconciliationIssue.objects.filter(account=acct)
        assert sorted(issues.values_list("kind", "expected", "found")) == [
            ("balance", 40, 1000),
            ("lots", 1000, 40),
        ]


def test_the_ledger_refuses_changes_to_amounts_and_deletes(acme):
    from django.db import DatabaseError, transaction

    with schema_context(acme.schema):
        who = customer()
        order(who, "40")
        entry = LedgerEntry.objects.get(account=account(who))
        with pytest.raises(DatabaseError), transaction.atomic():
            LedgerEntry.objects.filter(pk=entry.pk).update(points=4000)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM loyalty_lotuse WHERE entry_id = %s", [entry.pk])
            cursor.execute("DELETE FROM loyalty_lot WHERE entry_id = %s", [entry.pk])
            cursor.execute("DELETE FROM loyalty_ledgerentry WHERE id = %s", [entry.pk])
        with pytest.raises(DatabaseError), transaction.atomic():
            Account.objects.filter(customer=who).update(balance=-1)
        entry.refresh_from_db()
        assert entry.points == 40
