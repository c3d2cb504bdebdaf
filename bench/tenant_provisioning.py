"""Tenant provisioning: replaying a dump of the template schema (ours) against migrating.

Builds its own database (crm_bench by default, dropped and recreated at the start and dropped
again at the end unless --keep), so it never touches a developer's data. In one run it provisions
N tenants each way, alternating which goes first, and times each from the first call until the
tenant is ready:

* clone (ours): services.tenant_create(provision_async=False) + services.tenant_provision as
  shipped: tenant_provision finds no schema, so crm.tenants.cloning.schema_clone replays a cached
  `pg_dump --inserts` of `tenant_template` in one transaction, then checks the schema and creates
  the owner;
* migrate (baseline): a plain django-tenants provisioning: the same tenant_create, then
  Tenant.create_schema (no base schema is configured, so django-tenants creates an empty schema
  and runs every tenant migration), then the same tenant_provision, which finds the schema and
  only checks it, creates the owner and marks the tenant ready.

Each baseline schema must equal the clone of its pair exactly (tables, columns, index and
constraint names and definitions, sequences, recorded migrations, row counts and contents), the
schema's own name aside; any difference stops the run. Then it fills the database up to
--noop-tenants tenants by cloning and times one `migrate_schemas` that has nothing to apply.

    .venv/bin/python bench/tenant_provisioning.py [--tenants 5] [--noop-tenants 50] [--write-docs]
"""

from __future__ import annotations

import argparse
import functools
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import harness
from bench.harness import (
    DOCS,
    OWNER_PASSWORD,
    ROOT,
    bench_database,
    command_line,
    machine_info,
    section_markers,
    setup_django,
    verdict,
    write_docs,
)

SECTION_START, SECTION_END = section_markers("tenant_provisioning")
READY_GOAL_SECONDS = 3.0
RATIO_GOAL = 5.0

# Timed pieces of one provisioning, in report order: (key, label, indent).
PIECES: tuple[tuple[str, str, int], ...] = (
    ("total", "start to ready (tenant_create … tenant_provision)", 0),
    ("schema", "schema step: schema_clone (ours) / create_schema (baseline)", 1),
    ("lookup", "template version lookup (dump cache key)", 2),
    ("dump", "pg_dump of the template (cache miss only)", 2),
    ("replay", "replay: execute + commit on its own connection", 2),
    ("clone_rest", "rest of schema_clone (connect, rename in script, close)", 2),
    ("migrate", "migrate_schemas --schema=new (every tenant migration)", 2),
    ("create_schema_rest", "rest of create_schema (checks, CREATE SCHEMA)", 2),
    ("check", "_check_schema_complete", 1),
    ("owner", "create_tenant_owner", 1),
    ("hash", "of which set_password (PBKDF2)", 2),
    ("rest", "tenant row, domain, events, status (the rest)", 1),
)


# --- the bench database, before Django --------------------------------------------------------


# --- timing the pieces ------------------------------------------------------------------------


class PieceTimer:
    """Wraps a few functions in-process, only while the bench runs, so each provisioning reports
    where its time went."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.active: set[str] = set()
        self.originals: list[tuple[Any, str, Any]] = []

    def reset(self) -> None:
        self.current = {}
        self.calls = {}

    def wrap(self, owner: Any, attr: str, key: str, inside: str | None = None) -> None:
        """Time owner.attr under `key`; with `inside`, only calls made while `inside` runs."""
        original: Callable[..., Any] = getattr(owner, attr)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if inside is not None and inside not in self.active:
                return original(*args, **kwargs)
            self.active.add(key)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self.active.discard(key)
                self.current[key] = self.current.get(key, 0.0) + elapsed
                self.calls[key] = self.calls.get(key, 0) + 1

        # What the class or module itself holds (None: inherited), to put back afterwards.
        self.originals.append((owner, attr, vars(owner).get(attr)))
        setattr(owner, attr, timed)

    @contextmanager
    def installed(self) -> Iterator[None]:
        import django_tenants.models
        from django.contrib.auth import get_user_model

        from crm.tenants import cloning, services
        from crm.tenants.models import Tenant

        user_model = get_user_model()
        try:
            # services imported schema_clone by name: wrap the name tenant_provision calls.
            self.wrap(services, "schema_clone", "clone")
            self.wrap(cloning, "template_dump", "template_dump", inside="clone")
            self.wrap(cloning, "_dump", "dump", inside="clone")
            # schema_clone's own psycopg connection; Django's commits happen outside it.
            self.wrap(psycopg.Connection, "execute", "replay_execute", inside="clone")
            self.wrap(psycopg.Connection, "commit", "replay_commit", inside="clone")
            self.wrap(Tenant, "create_schema", "create_schema")
            # create_schema calls migrate_schemas through this module global.
            self.wrap(django_tenants.models, "call_command", "migrate", inside="create_schema")
            self.wrap(services, "_check_schema_complete", "check")
            self.wrap(type(user_model.objects), "create_tenant_owner", "owner")
            self.wrap(user_model, "set_password", "hash")
            yield
        finally:
            for owner, attr, original in reversed(self.originals):
                if original is None:
                    delattr(owner, attr)
                else:
                    setattr(owner, attr, original)
            self.originals = []

    def breakdown(self, total: float) -> dict[str, float]:
        got = self.current
        pieces = {key: got.get(key, 0.0) for key, _label, _indent in PIECES}
        clone, create_schema = got.get("clone", 0.0), got.get("create_schema", 0.0)
        pieces["total"] = total
        pieces["schema"] = clone + create_schema
        pieces["lookup"] = got.get("template_dump", 0.0) - pieces["dump"]
        pieces["replay"] = got.get("replay_execute", 0.0) + got.get("replay_commit", 0.0)
        pieces["clone_rest"] = (
            clone - got.get("template_dump", 0.0) - pieces["replay"] if clone else 0.0
        )
        pieces["create_schema_rest"] = create_schema - pieces["migrate"]
        pieces["rest"] = total - pieces["schema"] - pieces["check"] - pieces["owner"]
        return pieces


# --- provisioning -----------------------------------------------------------------------------


@dataclass
class Run:
    path: str  # "clone" or "migrate"
    slug: str
    schema: str
    seconds: float
    pieces: dict[str, float]
    dumped: bool  # this run's clone ran pg_dump (dump cache miss)


@dataclass
class Results:
    clone: list[Run] = field(default_factory=list)
    migrate: list[Run] = field(default_factory=list)
    warmup: list[Run] = field(default_factory=list)
    fill: list[Run] = field(default_factory=list)
    noop_seconds: float = 0.0
    noop_tenant_schemas: int = 0
    # (app, migrations recorded) in the template schema.
    template_migrations: list[tuple[str, int]] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)  # what the shape check covered
    reparsed: list[Reparsed] = field(default_factory=list)

    def all_clones(self) -> list[Run]:
        """Every clone in the order run (the warm-up ones first)."""
        return [r for r in self.warmup if r.path == "clone"] + self.clone + self.fill

    def first_clone(self) -> Run:
        # Warm-up and timed clones interleave; the first one run is the earliest of both.
        return self.all_clones()[0]


def provision(path: str, slug: str, timer: PieceTimer) -> Run:
    from crm.tenants import services
    from crm.tenants.models import Tenant

    spec = services.TenantSpec(
        slug=slug, name=f"Bench {slug}", owner_email=f"owner@{slug}.example.com"
    )
    timer.reset()
    started = time.perf_counter()
    tenant = services.tenant_create(actor=None, spec=spec, provision_async=False)
    if path == "migrate":
        tenant.create_schema(check_if_exists=True, verbosity=0)
    tenant = services.tenant_provision(
        actor=None, tenant_id=tenant.pk, owner_password=OWNER_PASSWORD
    )
    seconds = time.perf_counter() - started
    if tenant.status != Tenant.Status.READY:
        raise SystemExit(f"{slug}: status {tenant.status!r} ({tenant.status_detail}), not ready")
    calls = timer.calls
    expected = {"clone": 1, "create_schema": 0, "migrate": 0}
    if path == "migrate":
        expected = {"clone": 0, "create_schema": 1, "migrate": 1}
    got = {key: calls.get(key, 0) for key in expected}
    if got != expected or calls.get("replay_execute", 0) != expected["clone"]:
        raise SystemExit(f"{slug} ({path}): expected calls {expected}, got {calls}; paths mixed")
    dumped = calls.get("dump", 0) > 0
    return Run(path, slug, tenant.schema_name, seconds, timer.breakdown(seconds), dumped)


def check_plain_django_tenants() -> None:
    """The baseline relies on create_schema creating an empty schema and migrating it."""
    from django.conf import settings
    from django_tenants.utils import get_creation_fakes_migrations

    if get_creation_fakes_migrations() or getattr(settings, "TENANT_BASE_SCHEMA", None):
        raise SystemExit(
            "settings configure a django-tenants base schema (TENANT_CREATION_FAKES_MIGRATIONS /"
            " TENANT_BASE_SCHEMA): the baseline would clone instead of migrating"
        )


# --- comparing a baseline schema with a clone -------------------------------------------------


def _own(text: str, schema: str) -> str:
    """`text` with the schema's own name replaced, so two schemas' definitions compare; any
    other schema's name stays visible. Index and constraint names are kept."""
    return re.sub(rf'(?<![\w$])"?{re.escape(schema)}"?\.', "<own>.", text)


def filled_in_template() -> set[str]:
    """The template's tables that hold rows (content types, permissions, roles, migrations...).

    The others are filled by provisioning after the schema step (the owner, its group, audit
    entries about it); those rows name the tenant and carry salted hashes and timestamps, so
    they are compared by row count only."""
    from django.conf import settings
    from django.db import connection

    template = settings.CRM_TEMPLATE_SCHEMA
    filled = set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [template],
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{template}"."{table}")')
            if cursor.fetchone()[0]:
                filled.add(table)
    return filled


def schema_shape(schema: str, content_tables: set[str]) -> dict[str, set[tuple[str, ...]]]:
    """What a tenant schema is made of, with its own name left out of every definition.

    Row contents are compared for `content_tables` (those the template fills), leaving out
    date/time columns; every table's row count is compared."""
    from django.db import connection

    parts: dict[str, set[tuple[str, ...]]] = {}

    def rows(query: str) -> list[tuple[Any, ...]]:
        cursor.execute(query, [schema])
        return cursor.fetchall()

    def own(rows_: list[tuple[Any, ...]]) -> set[tuple[str, ...]]:
        return {tuple(_own("" if v is None else str(v), schema) for v in row) for row in rows_}

    with connection.cursor() as cursor:
        parts["tables"] = own(
            rows(
                "SELECT c.relname, c.relkind::text, c.relpersistence::text,"
                " coalesce(array_to_string(c.reloptions, ','), '')"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
            )
        )
        parts["columns"] = own(
            rows(
                # The column's place among the live ones, not its attnum: a migrated table keeps
                # a gap where a column was dropped (django_content_type.name), a restored one
                # has none; the order is what matters.
                "SELECT table_name, column_name,"
                " row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position),"
                " data_type, udt_name,"
                " character_maximum_length, numeric_precision, numeric_scale, is_nullable,"
                " column_default, is_identity, identity_generation, identity_start,"
                " identity_increment, is_generated, generation_expression, collation_name"
                " FROM information_schema.columns WHERE table_schema = %s"
            )
        )
        parts["indexes"] = own(
            rows("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s")
        )
        parts["constraints"] = own(
            rows(
                "SELECT rel.relname, con.conname, con.contype::text,"
                " pg_get_constraintdef(con.oid)"
                " FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid"
                " JOIN pg_namespace nsp ON nsp.oid = con.connamespace WHERE nsp.nspname = %s"
            )
        )
        parts["sequences"] = own(
            rows(
                "SELECT s.sequencename, s.data_type::text, s.start_value, s.min_value,"
                " s.max_value, s.increment_by, s.cycle, s.cache_size, s.last_value,"
                " coalesce(d.refobjid::regclass::text || '.' || a.attname, '')"
                " FROM pg_sequences s"
                " JOIN pg_class c ON c.relname = s.sequencename"
                " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname"
                " LEFT JOIN pg_depend d ON d.objid = c.oid AND d.deptype IN ('a', 'i')"
                "  AND d.classid = 'pg_class'::regclass"
                " LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
                " WHERE s.schemaname = %s"
            )
        )
        parts["triggers"] = own(
            rows(
                "SELECT event_object_table, trigger_name, event_manipulation, action_timing,"
                " action_statement FROM information_schema.triggers WHERE trigger_schema = %s"
            )
        )
        parts["functions"] = own(
            rows(
                "SELECT p.proname, pg_get_function_identity_arguments(p.oid),"
                " pg_get_functiondef(p.oid)"
                " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = %s"
            )
        )
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations')
        parts["migrations"] = own(cursor.fetchall())
        parts["row counts"] = set()
        parts["row contents"] = set()
        tables = sorted(name for name, kind, *_rest in parts["tables"] if kind == "r")
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}"')
            parts["row counts"].add((table, str(cursor.fetchone()[0])))
            if table not in content_tables:
                continue
            cursor.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s"
                " AND data_type NOT LIKE 'timestamp%%' AND data_type NOT IN ('date', 'time')"
                " ORDER BY ordinal_position",
                [schema, table],
            )
            columns = ", ".join(f'"{name}"' for (name,) in cursor.fetchall())
            cursor.execute(f'SELECT ROW({columns})::text AS r FROM "{schema}"."{table}" ORDER BY r')
            parts["row contents"] |= {(table, _own(r, schema)) for (r,) in cursor.fetchall()}
    return parts


SCRATCH_SCHEMA = "bench_reparse"


def round_trip(kind: str, table: str, definition: str, like: str) -> str:
    """`definition` (an index's or a CHECK constraint's, own schema as `<own>.`) as PostgreSQL
    prints it back after parsing it once more, on an empty copy of `like`.`table`: what a dump
    and restore does to it. Runs in a transaction that is rolled back."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{SCRATCH_SCHEMA}"')
        cursor.execute(f'CREATE TABLE "{SCRATCH_SCHEMA}"."{table}" (LIKE "{like}"."{table}")')
        if kind == "index":
            statement = re.sub(r"INDEX \S+ ON <own>\.", "INDEX bench_rt ON <own>.", definition)
            cursor.execute(statement.replace("<own>.", f'"{SCRATCH_SCHEMA}".'))
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                [SCRATCH_SCHEMA, "bench_rt"],
            )
        else:
            cursor.execute(
                f'ALTER TABLE "{SCRATCH_SCHEMA}"."{table}" ADD CONSTRAINT bench_rt'
                f" {definition.replace('<own>.', f'{SCRATCH_SCHEMA}.')}"
            )
            cursor.execute(
                "SELECT pg_get_constraintdef(con.oid) FROM pg_constraint con"
                " JOIN pg_namespace nsp ON nsp.oid = con.connamespace"
                " WHERE nsp.nspname = %s AND con.conname = %s",
                [SCRATCH_SCHEMA, "bench_rt"],
            )
        printed = str(cursor.fetchone()[0])
        transaction.set_rollback(True)
    return re.sub(rf'(?<![\w$])"?{SCRATCH_SCHEMA}"?\.', "<own>.", printed).replace(
        "INDEX bench_rt ON", "INDEX <name> ON"
    )


@dataclass(frozen=True)
class Reparsed:
    """An index or CHECK constraint, same name, whose definition the clone prints differently
    from the baseline, but which parses to the same thing: both print the same once re-parsed."""

    kind: str
    table: str
    name: str
    clone: str
    baseline: str


def settle_reparsed(
    part: str,
    missing: set[tuple[str, ...]],
    extra: set[tuple[str, ...]],
    like: str,
) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]], list[Reparsed]]:
    """Take out of `missing` (clone only) and `extra` (baseline only) the indexes or CHECK
    constraints that differ only in how PostgreSQL prints a re-parsed definition."""
    if part not in ("indexes", "constraints"):
        return missing, extra, []
    # (table, name, definition) for indexes; (table, name, type, definition) for constraints.
    kind = "index" if part == "indexes" else "constraint"
    by_key = {(item[0], item[1]): item for item in extra}
    settled: list[Reparsed] = []
    for item in sorted(missing):
        other = by_key.get((item[0], item[1]))
        if other is None or item[:-1] != other[:-1] or (kind == "constraint" and item[2] != "c"):
            continue
        table, name, clone_def, base_def = item[0], item[1], item[-1], other[-1]
        if kind == "index":
            # Compare without the names, which are equal: round_trip renames the copy.
            clone_def = clone_def.replace(f"INDEX {name} ON", "INDEX <name> ON")
            base_def = base_def.replace(f"INDEX {name} ON", "INDEX <name> ON")
        if round_trip(kind, table, clone_def, like) == round_trip(kind, table, base_def, like):
            missing = missing - {item}
            extra = extra - {other}
            settled.append(Reparsed(kind, table, name, item[-1], other[-1]))
    return missing, extra, settled


def check_same_shape(baseline: Run, cloned: Run) -> tuple[dict[str, int], list[Reparsed]]:
    """Fail loudly unless the migrated schema and the clone are the same, names included;
    return how many items of each kind were compared, and the definitions that are printed
    differently but parse the same (reported, never hidden)."""
    content_tables = filled_in_template()
    got = schema_shape(baseline.schema, content_tables)
    want = schema_shape(cloned.schema, content_tables)
    if not want["tables"] or not want["migrations"]:
        raise SystemExit(f"{cloned.schema} has no tables or migrations; the clone did not happen")
    problems = []
    reparsed: list[Reparsed] = []
    for name, wanted in want.items():
        missing, extra = wanted - got[name], got[name] - wanted
        missing, extra, settled = settle_reparsed(name, missing, extra, baseline.schema)
        reparsed += settled
        if missing or extra:
            problems.append(
                f"{name}:\n    only in the clone {cloned.schema}: {sorted(missing)[:20]}"
                f"\n    only in the baseline {baseline.schema}: {sorted(extra)[:20]}"
            )
    if problems:
        raise SystemExit(
            f"baseline {baseline.schema} differs from clone {cloned.schema}"
            " (own schema name stripped):\n  " + "\n  ".join(problems)
        )
    return {name: len(items) for name, items in want.items()}, reparsed


def template_migrations() -> list[tuple[str, int]]:
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT app, count(*) FROM "{settings.CRM_TEMPLATE_SCHEMA}".django_migrations'
            " GROUP BY app ORDER BY count(*) DESC, app"
        )
        return [(app, int(count)) for app, count in cursor.fetchall()]


def tenant_count() -> int:
    from crm.tenants.models import Tenant

    return Tenant.objects.exclude(status=Tenant.Status.SYSTEM).count()


def run_bench(args: argparse.Namespace) -> Results:
    from django.core.management import call_command

    from crm.tenants.models import Tenant
    from crm.tenants.services import platform_prepare

    check_plain_django_tenants()
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    platform_prepare()
    results = Results(template_migrations=template_migrations())
    timer = PieceTimer()
    with timer.installed():
        for i in range(args.warmup):
            for path in ("clone", "migrate"):
                results.warmup.append(provision(path, f"bench-w{path[0]}-{i:02d}", timer))

        for i in range(args.tenants):
            order = ("clone", "migrate") if i % 2 == 0 else ("migrate", "clone")
            pair: dict[str, Run] = {}
            for path in order:
                run = pair[path] = provision(path, f"bench-{path[0]}-{i:02d}", timer)
                note = " (pg_dump: cache miss)" if run.dumped else ""
                print(f"  {path:7s} {run.slug:14s} {run.seconds:7.2f} s{note}", flush=True)
            results.compared, reparsed = check_same_shape(pair["migrate"], pair["clone"])
            for item in reparsed:
                if item not in results.reparsed:
                    results.reparsed.append(item)
                    print(
                        f"  printed differently after the dump, same once re-parsed:"
                        f" {item.kind} {item.table}.{item.name}\n    clone:    {item.clone}"
                        f"\n    baseline: {item.baseline}",
                        flush=True,
                    )
            results.clone.append(pair["clone"])
            results.migrate.append(pair["migrate"])
        print("  every baseline schema equals its paired clone, names included", flush=True)

        i = 0
        while tenant_count() < args.noop_tenants:
            results.fill.append(provision("clone", f"bench-n-{i:03d}", timer))
            i += 1
    print(f"  filled to {tenant_count()} tenants by cloning", flush=True)

    results.noop_tenant_schemas = Tenant.objects.exclude(schema_name="public").count()
    started = time.perf_counter()
    call_command("migrate_schemas", interactive=False, verbosity=0, executor="standard")
    results.noop_seconds = time.perf_counter() - started
    return results


# --- reporting --------------------------------------------------------------------------------


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def stats(runs: list[Run], key: str = "total") -> tuple[float, float, float]:
    return spread([run.pieces[key] for run in runs])


def piece_median(runs: list[Run], key: str) -> float:
    return statistics.median(run.pieces[key] for run in runs)


def row(label: str, figures: tuple[float, float, float], digits: int = 2) -> str:
    med, low, high = figures
    return f"| {label} | {med:.{digits}f} s | {low:.{digits}f} s | {high:.{digits}f} s |"


def report_tables(results: Results) -> str:
    ours, base = results.clone, results.migrate
    ours_med, base_med = stats(ours)[0], stats(base)[0]
    ours_schema, base_schema = stats(ours, "schema"), stats(base, "schema")
    ratio = base_med / ours_med
    schema_ratio = base_schema[0] / ours_schema[0]
    n = len(ours)
    per_tenant_ms = results.noop_seconds / results.noop_tenant_schemas * 1000
    shared = statistics.median(run.pieces["total"] - run.pieces["schema"] for run in ours)
    hash_med = piece_median(ours + base, "hash")
    no_hash_ours = statistics.median(run.pieces["total"] - run.pieces["hash"] for run in ours)
    no_hash_base = statistics.median(run.pieces["total"] - run.pieces["hash"] for run in base)
    timed_dumps = sum(run.dumped for run in ours)
    lines = [
        f"| provisioning one tenant, start to ready (n = {n} each) | median | min | max |",
        "|---|---:|---:|---:|",
        row("dump replay of the template (ours)", stats(ours)),
        row("create_schema + every migration (baseline)", stats(base)),
        "",
        "| the schema step alone | median | min | max |",
        "|---|---:|---:|---:|",
        row("`schema_clone` (ours)", ours_schema, 3),
        row("`create_schema` with `migrate_schemas` (baseline)", base_schema, 3),
        "",
        "| goal | target | measured | result |",
        "|---|---|---:|---|",
        f"| ours, median start to ready | < {READY_GOAL_SECONDS:g} s | {ours_med:.2f} s"
        f" | {verdict(ours_med < READY_GOAL_SECONDS)} |",
        f"| baseline median / ours median, totals | >= {RATIO_GOAL:g}x | {ratio:.1f}x"
        f" | {verdict(ratio >= RATIO_GOAL)} |",
        f"| baseline / ours, schema step alone (medians) | no goal | {schema_ratio:.1f}x | — |",
        "",
        "| no-op `migrate_schemas` (standard executor) | total | total / tenant schemas |",
        "|---|---:|---:|",
        f"| public + {results.noop_tenant_schemas} tenant schemas (template included)"
        f" | {results.noop_seconds:.2f} s | {per_tenant_ms:.0f} ms |",
        "",
        "Where the time goes (median seconds per tenant; pieces are medians, so they need not"
        " add up exactly):",
        "",
        "| piece | ours | baseline |",
        "|---|---:|---:|",
    ]
    for key, label, indent in PIECES:
        prefix = "· " * indent
        c, m = piece_median(ours, key), piece_median(base, key)
        lines.append(f"| {prefix}{label} | {c:.3f} | {m:.3f} |")

    first = results.first_clone()
    where = "a warm-up clone" if first in results.warmup else "a timed clone"
    if first.dumped:
        dump_note = (
            f"The first clone of the run ({where}) was a dump cache miss: pg_dump took"
            f" {first.pieces['dump']:.3f} s of its {first.seconds:.2f} s."
        )
    else:
        dump_note = f"The first clone of the run ({where}) found the dump cached (no pg_dump)."
    lines += [
        "",
        f"{dump_note} Timed clones that ran pg_dump: {timed_dumps} of {n} (the cache is keyed"
        " on the template's `django_migrations`, per process).",
        "",
        f"Work both paths share (check, owner account with its password hash, tenant rows,"
        f" events): {shared:.2f} s of ours {ours_med:.2f} s, of which the PBKDF2 hash alone is"
        f" {hash_med:.2f} s. With that fixed, the total ratio could reach at most"
        f" {base_med / shared:.1f}x here even if the schema step cost nothing. Without the hash"
        f" (the console path sets no password; derived per run, not measured separately):"
        f" {no_hash_ours:.2f} s vs {no_hash_base:.2f} s, {no_hash_base / no_hash_ours:.1f}x.",
    ]
    compared = ", ".join(f"{count} {name}" for name, count in results.compared.items())
    lines += ["", f"Shape check, last pair (equal on every pair): {compared}."]
    if results.reparsed:
        lines += [
            "",
            f"{len(results.reparsed)} definition(s) the clone prints differently from the"
            " baseline, same name: `pg_dump` writes PostgreSQL's printed form of the"
            " definition, and parsing that form again gives an equivalent but differently"
            " shaped expression. The check accepts these only because re-parsing both sides"
            " on an empty copy of the table prints them identically:",
            "",
        ]
        for item in results.reparsed:
            lines += [
                f"- {item.kind} `{item.table}.{item.name}`:",
                f"  clone `{item.clone}`;",
                f"  baseline `{item.baseline}`",
            ]
    if results.fill:
        fill = spread([run.seconds for run in results.fill])
        total = len(results.fill) + len(results.clone) + len(results.migrate) + len(results.warmup)
        lines += [
            "",
            f"Filling the database to {total} tenants took {len(results.fill)} more clones:"
            f" median {fill[0]:.2f} s, max {fill[2]:.2f} s"
            f" (the last: {results.fill[-1].seconds:.2f} s).",
        ]
    return "\n".join(lines)


def migration_kinds(recorded: list[tuple[str, int]]) -> tuple[int, int, int]:
    """How many recorded migrations belong to our tenant apps, to Django's tenant apps, and to
    shared-only apps (recorded in every tenant schema but applying no SQL there)."""
    from django.apps import apps
    from django.conf import settings

    tenant_labels = {c.label for c in apps.get_app_configs() if c.name in settings.TENANT_APPS}
    django_labels = {c.label for c in apps.get_app_configs() if c.name.startswith("django")}
    ours = sum(n for app, n in recorded if app in tenant_labels and app not in django_labels)
    theirs = sum(n for app, n in recorded if app in tenant_labels and app in django_labels)
    shared_only = sum(n for app, n in recorded if app not in tenant_labels)
    return ours, theirs, shared_only


def explanation(results: Results) -> str:
    """Why the ratio is what it is, from this run's figures."""
    ours, base = results.clone, results.migrate
    ours_med, base_med = stats(ours)[0], stats(base)[0]
    ours_schema, base_schema = stats(ours, "schema")[0], stats(base, "schema")[0]
    ratio = base_med / ours_med
    shared_ours = statistics.median(run.pieces["total"] - run.pieces["schema"] for run in ours)
    shared_base = statistics.median(run.pieces["total"] - run.pieces["schema"] for run in base)
    hash_med = piece_median(ours + base, "hash")
    total = sum(count for _app, count in results.template_migrations)
    by_app = ", ".join(f"{app} {count}" for app, count in results.template_migrations)
    ours_n, django_n, shared_n = migration_kinds(results.template_migrations)
    needed = RATIO_GOAL * ours_med - shared_base
    share = "most of it" if hash_med > shared_ours / 2 else "including"
    text = (
        f"Why the ratio is what it is: the template records only {total} tenant migrations"
        f" ({by_app}): {ours_n} from our tenant apps, {django_n} from Django's, and {shared_n}"
        f" from shared-only apps, which a tenant schema records without applying. Running"
        f" them all takes the baseline {base_schema:.2f} s, so the dump replay"
        f" ({ours_schema:.2f} s) wins the schema step {base_schema / ours_schema:.1f}x. But"
        f" everything else is the same work on both paths ({shared_ours:.2f} s ours,"
        f" {shared_base:.2f} s baseline), {share} the owner's PBKDF2 password hash"
        f" ({hash_med:.2f} s), which is deliberately slow and identical either way; the console"
        f" path sends a set-password email instead and skips it. So the totals differ by"
        f" {ratio:.1f}x."
    )
    if ratio >= RATIO_GOAL:
        return text + f" That meets the >= {RATIO_GOAL:g}x goal."
    return text + (
        f" The >= {RATIO_GOAL:g}x goal on totals is missed, and no faster clone can meet it"
        f" today: it needs the baseline to take {RATIO_GOAL * ours_med:.2f} s, i.e. a migrate"
        f" step of about {needed:.2f} s instead of {base_schema:.2f} s. The baseline grows with"
        f" every migration added (each one planned, applied and recorded per tenant), the replay"
        f" only with the size of the final schema, so the gap widens as the apps gain"
        f" migrations; the figure to hold to now is the < {READY_GOAL_SECONDS:g} s one."
    )


def docs_section(results: Results, info: dict[str, str], warmup: int, noop_tenants: int) -> str:
    from importlib.metadata import version

    import django

    tenants_version = version("django-tenants")
    return f"""{SECTION_START}
## Tenant provisioning: replaying the template's dump vs running the migrations

A new tenant gets its own PostgreSQL schema. Ours (`crm/tenants/cloning.py`) replays a `pg_dump
--inserts` of `tenant_template` (kept current by `migrate_schemas`, since it is a tenant row) under
the new schema's name, in one transaction on its own connection; the dump is cached per process and
taken again only when the template's `django_migrations` change. The baseline is a plain
django-tenants setup: no base schema is configured, so `Tenant.create_schema` creates an empty
schema and runs every tenant migration. The script provisions tenants both ways in one run,
alternating which goes first: ours is `tenant_create(provision_async=False)` +
`tenant_provision(owner_password=...)`; the baseline is the same `tenant_create`, then
`create_schema(check_if_exists=True)`, then the same `tenant_provision`, which finds the schema,
checks it, creates the owner and marks the tenant ready. Each timing runs from `tenant_create`
until the tenant is `ready`, owner account (PBKDF2 password) included. The shape check is exact:
every baseline schema must equal the clone of its pair in tables, columns, indexes and constraints
(names and definitions), sequences (with their positions and owning columns), triggers, functions
(with their bodies), recorded migrations, row counts and row contents of every table the template
fills (date/time columns aside; tables only provisioning writes to, such as the owner's account, by
row count), once the schema's own name is stripped from the definitions; any difference stops the
run, with one narrow exception that is listed below whenever it occurs: an index or CHECK
constraint of the same name whose definition is printed differently but prints identically once
both are parsed again by PostgreSQL (what a dump and restore does). Untimed warm-up tenants each
way first: {warmup}. The no-op figure is one `migrate_schemas` run with nothing to apply, over
every schema once the database holds {noop_tenants} tenants (the extra ones cloned).

- Command: `{command_line()}`
- Run: {info["date"]}
- Machine: {info["nproc"]} CPUs ({info["cpu"]}), {info["ram"]} RAM
- {info["postgres"]}
- Python {info["python"]}, Django {django.get_version()}, django-tenants {tenants_version}

{report_tables(results)}

{explanation(results)}
{SECTION_END}"""


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = harness.parser(__doc__)
    parser.add_argument("--tenants", type=int, default=5, help="tenants timed each way")
    parser.add_argument(
        "--noop-tenants", type=int, default=50, help="tenants present for the no-op migrate"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed tenants each way first")
    harness.add_common_arguments(
        parser,
        db_default="crm_bench",
        db_help="the bench's own database",
        keep_help="keep the bench database afterwards",
    )
    args = parser.parse_args(argv)
    if args.tenants < 1:
        parser.error("--tenants must be at least 1")
    harness.check_db_name(parser, args)
    return args


def main() -> int:
    args = parse_args()
    with bench_database(args.db_name, keep=args.keep) as bench_url:
        # Cache keys of this run never mix with the developer's.
        setup_django({"DATABASE_URL": bench_url, "CACHE_KEY_PREFIX": "crm-bench"})
        print(f"database {args.db_name}: {args.tenants} tenants each way", flush=True)
        results = run_bench(args)
        info = machine_info()
        print()
        print(report_tables(results))
        if args.write_docs:
            write_docs(
                "tenant_provisioning",
                docs_section(results, info, args.warmup, args.noop_tenants),
            )
            print(f"\nwrote {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
