"""What every script in bench/ shares: its own database (dropped and recreated, never a
developer's), Django set up against it, the machine and code it ran on, the command line, and
its section of docs/benchmarks.md. A new benchmark imports this and keeps only its measurements.

Scripts run as `python bench/<name>.py`, so Python puts bench/ first on sys.path, where
bench/import_export.py would stand in for the django-import-export package: `script_path_fixed`
takes that folder off the path and puts the project root on it, before anything imports Django.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm"
OWNER_PASSWORD = "bench-owner-Passw0rd"

DOCS_HEADER = """# Benchmarks

Every figure here comes from a script in `bench/` that builds its own data (in a database of its
own) and runs our implementation and the baseline it is compared with in the same run, on the
same machine. Re-run a script with `--write-docs` to refresh its section. These are
measurements, not timed tests: nothing fails when a goal is missed; the section says so.
"""


def script_path_fixed() -> None:
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


# --- arguments ----------------------------------------------------------------------------------


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of the script's docstring."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)


def add_common_arguments(
    parser: argparse.ArgumentParser,
    *,
    db_default: str | None = None,
    db_help: str | None = None,
    note_help: str | None = None,
    write_help: str = "update docs/benchmarks.md",
    keep_help: str | None = None,
) -> None:
    """The options the scripts share, each only where asked for, in this order: --db-name (its
    default given), --note (its help given), --write-docs, --keep (its help given)."""
    if db_default is not None:
        parser.add_argument("--db-name", default=db_default, help=db_help)
    if note_help is not None:
        parser.add_argument("--note", action="append", default=[], help=note_help)
    parser.add_argument("--write-docs", action="store_true", help=write_help)
    if keep_help is not None:
        parser.add_argument("--keep", action="store_true", help=keep_help)


def check_db_name(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if "bench" not in args.db_name:
        parser.error("--db-name must contain 'bench': the database is dropped and recreated")


# --- the bench database and Django ----------------------------------------------------------


def bench_urls(db_name: str) -> tuple[str, str]:
    """The bench database's URL and the admin `postgres` database's, on DATABASE_URL's server."""
    base = urlsplit(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    return base._replace(path=f"/{db_name}").geturl(), base._replace(path="/postgres").geturl()


def _drop(conn: psycopg.Connection[Any], db_name: str) -> None:
    force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(db_name), force))


def recreate_database(admin_url: str, db_name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _drop(conn, db_name)
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8'").format(sql.Identifier(db_name)))


def drop_database(admin_url: str, db_name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _drop(conn, db_name)


@contextmanager
def bench_database(db_name: str, *, keep: bool, reuse: bool = False) -> Iterator[str]:
    """The bench's own database, new (or as a kept run left it, with `reuse`), yielding its URL;
    closed and dropped at the end unless `keep`."""
    bench_url, admin_url = bench_urls(db_name)
    if not reuse:
        recreate_database(admin_url, db_name)
    try:
        yield bench_url
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if keep:
            print(f"kept database {db_name}")
        else:
            drop_database(admin_url, db_name)


def setup_django(environment: dict[str, str], *paths: Path) -> None:
    """Django on crm.settings with `environment` in the process's, `paths` first on sys.path
    (generated settings modules)."""
    os.environ.update(environment)
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings"
    script_path_fixed()
    for path in paths:
        sys.path.insert(0, str(path))
    import django

    django.setup()


# --- what a run is recorded with ------------------------------------------------------------


def app_environment(bench_url: str, media: Path, cache_prefix: str) -> dict[str, str]:
    """The settings a bench's Django runs with: its own database, files and cache keys, and
    production-like flags (DEBUG keeps every query in memory: never measure with it)."""
    import secrets

    return {
        "DATABASE_URL": bench_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_ALLOWED_HOSTS": ".localhost,localhost",
        "CRM_BASE_DOMAIN": "localhost",
        "CRM_PRIVATE_MEDIA_ROOT": str(media),
        "CACHE_KEY_PREFIX": cache_prefix,
    }


def tenant_build(slug: str, name: str) -> str:
    """Migrate the bench database, provision one ready tenant, return its schema."""
    from django.core.management import call_command

    from crm.tenants import services
    from crm.tenants.models import Tenant

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    services.platform_prepare()
    spec = services.TenantSpec(
        slug=slug,
        name=name,
        owner_email="owner@bench.example.com",
        time_zone="Asia/Shanghai",
        currency="CNY",
    )
    tenant = services.tenant_create(actor=None, spec=spec, provision_async=False)
    tenant = services.tenant_provision(
        actor=None, tenant_id=tenant.pk, owner_password=OWNER_PASSWORD
    )
    if tenant.status != Tenant.Status.READY:
        raise SystemExit(f"tenant {slug}: status {tenant.status!r} ({tenant.status_detail})")
    return tenant.schema_name


def customers_generate(cursor: Any, customers: int, *, external_prefix: str = "c-") -> None:
    """Customers 1..customers (顾客 n in 上海, external ids <prefix>n) written in one statement,
    their id sequence moved past them: the rows a benchmark tenant's own data hangs from."""
    cursor.execute(
        "INSERT INTO customers_customer (id, kind, name, name_sort, gender, address, city,"
        " region, postal_code, country, tags, source, channel, external_id, stage,"
        " stage_override, notes, created_at, updated_at)"
        " SELECT g, 'individual', '顾客' || g, 'gu ke ' || g, '', '', '上海', '', '',"
        " 'CN', '{}', '', '', %s || g, 'new', false, '', now(), now()"
        " FROM generate_series(1, %s) g",
        [external_prefix, customers],
    )
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %s)", [customers]
    )


def machine_info() -> dict[str, str]:
    """The machine, PostgreSQL and Python a run used (Django must be set up)."""
    from django.db import connection

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    mem = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    load = os.getloadavg()
    return {
        "date": time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime()),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model.group(1).strip() if model else "unknown CPU",
        "ram": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "unknown",
        "postgres": pg_version,
        "postgres_short": pg_version.split(" on ")[0],
        "shared_buffers": shared_buffers,
        "python": sys.version.split()[0],
        "load": f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}",
    }


def command_line() -> str:
    """The command as run, paths relative to the project; --note texts (printed as notes of
    their own) shown as …."""

    def rel(path: str) -> str:
        try:
            return str(Path(path).absolute().relative_to(ROOT))
        except ValueError:
            return path

    argv = sys.argv[1:]
    args = ["…" if i and argv[i - 1] == "--note" else arg for i, arg in enumerate(argv)]
    return shlex.join([rel(sys.executable), rel(sys.argv[0]), *args]).replace("'…'", "…")


def code_state(paths: tuple[str, ...] = ("crm", "customers")) -> str:
    """The commit measured, and whether the app's files had uncommitted changes (others edit
    this tree while benchmarks run)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", *paths], cwd=ROOT, capture_output=True, text=True
    )
    changed = [line[3:] for line in status.stdout.splitlines() if line.strip()]
    commit = head.stdout.strip() or "unknown"
    if not changed:
        return f"commit {commit}, no uncommitted changes to the app"
    shown = ", ".join(f"`{path}`" for path in changed[:8])
    more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
    return f"commit {commit} plus uncommitted changes to {shown}{more}"


# --- docs/benchmarks.md -----------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def paragraph(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), width=100, break_on_hyphens=False)


def bullet(text: str) -> str:
    return textwrap.fill(
        " ".join(text.split()),
        width=100,
        initial_indent="- ",
        subsequent_indent="  ",
        break_on_hyphens=False,
        break_long_words=False,
    )


def section_markers(name: str) -> tuple[str, str]:
    """The comments that delimit a script's section of docs/benchmarks.md."""
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def write_docs(
    name: str, section: str, *, drop: re.Pattern[str] | None = None, docs: Path = DOCS
) -> None:
    """Put `section` (starting and ending with section_markers(name)) in place of the script's
    section, or at the end; `drop` removes text the section replaces."""
    start, end = section_markers(name)
    text = docs.read_text() if docs.exists() else DOCS_HEADER
    if drop is not None:
        text = drop.sub("", text).rstrip("\n") + "\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(text)
