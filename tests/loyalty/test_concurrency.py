"""50 redemptions at once, on 50 real connections, against a balance that covers exactly 10:
exactly 10 succeed, the balance ends at 0 and never goes below it, and the ledger, lots and
cached balance agree. Committed for real (the threads' connections must see each other's
writes), so the test cleans up after itself."""

import threading
import uuid

from django.db import connection
from django_tenants.utils import schema_context

from customers.models import Customer
from loyalty.errors import InsufficientPoints
from loyalty.models import Account, LedgerEntry, Redemption
from loyalty.services import points_redeem
from tests.loyalty.helpers import assert_consistent, customer, order
from tests.testkit.cleanup import customers_delete

WORKERS = 50
COST = 7


def test_fifty_concurrent_redemptions_against_a_balance_for_ten(committed_db, acme):
    with schema_context(acme.schema):
        who = customer(f"Race {uuid.uuid4().hex[:6]}")
        # Two lots, so consumption crosses lots under contention: 40 + 30 = 10 x 7.
        order(who, "40")
        order(who, "30")
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def redeem(n: int) -> None:
        try:
            with schema_context(acme.schema):
                start.wait(10)
                person = Customer.objects.get(pk=who.pk)
                try:
                    points_redeem(
                        actor=None,
                        customer=person,
                        points=COST,
                        idempotency_key=f"race-{who.pk}-{n}",
                    )
                    result = "ok"
                except InsufficientPoints:
                    result = "short"
        except BaseException as exc:  # reported below
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=redeem, args=(n,)) for n in range(WORKERS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(set(outcomes)) == ["ok", "short"], outcomes
        assert outcomes.count("ok") == 10
        assert outcomes.count("short") == WORKERS - 10
        with schema_context(acme.schema):
            acct = Account.objects.get(customer_id=who.pk)
            assert acct.balance == 0
            assert Redemption.objects.filter(account=acct).count() == 10
            assert LedgerEntry.objects.filter(account=acct, kind="redeem").count() == 10
            assert_consistent(acct)
    finally:
        with schema_context(acme.schema):
            customers_delete([who.pk])
