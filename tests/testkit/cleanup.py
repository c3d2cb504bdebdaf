"""Clean-up for tests that commit (committed_db): deleting customers they made, with what other
apps keep about them (loyalty accounts and their append-only ledger, which the application
itself never deletes)."""

from collections.abc import Iterable

from django.db import connection, transaction

from customers.models import Customer, Order


def customers_delete(ids: Iterable[int]) -> None:
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

    wanted = [int(i) for i in ids]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('loyalty.ledger_purge', 'on', true)")
        accounts = list(Account.objects.filter(customer_id__in=wanted).values_list("pk", flat=True))
        Account.objects.filter(referred_by__in=accounts).update(referred_by=None)
        LotUse.objects.filter(lot__account_id__in=accounts).delete()
        LotUse.objects.filter(entry__account_id__in=accounts).delete()
        Lot.objects.filter(account_id__in=accounts).delete()
        LedgerEntry.objects.filter(account_id__in=accounts).delete()
        Redemption.objects.filter(account_id__in=accounts).delete()
        Adjustment.objects.filter(account_id__in=accounts).delete()
        TierChange.objects.filter(account_id__in=accounts).delete()
        ReconciliationIssue.objects.filter(account_id__in=accounts).delete()
        Account.objects.filter(pk__in=accounts).delete()
        Order.objects.filter(customer_id__in=wanted).delete()
        Customer.objects.filter(pk__in=wanted).delete()
