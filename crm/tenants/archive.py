"""Exporting one tenant to an archive, and importing an archive as a new tenant.

An archive is a .tar.gz holding

- manifest.json: the format, the source tenant's settings and plan limits, the migrations applied
  in its schema, and the row count of every table, taken in the same snapshot as the dump;
- schema.dump: `pg_dump --format=custom` of the tenant's schema;
- files/: the tenant's private files (crm.tenants.files: uploads, rejected-row reports,
  exports), as they lie under its root. An import places them under the new tenant's own root,
  whose key is new: rows keep paths relative to the root, so nothing in them is rewritten and
  the copy shares no file with its source. (Version 1 archives had an always-empty media/
  folder instead, for files kept under MEDIA_ROOT/<schema>, which nothing ever wrote.)

An import restores the schema under a new name without ever editing the dump's text, since
customer data may well contain the old schema name: the dump is restored into a scratch
database, renamed there with ALTER SCHEMA (the catalog refers to it by OID, so every table,
sequence, trigger and default follows), dumped again and restored into our database in one
transaction. Only then is the tenant row written, ready at once. On any failure nothing is left:
no tenant row, no schema, no scratch database, no half-written archive.

pg_restore runs whatever SQL an archive holds, as our database user: import only archives that
`tenant export` made and that were kept safe since.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO, StringIO
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_exists, tenant_context
from psycopg import sql

from crm.tenants import files, services
from crm.tenants.cloning import SCHEMA_NAME, libpq_env, pg_connect
from crm.tenants.erasures import erasures_replay
from crm.tenants.models import Tenant, TenantEvent

if TYPE_CHECKING:
    from crm.accounts.models import User  # type only: platform operators

logger = logging.getLogger(__name__)

FORMAT = "crm-tenant-archive"
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = frozenset({1, 2})
MANIFEST = "manifest.json"
DUMP = "schema.dump"
FILES = "files"
# Version 1's folder for MEDIA_ROOT/<schema>; accepted only empty (nothing ever wrote there).
LEGACY_MEDIA = "media"

MAX_MANIFEST_BYTES = 1 << 20
MAX_MEMBERS = 100_000
# Unpacked size beyond which an archive is refused; settings.CRM_TENANT_ARCHIVE_MAX_BYTES
# overrides it. A gzip bomb must not fill the disk before we notice.
DEFAULT_MAX_UNPACKED_BYTES = 20 << 30
SCRATCH_PREFIX = "crm_import_"
EXPORTABLE = (Tenant.Status.READY, Tenant.Status.SUSPENDED)
SOURCE_TEXT_FIELDS = (
    "slug",
    "schema_name",
    "name",
    "owner_email",
    "language",
    "time_zone",
    "currency",
)
_TOC_SCHEMA = re.compile(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", re.MULTILINE)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FILES_KEY = re.compile(r"^[0-9a-f]{32}$")


class ArchiveError(Exception):
    """An export or import was refused or failed; it left nothing behind."""


@dataclass(frozen=True)
class Summary:
    tenant: Tenant
    tables: int
    rows: int
    size: int
    seconds: float
    migrations_applied: int = 0
    # Customers erased in the source after the archive was made, erased again on import.
    erasures_replayed: int = 0
    # The archive names no source tenant key (made before erasures were remembered).
    erasures_unknown: bool = False

    def describe(self) -> str:
        text = f"{self.tables} tables, {self.rows} rows, {_human_size(self.size)}"
        if self.migrations_applied:
            plural = "s" if self.migrations_applied > 1 else ""
            text += f", {self.migrations_applied} migration{plural} applied"
        if self.erasures_replayed:
            plural = "s" if self.erasures_replayed > 1 else ""
            text += f", {self.erasures_replayed} customer{plural} erased again"
        text = f"{text}, {self.seconds:.1f} s"
        if self.erasures_unknown:
            text += (
                "; this archive predates erasure records: erase again any customer erased"
                " in its source since it was made"
            )
        return text


@dataclass(frozen=True)
class Manifest:
    created_at: str
    source: dict[str, Any]
    # app label -> names of the migrations applied in the schema, in the order applied
    migrations: dict[str, list[str]]
    row_counts: dict[str, int]
    dump_bytes: int
    dump_sha256: str
    extra: dict[str, Any] = field(default_factory=dict)
    # files_keys of the source tenant and of those it was restored from, nearest first
    # (crm.tenants.erasures); None in archives made before it was written.
    lineage: list[str] | None = None

    @property
    def schema_name(self) -> str:
        return str(self.source["schema_name"])

    @property
    def rows(self) -> int:
        return sum(self.row_counts.values())

    def to_json(self) -> bytes:
        latest = {app: names[-1] for app, names in self.migrations.items() if names}
        data = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at,
            "source": self.source,
            "latest_migrations": latest,
            "migrations": self.migrations,
            "row_counts": self.row_counts,
            "dump": {"file": DUMP, "bytes": self.dump_bytes, "sha256": self.dump_sha256},
            **self.extra,
        }
        if self.lineage is not None:
            data["lineage"] = self.lineage
        return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ArchiveError(f"{MANIFEST} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ArchiveError(f"{MANIFEST} does not describe a {FORMAT}")
        version = data.get("format_version")
        if version not in SUPPORTED_VERSIONS:
            raise ArchiveError(
                f"archive format version {version!r} is not supported here "
                f"(this installation reads {sorted(SUPPORTED_VERSIONS)})"
            )
        dump = _expect(data, "dump", dict)
        if not _SHA256.match(_expect(dump, "sha256", str)):
            raise ArchiveError(f"{MANIFEST}: the dump's sha256 is not a SHA-256 digest")
        return cls(
            created_at=_expect(data, "created_at", str),
            source=_parse_source(_expect(data, "source", dict)),
            migrations=_parse_migrations(_expect(data, "migrations", dict)),
            row_counts=_parse_row_counts(_expect(data, "row_counts", dict)),
            dump_bytes=_expect(dump, "bytes", int),
            dump_sha256=_expect(dump, "sha256", str),
            lineage=_parse_lineage(data.get("lineage")),
        )


def _expect(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    # bool is an int to Python, never to us.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ArchiveError(f"{MANIFEST}: {key!r} is missing or not a {kind.__name__}")
    return value


def _parse_lineage(lineage: Any) -> list[str] | None:
    if lineage is None:
        return None
    if not isinstance(lineage, list) or not all(
        isinstance(key, str) and _FILES_KEY.match(key) for key in lineage
    ):
        raise ArchiveError(f"{MANIFEST}: 'lineage' is not a list of tenant keys")
    return lineage


def _parse_source(source: dict[str, Any]) -> dict[str, Any]:
    for key in SOURCE_TEXT_FIELDS:
        _expect(source, key, str)
    if not SCHEMA_NAME.match(source["schema_name"]):
        raise ArchiveError(f"{MANIFEST}: {source['schema_name']!r} is not a tenant schema name")
    for key in services.PLAN_FIELDS:
        value = source.get(key)
        if value is None:
            continue  # unlimited, or a limit newer than the archive
        is_flag = key == "require_two_factor"
        if isinstance(value, bool) != is_flag or not isinstance(value, int):
            kind = "flag" if is_flag else "number"
            raise ArchiveError(f"{MANIFEST}: source {key!r} is not a {kind}")
    return source


def _parse_migrations(migrations: dict[str, Any]) -> dict[str, list[str]]:
    for app, names in migrations.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ArchiveError(f"{MANIFEST}: migrations of {app!r} are not a list of names")
    return migrations


def _parse_row_counts(counts: dict[str, Any]) -> dict[str, int]:
    for table, count in counts.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ArchiveError(f"{MANIFEST}: row count of {table!r} is not a count")
    return counts


# --- export -------------------------------------------------------------------------------


ExportListener = Callable[[Tenant, str, Path], None]
_export_listeners: list[ExportListener] = []


def register_export_listener(listener: ExportListener) -> None:
    """Apps above this one learn of exports this way (accounts writes the tenant's own audit
    entry: an archive holds every customer's personal data)."""
    _export_listeners.append(listener)


def export_tenant(
    *, tenant: Tenant, output: Path, force: bool = False, actor: str = "command line"
) -> Summary:
    """Write an archive of `tenant` to `output`, which appears only once complete, and record
    that it was made, in the platform's history and the tenant's audit log."""
    started = time.monotonic()
    if tenant.status not in EXPORTABLE:
        raise ArchiveError(f"tenant {tenant.slug} is {tenant.status}; only ready or suspended ones")
    if not schema_exists(tenant.schema_name):
        raise ArchiveError(f"tenant {tenant.slug} has no schema {tenant.schema_name}")
    _check_output(output, force=force)
    with tempfile.TemporaryDirectory(prefix="crm-export-") as work:
        dump = Path(work) / DUMP
        counts, migrations = _dump_schema(tenant.schema_name, dump)
        manifest = Manifest(
            created_at=timezone.now().isoformat(),
            source=_source_fields(tenant),
            migrations=migrations,
            row_counts=counts,
            dump_bytes=dump.stat().st_size,
            dump_sha256=_sha256(dump),
            extra={"pg_dump_version": _run_tool("pg_dump", "--version").strip()},
            lineage=[tenant.files_key, *tenant.lineage],
        )
        size = _write_archive(output, manifest, dump, files.tenant_root_for(tenant), force=force)
    logger.info("tenant %s exported to %s", tenant.slug, output)
    TenantEvent.objects.create(
        tenant=tenant,
        action=TenantEvent.Action.EXPORTED,
        actor=actor,
        detail=f"{output.name}: {manifest.rows} rows",
    )
    for listener in _export_listeners:
        listener(tenant, actor, output)
    return Summary(tenant, len(counts), manifest.rows, size, time.monotonic() - started)


def _check_output(output: Path, *, force: bool) -> None:
    if output.exists() and not force:
        raise ArchiveError(f"{output} exists; add --force to overwrite it")
    if output.exists() and not output.is_file():
        raise ArchiveError(f"{output} exists and is not a file")
    if not output.parent.is_dir():
        raise ArchiveError(f"{output.parent} is not a directory")


def _source_fields(tenant: Tenant) -> dict[str, Any]:
    fields = {key: getattr(tenant, key) for key in SOURCE_TEXT_FIELDS}
    fields.update({key: getattr(tenant, key) for key in services.PLAN_FIELDS})
    return fields


def _dump_schema(schema: str, dump: Path) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Dump `schema` and count its rows in one snapshot, so the manifest describes exactly the
    dump even while the tenant keeps working."""
    with pg_connect(autocommit=False) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = str(_scalar(conn, sql.SQL("SELECT pg_export_snapshot()")))
        counts = _row_counts(conn, schema)
        migrations = _applied_migrations(conn, schema)
        # The snapshot lives as long as this transaction, so pg_dump runs inside the block.
        _run_tool(
            "pg_dump",
            "--format=custom",
            f"--schema={schema}",
            "--strict-names",
            "--no-owner",
            "--no-privileges",
            f"--snapshot={snapshot}",
            "--lock-wait-timeout=60s",
            f"--file={dump}",
            f"--dbname={_database_name()}",
        )
        conn.rollback()
    return counts, migrations


def _write_archive(output: Path, manifest: Manifest, dump: Path, root: Path, *, force: bool) -> int:
    """Build the archive beside `output` and move it into place at the end, so a failure never
    leaves a truncated archive that looks like a good one."""
    fd, part_name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                _add_bytes(tar, MANIFEST, manifest.to_json())
                tar.add(dump, arcname=DUMP, filter=_anonymous)
                _add_files(tar, root)
            raw.flush()
            os.fsync(raw.fileno())
        _publish(part, output, force=force)
    finally:
        part.unlink(missing_ok=True)
    return output.stat().st_size


def _publish(part: Path, output: Path, *, force: bool) -> None:
    if force:
        os.replace(part, output)
        return
    try:
        # A hard link never replaces a file that appeared meanwhile, unlike a rename.
        os.link(part, output)
    except FileExistsError:
        raise ArchiveError(f"{output} exists; add --force to overwrite it") from None


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _files_member(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # Links are skipped: an import refuses them, as they could point outside the tenant's root.
    # So are half-written files (a report being written now): they are no one's yet.
    if info.name.endswith(".part"):
        return None
    return _anonymous(info) if info.isfile() or info.isdir() else None


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = _anonymous(tarfile.TarInfo(name))
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, BytesIO(data))


def _add_files(tar: tarfile.TarFile, root: Path) -> None:
    if root.is_dir():
        tar.add(root, arcname=FILES, filter=_files_member)
        return
    info = _anonymous(tarfile.TarInfo(FILES))
    info.type = tarfile.DIRTYPE
    info.mode = 0o700
    info.mtime = int(time.time())
    tar.addfile(info)


# --- import -------------------------------------------------------------------------------


def import_tenant(
    *, archive: Path, slug: str, name: str | None = None, actor: User | None = None
) -> Summary:
    """Restore `archive` as a new tenant `slug`, ready at once; all of it or nothing."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crm-import-") as tmp:
        work = Path(tmp)
        manifest = unpack(archive, work)
        tenant = _new_tenant(manifest, slug=slug, name=name)
        tenant.lineage = list(manifest.lineage or [])
        missing = _migrations_missing(manifest)
        _check_dump(work / DUMP, manifest)
        files_target = _files_target(work / FILES, tenant)
        detail = (
            f"imported from {archive.name}: tenant {manifest.source['slug']}, "
            f"exported {manifest.created_at}"
        )
        replayed = _restore_and_register(
            tenant, manifest, work, files_target, migrate=bool(missing), actor=actor, detail=detail
        )
    logger.info("archive %s imported as tenant %s", archive, tenant.slug)
    return Summary(
        tenant,
        len(manifest.row_counts),
        manifest.rows,
        archive.stat().st_size,
        time.monotonic() - started,
        migrations_applied=len(missing),
        erasures_replayed=replayed,
        erasures_unknown=manifest.lineage is None,
    )


def unpack(archive: Path, work: Path) -> Manifest:
    """Check every member of `archive` while unpacking it into `work`, and return its manifest.

    Only manifest.json, schema.dump and plain files and folders under files/ are accepted:
    no links, devices, absolute paths or `..`, and no more than the size limit in total."""
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such file")
    limit = int(getattr(settings, "CRM_TENANT_ARCHIVE_MAX_BYTES", DEFAULT_MAX_UNPACKED_BYTES))
    free = shutil.disk_usage(work).free
    seen: set[str] = set()
    total = 0
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                _check_member(member, seen)
                total += member.size
                if len(seen) > MAX_MEMBERS or total > limit:
                    raise ArchiveError(
                        f"{archive} unpacks to more than {_human_size(limit)} or "
                        f"{MAX_MEMBERS} files; refusing it"
                    )
                if total > free:
                    raise ArchiveError(f"not enough free space in {work} to unpack {archive}")
                tar.extract(member, work, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"{archive} is not a readable tenant archive: {exc}") from exc
    for required in (MANIFEST, DUMP):
        if required not in seen:
            raise ArchiveError(f"{archive} has no {required}; not a tenant archive")
    return Manifest.from_json((work / MANIFEST).read_bytes())


def _check_member(member: tarfile.TarInfo, seen: set[str]) -> None:
    name = member.name
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or "\\" in name or "\x00" in name or ".." in parts:
        raise ArchiveError(f"archive member {name!r} has an unsafe path")
    if name in seen:
        raise ArchiveError(f"archive member {name!r} appears twice")
    if name in (MANIFEST, DUMP):
        ok = member.isfile() and (name != MANIFEST or member.size <= MAX_MANIFEST_BYTES)
    elif name in (FILES, LEGACY_MEDIA):
        ok = member.isdir()
    elif parts[0] == FILES:
        ok = member.isfile() or member.isdir()
    elif parts[0] == LEGACY_MEDIA:
        raise ArchiveError(
            f"archive member {name!r}: files under MEDIA_ROOT/<schema> are not kept here"
        )
    else:
        raise ArchiveError(f"archive member {name!r} is not part of a tenant archive")
    if not ok:
        raise ArchiveError(f"archive member {name!r} is not a plain file of a sane size")
    seen.add(name)


def _new_tenant(manifest: Manifest, *, slug: str, name: str | None) -> Tenant:
    source = manifest.source
    spec = services.TenantSpec(
        slug=slug,
        name=name or source["name"],
        owner_email=source["owner_email"],
        language=source["language"],
        time_zone=source["time_zone"],
        currency=source["currency"],
    )
    plan = {key: source[key] for key in services.PLAN_FIELDS if key in source}
    return services.tenant_build(spec=spec, plan=plan)


def _migrations_missing(manifest: Manifest) -> set[tuple[str, str]]:
    """The template's migrations the archive lacks (applied after the restore). An archive with
    migrations this installation has never applied comes from newer code: refused."""
    template = settings.CRM_TEMPLATE_SCHEMA
    if not schema_exists(template):
        raise ArchiveError(f"no {template} schema: run platform_init and migrate_schemas first")
    with pg_connect(autocommit=True) as conn:
        known = _pairs(_applied_migrations(conn, template))
    unknown = sorted(_pairs(manifest.migrations) - known)
    if unknown:
        examples = ", ".join(f"{app}.{name}" for app, name in unknown[:5])
        raise ArchiveError(
            f"the archive is ahead of this installation: {len(unknown)} migration(s) unknown "
            f"here ({examples}); upgrade the code and run migrate_schemas, then import again"
        )
    return known - _pairs(manifest.migrations)


def _check_dump(dump: Path, manifest: Manifest) -> None:
    """The dump is the one the manifest describes, and holds exactly the source schema."""
    if dump.stat().st_size != manifest.dump_bytes or _sha256(dump) != manifest.dump_sha256:
        raise ArchiveError(f"{DUMP} does not match the manifest (damaged archive)")
    schemas = set(_TOC_SCHEMA.findall(_run_tool("pg_restore", "--list", str(dump))))
    if schemas != {manifest.schema_name}:
        raise ArchiveError(
            f"{DUMP} should hold schema {manifest.schema_name} alone, not {sorted(schemas)}"
        )


def _files_target(extracted: Path, tenant: Tenant) -> Path | None:
    """Where the archive's files go: the new tenant's root, which must not exist yet (its key
    is new; one that exists means something is badly wrong, and nothing is overwritten)."""
    if not extracted.is_dir() or not any(p.is_file() for p in extracted.rglob("*")):
        return None
    target = files.tenant_root_for(tenant)
    if target.exists():
        raise ArchiveError(f"{target} exists already; refusing to place files there")
    return target


def _restore_and_register(
    tenant: Tenant,
    manifest: Manifest,
    work: Path,
    files_target: Path | None,
    *,
    migrate: bool,
    actor: User | None,
    detail: str,
) -> int:
    """Restore the dump as the tenant's schema, check it, migrate it, place its files, erase
    again who was erased in its source since, and save the tenant row; undo all of it on any
    failure (an interrupt included). How many customers were erased again."""
    schema = tenant.schema_name
    restored = placed = False
    try:
        renamed = _renamed_dump(work / DUMP, old=manifest.schema_name, new=schema, work=work)
        # One transaction: if the schema exists already (a concurrent create), nothing is made.
        _restore_dump(renamed, _database_name())
        restored = True
        _check_restored(schema, manifest)
        if migrate:
            _migrate(schema)
        if files_target is not None:
            files.private_mkdir(files_target.parent)
            placed = True
            _place_files(work / FILES, files_target)
        # Before the tenant is ready: no one ever sees the person in the restored copy.
        with tenant_context(tenant):
            replayed = erasures_replay(tenant.lineage)
        services.tenant_register_restored(actor=actor, tenant=tenant, detail=detail)
    except BaseException:
        if placed and files_target is not None:
            shutil.rmtree(files_target, ignore_errors=True)
        if restored:
            _drop_schema(schema)
        raise
    return replayed


def _place_files(source: Path, target: Path) -> None:
    """Move the unpacked files to the tenant's root, readable by us alone."""
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copytree(source, target)  # another file system; refuses an existing target
    files.private_tree(target)


def _renamed_dump(dump: Path, *, old: str, new: str, work: Path) -> Path:
    """A dump of schema `new` made from `dump` of schema `old`, by way of a scratch database."""
    scratch = SCRATCH_PREFIX + secrets.token_hex(8)
    renamed = work / "renamed.dump"
    _create_database(scratch)
    try:
        _restore_dump(dump, scratch)
        _rename_schema(scratch, old=old, new=new)
        _run_tool(
            "pg_dump",
            "--format=custom",
            f"--schema={new}",
            "--strict-names",
            "--no-owner",
            "--no-privileges",
            f"--file={renamed}",
            f"--dbname={scratch}",
        )
    finally:
        _drop_database(scratch)
    return renamed


def _create_database(name: str) -> None:
    # Same encoding and locale as ours, so text sorts and indexes are rebuilt the same way.
    with pg_connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database"
            " WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        try:
            conn.execute(
                sql.SQL(
                    "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}"
                ).format(sql.Identifier(name), *(sql.Literal(value) for value in row))
            )
        except psycopg.Error as exc:
            raise ArchiveError(
                f"cannot create the scratch database {name} (the database user needs "
                f"CREATEDB): {exc}"
            ) from exc
        extensions = conn.execute(
            "SELECT e.extname, n.nspname FROM pg_extension e"
            " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'"
        ).fetchall()
    # Tenant schemas use extensions installed database-wide (pg_trgm in public for search
    # indexes); the dump refers to them, so the scratch database needs them too.
    with pg_connect(autocommit=True, dbname=name) as scratch:
        for extension, schema in extensions:
            scratch.execute(
                sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA {}").format(
                    sql.Identifier(extension), sql.Identifier(schema)
                )
            )


def _drop_database(name: str) -> None:
    try:
        with pg_connect(autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    except psycopg.Error:
        # Never hide the import's own outcome behind this; the name says what it is.
        logger.exception("could not drop the scratch database %s; drop it by hand", name)


def _rename_schema(database: str, *, old: str, new: str) -> None:
    with pg_connect(database, autocommit=False) as conn:
        conn.execute(
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new))
        )
        # Function bodies and settings are text the rename cannot follow; ours use
        # TG_TABLE_SCHEMA, and one that names its schema would keep writing to the old one.
        stale = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND (strpos(p.prosrc, %s) > 0"
            " OR strpos(coalesce(array_to_string(p.proconfig, ','), ''), %s) > 0)",
            [new, old, old],
        ).fetchall()
        if stale:
            names = ", ".join(sorted(row[0] for row in stale))
            raise ArchiveError(f"functions naming schema {old} cannot be renamed safely: {names}")
        conn.commit()


def _restore_dump(dump: Path, database: str) -> None:
    _run_tool(
        "pg_restore",
        f"--dbname={database}",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        str(dump),
    )


def _check_restored(schema: str, manifest: Manifest) -> None:
    with pg_connect(autocommit=False) as conn:
        counts = _row_counts(conn, schema)
        migrations = _applied_migrations(conn, schema)
    if counts != manifest.row_counts:
        differ = sorted(
            table
            for table in counts.keys() | manifest.row_counts.keys()
            if counts.get(table) != manifest.row_counts.get(table)
        )
        raise ArchiveError(
            f"restored row counts differ from the manifest in {len(differ)} table(s) "
            f"(e.g. {differ[0]}: {counts.get(differ[0])} instead of "
            f"{manifest.row_counts.get(differ[0])}); the import was undone"
        )
    if _pairs(migrations) != _pairs(manifest.migrations):
        raise ArchiveError("restored migrations differ from the manifest; the import was undone")


def _migrate(schema: str) -> None:
    """Bring a schema restored from an older archive up to this installation's migrations."""
    try:
        call_command(
            "migrate_schemas", schema_name=schema, interactive=False, verbosity=0, stdout=StringIO()
        )
    except Exception as exc:
        raise ArchiveError(f"migrating the restored schema {schema} failed: {exc}") from exc


def _drop_schema(schema: str) -> None:
    if Tenant.objects.filter(schema_name=schema).exists():
        # A tenant row claimed it meanwhile (a console create racing us): never drop its data.
        logger.error("restored schema %s kept: a tenant row now names it", schema)
        return
    with pg_connect(autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# --- helpers ------------------------------------------------------------------------------


def _database_name() -> str:
    return str(settings.DATABASES["default"]["NAME"])


def _run_tool(tool: str, *args: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ArchiveError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    result = subprocess.run(  # noqa: S603 - fixed program, arguments we built, no shell
        [path, *args], env=libpq_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ArchiveError(f"{tool} failed: {result.stderr.strip()[-1000:]}")
    return result.stdout


def _scalar(conn: psycopg.Connection[Any], query: sql.SQL | sql.Composed) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def _row_counts(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname",
            [schema],
        )
    ]
    return {
        table: int(
            _scalar(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        )
        for table in tables
    }


def _applied_migrations(conn: psycopg.Connection[Any], schema: str) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    rows = conn.execute(
        sql.SQL("SELECT app, name FROM {} ORDER BY id").format(
            sql.Identifier(schema, "django_migrations")
        )
    )
    for app, name in rows:
        applied.setdefault(app, []).append(name)
    return applied


def _pairs(migrations: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(app, name) for app, names in migrations.items() for name in names}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
