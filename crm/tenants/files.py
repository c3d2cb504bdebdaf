"""Where a tenant's private files live, and the one way to reach them.

Every tenant-owned file (uploads, rejected-row reports, exports, and whatever comes next) lives
under CRM_PRIVATE_MEDIA_ROOT/tenants/<files_key>/, where files_key is random and never copied
(crm.tenants.models.new_files_key). Slugs and schema names do repeat: a deleted tenant's slug
can be taken again, and `tenant import` restores a copy beside its source; a key that never
repeats means neither can land in another tenant's files.

Rows keep paths relative to that root ("imports/3f….csv"), and every path goes through
`tenant_file_path`, which refuses anything that would leave the current tenant's root
(`..`, an absolute path, a symlink pointing out). Files are created 0600, folders 0700: they
hold customer data, and only the application's own user needs them.

The root travels with `tenant export`/`tenant import` and goes with `tenant delete`
(crm.tenants.archive, crm.tenants.services).
"""

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import connection

from crm.tenants.models import Tenant

FILE_MODE = 0o600
DIR_MODE = 0o700
TENANTS_FOLDER = "tenants"


def files_root() -> Path:
    """The folder holding every tenant's root (never served by the web server)."""
    return Path(settings.CRM_PRIVATE_MEDIA_ROOT) / TENANTS_FOLDER


def tenant_root_for(tenant: Tenant) -> Path:
    """`tenant`'s root, whichever schema the connection is in (export, import, delete)."""
    key = tenant.files_key
    if not key or not key.isalnum():
        raise SuspiciousFileOperation(f"tenant {tenant.slug} has no usable files key")
    return files_root() / key


def _current_files_key() -> str:
    schema = str(connection.schema_name)  # type: ignore[attr-defined]
    if schema == settings.PUBLIC_SCHEMA_NAME:
        raise SuspiciousFileOperation("tenant files are reached from a tenant's schema only")
    tenant = getattr(connection, "tenant", None)
    # Requests and tasks carry the real tenant row; schema_context() carries only its name.
    if isinstance(tenant, Tenant) and tenant.schema_name == schema and tenant.files_key:
        return tenant.files_key
    key = Tenant.objects.filter(schema_name=schema).values_list("files_key", flat=True).first()
    if not key:
        raise SuspiciousFileOperation(f"no tenant owns schema {schema}")
    return key


def tenant_root() -> Path:
    """The current tenant's root (not created here)."""
    key = _current_files_key()
    if not key.isalnum():
        raise SuspiciousFileOperation("the tenant's files key is not a plain name")
    return files_root() / key


def _inside(path: Path, root: Path) -> Path:
    """`path` with every symlink followed, if it stays inside `root`; refused otherwise."""
    resolved_root = root.resolve()
    resolved = path.resolve()
    if resolved != resolved_root and not resolved.is_relative_to(resolved_root):
        raise SuspiciousFileOperation(f"{path} is outside the tenant's files")
    return resolved


def tenant_file_path(relative: str) -> Path:
    """The file `relative` names under the current tenant's root. Refuses (SuspiciousFile-
    Operation, a 400 in a request) an empty or absolute path, `..`, and anything that a
    symlink would take outside the root."""
    text = str(relative)
    if not text or "\x00" in text or "\\" in text:
        raise SuspiciousFileOperation(f"{relative!r} is not a tenant file path")
    pure = PurePosixPath(text)
    if pure.is_absolute() or ".." in pure.parts or pure == PurePosixPath("."):
        raise SuspiciousFileOperation(f"{relative!r} is not a tenant file path")
    root = tenant_root()
    return _inside(root / pure, root)


def tenant_file_relative(path: Path) -> str:
    """What a row keeps for `path`, a file under the current tenant's root."""
    root = tenant_root().resolve()
    resolved = _inside(path, root)
    return resolved.relative_to(root).as_posix()


def private_mkdir(path: Path) -> None:
    # mkdir(parents=True) would give the parents the umask's mode, not ours.
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)


def tenant_dir(relative: str) -> Path:
    """The folder `relative` under the current tenant's root, created (0700) if missing."""
    folder = tenant_file_path(relative)
    private_mkdir(folder)
    return _inside(folder, tenant_root())


def private_open(path: Path, mode: str = "wb", **kwargs: Any) -> IO[Any]:
    """Open `path` for writing as a file only we may read (0600): "x" creates a new file,
    "w" replaces what it held. Never follows a symlink at `path`."""
    if mode[0] not in "xw" or "+" in mode:
        raise ValueError(f"private_open writes only, not {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_EXCL if mode[0] == "x" else os.O_TRUNC
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its old mode otherwise
        return os.fdopen(fd, "w" + mode[1:], **kwargs)
    except BaseException:
        os.close(fd)
        raise


def private_tree(root: Path) -> None:
    """Make every folder under `root` 0700 and every file 0600 (files placed by an import)."""
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, DIR_MODE)
        for name in files:
            os.chmod(os.path.join(folder, name), FILE_MODE)
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)


def tenant_files_remove(tenant: Tenant) -> None:
    """Remove `tenant`'s whole root (after `tenant delete`)."""
    root = tenant_root_for(tenant)
    if root.exists():
        shutil.rmtree(root)
