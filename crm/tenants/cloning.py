"""Cloning the template schema into a new tenant's schema.

We replay `pg_dump` of the template instead of django-tenants' PL/pgSQL clone_schema: that
function renames unique constraints (`..._uniq` becomes `..._key`), so a later migration that
drops a constraint by name would fail on every cloned tenant. A dump is exact: same tables,
constraint and index names, identity sequences, and the template's rows (content types,
permissions, roles, recorded migrations), so nothing needs migrating or faking afterwards.
"""

import os
import re
import shutil
import subprocess
import threading
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

SCHEMA_NAME = re.compile(r"^t_[a-z0-9_]{1,60}$")

_cache_lock = threading.Lock()
_dump_cache: dict[tuple[str, str], str] = {}


class CloneError(Exception):
    pass


def libpq_env() -> dict[str, str]:
    """Environment for pg_dump/pg_restore: connect as Django does (settings, not DATABASE_URL,
    so the test database is used under pytest)."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        {
            "PGHOST": str(db.get("HOST") or ""),
            "PGPORT": str(db.get("PORT") or ""),
            "PGUSER": str(db.get("USER") or ""),
            "PGPASSWORD": str(db.get("PASSWORD") or ""),
            "PGDATABASE": str(db["NAME"]),
        }
    )
    return {key: value for key, value in env.items() if value != ""}


def pg_connect(dbname: str | None = None, *, autocommit: bool) -> psycopg.Connection[Any]:
    """A connection of its own to Django's database (or to `dbname` on the same server)."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname=dbname or db["NAME"],
        autocommit=autocommit,
    )


def _template_version(template: str) -> str:
    """Changes whenever a migration is applied to the template, which is the only way its
    structure or rows change."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*), coalesce(max(id), 0) FROM "{template}".django_migrations'  # noqa: S608
        )
        count, last = cursor.fetchone()
    return f"{count}:{last}"


def _dump(template: str) -> str:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise CloneError("pg_dump is not installed (Debian: apt-get install postgresql-client)")
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            pg_dump,
            "--inserts",
            "--schema",
            template,
            "--no-owner",
            "--no-privileges",
            "--no-comments",
        ],
        env=libpq_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise CloneError(f"pg_dump of {template} failed: {result.stderr.strip()[:500]}")
    # Session settings would leak into our connection (search_path = '' above all), and the
    # comments name the template, and psql meta-commands (\restrict) are not SQL: drop them.
    lines = [
        line
        for line in result.stdout.splitlines()
        if line and not line.startswith(("SET ", "SELECT pg_catalog.set_config(", "--", "\\"))
    ]
    return "\n".join(lines)


def template_dump(template: str) -> str:
    key = (template, _template_version(template))
    with _cache_lock:
        if key not in _dump_cache:
            _dump_cache.clear()
            _dump_cache[key] = _dump(template)
        return _dump_cache[key]


def schema_clone(*, template: str, target: str) -> None:
    """Create schema `target` as an exact copy of `template`, in one transaction: afterwards it
    either exists complete or not at all."""
    if not SCHEMA_NAME.match(target):
        raise CloneError(f"refusing to clone into {target!r}: not a tenant schema name")
    script = template_dump(template)
    # Every reference to the template is schema-qualified in a dump; data rows never contain
    # "<template>." (they are content types, permissions, roles and migration names).
    script = script.replace(f"{template}.", f"{target}.").replace(
        f"CREATE SCHEMA {template};", f"CREATE SCHEMA {target};"
    )
    if template in script:
        raise CloneError(f"the dump of {template} names it in a way we cannot rewrite safely")
    # Its own connection, so the dump runs in one transaction of its own and no session state
    # (search_path) can leak into Django's connection.
    with pg_connect(autocommit=False) as conn:
        conn.execute(script.encode())
        conn.commit()
