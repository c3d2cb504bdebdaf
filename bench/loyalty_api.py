"""A redemption through the JSON API with 1,000,000 ledger entries in the tenant: ours (the
balance cached on the account, read under its row lock; oldest-expiring lots consumed) against
a naive implementation (the balance summed from the member's entries on every request, no
cached balance), measured in the same run.

Builds its own database (crm_bench_loyalty_api by default, dropped and recreated at the start
and dropped again at the end unless --keep), so it never touches a developer's data. It creates
one tenant, `bench`, with --members customers (COPY) and --entries completed orders (COPY):
--heavy of them for the first member, the rest spread evenly over the others. Their points are
earned through loyalty's own order listener (set-based, in chunks), which writes one earn
entry and one lot per order (plus a sign-up bonus per member): about --entries ledger entries.
Then VACUUM (ANALYZE), one API token with the loyalty scope, and the requests.

Both implementations are served by the same API stack (token auth, rate limit, body checks,
JSON parsing, the Idempotency-Key store, audit triggers): ours is
`POST /api/v1/customers/<external_id>/redemptions` as shipped (loyalty/api.py ->
loyalty.services.points_redeem); the naive one is registered by this script only, at
`POST /api/v1/bench-naive/customers/<external_id>/redemptions`: it locks the account row
(so concurrent redemptions stay correct), sums the member's ledger entries, refuses when short,
and writes the redemption and its ledger entry, without lots or a cached balance.

Server time: each request through django.test.Client in this process (the WSGI handler and
everything below it, no network), one at a time, 1 point each, with a new Idempotency-Key,
for a random typical member and for the heavy one; the four series alternate in blocks of 50
so drift hits all alike. The goal (issue 15): ours under 30 ms at p95.

    .venv/bin/python bench/loyalty_api.py [--entries 1000000] [--members 1000]
        [--heavy 50000] [--requests 1000] [--profile] [--cprofile] [--write-docs] [--keep]
"""

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    OWNER_PASSWORD,
    add_common_arguments,
    bench_database,
    bullet,
    check_db_name,
    code_state,
    command_line,
    machine_info,
    paragraph,
    parser,
    section_markers,
    setup_django,
    verdict,
    write_docs,
)

SLUG = "bench"
GOAL_P95_MS = 30.0
BLOCK = 50
NAIVE_PREFIX = "/bench-naive"


def parse_args() -> argparse.Namespace:
    p = parser(__doc__)
    p.add_argument("--entries", type=int, default=1_000_000, help="orders, so earn entries")
    p.add_argument("--members", type=int, default=1_000)
    p.add_argument(
        "--heavy", type=int, default=50_000, help="orders of the first member (a heavy one)"
    )
    p.add_argument("--requests", type=int, default=1_000, help="timed requests of each kind")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument(
        "--profile", action="store_true", help="print the SQL of one request of each kind"
    )
    p.add_argument("--cprofile", action="store_true", help="print where Python spends 100 of ours")
    add_common_arguments(
        p,
        db_default="crm_bench_loyalty_api",
        db_help="database to create (its name must contain 'bench'; dropped at the start)",
        keep_help="keep the database afterwards",
    )
    args = p.parse_args()
    check_db_name(p, args)
    return args


# --- the naive baseline -------------------------------------------------------------------------


def naive_register() -> None:
    """The baseline endpoint, registered with the API before its URLconf is first loaded."""
    from django.db import transaction
    from django.db.models import Sum
    from django.http import HttpRequest
    from ninja import Router, Status

    from crm.api.errors import ApiError
    from crm.api.idempotency import (
        idempotency_key,
        idempotent_claim,
        idempotent_keep,
        request_fingerprint,
    )
    from crm.api.registry import api_router_register
    from crm.api.scopes import LOYALTY
    from customers.api import customer_or_404
    from loyalty.api import RedemptionIn, RedemptionOut
    from loyalty.models import Account, LedgerEntry, Redemption

    router = Router()

    @router.post(
        "/customers/{external_id}/redemptions",
        response={201: RedemptionOut},
        url_name="bench_naive_redemptions",
    )
    def naive_redemption(
        request: HttpRequest, external_id: str, payload: RedemptionIn
    ) -> Status[dict[str, Any]]:
        key = idempotency_key(request)
        fingerprint = request_fingerprint("naive", external_id, payload.model_dump(mode="json"))
        customer = customer_or_404(external_id)
        with transaction.atomic():
            earlier = idempotent_claim(token=request.auth, key=key, fingerprint=fingerprint)  # type: ignore[attr-defined]
            if earlier is not None:
                return Status(*earlier)
            account = Account.objects.select_for_update().get(customer_id=customer.pk)
            balance = (
                LedgerEntry.objects.filter(account=account).aggregate(total=Sum("points"))["total"]
                or 0
            )
            if balance < payload.points:
                raise ApiError(409, "insufficient_points", "Not enough points.")
            redemption = Redemption.objects.create(
                account=account, points=payload.points, note=payload.note
            )
            LedgerEntry.objects.create(
                account=account,
                kind=LedgerEntry.Kind.REDEEM,
                points=-payload.points,
                redemption=redemption,
                note=payload.note,
            )
            answer = {
                "redemption_id": redemption.pk,
                "points": payload.points,
                "balance": balance - payload.points,
            }
            idempotent_keep(token=request.auth, key=key, status=201, body=answer)  # type: ignore[attr-defined]
        return Status(201, answer)

    api_router_register(NAIVE_PREFIX, router, scope=LOYALTY, tag="bench")


# --- data ---------------------------------------------------------------------------------------


@dataclass
class Setup:
    schema: str = ""
    host: str = ""
    external_ids: list[str] = field(default_factory=list)
    entries: int = 0
    copy_seconds: float = 0.0
    earn_seconds: float = 0.0


def build(args: argparse.Namespace) -> Setup:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from crm.tenants import services
    from crm.tenants.models import Tenant
    from crm.transfer import bulk
    from customers.bulk_create import CustomerNew, customers_create_missing
    from customers.models import Order
    from loyalty import orders as loyalty_orders
    from loyalty.models import LedgerEntry

    setup = Setup()
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    services.platform_prepare()
    spec = services.TenantSpec(
        slug=SLUG, name="Bench loyalty", owner_email="owner@bench.example.com", currency="CNY"
    )
    tenant = services.tenant_create(actor=None, spec=spec, provision_async=False)
    tenant = services.tenant_provision(
        actor=None, tenant_id=tenant.pk, owner_password=OWNER_PASSWORD
    )
    if tenant.status != Tenant.Status.READY:
        raise SystemExit(f"tenant {SLUG}: status {tenant.status!r} ({tenant.status_detail})")
    setup.schema = tenant.schema_name
    setup.host = f"{SLUG}.{settings.CRM_BASE_DOMAIN}"
    rng = random.Random(1)
    with schema_context(setup.schema):
        started = time.perf_counter()
        with transaction.atomic():
            bulk.audit_quiet()
            setup.external_ids = [f"B-{i:07d}" for i in range(args.members)]
            customer_ids = customers_create_missing(
                [CustomerNew(name=f"Member {e}", external_id=e) for e in setup.external_ids]
            )
            order_ids = bulk.reserve_ids(Order._meta.db_table, args.entries)
            heavy = min(args.heavy, args.entries - (args.members - 1))
            rest = args.entries - heavy

            def owner(i: int) -> int:
                # The heavy member's orders first; then each other member's together, so a
                # chunk of the listener touches a few accounts (as a day's import would).
                if i < heavy:
                    return customer_ids[0]
                return customer_ids[1 + (i - heavy) * (len(customer_ids) - 1) // rest]

            start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
            rows = (
                (
                    pk,
                    f"BO-{pk}",
                    owner(i),
                    start + datetime.timedelta(minutes=i % 400_000),
                    Decimal(rng.randint(1000, 20000)) / 100,
                    "CNY",
                    1,
                    "",
                    "",
                    Order.Status.COMPLETED,
                )
                for i, pk in enumerate(order_ids)
            )
            bulk.copy_rows(
                Order._meta.db_table,
                (
                    "id",
                    "number",
                    "customer_id",
                    "ordered_at",
                    "amount",
                    "currency",
                    "item_count",
                    "channel",
                    "store",
                    "status",
                ),
                rows,
                chunk=20_000,
            )
        setup.copy_seconds = time.perf_counter() - started
        print(
            f"{args.members:,} members, {args.entries:,} orders"
            f" copied in {setup.copy_seconds:.1f} s"
        )
        started = time.perf_counter()
        chunk = 50_000
        for at in range(0, len(order_ids), chunk):
            with transaction.atomic():
                bulk.audit_quiet()
                loyalty_orders.orders_written(actor=None, order_ids=order_ids[at : at + chunk])
            print(f"  points earned for {min(at + chunk, len(order_ids)):,} orders", flush=True)
        setup.earn_seconds = time.perf_counter() - started
        setup.entries = LedgerEntry.objects.count()
        print(f"{setup.entries:,} ledger entries in {setup.earn_seconds:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return setup


def token_for(setup: Setup) -> str:
    from django_tenants.utils import schema_context

    from crm.api.services import api_token_create

    with schema_context(setup.schema):
        return api_token_create(actor=None, name="Bench till", scopes=["loyalty"])[1]


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Timings:
    ms: list[float] = field(default_factory=list)

    def pct(self, p: float) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.ms)


SERIES = (
    ("ours", "typical"),
    ("naive", "typical"),
    ("ours", "heavy"),
    ("naive", "heavy"),
)


def measure(setup: Setup, secret: str, args: argparse.Namespace) -> dict[str, Timings]:
    from django.test import Client

    client = Client(HTTP_HOST=setup.host)
    headers = {"Authorization": f"Bearer {secret}"}
    paths = {
        "ours": "/api/v1/customers/{}/redemptions",
        "naive": f"/api/v1{NAIVE_PREFIX}/customers/{{}}/redemptions",
    }
    rng = random.Random(2)
    body = json.dumps({"points": 1}).encode()

    def one(kind: str, member: str = "typical") -> float:
        if member == "heavy":
            external_id = setup.external_ids[0]
        else:
            external_id = rng.choice(setup.external_ids[1:])
        started = time.perf_counter()
        response = client.post(
            paths[kind].format(external_id),
            data=body,
            content_type="application/json",
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 201:
            raise SystemExit(f"{kind}: {response.status_code} {response.content[:300]!r}")
        return elapsed

    for kind, member in SERIES:
        for _ in range(args.warmup):
            one(kind, member)
    if args.profile:
        profile(one, paths)
    if args.cprofile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(100):
            one("ours")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    results = {f"{kind}, {member} member": Timings() for kind, member in SERIES}
    done = 0
    while done < args.requests:
        n = min(BLOCK, args.requests - done)
        for kind, member in SERIES:
            results[f"{kind}, {member} member"].ms.extend(one(kind, member) for _ in range(n))
        done += n
    return results


def profile(one: Any, paths: dict[str, str]) -> None:
    """The statements of one request of each kind, with their time, slowest first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for kind in paths:
        with CaptureQueriesContext(connection) as captured:
            total = one(kind)
        print(f"\n{kind}: {total:.1f} ms, {len(captured.captured_queries)} statements")
        for query in sorted(captured.captured_queries, key=lambda q: -float(q["time"])):
            print(f"  {float(query['time']) * 1000:6.1f} ms  {query['sql'][:150]}")


# --- report -------------------------------------------------------------------------------------


def report(results: dict[str, Timings]) -> str:
    lines = [
        "| implementation | n | mean | p50 | p95 | p99 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, t in results.items():
        lines.append(
            f"| {kind} | {len(t.ms)} | {t.mean:.1f} ms | {t.pct(50):.1f} ms"
            f" | {t.pct(95):.1f} ms | {t.pct(99):.1f} ms |"
        )
    return "\n".join(lines)


def docs_section(results: dict[str, Timings], setup: Setup, info: dict[str, str]) -> str:
    start, end = section_markers("loyalty_api")
    ours, naive = results["ours, typical member"], results["naive, typical member"]
    ours_heavy, naive_heavy = results["ours, heavy member"], results["naive, heavy member"]
    ok = max(ours.pct(95), ours_heavy.pct(95)) < GOAL_P95_MS
    return "\n".join(
        [
            start,
            "## A redemption through the API (`bench/loyalty_api.py`)",
            "",
            paragraph(
                f"Goal (issue 15): a redemption through the API under {GOAL_P95_MS:.0f} ms server"
                f" time at p95 with 1,000,000 ledger entries in the tenant, beside a naive"
                f" implementation (the balance summed from the entries on every request)."
                f" {verdict(ok)}: ours {ours.pct(95):.1f} ms at p95 with {setup.entries:,}"
                f" entries ({ours_heavy.pct(95):.1f} ms for the heavy member); the naive one"
                f" {naive.pct(95):.1f} ms ({naive_heavy.pct(95):.1f} ms for the heavy member)."
            ),
            "",
            report(results),
            "",
            bullet(f"Command: `{command_line()}`"),
            bullet(f"Code: {code_state(('crm', 'customers', 'loyalty'))}"),
            bullet(
                f"Machine: {info['cpu']}, {info['nproc']} cores, {info['ram']};"
                f" {info['postgres_short']}; load {info['load']}; {info['date']}"
            ),
            end,
        ]
    )


def main() -> int:
    args = parse_args()
    with bench_database(args.db_name, keep=args.keep) as bench_url:
        setup_django(
            {
                "DATABASE_URL": bench_url,
                # Cache keys of this run never mix with the developer's.
                "CACHE_KEY_PREFIX": "crm-bench-api",
                "API_RATE_LIMIT": "100000000",
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
                "DJANGO_SECURE_SSL_REDIRECT": "0",
            }
        )
        naive_register()
        setup = build(args)
        secret = token_for(setup)
        print(f"timing {args.requests} redemptions of each kind ...", flush=True)
        results = measure(setup, secret, args)
        info = machine_info()
        print()
        print(report(results))
        for member in ("typical", "heavy"):
            ours, naive = results[f"ours, {member} member"], results[f"naive, {member} member"]
            print(
                f"{member} member: ours p95 {ours.pct(95):.1f} ms (goal < {GOAL_P95_MS:.0f} ms:"
                f" {verdict(ours.pct(95) < GOAL_P95_MS)}); naive p95 {naive.pct(95):.1f} ms;"
                f" naive/ours {naive.pct(95) / ours.pct(95):.2f}x at p95,"
                f" {naive.pct(50) / ours.pct(50):.2f}x at p50"
            )
        print(f"load average {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} cores")
        if args.write_docs:
            write_docs("loyalty_api", docs_section(results, setup, info))
            print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
