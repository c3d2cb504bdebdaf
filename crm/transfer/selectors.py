"""Reads of the import engine that views, tasks and the command line share."""

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.accounts.permissions import can_administer
from crm.tenants.files import tenant_file_path
from crm.transfer import reading
from crm.transfer.models import ImportJob, MappingTemplate

Status = ImportJob.Status


def import_jobs(user: Any) -> QuerySet[ImportJob]:
    """The imports `user` may see and act on, newest first: their own; administrators see
    every import of the tenant (as with exports). Another's job is a 404, not a 403."""
    jobs = ImportJob.objects.all()
    return jobs if can_administer(user) else jobs.filter(created_by=user.pk)


def import_importer(job: ImportJob) -> User | None:
    """Whose record scope the job's matching runs with: the staff member who uploaded it (also
    when an administrator checks, commits or undoes it, so the check and the commit agree);
    None for the operator's command line, which sees every record. A job whose uploader is
    gone is refused rather than run with nobody's (or everybody's) scope."""
    if job.by_operator:
        return None
    importer = User.objects.filter(pk=job.created_by_id).first() if job.created_by_id else None
    if importer is None:
        raise ValidationError(
            _("The staff member who uploaded this file is no longer here; upload it again.")
        )
    return importer


def import_mapping_template_name(job: ImportJob) -> str:
    """The saved mapping the job's columns follow ("" for none), so the mapping page can say
    that a template was applied (the newest one with exactly this mapping)."""
    template = (
        MappingTemplate.objects.filter(kind=job.kind, mapping=job.mapping)
        .order_by("-created_at", "-id")
        .values_list("name", flat=True)
        .first()
    )
    return template or ""


def import_sample_rows(job: ImportJob, n: int) -> list[list[str]]:
    """The first `n` data rows of the file (for the mapping page), read no further than they
    go and cut to the headers' width; [] (or fewer) when they cannot be read."""
    from crm.transfer.services import _table_info, job_path

    if n <= 0 or not job.file_path:
        return []
    try:
        return reading.sample_rows(job_path(job), _table_info(job), n)
    except Exception:  # a sample is a help, the check reports what is wrong with the file
        return []


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    percent: int
    message: str


def import_progress(job: ImportJob) -> Progress:
    total = job.rows_total or None
    done = job.rows_done
    percent = min(100, int(done * 100 / total)) if total else 0
    messages: dict[str, str] = {
        Status.CHECKING: _("Checking the file…"),
        Status.RUNNING: _("Importing…"),
        Status.UNDOING: _("Undoing the import…"),
    }
    return Progress(done, total, percent, str(messages.get(job.status, job.get_status_display())))


@dataclass(frozen=True)
class RejectedRow:
    row: int
    column: str
    reason: str
    values: list[str]
    cells_cut: int = 0  # cells of the row not in `values` (the CSV keeps them all)


def import_rejected_rows(job: ImportJob, limit: int) -> list[RejectedRow]:
    """The first rejected rows of the last check or commit (row, column, reason, cells), as
    many as the page shows, each bounded however long the row in the file (see
    services.rejected_shown_cells)."""
    from crm.transfer.services import rejected_paths, rejected_shown_cells

    if not job.rejected_path:
        return []
    _csv, shown = rejected_paths(job)
    try:
        items = json.loads(shown.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    rows = []
    for item in items[:limit]:
        values, cut = rejected_shown_cells([str(v) for v in item["values"]], len(job.headers))
        rows.append(
            RejectedRow(
                int(item["row"]),
                str(item["column"]),
                str(item["reason"]),
                values,
                cut + int(item.get("cells_cut", 0)),
            )
        )
    return rows


def import_rejected_csv_path(job: ImportJob) -> Path | None:
    if not job.rejected_path:
        return None
    try:
        path = tenant_file_path(job.rejected_path)
    except SuspiciousFileOperation:
        return None
    return path if path.is_file() else None


def import_undo_deadline(job: ImportJob) -> datetime.datetime | None:
    if job.finished_at is None:
        return None
    return job.finished_at + datetime.timedelta(days=settings.CRM_IMPORT_UNDO_DAYS)


def import_undo_blocker(
    job: ImportJob, *, busy_ok: bool = False, thorough: bool = True
) -> str | None:
    """Why this import cannot be undone now, in plain words; None when it can. Without
    `thorough` (a list of imports) only what the job row tells: the records' own checks, a
    dozen queries per job, wait for the undo page, and undo itself checks again anyway."""
    from crm.transfer.registry import import_kind

    if job.status == Status.UNDONE:
        return _("This import was already undone.")
    if job.status != Status.DONE and not (busy_ok and job.status == Status.UNDOING):
        return _("Only a finished import can be undone.")
    deadline = import_undo_deadline(job)
    if deadline is not None and timezone.now() > deadline:
        return _("Imports can be undone for %(days)d days; this one is older.") % {
            "days": settings.CRM_IMPORT_UNDO_DAYS
        }
    if not job.created_count and not job.updated_count:
        return _("This import changed nothing, so there is nothing to undo.")
    try:
        kind = import_kind(job.kind)
    except KeyError:
        return _("This kind of import can no longer be undone.")
    return kind.undo_blocker(job) if thorough else None


def import_options_shown(job: ImportJob) -> list[tuple[Any, Any]]:
    """(label, value as shown) of each option of the job's kind, for the job page."""
    from crm.transfer.registry import import_kind

    try:
        kind = import_kind(job.kind)
    except KeyError:
        return []
    return [(o.label, o.display(job.option(o.key))) for o in kind.options]
