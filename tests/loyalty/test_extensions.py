"""Loyalty in the extension points of customers: merges move accounts (and a revert puts them
back), erasure keeps the amounts but not the text, tenants never see each other's accounts,
and the demo seeder builds a consistent programme state (safe twice)."""

import random

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.tenants.seeding import SeedOptions
from customers.merge import customer_merge, customer_merge_revert
from customers.models import Customer
from customers.privacy import customer_erase
from loyalty.jobs import ledger_reconcile
from loyalty.models import Account, Adjustment, LedgerEntry, ReconciliationIssue, Redemption
from loyalty.seeding import loyalty_seed
from loyalty.selectors import account_balance, loyalty_summary
from loyalty.services import points_adjust, points_redeem, referral_link
from tests.loyalty.helpers import account, assert_consistent, customer, order

pytestmark = pytest.mark.django_db


def test_merge_moves_the_account_and_revert_restores_it(acme):
    with schema_context(acme.schema):
        keep, drop = customer(), customer()
        order(keep, "30")
        order(drop, "50")
        order(drop, "20")
        points_redeem(actor=None, customer=drop, points=10, note="before the merge")
        kept_account, dropped_account = account(keep), account(drop)
        dropped_entries = set(
            LedgerEntry.objects.filter(account=dropped_account).values_list("pk", flat=True)
        )
        merge = customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        assert not Account.objects.filter(pk=dropped_account.pk).exists()
        assert account_balance(keep) == 30 + 60
        moved = set(LedgerEntry.objects.filter(account=kept_account).values_list("pk", flat=True))
        assert dropped_entries <= moved
        assert Redemption.objects.get(note="before the merge").account_id == kept_account.pk
        assert_consistent(kept_account)

        customer_merge_revert(actor=None, merge=merge)
        restored = Account.objects.get(pk=dropped_account.pk)
        assert restored.customer_id == drop.pk
        assert restored.referral_code == dropped_account.referral_code
        assert account_balance(keep) == 30 and account_balance(drop) == 60
        assert (
            set(LedgerEntry.objects.filter(account=restored).values_list("pk", flat=True))
            == dropped_entries
        )
        assert_consistent(restored)
        assert_consistent(kept_account)


def test_merge_gives_the_dropped_account_to_a_survivor_without_one(acme):
    with schema_context(acme.schema):
        keep, drop = customer(), customer()
        order(drop, "25")
        moved = account(drop)
        merge = customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        assert account(keep).pk == moved.pk and account_balance(keep) == 25
        customer_merge_revert(actor=None, merge=merge)
        assert account(drop).pk == moved.pk
        assert not Account.objects.filter(customer=keep).exists()


def test_revert_is_refused_once_the_moved_points_were_spent(acme):
    with schema_context(acme.schema):
        keep, drop = customer(), customer()
        order(keep, "5")
        order(drop, "50")
        merge = customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        points_redeem(actor=None, customer=keep, points=40)
        with pytest.raises(ValidationError):
            customer_merge_revert(actor=None, merge=merge)
        assert not Customer.objects.filter(pk=drop.pk).exists()
        assert account_balance(keep) == 15


def test_erasure_keeps_the_amounts_and_removes_the_text(acme):
    with schema_context(acme.schema):
        admin = User.objects.get(pk=acme.admin.pk)
        who = customer()
        order(who, "100")
        points_adjust(actor=admin, customer=who, points=5, reason="Mrs Wang's complaint")
        points_redeem(actor=None, customer=who, points=20, note="for Mrs Wang")
        customer_erase(actor=admin, customer=who)
        acct = account(who)
        assert acct.balance == 85
        assert LedgerEntry.objects.filter(account=acct).count() == 3
        assert not LedgerEntry.objects.filter(account=acct, note__contains="Wang").exists()
        assert not Adjustment.objects.filter(account=acct, reason__contains="Wang").exists()
        assert not Redemption.objects.filter(account=acct, note__contains="Wang").exists()
        assert_consistent(acct)


def test_tenants_never_see_each_others_accounts(acme, globex):
    with schema_context(acme.schema):
        who = customer()
        order(who, "70")
        acme_account = account(who)
        code = acme_account.referral_code
    with schema_context(globex.schema):
        assert not Account.objects.filter(referral_code=code).exists()
        assert not Account.objects.filter(pk=acme_account.pk, customer_id=who.pk).exists()
        stranger = customer()
        with pytest.raises(ValidationError):
            referral_link(actor=None, customer=stranger, code=code)
        assert loyalty_summary(stranger).balance == 0
    with schema_context(acme.schema):
        assert account_balance(who) == 70


def test_seeder_builds_a_consistent_programme_and_is_safe_twice(acme):
    with schema_context(acme.schema):
        people = [customer() for _ in range(12)]
        for n, person in enumerate(people):
            order(person, str(300 + 100 * n))
        options = SeedOptions(customers=0, seed=7)
        first = loyalty_seed(random.Random(1), options)
        assert "redemptions" in first
        assert Redemption.objects.exists()
        second = loyalty_seed(random.Random(1), options)
        assert "already" in second
        ledger_reconcile(actor=None)
        assert not ReconciliationIssue.objects.exists()
