"""Tenant-owned files (crm.tenants.files): one root per tenant keyed by a random files_key,
relative paths in rows, one resolver that refuses anything outside the current tenant's root,
files written 0600, carried by `tenant export`/`tenant import`, removed by `tenant delete`.

The committed tests use the real commands, as an operator would, and clean up after themselves."""

import csv
import importlib
import io
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.tenants import files
from crm.tenants.models import Tenant
from crm.transfer import exporting, selectors, services
from crm.transfer.models import ExportJob, ImportJob
from tests.conftest import client_for
from tests.testkit.cast import PASSWORD, TenantCast


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def new_slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def delete_tenant(slug: str) -> None:
    if Tenant.objects.filter(slug=slug).exists():
        run("tenant", "delete", slug, "--yes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def csv_upload(rows: list[list[str]]) -> io.BytesIO:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return io.BytesIO(buffer.getvalue().encode())


def checked_import(user: User, *, good: str, bad: str) -> ImportJob:
    """An upload with one good and one bad row, checked: an uploaded file and a rejected-row
    report (CSV and JSON) on disk."""
    job = services.import_start(
        actor=user,
        kind="customers",
        upload=csv_upload([["姓名", "手机"], [good, "13900001111"], [bad, "12"]]),
        filename="people.csv",
    )
    return recheck(user, job, job.mapping)


def recheck(user: User, job: ImportJob, mapping: dict[str, str]) -> ImportJob:
    job = services.import_configure(
        actor=user,
        job=job,
        mapping=mapping,
        match_by="phone" if "phones" in mapping.values() else "external_id",
        update_existing=True,
        valid_only=False,
    )
    return services.import_check_request(actor=user, job=job, inline=True)


def finished_export(user: User, fmt: str = "csv") -> ExportJob:
    job = ExportJob.objects.create(kind="customers", file_format=fmt, created_by=user)
    exporting.export_run(job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.message
    return job


def job_files(job: ImportJob, export: ExportJob) -> list[Path]:
    path = exporting.export_path(export)
    assert path is not None
    return [services.job_path(job), *services.rejected_paths(job), path]


def forget(schema: str, job: ImportJob, export: ExportJob) -> None:
    """Remove a test's jobs and their files from a shared tenant."""
    with schema_context(schema):
        services._files_remove(job)
        path = exporting.export_path(export)
        if path is not None:
            path.unlink(missing_ok=True)
        ImportJob.objects.filter(pk=job.pk).delete()
        ExportJob.objects.filter(pk=export.pk).delete()


# --- the resolver -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_resolver_keeps_to_the_current_tenants_root(acme, globex, tmp_path):
    acme_key = Tenant.objects.get(pk=acme.tenant.pk).files_key
    globex_key = Tenant.objects.get(pk=globex.tenant.pk).files_key
    assert acme_key != globex_key and acme.schema not in acme_key and "acme" not in acme_key
    with pytest.raises(SuspiciousFileOperation):
        files.tenant_file_path("imports/x.csv")  # the public schema owns no files

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("not yours")
    with schema_context(globex.schema):
        globex_file = files.tenant_dir("imports") / f"{uuid.uuid4().hex}.csv"
        globex_file.write_text("globex's")
    with schema_context(acme.schema):
        root = files.tenant_root()
        assert root == files.files_root() / acme_key
        inside = files.tenant_file_path("imports/x.csv")
        assert inside == (root / "imports" / "x.csv").resolve()
        assert files.tenant_file_relative(inside) == "imports/x.csv"
        folder = files.tenant_dir("imports")
        links = {
            "out": folder / f"out-{uuid.uuid4().hex}",
            "globex": folder / f"gx-{uuid.uuid4().hex}",
        }
        links["out"].symlink_to(outside)
        links["globex"].symlink_to(globex_file.parent)
        try:
            refused = [
                "",
                ".",
                "../other/x",
                f"../{globex_key}/imports/{globex_file.name}",
                "imports/../../x",
                "/etc/passwd",
                str(inside),  # absolute, even inside the root: rows keep relative paths
                "imports\\..\\..\\x",
                "imports/x\x00.csv",
                f"imports/{links['out'].name}/secret.csv",
                f"imports/{links['globex'].name}/{globex_file.name}",
            ]
            for path in refused:
                with pytest.raises(SuspiciousFileOperation):
                    files.tenant_file_path(path)
            with pytest.raises(SuspiciousFileOperation):
                files.tenant_file_relative(globex_file)

            # What rows name goes through it too: a refused path is never followed.
            user = User.objects.get(pk=acme.admin.pk)
            job = ImportJob(kind="customers", file_path=f"../{globex_key}/imports/x.csv")
            with pytest.raises(SuspiciousFileOperation):
                services.job_path(job)
            job.rejected_path = str(outside / "secret.csv")
            assert selectors.import_rejected_csv_path(job) is None
            export = ExportJob.objects.create(
                kind="customers",
                file_format="csv",
                status=ExportJob.Status.DONE,
                created_by=user,
                file_path=f"../{globex_key}/imports/{globex_file.name}",
            )
            assert exporting.export_path(export) is None
        finally:
            for link in links.values():
                link.unlink()
    url = reverse("transfer:export_download", kwargs={"pk": export.pk})
    assert client_for(acme, "admin").get(url).status_code == 404
    assert globex_file.read_text() == "globex's", "the refused file is untouched"
    globex_file.unlink()


@pytest.mark.django_db
def test_tenant_files_are_readable_by_us_alone(acme):
    os.umask(0o022)  # a usual umask, which would leave files world-readable
    with schema_context(acme.schema):
        user = User.objects.get(pk=acme.manager.pk)
        job = checked_import(user, good=f"Ok {uuid.uuid4().hex[:6]}", bad="Bad")
        assert job.rejected_count == 1
        exports = [
            finished_export(User.objects.get(pk=acme.marketing.pk), fmt) for fmt in ("csv", "xlsx")
        ]
        written = [*job_files(job, exports[0]), exporting.export_path(exports[1])]
        try:
            for path in written:
                assert path is not None and mode(path) == 0o600, path
            root = files.tenant_root()
            for folder in (files.files_root(), root, root / "imports", root / "exports"):
                assert mode(folder) == 0o700, folder
            # Rows keep paths relative to the tenant's root, never its key or schema.
            assert job.file_path.startswith("imports/") and job.rejected_path.startswith("imports/")
            assert exports[0].file_path == f"exports/{exports[0].pk}-customers.csv"
        finally:
            for path in written:
                if path is not None:
                    path.unlink(missing_ok=True)


# --- export, import, delete ------------------------------------------------------------------


@pytest.fixture
def acme_files(acme: TenantCast, committed_db: None) -> Iterator[tuple[ImportJob, ExportJob]]:
    """A checked import and a finished export in acme, committed (an archive is a dump)."""
    with schema_context(acme.schema):
        job = checked_import(User.objects.get(pk=acme.manager.pk), good="Copy Me", bad="Bad Row")
        export = finished_export(User.objects.get(pk=acme.marketing.pk))
    try:
        yield job, export
    finally:
        forget(acme.schema, job, export)


def test_a_copy_restored_beside_its_source_shares_no_file(
    acme: TenantCast, acme_files: tuple[ImportJob, ExportJob], tmp_path: Path
) -> None:
    job, export = acme_files
    with schema_context(acme.schema):
        acme_root = files.tenant_root().resolve()
        acme_paths = job_files(job, export)
        acme_bytes = [path.read_bytes() for path in acme_paths]
    copy = new_slug("cpy")
    try:
        run("tenant", "export", "acme", str(tmp_path / "acme.tar.gz"))
        run("tenant", "import", str(tmp_path / "acme.tar.gz"), "--slug", copy)
        tenant = Tenant.objects.get(slug=copy)
        with schema_context(tenant.schema_name):
            copy_root = files.tenant_root().resolve()
            assert copy_root != acme_root and tenant.files_key not in str(acme_root)
            copy_job = ImportJob.objects.get(pk=job.pk)
            copy_export = ExportJob.objects.get(pk=export.pk)
            assert (copy_job.file_path, copy_export.file_path) == (job.file_path, export.file_path)
            copy_paths = job_files(copy_job, copy_export)
            for path, source, content in zip(copy_paths, acme_paths, acme_bytes, strict=True):
                assert path.is_relative_to(copy_root) and path != source
                assert path.read_bytes() == content and mode(path) == 0o600
            # The copy reaches none of acme's files, however its rows name them.
            for source in acme_paths:
                with pytest.raises(SuspiciousFileOperation):
                    files.tenant_file_path(os.path.relpath(source, copy_root))
                with pytest.raises(SuspiciousFileOperation):
                    files.tenant_file_path(str(source))

            # Re-mapping the copy's import rewrites the copy's report alone.
            manager = User.objects.get(pk=acme.manager.pk)
            remapped = recheck(manager, copy_job, {"姓名": "name", "手机": ""})
            assert remapped.rejected_count == 0 and not remapped.rejected_path
            assert not copy_paths[1].exists(), "the copy's old report went"

            ExportJob.objects.filter(pk=export.pk).update(file_path=str(acme_paths[-1]))
        # Downloads: the copy's own export, and never acme's file whatever its row says.
        downloader = client_for(TenantCast(tenant, dict(acme.users)), "marketing")
        url = reverse("transfer:export_download", kwargs={"pk": export.pk})
        assert downloader.get(url).status_code == 404
        with schema_context(tenant.schema_name):
            ExportJob.objects.filter(pk=export.pk).update(file_path=export.file_path)
        response = downloader.get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == acme_bytes[-1]
        with schema_context(acme.schema):
            assert [path.read_bytes() for path in acme_paths] == acme_bytes, "acme's untouched"
    finally:
        delete_tenant(copy)
    assert not copy_root.exists(), "the copy's files went with it"
    assert all(path.exists() for path in acme_paths), "the source's stayed"


def test_a_deleted_tenant_leaves_nothing_for_a_namesake(committed_db: None, tmp_path: Path) -> None:
    slug, restored = new_slug("gone"), new_slug("back")
    owner_email = f"owner@{slug}.test"
    create = ("tenant", "create", slug, "--name", "Gone", "--admin-email", owner_email)
    try:
        run(*create, "--admin-password", PASSWORD)
        old = Tenant.objects.get(slug=slug)
        with schema_context(old.schema_name):
            owner = User.objects.get(email=owner_email)
            old_job = checked_import(owner, good="Old Customer", bad="Old Bad")
            old_export = finished_export(owner)
            old_root = files.tenant_root()
            old_paths = job_files(old_job, old_export)
            old_bytes = old_paths[-1].read_bytes()
        run("tenant", "export", slug, str(tmp_path / "gone.tar.gz"))

        run("tenant", "delete", slug, "--yes")
        assert not old_root.exists() and not any(path.exists() for path in old_paths)

        run(*create, "--admin-password", PASSWORD)
        new = Tenant.objects.get(slug=slug)
        assert new.schema_name == old.schema_name and new.files_key != old.files_key
        with schema_context(new.schema_name):
            owner = User.objects.get(email=owner_email)
            # A row naming exactly what the old tenant's did reaches nothing of it.
            ghost = ExportJob.objects.create(
                kind="customers",
                file_format="csv",
                status=ExportJob.Status.DONE,
                created_by=owner,
                file_path=old_export.file_path,
            )
            assert ghost.pk == old_export.pk, "the new schema counts from 1 again"
            ghost_path = exporting.export_path(ghost)
            assert ghost_path is not None and not ghost_path.exists()
            assert ghost_path.is_relative_to(files.tenant_root().resolve())
            ghost_job = ImportJob(pk=old_job.pk, file_path=old_job.file_path)
            assert not any(path.exists() for path in services.rejected_paths(ghost_job))
        cast = TenantCast(new, {"admin": owner})
        url = reverse("transfer:export_download", kwargs={"pk": ghost.pk})
        assert client_for(cast, "admin").get(url).status_code == 404
        connection.set_schema_to_public()  # a request leaves the connection in its tenant

        # The deleted tenant restored beside its namesake gets its own files back, and the
        # namesake's stay out of its reach.
        with schema_context(new.schema_name):
            ExportJob.objects.filter(pk=ghost.pk).delete()
            newcomer = finished_export(owner)
            newcomer_path = exporting.export_path(newcomer)
            assert newcomer_path is not None
        run("tenant", "import", str(tmp_path / "gone.tar.gz"), "--slug", restored)
        back = Tenant.objects.get(slug=restored)
        with schema_context(back.schema_name):
            back_path = exporting.export_path(ExportJob.objects.get(pk=old_export.pk))
            assert back_path is not None and back_path.read_bytes() == old_bytes
            assert back_path != newcomer_path
            with pytest.raises(SuspiciousFileOperation):
                files.tenant_file_path(os.path.relpath(newcomer_path, files.tenant_root()))
    finally:
        delete_tenant(restored)
        delete_tenant(slug)


def test_expiry_removes_files_through_the_resolver(acme: Any, committed_db: None) -> None:
    """Expired imports and exports lose their files; a row naming a file outside the tenant's
    root loses its row, never that file."""
    import datetime

    from django.utils import timezone

    victim = files.files_root() / f"victim-{uuid.uuid4().hex}.csv"
    files.private_mkdir(victim.parent)
    victim.write_text("someone else's")
    long_ago = timezone.now() - datetime.timedelta(days=400)
    try:
        with schema_context(acme.schema):
            job = checked_import(User.objects.get(pk=acme.manager.pk), good="Old", bad="Older")
            export = finished_export(User.objects.get(pk=acme.marketing.pk))
            paths = job_files(job, export)
            stray = ExportJob.objects.create(
                kind="customers",
                file_format="csv",
                status=ExportJob.Status.DONE,
                created_by=User.objects.get(pk=acme.marketing.pk),
                file_path=f"../{victim.name}",
            )
            ImportJob.objects.filter(pk=job.pk).update(created_at=long_ago)
            ExportJob.objects.filter(pk__in=[export.pk, stray.pk]).update(created_at=long_ago)
            assert services.imports_expire() >= 1
            assert exporting.exports_expire() >= 2
            assert not any(path.exists() for path in paths)
            assert not ExportJob.objects.filter(pk__in=[export.pk, stray.pk]).exists()
            assert ImportJob.objects.get(pk=job.pk).file_path == ""
            ImportJob.objects.filter(pk=job.pk).delete()
        assert victim.read_text() == "someone else's"
    finally:
        victim.unlink(missing_ok=True)


# --- the upgrade ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_upgrade_moves_a_schemas_own_files_and_drops_what_names_another(acme, globex):
    """crm/transfer/migrations/0002: rows in the old layout (folders named after schemas,
    absolute export paths) become relative to the tenant's root, with their files moved;
    a row naming another schema's folder (a copy restored before) loses the path, never
    taking the file; what the old folders still hold goes."""
    migration = importlib.import_module("crm.transfer.migrations.0002_tenant_relative_file_paths")
    private = Path(settings.CRM_PRIVATE_MEDIA_ROOT)
    old_imports, old_exports = private / "imports" / acme.schema, private / acme.schema / "exports"
    globex_old = private / "imports" / globex.schema
    for folder in (old_imports, old_exports, globex_old):
        folder.mkdir(parents=True, exist_ok=True)
    upload, theirs = f"{uuid.uuid4().hex}.csv", f"{uuid.uuid4().hex}.csv"
    (old_imports / upload).write_text("upload")
    (old_imports / "stray.csv").write_text("a deleted namesake's")
    (globex_old / theirs).write_text("globex's upload")
    moved: list[Path] = []
    try:
        with schema_context(acme.schema):
            user = User.objects.get(pk=acme.admin.pk)
            job = ImportJob.objects.create(
                kind="customers",
                original_name="old.csv",
                file_path=f"imports/{acme.schema}/{upload}",
                file_format="csv",
            )
            ImportJob.objects.filter(pk=job.pk).update(
                rejected_path=f"imports/{acme.schema}/{job.pk}-rejected.csv"
            )
            (old_imports / f"{job.pk}-rejected.csv").write_text("rejected")
            (old_imports / f"{job.pk}-rejected.json").write_text("[]")
            foreign = ImportJob.objects.create(
                kind="customers",
                original_name="theirs.csv",
                file_path=f"imports/{globex.schema}/{theirs}",
                file_format="csv",
            )
            export = ExportJob.objects.create(
                kind="customers",
                file_format="csv",
                status=ExportJob.Status.DONE,
                created_by=user,
            )
            (old_exports / f"{export.pk}-customers.csv").write_text("export")
            ExportJob.objects.filter(pk=export.pk).update(
                file_path=str(old_exports / f"{export.pk}-customers.csv")
            )

            migration.forwards(django_apps, SimpleNamespace(connection=connection))

            job.refresh_from_db()
            foreign.refresh_from_db()
            export.refresh_from_db()
            assert (job.file_path, job.rejected_path) == (
                f"imports/{upload}",
                f"imports/{job.pk}-rejected.csv",
            )
            assert export.file_path == f"exports/{export.pk}-customers.csv"
            moved.extend(job_files(job, export))
            assert [p.read_text() for p in moved] == ["upload", "rejected", "[]", "export"]
            assert all(mode(p) == 0o600 for p in moved)
            assert (foreign.file_path, foreign.rejected_path) == ("", "")
            assert not old_imports.exists() and not (private / acme.schema).exists()
        assert (globex_old / theirs).read_text() == "globex's upload"
    finally:
        shutil.rmtree(globex_old, ignore_errors=True)
        shutil.rmtree(old_imports, ignore_errors=True)
        shutil.rmtree(private / acme.schema, ignore_errors=True)
        for path in moved:
            path.unlink(missing_ok=True)
