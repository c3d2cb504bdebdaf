"""The analytics refresh at scale: a tenant with 100,000 customers and 1,000,000 orders, the
full refresh (`analytics.refresh.analytics_refresh`: every registered step: RFM, the churn
model's fit and flags, the dynamic segments) against a pandas implementation of the same RFM and
model fit in the same run, with the results compared customer by customer.

Builds its own database (crm_bench_analytics by default, dropped and recreated at the start and
dropped again at the end unless --keep) with one tenant, `bench-analytics` (Asia/Shanghai).
Customers and orders are written by generate_series, as an import's COPY leaves them: each
customer has a skewed number of orders (a few buy often, most once or twice) over two years
before the as-of date, plus some after it (ignored), with 1 in 12 refunded or cancelled.

(a) ours: `analytics_refresh(as_of=..., actor=None)` as the nightly task and the command run it
    (scores by one INSERT ... SELECT with window functions, the snapshot, the audit entry),
    run twice (the second replaces the first's scores and snapshot: the nightly steady state);
    each step's time, and the process's peak RSS before and after.
(b) baseline: pandas reads the same orders (customer, time, amount in cents, status) from
    PostgreSQL with `read_sql_query`, filters completed orders up to the end of the as-of date
    in the tenant's time zone, groups by customer and scores with `rank(method="max", pct=True)`
    (cume_dist) and the same formulas; its time and the peak RSS after it.
Then every customer's recency, frequency, monetary, R, F and M from both are compared.

    .venv/bin/python bench/analytics.py [--customers 100000] [--orders 1000000]
        [--write-docs] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.harness import (
    bench_database,
    bullet,
    code_state,
    command_line,
    customers_generate,
    machine_info,
    paragraph,
    script_path_fixed,
    section_markers,
    setup_django,
    verdict,
    write_docs,
)

script_path_fixed()

SLUG = "bench-analytics"
AS_OF = datetime.date(2026, 6, 30)
GOAL_REFRESH_S = 10.0


@dataclass
class Results:
    customers: int = 0
    orders: int = 0
    scored: int = 0
    fill_s: float = 0.0
    ours_s: list[float] = field(default_factory=list)
    ours_steps: dict[str, float] = field(default_factory=dict)
    rss_before_mib: float = 0.0
    rss_ours_mib: float = 0.0
    pandas_s: float = 0.0
    pandas_read_s: float = 0.0
    pandas_fit_s: float = 0.0
    pandas_fit_ll: float = 0.0
    ours_fit_ll: float = 0.0
    rss_pandas_mib: float = 0.0
    mismatches: int = -1
    segments: dict[str, int] = field(default_factory=dict)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(customers: int, orders: int) -> None:
    """Customers 1..customers; orders spread with a skew (customer = n * u^3 picks low ids far
    more often), over 730 days before the as-of date and 20 days after it."""
    from django.db import connection

    with connection.cursor() as cursor:
        customers_generate(cursor, customers, external_prefix="a-")
        cursor.execute("SELECT setseed(0.17)")
        cursor.execute(
            "INSERT INTO customers_order (id, number, customer_id, ordered_at, amount, currency,"
            " item_count, channel, store, status)"
            " SELECT g, 'A' || g,"
            " 1 + floor(%(customers)s * power(random(), 3))::int,"
            " (%(end)s::timestamptz - floor(random() * 750 * 86400) * interval '1 second'),"
            " round((5 + random() * 995)::numeric, 2), 'CNY', 1, '门店', '',"
            " CASE WHEN g %% 12 = 0 THEN 'refunded' WHEN g %% 12 = 6 THEN 'cancelled'"
            " ELSE 'completed' END"
            " FROM generate_series(1, %(orders)s) g",
            {
                "customers": customers,
                "orders": orders,
                # 20 days after the as-of date, so some orders fall after it.
                "end": f"{AS_OF + datetime.timedelta(days=21)} 00:00+08",
            },
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_order', 'id'), %s)", [orders]
        )
        cursor.execute("VACUUM (ANALYZE) customers_customer")
        cursor.execute("VACUUM (ANALYZE) customers_order")


def segments_make() -> None:
    """Three dynamic segments a marketer would keep, over RFM, churn and order facts, so the
    refresh's last step rebuilds real memberships."""
    from analytics.models_segments import Segment
    from analytics.segment_rules import rules_from_json
    from analytics.segment_services import segment_save

    def condition(field: str, op: str, value: str = "") -> dict[str, str]:
        return {"field": field, "op": op, "value": value}

    made = {
        "Champions in Shanghai": {
            "join": "and",
            "groups": [
                {
                    "join": "and",
                    "conditions": [
                        condition("rfm_segment", "eq", "champions"),
                        condition("city", "eq", "上海"),
                    ],
                }
            ],
        },
        "Frequent buyers": {
            "join": "and",
            "groups": [{"join": "and", "conditions": [condition("orders", "gte", "5")]}],
        },
        "Slipping away": {
            "join": "and",
            "groups": [
                {
                    "join": "or",
                    "conditions": [
                        condition("churn_flag", "present"),
                        condition("p_alive", "lte", "30"),
                    ],
                }
            ],
        },
    }
    for name, rules in made.items():
        segment_save(actor=None, segment=Segment(name=name), rules=rules_from_json(rules))


def run_ours(results: Results) -> None:
    from analytics.refresh import analytics_refresh

    results.rss_before_mib = peak_rss_mib()
    for _ in range(2):
        started = time.perf_counter()
        summary = analytics_refresh(as_of=AS_OF, actor=None)
        results.ours_s.append(time.perf_counter() - started)
    results.ours_steps = {k: v for k, v in summary["seconds"].items() if k != "total"}
    results.scored = summary["steps"]["rfm"]["scored"]
    results.ours_fit_ll = float(summary["steps"].get("churn", {}).get("log_likelihood") or 0.0)
    results.segments = summary["steps"]["rfm"]["segments"]
    results.rss_ours_mib = peak_rss_mib()


PANDAS_SQL = """
SELECT o.customer_id, o.ordered_at, (o.amount * 100)::bigint AS cents, o.status
FROM customers_order o JOIN customers_customer c ON c.id = o.customer_id
WHERE c.erased_at IS NULL
"""


def rfm_pandas(zone: str) -> tuple[Any, float]:
    """The same RFM in pandas; returns (frame indexed by customer, seconds reading)."""
    import warnings

    import numpy as np
    import pandas as pd
    from django.db import connection

    connection.ensure_connection()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas prefers SQLAlchemy; psycopg works
        orders = pd.read_sql_query(PANDAS_SQL, connection.connection)
    read_s = time.perf_counter() - started
    until = pd.Timestamp(AS_OF + datetime.timedelta(days=1), tz=zone)
    at = pd.to_datetime(orders["ordered_at"], utc=True).dt.tz_convert(zone)
    keep = (orders["status"] == "completed") & (at < until)
    orders = orders[keep].assign(day=at[keep].dt.tz_localize(None).dt.normalize())
    grouped = orders.groupby("customer_id").agg(
        last=("day", "max"), frequency=("cents", "size"), monetary=("cents", "sum")
    )
    grouped["recency_days"] = (pd.Timestamp(AS_OF) - grouped["last"]).dt.days
    for column, score, higher_is_better in (
        ("recency_days", "r", False),
        ("frequency", "f", True),
        ("monetary", "m", True),
    ):
        cume = grouped[column].rank(method="max", pct=True)
        quintile = np.ceil(5 * cume).astype(int)
        grouped[score] = quintile if higher_is_better else 6 - quintile
    return grouped[["recency_days", "frequency", "monetary", "r", "f", "m"]], read_s


def compare(frame: Any) -> int:
    """How many customers differ between ours and pandas (either side missing counts)."""
    import pandas as pd
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_id, recency_days, frequency, (monetary * 100)::bigint, r, f, m"
            " FROM analytics_rfmscore"
        )
        ours = pd.DataFrame(
            cursor.fetchall(),
            columns=["customer_id", "recency_days", "frequency", "monetary", "r", "f", "m"],
        ).set_index("customer_id")
    joined = ours.merge(
        frame, left_index=True, right_index=True, how="outer", suffixes=("_ours", "_pandas")
    )
    differ = joined.isna().any(axis=1)
    for column in ("recency_days", "frequency", "monetary", "r", "f", "m"):
        differ |= joined[f"{column}_ours"] != joined[f"{column}_pandas"]
    return int(differ.sum())


def run_pandas(results: Results, zone: str) -> None:
    import numpy  # noqa: F401  (imported before the clock starts, as a service would have it)
    import pandas  # noqa: F401
    from django.db import connection

    from bench.analytics_fit import pandas_fit

    started = time.perf_counter()
    frame, results.pandas_read_s = rfm_pandas(zone)
    fit_started = time.perf_counter()
    # The churn model's fit the same way: orders into pandas, (x, t_x, T) there, the same
    # likelihood (bench/analytics_fit.py).
    fitted = pandas_fit(connection, AS_OF, zone)
    results.pandas_fit_s = time.perf_counter() - fit_started
    results.pandas_fit_ll = float(fitted["fit"].log_likelihood)
    results.pandas_s = time.perf_counter() - started
    results.rss_pandas_mib = peak_rss_mib()
    results.mismatches = compare(frame)


def _rfm_churn(results: Results) -> float:
    return results.ours_steps["rfm"] + results.ours_steps.get("churn", 0.0)


def report(results: Results) -> list[str]:
    best = min(results.ours_s)
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in results.ours_steps.items())
    return [
        f"data: {results.customers:,} customers, {results.orders:,} orders"
        f" ({results.fill_s:.1f} s to write); {results.scored:,} customers scored",
        f"(a) ours, full refresh: {results.ours_s[0]:.2f} s first, {results.ours_s[1]:.2f} s"
        f" again ({steps} in the second) -> {verdict(best < GOAL_REFRESH_S)}"
        f" (goal {GOAL_REFRESH_S:.0f} s)",
        f"    peak RSS {results.rss_before_mib:.0f} MiB before, {results.rss_ours_mib:.0f} MiB"
        " after (the process's high-water mark)",
        f"(b) pandas: {results.pandas_s:.2f} s (RFM {results.pandas_s - results.pandas_fit_s:.2f} s"
        f" of which {results.pandas_read_s:.2f} s reading the orders; the fit"
        f" {results.pandas_fit_s:.2f} s); peak RSS {results.rss_pandas_mib:.0f} MiB after it",
        f"pandas (RFM + fit) / ours (RFM + churn steps):"
        f" {results.pandas_s / _rfm_churn(results):.1f}x;"
        f" customers whose RFM figures differ: {results.mismatches}; log-likelihood ours"
        f" {results.ours_fit_ll:.2f}, pandas {results.pandas_fit_ll:.2f}",
    ]


def docs_section(results: Results, info: dict[str, str], args: argparse.Namespace) -> str:
    start, end = section_markers("analytics")
    best = min(results.ours_s)
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in results.ours_steps.items())
    intro = paragraph(
        f"""`bench/analytics.py`: a tenant (Asia/Shanghai) with {results.customers:,} customers
        and {results.orders:,} orders written by generate_series (skewed: a few customers buy
        often, most once or twice; two years before the as-of date {AS_OF} and three weeks
        after it, which are ignored; 1 in 12 refunded or cancelled). Ours is the full refresh
        `analytics.refresh.analytics_refresh`, every registered step: RFM (a per-customer
        aggregate of the orders by CREATE TEMPORARY TABLE ... AS, one INSERT ... SELECT with
        cume_dist() windows, the snapshot), the churn model (purchase days aggregated in SQL,
        the BG/NBD fit on unique (x, t_x, T) rows, the holdout fit, scores and the flag rules)
        and the membership of three segments (over RFM segment and city, completed orders,
        churn flag or P(alive)), then the audit entry; run twice, the second
        replacing the first's scores and snapshot as a nightly run does. The machine is shared
        with other work, so the two runs' times differ by its load rather than by what they
        do. The
        baseline is the same RFM and fit in pandas {_version("pandas")}: `read_sql_query` of
        the orders (customer, time, amount in cents, status), filtering, a group-by and
        `rank(method="max", pct=True)` for cume_dist; then the completed orders again into a
        DataFrame, purchase days and (x, t_x, T) per customer there and the same BG/NBD
        likelihood fitted on one row per customer (bench/analytics_fit.py), in the same
        process after ours."""
    )
    lines = [
        start,
        "## Analytics",
        "",
        intro,
        "",
        bullet(
            f"""**Full refresh**: {results.ours_s[0]:.2f} s the first time,
            {results.ours_s[1]:.2f} s again ({steps}), {results.scored:,} customers
            scored: **{verdict(best < GOAL_REFRESH_S)}** (goal under
            {GOAL_REFRESH_S:.0f} s)."""
        ),
        bullet(
            f"""**pandas**: {results.pandas_s:.2f} s (RFM
            {results.pandas_s - results.pandas_fit_s:.2f} s, of which
            {results.pandas_read_s:.2f} s reading the orders; the fit
            {results.pandas_fit_s:.2f} s): {results.pandas_s / _rfm_churn(results):.1f}x the
            time of our RFM and churn steps together. Customers whose recency, frequency,
            monetary, R, F or M differ between the two: {results.mismatches}; log-likelihood
            of the fit: ours {results.ours_fit_ll:.2f}, pandas
            {results.pandas_fit_ll:.2f}."""
        ),
        bullet(
            f"""**Memory**: the process's peak RSS was {results.rss_before_mib:.0f} MiB before
            our refreshes and {results.rss_ours_mib:.0f} MiB after them (no order comes into
            Python); {results.rss_pandas_mib:.0f} MiB after pandas read and scored them."""
        ),
        bullet(
            f"""Machine: {info["nproc"]} x {info["cpu"]}, {info["ram"]}, {info["postgres_short"]}
            (shared_buffers {info["shared_buffers"]}), Python {info["python"]}, load
            {info["load"]}; {info["date"]}; {code_state(("analytics", "customers", "crm"))}."""
        ),
        bullet(f"Command: `{command_line()}`"),
        end,
    ]
    return "\n".join(lines)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    harness.add_common_arguments(
        parser,
        db_default="crm_bench_analytics",
        keep_help="keep the database afterwards",
    )
    args = parser.parse_args()
    harness.check_db_name(parser, args)
    results = Results(customers=args.customers, orders=args.orders)
    with (
        tempfile.TemporaryDirectory(prefix="bench-analytics-") as tmp,
        bench_database(args.db_name, keep=args.keep) as bench_url,
    ):
        (Path(tmp) / "private").mkdir()
        setup_django(harness.app_environment(bench_url, Path(tmp) / "private", "crm-bench-an"))
        from django_tenants.utils import schema_context

        schema = harness.tenant_build(SLUG, "Bench analytics")
        with schema_context(schema):
            from loyalty.programme import tenant_zone

            started = time.perf_counter()
            fill(args.customers, args.orders)
            results.fill_s = time.perf_counter() - started
            segments_make()
            run_ours(results)
            run_pandas(results, str(tenant_zone().key))
        info = machine_info()
        for line in report(results):
            print(line)
        print(f"machine: {info['nproc']} x {info['cpu']}, load {info['load']}")
        if args.write_docs:
            write_docs("analytics", docs_section(results, info, args))
            print(f"wrote {harness.DOCS.relative_to(harness.ROOT)}")
    return 0 if results.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
