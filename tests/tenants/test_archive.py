"""`manage.py tenant export` and `tenant import`: a tenant to an archive and back, as a new one.

Every import here either succeeds (and the test deletes the tenant) or must leave nothing:
no tenant row, no schema, no scratch database."""

import io
import json
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context, schema_exists

from crm.accounts.models import AuditEntry, User
from crm.tenants.archive import SCRATCH_PREFIX
from crm.tenants.models import Domain, Tenant, TenantEvent, schema_name_for_slug
from tests.testkit.cast import PASSWORD, TenantCast


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def new_slug(prefix: str = "imp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def delete_tenant(slug: str) -> None:
    if Tenant.objects.filter(slug=slug).exists():
        run("tenant", "delete", slug, "--yes")


def row_counts(schema: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [schema],
        )
        tables = sorted(row[0] for row in cursor.fetchall())
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}"')  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def staff_records(schema: str) -> dict[str, list[Any]]:
    """A sample that must survive exactly: accounts, password hashes, groups, memberships."""
    with schema_context(schema):
        return {
            "users": list(
                User.objects.order_by("email").values_list(
                    "email", "full_name", "password", "is_active", "language"
                )
            ),
            "groups": list(Group.objects.order_by("name").values_list("name", flat=True)),
            "memberships": sorted(
                User.groups.through.objects.values_list("user__email", "group__name")
            ),
            "permissions": sorted(
                Group.permissions.through.objects.values_list("group__name", "permission__codename")
            ),
        }


def structure(schema: str) -> dict[str, set[tuple[Any, ...]]]:
    """Names a later migration may refer to, triggers with their function's schema (relative),
    and where every sequence stands: all must match the source exactly."""
    queries = {
        "indexes": "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %(s)s",
        "constraints": (
            "SELECT c.relname, k.conname, k.contype FROM pg_constraint k"
            " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %(s)s"
        ),
        "triggers": (
            "SELECT c.relname, t.tgname, p.proname, pn.nspname = %(s)s FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace"
            " WHERE n.nspname = %(s)s AND NOT t.tgisinternal"
        ),
        "sequences": ("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = %(s)s"),
    }
    found = {}
    with connection.cursor() as cursor:
        for key, query in queries.items():
            cursor.execute(query, {"s": schema})
            found[key] = set(cursor.fetchall())
    return found


def scratch_databases() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [SCRATCH_PREFIX + "%"]
        )
        return {row[0] for row in cursor.fetchall()}


def assert_nothing_left(slug: str) -> None:
    assert not Tenant.objects.filter(slug=slug).exists(), "no tenant row"
    assert not Domain.objects.filter(domain__startswith=f"{slug}.").exists(), "no domain"
    assert not schema_exists(schema_name_for_slug(slug)), "no schema"


@pytest.fixture(autouse=True)
def _no_scratch_database_left(committed_db: None) -> Iterator[None]:
    before = scratch_databases()
    yield
    assert scratch_databases() == before, "every scratch database is dropped"


@pytest.fixture(scope="module")
def acme_archive(cast: dict[str, TenantCast], django_db_blocker, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """One export of acme, shared by the refusal tests (which never change it)."""
    path = tmp_path_factory.mktemp("archives") / "acme.tar.gz"
    with django_db_blocker.unblock():
        run("tenant", "export", "acme", str(path))
    return path


def read_archive(path: Path) -> dict[str, bytes | None]:
    with tarfile.open(path, "r:gz") as tar:
        return {
            member.name: (tar.extractfile(member).read() if member.isfile() else None)
            for member in tar.getmembers()
        }


def repack(
    source: Path,
    target: Path,
    *,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A copy of an archive with its manifest edited and/or members added."""
    members = read_archive(source)
    if manifest is not None:
        data = json.loads(members["manifest.json"])
        manifest(data)
        members["manifest.json"] = json.dumps(data).encode()
    members.update(extra or {})
    with tarfile.open(target, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return target


def test_export_then_import_as_a_new_tenant_is_exact(acme: TenantCast, tmp_path: Path) -> None:
    archive = tmp_path / "acme.tar.gz"
    counts_at_export, structure_at_export = row_counts(acme.schema), structure(acme.schema)
    exported = run("tenant", "export", "acme", str(archive))
    assert f"tenant acme exported to {archive}: " in exported
    assert " tables, " in exported and " rows, " in exported and " s" in exported
    assert archive.stat().st_mode & 0o077 == 0, "customer data: readable by its owner only"
    assert not list(tmp_path.glob(".*.part")), "no temporary file left"

    members = read_archive(archive)
    # files/ holds acme's private files, if earlier tests left any (tests/tenants/test_files.py).
    assert {m for m in members if not m.startswith("files/")} == {
        "manifest.json",
        "schema.dump",
        "files",
    }
    manifest = json.loads(members["manifest.json"])
    assert manifest["format"] == "crm-tenant-archive" and manifest["format_version"] == 2
    assert manifest["source"]["slug"] == "acme"
    assert manifest["source"]["schema_name"] == acme.schema
    assert manifest["source"]["time_zone"] == "Europe/London"
    assert manifest["source"]["staff_limit"] == acme.tenant.staff_limit
    assert manifest["latest_migrations"]["auth"] == manifest["migrations"]["auth"][-1]
    assert manifest["row_counts"] == counts_at_export

    # An archive holds everyone's personal data: the export is on record on both sides.
    exported_events = acme.tenant.events.filter(action="exported")
    assert exported_events.count() == 1
    exported_events.delete()  # committed: keep the shared tenant's history as other tests expect
    with schema_context(acme.schema):
        entry = AuditEntry.objects.filter(action="personal_data_export").first()
        assert entry is not None and entry.actor_label == "command line"
        assert entry.detail == {"scope": "whole workspace", "file": "acme.tar.gz"}

    slug = new_slug()
    try:
        imported = run("tenant", "import", str(archive), "--slug", slug, "--name", "Acme 副本")
        assert f"tenant {slug} ready, imported: " in imported
        assert f"http://{slug}.localhost:8000" in imported
        tenant = Tenant.objects.get(slug=slug)
        assert tenant.schema_name == schema_name_for_slug(slug)
        assert tenant.status == Tenant.Status.READY and tenant.ready_at is not None
        assert (tenant.name, tenant.language, tenant.time_zone, tenant.currency) == (
            "Acme 副本",
            acme.tenant.language,
            acme.tenant.time_zone,
            acme.tenant.currency,
        )
        assert tenant.storage_limit_mb == acme.tenant.storage_limit_mb
        assert Domain.objects.get(tenant=tenant).domain == f"{slug}.localhost"
        created = TenantEvent.objects.get(tenant=tenant, action=TenantEvent.Action.CREATED)
        assert "acme" in created.detail and created.actor == "command line"

        assert row_counts(tenant.schema_name) == counts_at_export, "the copy is the export"
        assert staff_records(tenant.schema_name) == staff_records(acme.schema)
        assert staff_records(acme.schema)["memberships"], "the sample is not empty"
        copied = structure(tenant.schema_name)
        assert copied == structure_at_export
        assert copied["triggers"] and all(in_own_schema for *_, in_own_schema in copied["triggers"])

        client = Client(HTTP_HOST=f"{slug}.{settings.CRM_BASE_DOMAIN}")
        response = client.post("/login/", {"username": acme.email("agent"), "password": PASSWORD})
        assert response.status_code == 302 and response.url == "/"
        assert client.get("/").status_code == 200
    finally:
        delete_tenant(slug)
    assert_nothing_left(slug)


def test_text_naming_the_old_schema_is_restored_untouched(tmp_path: Path) -> None:
    source, copy = new_slug("src"), new_slug("cpy")
    old = schema_name_for_slug(source)
    # What a naive rename of the dump's text would rewrite, in customer data.
    tricky = f"{old}.accounts_user CREATE SCHEMA {old}; {old}"
    try:
        run("tenant", "create", source, "--name", "Source", "--admin-email", "o@src.test")
        with schema_context(old):
            User.objects.filter(email="o@src.test").update(full_name=tricky[:150])
        run("tenant", "export", source, str(tmp_path / "src.tar.gz"))
        run("tenant", "import", str(tmp_path / "src.tar.gz"), "--slug", copy)
        with schema_context(schema_name_for_slug(copy)):
            assert User.objects.get(email="o@src.test").full_name == tricky[:150]
        assert Tenant.objects.get(slug=copy).name == "Source"
    finally:
        delete_tenant(copy)
        delete_tenant(source)


def test_an_archive_behind_this_installation_is_migrated_after_the_restore(
    tmp_path: Path,
) -> None:
    source, copy = new_slug("old"), new_slug("cpy")
    try:
        run("tenant", "create", source, "--name", "Old", "--admin-email", "o@old.test")
        # As if exported before admin's last migration (it changes no table, only state).
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {schema_name_for_slug(source)}.django_migrations"  # noqa: S608
                " WHERE app = 'admin' AND name = '0003_logentry_add_action_flag_choices'"
            )
        run("tenant", "export", source, str(tmp_path / "old.tar.gz"))
        output = run("tenant", "import", str(tmp_path / "old.tar.gz"), "--slug", copy)
        assert "1 migration applied" in output
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {schema_name_for_slug(copy)}.django_migrations"  # noqa: S608
                " WHERE app = 'admin' AND name = '0003_logentry_add_action_flag_choices'"
            )
            assert cursor.fetchone()[0] == 1
    finally:
        delete_tenant(copy)
        delete_tenant(source)


def as_version_1(source: Path, target: Path, media: dict[str, bytes | None]) -> Path:
    """`source` as the first format wrote it: an always-empty media/ folder, no files/."""
    members = {
        name: content
        for name, content in read_archive(source).items()
        if name != "files" and not name.startswith("files/")
    }
    data = json.loads(members["manifest.json"] or b"{}")
    data["format_version"] = 1
    members["manifest.json"] = json.dumps(data).encode()
    with tarfile.open(target, "w:gz") as tar:
        for name, content in {**members, "media": None, **media}.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return target


def test_a_version_1_archive_is_still_imported(acme_archive: Path, tmp_path: Path) -> None:
    refused = new_slug()
    with_media = as_version_1(
        acme_archive, tmp_path / "media.tar.gz", {"media/logos/logo.txt": b"acme"}
    )
    with pytest.raises(CommandError, match="MEDIA_ROOT/<schema> are not kept here"):
        run("tenant", "import", str(with_media), "--slug", refused)
    assert_nothing_left(refused)

    slug = new_slug()
    try:
        run(
            "tenant",
            "import",
            str(as_version_1(acme_archive, tmp_path / "v1.tar.gz", {})),
            "--slug",
            slug,
        )
        assert Tenant.objects.get(slug=slug).status == Tenant.Status.READY
    finally:
        delete_tenant(slug)


def test_export_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "existing.tar.gz"
    target.write_bytes(b"keep me")
    with pytest.raises(CommandError, match="exists; add --force"):
        run("tenant", "export", "acme", str(target))
    assert target.read_bytes() == b"keep me"
    assert list(tmp_path.iterdir()) == [target], "no temporary file left"

    run("tenant", "export", "acme", str(target), "--force")
    assert "manifest.json" in read_archive(target)
    with pytest.raises(CommandError, match="no tenant with slug 'tenant-template'"):
        run("tenant", "export", "tenant-template", str(tmp_path / "template.tar.gz"))


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Bad_Slug", r"slug: Use 3–30 lower-case letters"),
        ("www", r"slug: .*reserved"),
        ("globex", r"slug: .*already exists"),
    ],
)
def test_import_refuses_a_bad_or_taken_slug(acme_archive: Path, slug: str, message: str) -> None:
    tenants = Tenant.objects.count()
    with pytest.raises(CommandError, match=message):
        run("tenant", "import", str(acme_archive), "--slug", slug)
    assert Tenant.objects.count() == tenants
    assert schema_exists("t_globex") and Tenant.objects.filter(slug="globex").exists()
    if slug != "globex":
        assert_nothing_left(slug.lower())


def truncated(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def not_an_archive(source: Path, target: Path) -> Path:
    target.write_bytes(b"PK\x03\x04 this is a zip, or nothing at all")
    return target


def traversal(source: Path, target: Path) -> Path:
    return repack(source, target, extra={"../escaped.txt": b"gotcha"})


def stray_member(source: Path, target: Path) -> Path:
    return repack(source, target, extra={"notes.txt": b"what is this"})


def unknown_version(source: Path, target: Path) -> Path:
    return repack(source, target, manifest=lambda m: m.update(format_version=99))


def future_migration(source: Path, target: Path) -> Path:
    return repack(
        source, target, manifest=lambda m: m["migrations"]["accounts"].append("9999_future")
    )


def tampered_dump(source: Path, target: Path) -> Path:
    dump = bytearray(read_archive(source)["schema.dump"] or b"")
    dump[len(dump) // 2] ^= 0xFF
    return repack(source, target, extra={"schema.dump": bytes(dump)})


def wrong_counts(source: Path, target: Path) -> Path:
    """Restores fine, then the counts disagree: the restored schema must be dropped again."""
    return repack(source, target, manifest=lambda m: m["row_counts"].update(accounts_user=999))


def no_manifest(source: Path, target: Path) -> Path:
    members = read_archive(source)
    with tarfile.open(target, "w:gz") as tar:
        info = tarfile.TarInfo("schema.dump")
        info.size = len(members["schema.dump"] or b"")
        tar.addfile(info, io.BytesIO(members["schema.dump"] or b""))
    return target


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (truncated, "not a readable tenant archive"),
        (not_an_archive, "not a readable tenant archive"),
        (traversal, "unsafe path"),
        (stray_member, "not part of a tenant archive"),
        (no_manifest, "has no manifest.json"),
        (unknown_version, "format version 99 is not supported"),
        (future_migration, r"ahead of this installation: 1 migration\(s\) .*accounts.9999_future"),
        (tampered_dump, "does not match the manifest"),
        (wrong_counts, r"row counts differ from the manifest .*accounts_user: \d+ instead of 999"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_import_refuses_a_damaged_archive_and_leaves_nothing(
    acme_archive: Path,
    tmp_path: Path,
    damage: Callable[[Path, Path], Path],
    message: str,
) -> None:
    archive = damage(acme_archive, tmp_path / "damaged.tar.gz")
    escaped = Path(tempfile.gettempdir()) / "escaped.txt"  # where ../ from the work dir leads
    assert not escaped.exists()
    slug = new_slug()
    with pytest.raises(CommandError, match=message):
        run("tenant", "import", str(archive), "--slug", slug)
    assert_nothing_left(slug)
    assert not escaped.exists()


def test_import_refuses_an_archive_larger_than_the_limit(acme_archive: Path, settings: Any) -> None:
    settings.CRM_TENANT_ARCHIVE_MAX_BYTES = 10_000
    slug = new_slug()
    with pytest.raises(CommandError, match=r"unpacks to more than 10\.0 kB"):
        run("tenant", "import", str(acme_archive), "--slug", slug)
    assert_nothing_left(slug)


def test_a_failure_after_the_restore_undoes_it(acme_archive: Path, monkeypatch: Any) -> None:
    """The schema is restored and checked, then saving the tenant row fails: the schema goes."""
    from crm.tenants import services

    def fail(**kwargs: Any) -> None:
        assert schema_exists(kwargs["tenant"].schema_name), "restored by now"
        raise RuntimeError("the tenant row could not be saved")

    monkeypatch.setattr(services, "tenant_register_restored", fail)
    slug = new_slug()
    with pytest.raises(RuntimeError, match="could not be saved"):
        run("tenant", "import", str(acme_archive), "--slug", slug)
    assert_nothing_left(slug)


def _customer(schema: str, name: str, phone: str) -> int:
    from customers.services import CustomerInput, customer_create

    with schema_context(schema):
        return customer_create(actor=None, data=CustomerInput(name=name, phones=[phone])).pk


def _erase(schema: str, pk: int) -> None:
    from customers.models import Customer
    from customers.privacy import customer_erase

    with schema_context(schema):
        customer_erase(actor=None, customer=Customer.objects.get(pk=pk))


def _shown(schema: str, pk: int) -> tuple[str, list[str], bool]:
    from customers.models import Customer

    with schema_context(schema):
        customer = Customer.objects.get(pk=pk)
        phones = sorted(customer.phones.values_list("e164", flat=True))
        return customer.name, phones, customer.erased_at is not None


def test_restoring_an_archive_made_before_an_erasure_erases_the_person_again(
    tmp_path: Path,
) -> None:
    """An erasure is remembered outside the schema (ids and creation times) under the tenant's
    key and its lineage, so no archive of the tenant, of a copy of it, or of what it was copied
    from brings the person back, even once the erasing tenant is deleted; a copy that went its
    own way and gave the same id to someone else keeps that someone."""
    source, copy, again, older = (new_slug(p) for p in ("src", "cp1", "cp2", "cp3"))
    src_schema, copy_schema = schema_name_for_slug(source), schema_name_for_slug(copy)
    try:
        run("tenant", "create", source, "--name", "Source", "--admin-email", "o@src.test")
        ana = _customer(src_schema, "Ana Lima", "13800000001")
        bo = _customer(src_schema, "Bo Chen", "13800000002")
        run("tenant", "export", source, str(tmp_path / "src.tar.gz"))
        _erase(src_schema, ana)

        out = run("tenant", "import", str(tmp_path / "src.tar.gz"), "--slug", copy)
        assert "1 customer erased again" in out
        assert _shown(copy_schema, ana) == (f"Erased customer #{ana}", [], True)
        assert _shown(copy_schema, bo) == ("Bo Chen", ["+8613800000002"], False)
        assert Tenant.objects.get(slug=copy).lineage == [Tenant.objects.get(slug=source).files_key]

        # The two go their own ways: each gives the next id to a different person, and the
        # source erases its own.
        dee = _customer(copy_schema, "Dee Xu", "13800000004")
        cyd = _customer(src_schema, "Cyd Wu", "13800000003")
        assert dee == cyd
        _erase(src_schema, cyd)
        # An archive of the copy, then Bo erased in the copy, then both tenants deleted.
        run("tenant", "export", copy, str(tmp_path / "copy.tar.gz"))
        _erase(copy_schema, bo)
        delete_tenant(copy)
        delete_tenant(source)

        # The copy's archive: Bo erased again; Dee, who has Cyd's id but is not Cyd, stays.
        out = run("tenant", "import", str(tmp_path / "copy.tar.gz"), "--slug", again)
        assert "1 customer erased again" in out
        again_schema = schema_name_for_slug(again)
        assert _shown(again_schema, bo)[2] is True
        assert _shown(again_schema, dee) == ("Dee Xu", ["+8613800000004"], False)
        # The source's first archive, from before every erasure: Ana and Bo, erased in two
        # tenants of the family, are erased again.
        out = run("tenant", "import", str(tmp_path / "src.tar.gz"), "--slug", older)
        assert "2 customers erased again" in out
        older_schema = schema_name_for_slug(older)
        assert _shown(older_schema, ana)[2] and _shown(older_schema, bo)[2]
    finally:
        for slug in (older, again, copy, source):
            delete_tenant(slug)
