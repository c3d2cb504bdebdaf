"""Loyalty points at scale: awarding points for 1,000,000 imported orders through the set-based
order listener against a naive per-order implementation, and a redemption through the service
with 1,000,000 ledger entries in the tenant against a naive one that sums the entries on every
request (no cached balance).

Builds its own database (crm_bench_loyalty by default, dropped and recreated at the start and
dropped again at the end unless --keep) with one tenant, `bench-loyalty` (Asia/Shanghai, CNY).
Customers and orders are written by generate_series, as an import's COPY leaves them (the
import itself is measured by bench/import_export.py); the first customer is a heavy member
with --heavy orders, the rest share the others. Then, in one process:

(a) ours: customers.order_hooks.orders_written (which calls loyalty's listener) over the ids of
    the --orders orders, handed in batches of 5,000 (the import's batch size,
    crm.transfer.registry.BATCH_ROWS) inside one transaction with the row audit quiet and
    inside `orders_in_batches` (balances applied once at the end), as the import's commit runs
    it. Then the same again (a re-import: nothing to earn, the time to find that out).
    Baseline: a naive listener that handles each order on its own with the ORM
    (account get-or-create under a row lock, "earned already?" query, entry, lot, balance
    update), on --naive-sample orders of customers of their own; its time per order is
    extrapolated to --orders orders (said so in the output).
(b) --redeems redemptions of 1 point each through loyalty.services.points_redeem, each in its
    own transaction as a request would be, for a typical member and for the heavy member;
    baseline: a naive redemption (lock the account, SUM its entries for the balance, insert the
    entry; no cached balance, no lots), the same number of times. p50 and p95 in ms.

    .venv/bin/python bench/loyalty.py [--orders 1000000] [--customers 100000] [--heavy 50000]
        [--naive-sample 5000] [--redeems 300] [--keep]

This prints its figures; it does not edit docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.harness import (
    bench_database,
    code_state,
    command_line,
    machine_info,
    script_path_fixed,
    setup_django,
    verdict,
)

script_path_fixed()

SLUG = "bench-loyalty"
BATCH = 5000
GOAL_AWARD_S = 60.0
GOAL_REDEEM_P95_MS = 30.0


def app_environment(bench_url: str, media: Path) -> dict[str, str]:
    return harness.app_environment(bench_url, media, "crm-bench-loyalty")


def build_tenant() -> str:
    return harness.tenant_build(SLUG, "Bench loyalty")


def fill(customers: int, orders: int, heavy: int, naive_sample: int) -> tuple[int, int]:
    """Customers 1..customers (1 is the heavy member) with `orders` orders, then 500 customers
    of the naive sample with `naive_sample` orders. Statuses: 1 in 12 refunded or cancelled.
    Returns (the last order id of the main set, the first customer id of the naive sample)."""
    from django.db import connection

    naive_customers = 500
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers_customer (id, kind, name, name_sort, gender, address, city,"
            " region, postal_code, country, tags, source, channel, external_id, stage,"
            " stage_override, notes, created_at, updated_at)"
            " SELECT g, 'individual', '会员' || g, 'hui yuan ' || g, '', '', '上海', '', '',"
            " 'CN', '{}', '', '', 'm-' || g, 'new', false, '', now(), now()"
            " FROM generate_series(1, %s) g",
            [customers + naive_customers],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %s)",
            [customers + naive_customers],
        )
        # The heavy member's orders first, then the rest spread over the other customers.
        cursor.execute(
            "INSERT INTO customers_order (id, number, customer_id, ordered_at, amount, currency,"
            " item_count, channel, store, status)"
            " SELECT g, 'B' || g,"
            " CASE WHEN g <= %s THEN 1 ELSE 2 + (g::bigint * 7919) %% (%s - 1) END,"
            " now() - (g %% 500) * interval '1 day', (10 + (g * 37) %% 990) + 0.5, 'CNY', 1,"
            " (ARRAY['天猫', '京东', '门店', '小程序'])[1 + g %% 4], '上海南京路店',"
            " CASE WHEN g %% 12 = 0 THEN 'refunded' WHEN g %% 12 = 6 THEN 'cancelled'"
            " ELSE 'completed' END"
            " FROM generate_series(1, %s) g",
            [heavy, customers, orders],
        )
        cursor.execute(
            "INSERT INTO customers_order (id, number, customer_id, ordered_at, amount, currency,"
            " item_count, channel, store, status)"
            " SELECT %s + g, 'N' || g, %s + 1 + g %% %s, now() - (g %% 500) * interval '1 day',"
            " (10 + (g * 37) %% 990) + 0.5, 'CNY', 1, '门店', '', 'completed'"
            " FROM generate_series(1, %s) g",
            [orders, customers, naive_customers, naive_sample],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_order', 'id'), %s)",
            [orders + naive_sample],
        )
        cursor.execute("VACUUM (ANALYZE) customers_customer")
        cursor.execute("VACUUM (ANALYZE) customers_order")
    return orders, customers + 1


def award_ours(last_id: int) -> float:
    from django.db import connection, transaction

    from customers.order_hooks import orders_in_batches, orders_written

    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('crm.audit_bulk', 'on', true)")
        with orders_in_batches(actor=None):
            for start in range(1, last_id + 1, BATCH):
                orders_written(
                    actor=None, order_ids=list(range(start, min(start + BATCH, last_id + 1)))
                )
    return time.perf_counter() - started


def award_naive(first_id: int, count: int) -> float:
    """Each order on its own, with the ORM: what a per-order signal handler would do."""
    from django.db import connection, transaction
    from django.db.models import F

    from customers.models import Order
    from loyalty.ledger import referral_code_for
    from loyalty.models import Account, LedgerEntry, Lot
    from loyalty.programme import expiry_date, programme, tenant_zone

    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('crm.audit_bulk', 'on', true)")
        rules = programme()
        zone = tenant_zone()
        for order in Order.objects.filter(pk__gte=first_id, pk__lt=first_id + count).iterator():
            if order.status != Order.Status.COMPLETED:
                continue
            account = (
                Account.objects.select_for_update().filter(customer_id=order.customer_id).first()
            )
            if account is None:
                account = Account.objects.create(
                    customer_id=order.customer_id,
                    referral_code=referral_code_for(order.customer_id),
                )
            if LedgerEntry.objects.filter(order_id=order.pk, kind="earn").exists():
                continue
            points = int(order.amount * rules.points_per_unit)
            entry = LedgerEntry.objects.create(
                account=account,
                kind="earn",
                points=points,
                qualifying=points,
                order_id=order.pk,
                occurred_at=order.ordered_at,
            )
            Lot.objects.create(
                account=account,
                entry=entry,
                points=points,
                remaining=points,
                expires_on=expiry_date(order.ordered_at, rules.expiry_months, zone),
            )
            Account.objects.filter(pk=account.pk).update(balance=F("balance") + points)
    return time.perf_counter() - started


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered) * 1000, p95 * 1000


def redeem_ours(customer_id: int, n: int) -> tuple[float, float]:
    from customers.models import Customer
    from loyalty.services import points_redeem

    customer = Customer.objects.get(pk=customer_id)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        points_redeem(actor=None, customer=customer, points=1)
        times.append(time.perf_counter() - started)
    return _percentiles(times)


def redeem_naive(customer_id: int, n: int) -> tuple[float, float]:
    """Lock the account, sum its entries for the balance, insert the entry: no cached balance,
    no lots (so it does less than ours besides the sum)."""
    from django.db import connection, transaction

    times = []
    for _ in range(n):
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM loyalty_account WHERE customer_id = %s FOR UPDATE", [customer_id]
            )
            account_id = cursor.fetchone()[0]
            cursor.execute(
                "SELECT coalesce(sum(points), 0) FROM loyalty_ledgerentry WHERE account_id = %s",
                [account_id],
            )
            if cursor.fetchone()[0] < 1:
                raise SystemExit("naive: balance exhausted")
            cursor.execute(
                "INSERT INTO loyalty_ledgerentry (account_id, kind, bonus, points, qualifying,"
                " shortfall, note, occurred_at, created_at) VALUES"
                " (%s, 'adjust', '', -1, 0, 0, 'naive', now(), now())",
                [account_id],
            )
        times.append(time.perf_counter() - started)
    return _percentiles(times)


def count(sql: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return int(cursor.fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--heavy", type=int, default=50_000)
    parser.add_argument("--naive-sample", type=int, default=5_000)
    parser.add_argument("--redeems", type=int, default=300)
    parser.add_argument("--db-name", default="crm_bench_loyalty")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if "bench" not in args.db_name:
        parser.error("--db-name must contain 'bench': the database is dropped and recreated")

    with (
        tempfile.TemporaryDirectory(prefix="bench-loyalty-") as tmp,
        bench_database(args.db_name, keep=args.keep) as bench_url,
    ):
        (Path(tmp) / "private").mkdir()
        setup_django(app_environment(bench_url, Path(tmp) / "private"))
        from django_tenants.utils import schema_context

        schema = build_tenant()
        with schema_context(schema):
            started = time.perf_counter()
            last_id, _naive_customer = fill(
                args.customers, args.orders, args.heavy, args.naive_sample
            )
            print(
                f"data: {args.orders} orders, {args.customers} customers in "
                f"{time.perf_counter() - started:.1f} s"
            )

            naive_s = award_naive(last_id + 1, args.naive_sample)
            naive_per_order = naive_s / args.naive_sample
            print(
                f"(a) naive, {args.naive_sample} orders one by one: {naive_s:.2f} s, "
                f"{naive_per_order * 1000:.3f} ms per order; extrapolated to {args.orders}: "
                f"{naive_per_order * args.orders:.0f} s"
            )

            ours_s = award_ours(last_id)
            earned = count("SELECT count(*) FROM loyalty_ledgerentry WHERE kind = 'earn'")
            print(
                f"(a) ours, {args.orders} orders in batches of {BATCH}: {ours_s:.1f} s "
                f"({earned} earn entries in all) -> {verdict(ours_s < GOAL_AWARD_S)} "
                f"(goal {GOAL_AWARD_S:.0f} s); naive extrapolated / ours = "
                f"{naive_per_order * args.orders / ours_s:.1f}x"
            )
            again_s = award_ours(last_id)
            again = count("SELECT count(*) FROM loyalty_ledgerentry WHERE kind = 'earn'")
            print(
                f"(a) ours again (a re-import): {again_s:.1f} s, earn entries {earned} -> "
                f"{again} (must not change)"
            )
            with schema_context(schema):
                from loyalty.jobs import ledger_reconcile

                ledger_reconcile(actor=None)
            issues = count("SELECT count(*) FROM loyalty_reconciliationissue")
            entries = count("SELECT count(*) FROM loyalty_ledgerentry")
            print(f"reconciliation issues: {issues}; ledger entries in the tenant: {entries}")

            typical = count(
                "SELECT customer_id FROM loyalty_account WHERE customer_id > 1"
                " AND balance > 2000 ORDER BY customer_id LIMIT 1"
            )
            for label, customer_id in (("typical member", typical), ("heavy member", 1)):
                history = count(
                    "SELECT count(*) FROM loyalty_ledgerentry e JOIN loyalty_account a"
                    f" ON a.id = e.account_id WHERE a.customer_id = {int(customer_id)}"
                )
                ours_p50, ours_p95 = redeem_ours(customer_id, args.redeems)
                naive_p50, naive_p95 = redeem_naive(customer_id, args.redeems)
                print(
                    f"(b) {label} ({history} entries): ours p50 {ours_p50:.2f} ms, "
                    f"p95 {ours_p95:.2f} ms; naive p50 {naive_p50:.2f} ms, p95 {naive_p95:.2f} ms;"
                    f" naive/ours p95 {naive_p95 / ours_p95:.1f}x "
                    f"(service only, the API's p95 comes from the api bench)"
                )
        info = machine_info()
        print(
            f"machine: {info['nproc']} x {info['cpu']}, {info['ram']}, {info['postgres_short']},"
            f" load {info['load']}; {code_state(('loyalty', 'customers', 'crm'))}"
        )
        print(f"command: {command_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
