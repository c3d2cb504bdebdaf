"""Import and export files move from schema-named folders to the tenant's own root.

Before: ImportJob.file_path was "imports/<schema>/<name>" and rejected_path
"imports/<schema>/<pk>-rejected.csv" (its JSON beside it), relative to CRM_PRIVATE_MEDIA_ROOT;
ExportJob.file_path was absolute, "<CRM_PRIVATE_MEDIA_ROOT>/<schema>/exports/<name>".
After: both are relative to the tenant's root, CRM_PRIVATE_MEDIA_ROOT/tenants/<files_key>/
(crm.tenants.files): "imports/<name>", "imports/<pk>-rejected.csv", "exports/<name>".

A schema's own files are moved there (mode 0600) when a tenant row names the schema. A path
naming another schema's folder (a copy restored by `tenant import` before this change kept its
source's paths) is cleared, and so is every path when no tenant row names the schema yet (an
archive being restored, whose version-1 archive never carried these files). Then what is left
in the schema's old folders goes: files no row of this schema reaches (a deleted namesake's).
Clearing a path only loses a temporary file: imports drop theirs after CRM_IMPORT_UNDO_DAYS,
exports after 7 days; a cleared export shows as expired.

The logic is frozen here (no live code imported): it must keep doing exactly this.
"""

import os
import shutil
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import migrations

FILE_MODE = 0o600
DIR_MODE = 0o700


def _files_key(connection, schema):  # type: ignore[no-untyped-def]
    public = settings.PUBLIC_SCHEMA_NAME
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'tenants_tenant'"
            " AND column_name = 'files_key'",
            [public],
        )
        if cursor.fetchone() is None:
            return None
        cursor.execute(
            f'SELECT files_key FROM "{public}".tenants_tenant WHERE schema_name = %s',  # noqa: S608
            [schema],
        )
        row = cursor.fetchone()
    key = row[0] if row else None
    return key if key and key.isalnum() else None


def _private_dirs(path):  # type: ignore[no-untyped-def]
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)


def _move(source, target):  # type: ignore[no-untyped-def]
    if source.is_symlink() or not source.is_file() or target.exists():
        return
    _private_dirs(target.parent)
    shutil.move(str(source), str(target))
    os.chmod(target, FILE_MODE)


def _plain(name):  # type: ignore[no-untyped-def]
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    schema = str(connection.schema_name)
    if schema == settings.PUBLIC_SCHEMA_NAME:
        return
    ImportJob = apps.get_model("transfer", "ImportJob")
    ExportJob = apps.get_model("transfer", "ExportJob")
    private = Path(settings.CRM_PRIVATE_MEDIA_ROOT)
    key = _files_key(connection, schema)
    root = private / "tenants" / key if key else None
    old_imports = private / "imports" / schema
    old_exports = private / schema / "exports"

    for job in ImportJob.objects.exclude(file_path="", rejected_path="").iterator():
        parts = PurePosixPath(job.file_path).parts
        file_path = ""
        if len(parts) == 2 and parts[0] == "imports":
            file_path = job.file_path  # already relative to the tenant's root
        elif root and len(parts) == 3 and parts[:2] == ("imports", schema) and _plain(parts[2]):
            _move(old_imports / parts[2], root / "imports" / parts[2])
            file_path = f"imports/{parts[2]}"
        rejected_path = ""
        report = f"{job.pk}-rejected"
        if job.rejected_path == f"imports/{report}.csv":
            rejected_path = job.rejected_path
        elif root and file_path and job.rejected_path == f"imports/{schema}/{report}.csv":
            for suffix in (".csv", ".json"):
                _move(old_imports / f"{report}{suffix}", root / "imports" / f"{report}{suffix}")
            rejected_path = f"imports/{report}.csv"
        if (file_path, rejected_path) != (job.file_path, job.rejected_path):
            ImportJob.objects.filter(pk=job.pk).update(
                file_path=file_path, rejected_path=rejected_path
            )

    for job in ExportJob.objects.exclude(file_path="").iterator():
        path = Path(job.file_path)
        file_path = ""
        if not path.is_absolute() and len(path.parts) == 2 and path.parts[0] == "exports":
            file_path = job.file_path
        elif root and path.is_absolute() and path.parent == old_exports and _plain(path.name):
            _move(path, root / "exports" / path.name)
            file_path = f"exports/{path.name}"
        if file_path != job.file_path:
            ExportJob.objects.filter(pk=job.pk).update(file_path=file_path)

    # What the schema's old folders still hold, no row of it reaches: it goes.
    for folder in (old_imports, old_exports):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
    try:
        (private / schema).rmdir()  # only if empty: never another use's folder
    except OSError:
        pass


class Migration(migrations.Migration):
    dependencies = [
        ("transfer", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
    ]
