"""Import and export at scale: our import engine (crm.transfer.services, the path the wizard, the
worker and `import_records` share) against a tuned django-import-export ModelResource on the same
file and table, plus the orders import, an XLSX import and the customer export.

Builds its own database (crm_bench_import by default, dropped and recreated at the start and
dropped again at the end unless --keep) with one tenant, `bench-import` (Asia/Shanghai, CNY, phone
region CN). It writes the files first, into a temporary directory:

* customers.csv: N customers (100,000) with the export's headers: external_id, name (Chinese
  names from a pool, so names repeat as they do), phones (a Chinese mobile), emails, city,
  birthday, tags;
* customers.xlsx: the same rows as an Excel workbook (typed cells: the birthday is a date);
* orders.csv: M orders (1,000,000) with Chinese headers (订单号, 手机号, 下单时间, 金额, 币种,
  数量, 渠道, 门店, 状态), each for one of the N customers by phone, dates as
  "2024-03-05 14:30:00", amounts with two decimals.

Then it measures, each in a fresh Python process of its own (`--child`), so every side starts
from the same state and its peak memory (ru_maxrss) is its own:

(a) customers.csv into an empty customers table (TRUNCATE ... CASCADE before each run), matched by
    external id: ours = import_start + import_configure + import_check_request (the dry run) +
    import_commit_request, inline, as the wizard's two steps run them, and again in one pass
    (import_commit_direct, as `import_records` runs it: every row checked as it is written, all
    or nothing); the baseline = a
    django-import-export ModelResource tuned as its documentation advises (use_bulk, batch_size
    5000, skip_diff, CachedInstanceLoader on external_id, no model full_clean) doing the same
    work per row (name sort key, phone to E.164, email checked, birthday parsed, tags split;
    phones and emails bulk-created beside the customers), run the way the admin runs it: a dry run
    (import_data(dry_run=True)) and then the import. Both with the audit triggers quiet (ours
    quiets them in its transaction; the baseline gets the same session setting), both with the
    same caches for phone and name normalisation (functools.lru_cache). The baseline's single
    pass (no dry run) is reported too;
(b) orders.csv (1,000,000 rows) into the tenant holding the N customers, matched by phone:
    wall time and peak RSS of the process doing the work;
(c) customers.xlsx into an empty customers table (ours);
(d) `export_records <tenant> customers -o file.csv` (crm.transfer.exporting) over 1,000,000
    customers: the N imported plus the rest inserted by generate_series, each with a phone and an
    email.

    .venv/bin/python bench/import_export.py [--customers 100000] [--orders 1000000]
        [--export-customers 1000000] [--write-docs] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import functools
import importlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# This file's name is the django-import-export package's: Python puts a script's folder first on
# sys.path, where `import import_export` finds this file instead of the package, for this script
# and for every other script in bench/ (django.setup() imports it through the admin). Drop the
# folder from the path; and when this file is being imported by that name, put the real package
# in its place (the import system returns what sys.modules holds once the file has run).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if __name__ == "import_export":
    del sys.modules["import_export"]
    sys.modules["import_export"] = importlib.import_module("import_export")

sys.path.insert(0, str(_HERE.parent))
from bench import harness  # noqa: E402
from bench.harness import (  # noqa: E402
    DOCS,
    ROOT,
    bench_database,
    code_state,
    command_line,
    machine_info,
    paragraph,
    section_markers,
    setup_django,
    verdict,
    write_docs,
)

SECTION_START, SECTION_END = section_markers("import_export")

SLUG = "bench-import"

GOAL_CUSTOMERS_S = 10.0
GOAL_RATIO = 3.0
GOAL_ORDERS_S = 60.0
GOAL_ORDERS_MB = 500.0
GOAL_XLSX_S = 15.0
GOAL_EXPORT_S = 30.0

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕飞鹏辉"
CITIES = ("上海", "北京", "广州", "深圳", "杭州", "成都", "南京", "武汉")
CHANNELS = ("天猫", "京东", "门店", "小程序", "抖音")
STORES = ("上海南京路店", "北京王府井店", "广州天河店", "线上旗舰店")
STATUSES = ("已完成", "已完成", "已完成", "已完成", "已退款", "已取消")


# --- the bench database and Django ------------------------------------------------------------


def app_environment(bench_url: str, media: Path) -> dict[str, str]:
    return harness.app_environment(bench_url, media, "crm-bench-import")


def build_tenant() -> str:
    return harness.tenant_build(SLUG, "Bench import")


def empty_tables(schema: str) -> None:
    """Every customer (and what hangs off them: phones, emails, orders) and every import job
    gone, so each side starts from the same empty table."""
    from django.db import connection
    from django_tenants.utils import schema_context

    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("TRUNCATE customers_customer, transfer_importjob RESTART IDENTITY CASCADE")
        cursor.execute("VACUUM (ANALYZE) customers_customer")


def empty_orders(schema: str) -> None:
    """The orders (and every import job with its records of changes) gone, the customers kept:
    the orders' single pass starts where the two-step run started."""
    from django.db import connection
    from django_tenants.utils import schema_context

    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("TRUNCATE customers_order, transfer_importjob RESTART IDENTITY CASCADE")
        cursor.execute("VACUUM (ANALYZE) customers_order")


def analyze(schema: str) -> None:
    from django.db import connection
    from django_tenants.utils import schema_context

    with schema_context(schema), connection.cursor() as cursor:
        for table in (
            "customers_customer",
            "customers_customerphone",
            "customers_customeremail",
            "customers_order",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def table_count(schema: str, table: str) -> int:
    from django.db import connection
    from django_tenants.utils import schema_context

    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])


def fill_customers(schema: str, total: int) -> float:
    """Customers up to `total`, each with a phone and an email, by generate_series (the export
    needs a million; importing them would only measure the import again)."""
    from django.db import connection
    from django_tenants.utils import schema_context

    started = time.perf_counter()
    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("SELECT count(*), coalesce(max(id), 0) FROM customers_customer")
        have, top = cursor.fetchone()
        extra = total - int(have)
        if extra <= 0:
            return 0.0
        cursor.execute(
            "INSERT INTO customers_customer (id, kind, name, name_sort, gender, address, city,"
            " region, postal_code, country, tags, source, channel, external_id, stage,"
            " stage_override, notes, created_at, updated_at)"
            " SELECT %s + g, 'individual', '客户' || g, 'ke hu ' || g, '', '', '上海', '', '',"
            " 'CN', ARRAY['filled'], '', '', 'fill-' || g, 'new', false, '', now(), now()"
            " FROM generate_series(1, %s) g",
            [top, extra],
        )
        cursor.execute(
            "INSERT INTO customers_customerphone (customer_id, raw, e164, digits, is_primary)"
            " SELECT %s + g, '+86150' || lpad(g::text, 8, '0'), '+86150' || lpad(g::text, 8, '0'),"
            " '86150' || lpad(g::text, 8, '0'), true FROM generate_series(1, %s) g",
            [top, extra],
        )
        cursor.execute(
            "INSERT INTO customers_customeremail (customer_id, email, is_primary)"
            " SELECT %s + g, 'fill' || g || '@example.cn', true FROM generate_series(1, %s) g",
            [top, extra],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'),"
            " (SELECT max(id) FROM customers_customer))"
        )
    analyze(schema)
    return time.perf_counter() - started


# --- the files --------------------------------------------------------------------------------

CUSTOMER_HEADERS = ["external_id", "name", "phones", "emails", "city", "birthday", "tags"]
ORDER_HEADERS = ["订单号", "手机号", "下单时间", "金额", "币种", "数量", "渠道", "门店", "状态"]


def customer_phone(i: int) -> str:
    return f"139{i:08d}"


def customer_rows(n: int) -> list[list[Any]]:
    rnd = random.Random(1)
    rows = []
    for i in range(n):
        name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + (rnd.choice(GIVEN) if i % 3 else "")
        born = datetime.date(1960, 1, 1) + datetime.timedelta(days=rnd.randrange(16000))
        rows.append(
            [
                f"C{i:07d}",
                name,
                customer_phone(i),
                f"c{i}@example.cn",
                rnd.choice(CITIES),
                born,
                "vip,new" if i % 5 == 0 else "new",
            ]
        )
    return rows


def write_customer_files(folder: Path, n: int) -> tuple[Path, Path]:
    from openpyxl import Workbook

    rows = customer_rows(n)
    csv_path = folder / "customers.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CUSTOMER_HEADERS)
        for row in rows:
            writer.writerow([*row[:5], row[5].isoformat(), row[6]])
    xlsx_path = folder / "customers.xlsx"
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(CUSTOMER_HEADERS)
    for row in rows:
        sheet.append(row)
    book.save(str(xlsx_path))
    return csv_path, xlsx_path


def write_orders_file(folder: Path, n: int, customers: int) -> Path:
    rnd = random.Random(2)
    path = folder / "orders.csv"
    start = datetime.datetime(2023, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(ORDER_HEADERS)
        for i in range(n):
            at = start + datetime.timedelta(seconds=rnd.randrange(60 * 60 * 24 * 700))
            writer.writerow(
                [
                    f"SO{i:09d}",
                    customer_phone(rnd.randrange(customers)),
                    at.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{rnd.randrange(100, 500000) / 100:.2f}",
                    "CNY",
                    rnd.randrange(1, 6),
                    rnd.choice(CHANNELS),
                    rnd.choice(STORES),
                    rnd.choice(STATUSES),
                ]
            )
    return path


# --- the children: one measurement each, in a process of its own -----------------------------


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ours(
    schema: str, kind: str, path: Path, match_by: str, *, one_pass: bool = False
) -> dict[str, Any]:
    """The wizard's two steps (dry run, then commit), or with one_pass the command line's single
    pass (import_commit_direct: every row checked as it is written, all or nothing)."""
    from django_tenants.utils import schema_context

    from crm.accounts.audit import audit_actor
    from crm.transfer import services
    from crm.transfer.models import ImportJob

    start_mb = peak_mb()
    with schema_context(schema), audit_actor("bench"):
        started = time.perf_counter()
        with path.open("rb") as upload:
            job = services.import_start(actor=None, kind=kind, upload=upload, filename=path.name)
        job = services.import_configure(
            actor=None,
            job=job,
            mapping=job.mapping,
            match_by=match_by,
            update_existing=True,
            valid_only=False,
        )
        uploaded = time.perf_counter()
        if one_pass:
            job = services.import_commit_direct(actor=None, job=job)
            checked = uploaded
        else:
            job = services.import_check_request(actor=None, job=job, inline=True)
            checked = time.perf_counter()
            if job.status != ImportJob.Status.CHECKED or job.rejected_count:
                raise SystemExit(f"check: {job.status} {job.rejected_count} rejected {job.message}")
            job = services.import_commit_request(actor=None, job=job, inline=True)
        done = time.perf_counter()
        if job.status != ImportJob.Status.DONE:
            raise SystemExit(f"commit: {job.status} {job.message}")
    return {
        "total": done - started,
        "upload": uploaded - started,
        "check": checked - uploaded,
        "commit": done - checked,
        "created": job.created_count,
        "rows": job.rows_total,
        "start_mb": start_mb,
        "peak_mb": peak_mb(),
    }


@functools.lru_cache(maxsize=131_072)
def _e164(raw: str) -> str:
    from crm.lib.contacts import phone_normalise

    return phone_normalise(raw, default_region="CN").e164


def baseline_resource() -> Any:
    """django-import-export's ModelResource for the same columns and the same work per row,
    tuned as its documentation advises for speed."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    # By name: to a type checker run over the repository, "import_export" is this very file.
    fields: Any = importlib.import_module("import_export.fields")
    resources: Any = importlib.import_module("import_export.resources")
    widgets: Any = importlib.import_module("import_export.widgets")
    loaders: Any = importlib.import_module("import_export.instance_loaders")

    from crm.lib.contacts import InvalidPhone, email_normalise, name_sort_key
    from customers.models import Customer, CustomerEmail, CustomerPhone

    sort_key = functools.lru_cache(maxsize=131_072)(name_sort_key)

    class TagsWidget(widgets.Widget):
        def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[str]:
            return sorted({t.strip() for t in (value or "").split(",") if t.strip()})

    class BaselineCustomerResource(resources.ModelResource):
        phones = fields.Field(column_name="phones")
        emails = fields.Field(column_name="emails")
        tags = fields.Field(attribute="tags", column_name="tags", widget=TagsWidget())
        birthday = fields.Field(
            attribute="birthday", column_name="birthday", widget=widgets.DateWidget("%Y-%m-%d")
        )

        class Meta:
            model = Customer
            fields = ("external_id", "name", "city", "birthday", "tags", "phones", "emails")
            import_id_fields = ("external_id",)
            instance_loader_class = loaders.CachedInstanceLoader
            use_bulk = True
            batch_size = 5000
            skip_diff = True
            skip_unchanged = False
            clean_model_instances = False

        def before_import(self, dataset: Any, **kwargs: Any) -> None:
            from django.db import connection

            # Like ours: no audit row per written row.
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('crm.audit_bulk', 'on', false)")
            self.pending: list[Any] = []

        def import_instance(self, instance: Any, row: Any, **kwargs: Any) -> None:
            super().import_instance(instance, row, **kwargs)
            errors = {}
            try:
                instance._phones = [_e164(p) for p in (row["phones"] or "").split() if p]
            except InvalidPhone:
                errors["phones"] = "not a phone number we can dial"
            emails = [email_normalise(e) for e in (row["emails"] or "").split() if e]
            for email in emails:
                try:
                    validate_email(email)
                except ValidationError:
                    errors["emails"] = "not an email address"
            instance._emails = emails
            if not instance.name:
                errors["name"] = "a customer needs a name"
            instance.name_sort = sort_key(instance.name or "")
            if errors:
                raise ValidationError(errors)

        def bulk_create(
            self,
            using_transactions: bool,
            dry_run: bool,
            raise_errors: bool,
            batch_size: int | None = None,
            result: Any = None,
        ) -> None:
            created = list(self.create_instances)
            super().bulk_create(using_transactions, dry_run, raise_errors, batch_size, result)
            if not created or created[0].pk is None:
                return
            CustomerPhone.objects.bulk_create(
                [
                    CustomerPhone(
                        customer_id=c.pk, raw=p, e164=p, digits=p[1:], is_primary=index == 0
                    )
                    for c in created
                    for index, p in enumerate(c._phones)
                ],
                batch_size=batch_size,
            )
            CustomerEmail.objects.bulk_create(
                [
                    CustomerEmail(customer_id=c.pk, email=e, is_primary=index == 0)
                    for c in created
                    for index, e in enumerate(c._emails)
                ],
                batch_size=batch_size,
            )

    return BaselineCustomerResource()


def child_baseline(schema: str, path: Path) -> dict[str, Any]:
    import tablib
    from django_tenants.utils import schema_context

    from customers.models import Customer

    start_mb = peak_mb()
    with schema_context(schema):
        started = time.perf_counter()
        dataset = tablib.Dataset().load(path.read_text(encoding="utf-8-sig"), format="csv")
        loaded = time.perf_counter()
        dry = baseline_resource().import_data(dataset, dry_run=True, use_transactions=True)
        checked = time.perf_counter()
        if dry.has_errors() or dry.has_validation_errors():
            raise SystemExit(f"baseline dry run: {dry.totals}")
        real = baseline_resource().import_data(dataset, dry_run=False, use_transactions=True)
        done = time.perf_counter()
        if real.has_errors() or real.has_validation_errors():
            raise SystemExit(f"baseline import: {real.totals}")
        count = Customer.objects.count()
    return {
        "total": done - started,
        "load": loaded - started,
        "check": checked - loaded,
        "commit": done - checked,
        "single": (loaded - started) + (done - checked),
        "created": count,
        "start_mb": start_mb,
        "peak_mb": peak_mb(),
    }


def child_export(out: Path) -> dict[str, Any]:
    from django.core.management import call_command

    start_mb = peak_mb()
    started = time.perf_counter()
    call_command("export_records", SLUG, "customers", "--format", "csv", "-o", str(out))
    done = time.perf_counter()
    with out.open(encoding="utf-8-sig") as text:
        rows = sum(1 for _ in csv.reader(text)) - 1
    return {
        "total": done - started,
        "rows": rows,
        "bytes": out.stat().st_size,
        "start_mb": start_mb,
        "peak_mb": peak_mb(),
    }


def run_child(args: argparse.Namespace) -> int:
    setup_django(json.loads(os.environ["BENCH_IMPORT_ENV"]))
    what, schema, path = args.child, args.schema, Path(args.path)
    profile = os.environ.get("BENCH_IMPORT_PROFILE")
    if profile:
        # BENCH_IMPORT_PROFILE=<folder>: each child's cProfile statistics (for finding hot spots).
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            result = measure(what, schema, path)
        finally:
            profiler.disable()
            profiler.dump_stats(str(Path(profile) / f"{what}-{path.stem}.prof"))
    else:
        result = measure(what, schema, path)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def measure(what: str, schema: str, path: Path) -> dict[str, Any]:
    if what == "ours-customers":
        result = child_ours(schema, "customers", path, "external_id")
    elif what == "ours-orders":
        result = child_ours(schema, "orders", path, "phone")
    elif what == "ours-customers-1pass":
        result = child_ours(schema, "customers", path, "external_id", one_pass=True)
    elif what == "ours-orders-1pass":
        result = child_ours(schema, "orders", path, "phone", one_pass=True)
    elif what == "baseline-customers":
        result = child_baseline(schema, path)
    elif what == "export":
        result = child_export(path)
    else:
        raise SystemExit(f"unknown child {what!r}")
    return result


def child(environment: dict[str, str], what: str, schema: str, path: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["BENCH_IMPORT_ENV"] = json.dumps(environment)
    command = [sys.executable, __file__, "--child", what, "--schema", schema, "--path", str(path)]
    print(f"  {what}: {path.name} ...", flush=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        print(done.stdout[-3000:], done.stderr[-5000:], sep="\n")
        raise SystemExit(f"{what} failed ({done.returncode})")
    result = json.loads(lines[-1][len("RESULT ") :])
    print(f"  {what}: {json.dumps(result)}", flush=True)
    return result


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Results:
    customers: int = 0
    orders: int = 0
    export_customers: int = 0
    files: dict[str, int] = field(default_factory=dict)  # name -> bytes
    generate_s: float = 0.0
    ours: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    orders_run: dict[str, Any] = field(default_factory=dict)
    xlsx: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    # The command line's single pass (import_records: checked while written, all or nothing).
    ours_1pass: dict[str, Any] = field(default_factory=dict)
    xlsx_1pass: dict[str, Any] = field(default_factory=dict)
    orders_1pass: dict[str, Any] = field(default_factory=dict)
    fill_s: float = 0.0
    orders_in_table: int = 0


def run_bench(args: argparse.Namespace, environment: dict[str, str], folder: Path) -> Results:
    results = Results(args.customers, args.orders, args.export_customers)
    schema = build_tenant()
    print(f"tenant {SLUG} ready (schema {schema}); writing the files ...", flush=True)
    started = time.perf_counter()
    csv_path, xlsx_path = write_customer_files(folder, args.customers)
    orders_path = write_orders_file(folder, args.orders, args.customers)
    results.generate_s = time.perf_counter() - started
    results.files = {p.name: p.stat().st_size for p in (csv_path, xlsx_path, orders_path)}
    print(f"files in {results.generate_s:.1f} s: {results.files}", flush=True)

    print("(a) customers CSV, ours and the baseline, each into an empty table", flush=True)
    empty_tables(schema)
    results.ours = child(environment, "ours-customers", schema, csv_path)
    empty_tables(schema)
    results.baseline = child(environment, "baseline-customers", schema, csv_path)
    if results.baseline["created"] != results.ours["created"]:
        raise SystemExit(f"created: ours {results.ours['created']}, baseline {results.baseline}")
    empty_tables(schema)
    results.ours_1pass = child(environment, "ours-customers-1pass", schema, csv_path)

    print("(c) customers XLSX, ours, into an empty table", flush=True)
    empty_tables(schema)
    results.xlsx = child(environment, "ours-customers", schema, xlsx_path)
    empty_tables(schema)
    results.xlsx_1pass = child(environment, "ours-customers-1pass", schema, xlsx_path)
    analyze(schema)

    print("(b) orders CSV, ours, for the customers the XLSX import left", flush=True)
    results.orders_run = child(environment, "ours-orders", schema, orders_path)
    results.orders_in_table = table_count(schema, "customers_order")
    empty_orders(schema)
    results.orders_1pass = child(environment, "ours-orders-1pass", schema, orders_path)

    print("(d) customer export", flush=True)
    results.fill_s = fill_customers(schema, args.export_customers)
    results.export = child(environment, "export", schema, folder / "export.csv")
    return results


# --- report -----------------------------------------------------------------------------------


def report_tables(r: Results) -> str:
    ours, base, one = r.ours, r.baseline, r.ours_1pass
    ratio = base["total"] / ours["total"]
    single = base["single"] / ours["total"]
    single_1pass = base["single"] / one["total"]
    peak_orders = max(r.orders_run["peak_mb"], r.orders_1pass["peak_mb"])
    lines = [
        f"| (a) {r.customers:,} customers from CSV, into an empty table | total | upload + "
        "mapping | dry run | commit | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
        f"| ours: import_start … import_commit_request | {ours['total']:.2f} s | "
        f"{ours['upload']:.2f} s | {ours['check']:.2f} s | {ours['commit']:.2f} s | "
        f"{ours['peak_mb']:.0f} MB |",
        f"| baseline: tablib load + dry run + import (the admin's two steps) | "
        f"{base['total']:.2f} s | {base['load']:.2f} s | {base['check']:.2f} s | "
        f"{base['commit']:.2f} s | {base['peak_mb']:.0f} MB |",
        f"| baseline: load + import alone (no dry run) | {base['single']:.2f} s | | | | |",
        f"| ours, one pass (import_records: each row checked as it is written) | "
        f"{one['total']:.2f} s | {one['upload']:.2f} s | | {one['commit']:.2f} s | "
        f"{one['peak_mb']:.0f} MB |",
        "",
        f"| (b) {r.orders:,} orders from CSV ({r.customers:,} customers by phone) | total | "
        "upload + mapping | dry run | commit | peak RSS (start) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| ours | {r.orders_run['total']:.2f} s | {r.orders_run['upload']:.2f} s | "
        f"{r.orders_run['check']:.2f} s | {r.orders_run['commit']:.2f} s | "
        f"{r.orders_run['peak_mb']:.0f} MB ({r.orders_run['start_mb']:.0f} MB) |",
        f"| ours, one pass | {r.orders_1pass['total']:.2f} s | {r.orders_1pass['upload']:.2f} s |"
        f" | {r.orders_1pass['commit']:.2f} s | {r.orders_1pass['peak_mb']:.0f} MB "
        f"({r.orders_1pass['start_mb']:.0f} MB) |",
        "",
        "| (c) and (d) | rows | total | peak RSS |",
        "|---|---:|---:|---:|",
        f"| (c) customers from XLSX ({r.files['customers.xlsx'] / 1e6:.1f} MB), ours: dry run "
        f"{r.xlsx['check']:.2f} s, commit {r.xlsx['commit']:.2f} s | {r.xlsx['created']:,} | "
        f"{r.xlsx['total']:.2f} s | {r.xlsx['peak_mb']:.0f} MB |",
        f"| (c) the same XLSX, ours in one pass | {r.xlsx_1pass['created']:,} | "
        f"{r.xlsx_1pass['total']:.2f} s | {r.xlsx_1pass['peak_mb']:.0f} MB |",
        f"| (d) `export_records` customers to CSV ({r.export['bytes'] / 1e6:.1f} MB) | "
        f"{r.export['rows']:,} | {r.export['total']:.2f} s | {r.export['peak_mb']:.0f} MB |",
        "",
        "| goal | target | measured | result |",
        "|---|---|---:|---|",
        f"| (a) {r.customers:,} customers, the wizard's dry run + commit | "
        f"< {GOAL_CUSTOMERS_S:.0f} s | "
        f"{ours['total']:.2f} s | {verdict(ours['total'] < GOAL_CUSTOMERS_S)} |",
        f"| (a) baseline / ours (both dry run + import) | >= {GOAL_RATIO:.0f}x | {ratio:.1f}x | "
        f"{verdict(ratio >= GOAL_RATIO)} |",
        f"| (a) baseline single pass / ours dry run + commit | no goal | {single:.1f}x | — |",
        f"| (a) the same, one pass each (import_records) | < {GOAL_CUSTOMERS_S:.0f} s | "
        f"{one['total']:.2f} s | {verdict(one['total'] < GOAL_CUSTOMERS_S)} |",
        f"| (a) baseline single pass / ours one pass | >= {GOAL_RATIO:.0f}x | "
        f"{single_1pass:.1f}x | {verdict(single_1pass >= GOAL_RATIO)} |",
        f"| (b) {r.orders:,} orders, dry run + commit | < {GOAL_ORDERS_S:.0f} s | "
        f"{r.orders_run['total']:.2f} s |"
        f" {verdict(r.orders_run['total'] < GOAL_ORDERS_S)} |",
        f"| (b) the same, one pass | < {GOAL_ORDERS_S:.0f} s | {r.orders_1pass['total']:.2f} s |"
        f" {verdict(r.orders_1pass['total'] < GOAL_ORDERS_S)} |",
        f"| (b) peak memory of the importing process | < {GOAL_ORDERS_MB:.0f} MB | "
        f"{peak_orders:.0f} MB | {verdict(peak_orders < GOAL_ORDERS_MB)} |",
        f"| (c) {r.customers:,}-row XLSX | < {GOAL_XLSX_S:.0f} s | {r.xlsx['total']:.2f} s | "
        f"{verdict(r.xlsx['total'] < GOAL_XLSX_S)} |",
        f"| (c) the same, one pass | < {GOAL_XLSX_S:.0f} s | {r.xlsx_1pass['total']:.2f} s | "
        f"{verdict(r.xlsx_1pass['total'] < GOAL_XLSX_S)} |",
        f"| (d) {r.export['rows']:,}-row CSV export | < {GOAL_EXPORT_S:.0f} s | "
        f"{r.export['total']:.2f} s | {verdict(r.export['total'] < GOAL_EXPORT_S)} |",
    ]
    return "\n".join(lines)


def docs_section(r: Results, info: dict[str, str], notes: list[str]) -> str:
    from importlib.metadata import version

    import django

    method = paragraph(
        f"""`bench/import_export.py` builds a database of its own with one tenant (Asia/Shanghai,
        CNY), writes the files ({r.customers:,} customers as CSV with the export's headers and as
        XLSX; {r.orders:,} orders as CSV with Chinese headers, each for one of those customers by
        phone, dates as 2024-03-05 14:30:00), and runs each measurement in a fresh Python process
        (peak memory is that process's ru_maxrss). Ours is the engine's service path, as the
        wizard, the worker and `import_records` run it: upload, mapping, dry run, commit (one
        transaction, COPY writes, audit triggers quiet, an ImportChange per record for undo).
        The baseline is a django-import-export {version("django-import-export")} ModelResource on
        the same table and file, tuned: use_bulk with batch_size 5000, skip_diff,
        CachedInstanceLoader on external_id, no full_clean, doing the same work per row (name
        sort key, phone to E.164, email check, birthday, tags; phones and emails bulk-created
        after their customers), with the same lru caches for phones and names and the audit
        triggers quiet too; it runs as the admin runs it, a dry run then the import. Each side
        starts from an empty customers table (TRUNCATE ... CASCADE)."""
    )
    lines = [
        SECTION_START,
        "## Import and export: the import engine vs a tuned django-import-export resource",
        "",
        method,
        "",
        f"- Command: `{command_line()}`",
        f"- Run: {info['date']}; {code_state()}",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM; load average at "
        f"the end {info['load']} (other work shares the machine)",
        f"- {info['postgres_short']}; Python {info['python']}, Django {django.get_version()}",
        "- Files: "
        + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in r.files.items())
        + f" (written in {r.generate_s:.0f} s)",
        f"- Orders in the table after (b): {r.orders_in_table:,}; customers for (d) filled up to "
        f"{r.export_customers:,} by generate_series in {r.fill_s:.1f} s",
        "",
        report_tables(r),
    ]
    if notes:
        lines += ["", *[paragraph(n) for n in notes]]
    lines.append(SECTION_END)
    return "\n".join(lines)


EXPORT_FIRST = re.compile(
    r"## Export: 1,000,000 customers to CSV with `export_records` \(first measurement\).*?"
    r"(?:\n\n(?=## |<!-- )|\Z)",
    re.DOTALL,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--export-customers", type=int, default=1_000_000)
    harness.add_common_arguments(
        parser,
        db_default="crm_bench_import",
        note_help="a paragraph for the docs",
        keep_help="keep the bench database",
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--schema", default="", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    harness.check_db_name(parser, args)
    return args


def main() -> int:
    args = parse_args()
    if args.child:
        return run_child(args)
    with (
        bench_database(args.db_name, keep=args.keep) as bench_url,
        tempfile.TemporaryDirectory(prefix="bench-import-export-") as tmp,
    ):
        folder = Path(tmp)
        media = folder / "private"
        media.mkdir()
        environment = app_environment(bench_url, media)
        setup_django(environment)
        results = run_bench(args, environment, folder)
        info = machine_info()
        print()
        print(report_tables(results))
        if args.write_docs:
            # The exporter's first, one-off measurement is replaced by this bench's figures.
            write_docs("import_export", docs_section(results, info, args.note), drop=EXPORT_FIRST)
            print(f"\nwrote {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
