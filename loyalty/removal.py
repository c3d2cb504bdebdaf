"""Point accounts of customers an import created, when that import is undone
(customers.removal_hooks): an account that only holds what the import's own orders did
(earned, reversed, the sign-up bonus) goes with the customer; one that staff worked on
(redemptions, adjustments, members they referred) keeps the undo from happening. The
referral a customer was created with (loyalty.referrals) goes with its account."""

from collections.abc import Sequence

from django.db import connection
from django.utils.translation import gettext as _

from loyalty.models import (
    Account,
    Adjustment,
    LedgerEntry,
    Lot,
    LotUse,
    ReconciliationIssue,
    Redemption,
    TierChange,
)


def accounts_removal_blocker(customer_ids: Sequence[int]) -> str | None:
    accounts = Account.objects.filter(customer_id__in=customer_ids)
    worked_on = (
        LedgerEntry.objects.filter(account__in=accounts)
        .exclude(kind__in=[LedgerEntry.Kind.EARN, LedgerEntry.Kind.REVERSE])
        .exclude(kind=LedgerEntry.Kind.BONUS, bonus=LedgerEntry.Bonus.SIGNUP)
        .exists()
        or Redemption.objects.filter(account__in=accounts).exists()
        or Adjustment.objects.filter(account__in=accounts).exists()
        # Members these customers referred since. Their own referral (a code given when they
        # were made: the import's referral_code column) goes with them.
        or Account.objects.filter(referred_by__in=accounts).exists()
    )
    if worked_on:
        return _(
            "Customers this import created have loyalty points staff worked on since "
            "(redemptions, adjustments, referrals or bonuses); undo would remove them."
        )
    return None


def accounts_remove(customer_ids: Sequence[int]) -> None:
    accounts = list(
        Account.objects.filter(customer_id__in=customer_ids).values_list("pk", flat=True)
    )
    if not accounts:
        return
    with connection.cursor() as cursor:
        # The one deletion of ledger rows: the customer never existed, as far as the undo goes.
        cursor.execute("SELECT set_config('loyalty.ledger_purge', 'on', true)")
        LotUse.objects.filter(lot__account_id__in=accounts).delete()
        LotUse.objects.filter(entry__account_id__in=accounts).delete()
        Lot.objects.filter(account_id__in=accounts).delete()
        LedgerEntry.objects.filter(account_id__in=accounts).delete()
        TierChange.objects.filter(account_id__in=accounts).delete()
        ReconciliationIssue.objects.filter(account_id__in=accounts).delete()
        Account.objects.filter(pk__in=accounts).delete()
        cursor.execute("SELECT set_config('loyalty.ledger_purge', '', true)")
