"""The churn model's fit at scale: analytics.churn.churn_refresh (one SQL aggregate of purchase
days, the BG/NBD fit on unique (x, t_x, T) rows with weights, scores and flags written
set-based) against a pandas baseline that reads the raw orders into a DataFrame, computes
(x, t_x, T) there and fits the same likelihood on one row per customer.

Builds its own database (crm_bench_analytics_fit by default, dropped and recreated at the
start and dropped again at the end unless --keep) with one tenant, `bench-churn`
(Asia/Shanghai). Customers and orders are written by generate_series: each customer starts
buying some day in the two years before the as-of date and buys, at random moments, during a
part of the time since (so some stopped long ago); 1 order in 12 is refunded or cancelled.
Then, in one process:

(a) ours, the model only: the history aggregate and the fit (what the baseline does);
(b) ours, the whole churn refresh (history, fit, holdout fit, scores, tiers, flags, writes);
(c) the baseline `pandas_fit`: orders -> DataFrame -> purchase days -> (x, t_x, T) -> fit.

It prints the times, the ratio baseline / ours, both fits' parameters (they must agree: the
same likelihood on the same data) and the process's peak memory after each step.

    .venv/bin/python bench/analytics_fit.py [--customers 100000] [--orders 1000000] [--keep]

This prints its figures; it does not edit docs/benchmarks.md.
"""

from __future__ import annotations

import datetime
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.harness import (
    bench_database,
    code_state,
    command_line,
    customers_generate,
    machine_info,
    script_path_fixed,
    setup_django,
)

script_path_fixed()

SLUG = "bench-churn"
ZONE = "Asia/Shanghai"


def pandas_fit(connection: Any, as_of: datetime.date, zone: str = ZONE) -> dict[str, Any]:
    """The baseline: every completed order up to the end of `as_of` (in `zone`) into pandas,
    purchase days and (x, t_x, T) per customer there, then the BG/NBD fit (analytics.bgnbd's
    likelihood) on one row per customer, as a lifetimes-style script would."""
    import zoneinfo

    import numpy as np
    import pandas as pd

    from analytics import bgnbd

    tz = zoneinfo.ZoneInfo(zone)
    end = datetime.datetime.combine(as_of + datetime.timedelta(days=1), datetime.time(), tz)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.customer_id, o.ordered_at FROM customers_order o"
            " JOIN customers_customer c ON c.id = o.customer_id AND c.erased_at IS NULL"
            " WHERE o.status = 'completed' AND o.ordered_at < %s",
            [end],
        )
        orders = pd.DataFrame(cursor.fetchall(), columns=["customer_id", "ordered_at"])
    orders["day"] = (
        pd.to_datetime(orders["ordered_at"], utc=True).dt.tz_convert(zone).dt.normalize()
    )
    days = orders[["customer_id", "day"]].drop_duplicates()
    per = days.groupby("customer_id")["day"].agg(["count", "min", "max"])
    as_of_ts = pd.Timestamp(as_of).tz_localize(zone)
    x = (per["count"] - 1).to_numpy(dtype=float)
    t_x = ((per["max"] - per["min"]).dt.days / 7.0).to_numpy()
    T = ((as_of_ts - per["min"]).dt.days / 7.0).to_numpy()
    one_per_customer = bgnbd.Summary(x, t_x, T, np.ones_like(x))
    found = bgnbd.fit(one_per_customer)
    return {"customers": len(per), "fit": found}


def ours_model_only(as_of: datetime.date) -> dict[str, Any]:
    """The part of churn_refresh the baseline matches: the history aggregate and the fit."""
    from django.db import connection, transaction

    from analytics import bgnbd
    from analytics.churn import _history
    from loyalty.programme import tenant_zone

    with transaction.atomic(), connection.cursor() as cursor:
        history = _history(cursor, as_of=as_of, cal_end=as_of, zone=tenant_zone())
        summary = bgnbd.summarise(history.x, history.recency_days / 7.0, history.age_days / 7.0)
        found = bgnbd.fit(summary)
        cursor.execute("DROP TABLE churn_history")
    return {"customers": summary.customers, "rows": len(summary.x), "fit": found}


def fill(customers: int, orders: int, as_of: datetime.date) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.17)")
        customers_generate(cursor, customers, external_prefix="c-")
        # Customer c starts (c * 37) % 700 + 1 days before the as-of date and buys during the
        # first ((c * 13) % 100) percent of the time since, at random moments; low ids buy
        # more often (orders go to customers by a skewed draw), some customers never.
        cursor.execute(
            "INSERT INTO customers_order (id, number, customer_id, ordered_at, amount, currency,"
            " item_count, channel, store, status)"
            " SELECT g, 'B' || g, c,"
            " %s::timestamptz - (c * 37 %% 700 + 1) * interval '1 day'"
            "   + random() * ((c * 37 %% 700 + 1) * (c * 13 %% 100) / 100.0) * interval '1 day',"
            " (10 + (g * 37) %% 990) + 0.5, 'CNY', 1, '门店', '',"
            " CASE WHEN g %% 12 = 0 THEN 'refunded' WHEN g %% 12 = 6 THEN 'cancelled'"
            " ELSE 'completed' END"
            " FROM (SELECT g, 1 + floor(%s * power(random(), 1.7))::bigint AS c"
            "       FROM generate_series(1, %s) g) s",
            [
                datetime.datetime.combine(as_of, datetime.time(12), datetime.UTC),
                customers,
                orders,
            ],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_order', 'id'), %s)", [orders]
        )
        cursor.execute("VACUUM (ANALYZE) customers_customer")
        cursor.execute("VACUUM (ANALYZE) customers_order")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _params(fit: Any) -> str:
    p = fit.params
    state = "converged" if fit.converged else "NOT converged"
    return (
        f"r={p.r:.4f} alpha={p.alpha:.4f} a={p.a:.4f} b={p.b:.4f} LL={fit.log_likelihood:.1f}"
        f" ({state}, {fit.iterations} iterations)"
    )


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--db-name", default="crm_bench_analytics_fit")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="use the database a --keep run left (no new data)"
    )
    args = parser.parse_args()
    harness.check_db_name(parser, args)
    as_of = datetime.date(2026, 6, 30)

    with (
        tempfile.TemporaryDirectory(prefix="bench-churn-") as tmp,
        bench_database(args.db_name, keep=args.keep, reuse=args.reuse) as bench_url,
    ):
        (Path(tmp) / "private").mkdir()
        setup_django(harness.app_environment(bench_url, Path(tmp) / "private", "crm-bench-churn"))
        from django.db import connection
        from django_tenants.utils import schema_context

        from analytics.churn import churn_refresh
        from crm.tenants.models import Tenant

        if args.reuse:
            schema = Tenant.objects.get(slug=SLUG).schema_name
        else:
            schema = harness.tenant_build(SLUG, "Bench churn")
        with schema_context(schema):
            if not args.reuse:
                started = time.perf_counter()
                fill(args.customers, args.orders, as_of)
                print(
                    f"data: {args.orders} orders of {args.customers} customers in "
                    f"{time.perf_counter() - started:.1f} s; peak memory {peak_mib():.0f} MiB"
                )
            ours_model_only(as_of)  # warm the caches the way a nightly run would find them
            import pandas  # noqa: F401  (imported before the clock starts, as a worker would)

            started = time.perf_counter()
            model = ours_model_only(as_of)
            model_s = time.perf_counter() - started
            print(
                f"(a) ours, aggregate + fit: {model_s:.2f} s on {model['customers']} customers"
                f" ({model['rows']} unique rows); {_params(model['fit'])};"
                f" peak memory {peak_mib():.0f} MiB"
            )

            started = time.perf_counter()
            summary = churn_refresh(as_of=as_of)
            refresh_s = time.perf_counter() - started
            print(
                f"(b) ours, the whole churn refresh: {refresh_s:.2f} s (status {summary['status']},"
                f" {summary['flagged']} flagged: {summary['flags']}; steps {summary['steps']});"
                f" peak memory {peak_mib():.0f} MiB"
            )

            started = time.perf_counter()
            baseline = pandas_fit(connection, as_of)
            pandas_s = time.perf_counter() - started
            print(
                f"(c) pandas baseline, orders -> DataFrame -> fit: {pandas_s:.2f} s on "
                f"{baseline['customers']} customers; {_params(baseline['fit'])};"
                f" peak memory {peak_mib():.0f} MiB"
            )
            print(
                f"ratio pandas / ours (aggregate + fit): {pandas_s / model_s:.1f}x;"
                f" pandas / ours (whole refresh): {pandas_s / refresh_s:.1f}x"
            )
            ours_ll, theirs_ll = model["fit"].log_likelihood, baseline["fit"].log_likelihood
            print(f"log-likelihoods agree within {abs(ours_ll - theirs_ll):.3f}")
        info = machine_info()
        print(
            f"machine: {info['nproc']} x {info['cpu']}, {info['ram']}, {info['postgres_short']},"
            f" load {info['load']}; {code_state(('analytics', 'bench'))}"
        )
        print(f"command: {command_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
