"""Exports: a registry of what can be exported, and the CSV and XLSX writers.

Apps register export kinds (customers registers "customers" and "orders" in its AppConfig). A
kind turns (user, the list's query string) into rows of plain values, already masked for that
user and limited to the records they may see; ``user=None`` is the operator's command line: every
record, unmasked. The writers pass every cell through ``safe_cell`` so a cell starting like a
formula (= + - @, tab, carriage return) is never run by a spreadsheet.

CSV is written as UTF-8 with a byte order mark: without it Excel (the tool most of our users open
exports with) reads UTF-8 as the local code page and Chinese names turn into mojibake; every other
reader we know of skips the mark. CSV is a generator (a streaming response, or a file written a
chunk at a time); XLSX uses openpyxl's write-only mode into a file, never a workbook in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.http import QueryDict
from openpyxl import Workbook

from crm.lib.audit_actor import writes
from crm.lib.spreadsheet import safe_cell

if TYPE_CHECKING:
    from crm.accounts.models import User

Rows = Callable[[Any, QueryDict], Iterable[list[Any]]]
Count = Callable[[Any, QueryDict], int | None]

FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class ExportKind:
    key: str
    label: Any  # lazily translated
    capability: str
    headers: tuple[str, ...]
    rows_for: Rows
    estimated_count: Count
    # Headers that depend on the tenant or the reader (custom field columns); the fixed
    # ``headers`` when None. Must match what ``rows_for`` yields for the same arguments.
    headers_for: Callable[[Any, QueryDict], Sequence[str]] | None = None

    def header_row(self, user: Any, query: QueryDict) -> Sequence[str]:
        return self.headers_for(user, query) if self.headers_for else self.headers


class InvalidFilter(ValueError):
    """A kind's rows_for/estimated_count refuse a filter they cannot read: exporting without
    it would write more rows than the list shows. The message says which filter and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_KINDS: dict[str, ExportKind] = {}


def export_kind_register(kind: ExportKind) -> None:
    _KINDS[kind.key] = kind


def export_kinds() -> list[ExportKind]:
    return list(_KINDS.values())


def export_kind(key: str) -> ExportKind:
    """The registered kind; KeyError if there is none."""
    return _KINDS[key]


def _safe_row(row: Iterable[Any]) -> list[str]:
    return [safe_cell(value) for value in row]


def csv_chunks(
    headers: Iterable[str], rows: Iterable[Iterable[Any]], *, batch: int = 500
) -> Iterator[str]:
    """The CSV as text chunks of ``batch`` rows, the first starting with the byte order mark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(_safe_row(headers))
    pending = 0
    for row in rows:
        writer.writerow(_safe_row(row))
        pending += 1
        if pending >= batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def write_csv(
    path: Path,
    headers: Iterable[str],
    rows: Iterable[Iterable[Any]],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the CSV to ``path``; the number of data rows."""
    count = 0

    def counted() -> Iterator[Iterable[Any]]:
        nonlocal count
        for row in rows:
            count += 1
            if progress and count % 5000 == 0:
                progress(count)
            yield row

    with path.open("w", encoding="utf-8", newline="") as out:
        for chunk in csv_chunks(headers, counted()):
            out.write(chunk)
    return count


def write_xlsx(
    path: Path,
    headers: Iterable[str],
    rows: Iterable[Iterable[Any]],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write one sheet with openpyxl's write-only mode (rows go to disk as they come); every
    cell a string through ``safe_cell``. The number of data rows."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(_safe_row(headers))
    count = 0
    for row in rows:
        sheet.append(_safe_row(row))
        count += 1
        if progress and count % 5000 == 0:
            progress(count)
    book.save(str(path))
    return count


# --- Large exports: a job written by a worker, downloadable for EXPORT_KEEP_DAYS days --------

EXPORT_KEEP_DAYS = 7


EXPORTS_FOLDER = "exports"


def export_dir() -> Path:
    """Where this tenant's export files live (created 0700 if missing; never served directly)."""
    from crm.tenants.files import tenant_dir

    return tenant_dir(EXPORTS_FOLDER)


def export_path(job: Any) -> Path | None:
    """The finished export's file, or None when the job has none or its row names a path outside
    the tenant's files (refused, never followed)."""
    from django.core.exceptions import SuspiciousFileOperation

    from crm.tenants.files import tenant_file_path

    if not job.file_path:
        return None
    try:
        return tenant_file_path(job.file_path)
    except SuspiciousFileOperation:
        return None


def export_audit(*, actor: Any, kind: str, query: str, rows: int, fmt: str, **extra: Any) -> None:
    from crm.accounts.audit import audit_record

    audit_record(
        action="export",
        actor=actor,
        detail={"kind": kind, "filter": query, "rows": rows, "format": fmt, **extra},
    )


@writes
def export_job_request(*, actor: User | None, kind: str, query: str, file_format: str) -> Any:
    """Queue a large export for a worker (sent once the transaction commits)."""
    from django.db import transaction

    from crm.transfer.models import ExportJob
    from crm.transfer.tasks_exports import export_run_task

    if file_format not in FORMATS:
        raise ValueError(file_format)
    if actor is None:
        raise ValueError("an export job belongs to the person who asked for it")
    export_kind(kind)
    job = ExportJob.objects.create(
        kind=kind, query=query, file_format=file_format, created_by=actor
    )
    transaction.on_commit(lambda: export_run_task.delay(job.pk))
    return job


EXPORT_TABLE = "transfer_exportjob"


def export_run(job_id: int) -> None:
    """Write a queued export's file. Idempotent: a finished job is left alone, and a job is
    run once. The worker holds the job's liveness lock (crm.lib.liveness) while it writes, so
    an export whose worker dies shows as failed to whoever looks next."""
    from django.utils import timezone

    from crm.lib.liveness import RunnerHold
    from crm.transfer.models import ExportJob

    with RunnerHold(EXPORT_TABLE, job_id) as hold:
        if not hold.acquired:
            return  # another worker is writing it (a duplicated task)
        taken = ExportJob.objects.filter(
            pk=job_id, status=ExportJob.Status.QUEUED, taken_at=None
        ).update(status=ExportJob.Status.RUNNING, taken_at=timezone.now())
        left = ExportJob.objects.filter(pk=job_id).first()
        if not taken:
            # Finished, or taken by a worker that died (its lock was free): not run again.
            if left is not None and left.status == ExportJob.Status.RUNNING:
                _export_fail_dead(left)
            return
        _export_write(job_id)


def _export_write(job_id: int) -> None:
    from django.utils import timezone

    from crm.accounts.permissions import can_view_personal_data
    from crm.transfer.models import ExportJob

    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    kind = export_kind(job.kind)
    user = job.created_by
    params = QueryDict(job.query)
    try:
        total = kind.estimated_count(user, params)
    except InvalidFilter as exc:
        # The filter was readable when asked for and is not now (a choice renamed since):
        # a failed job that says why, never an export of more than was asked for.
        ExportJob.objects.filter(
            pk=job.pk, status__in=(ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)
        ).update(
            status=ExportJob.Status.FAILED, message=exc.message[:500], finished_at=timezone.now()
        )
        return
    job.status = ExportJob.Status.RUNNING
    job.rows_total = total
    started = ExportJob.objects.filter(
        pk=job.pk, status__in=(ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)
    ).update(status=job.status, rows_total=job.rows_total)
    if not started:  # failed meanwhile (an erasure)
        return
    from crm.tenants.files import private_open, tenant_file_relative

    path = export_dir() / f"{job.pk}-{job.kind}.{job.file_format}"
    # Created 0600 before the writer fills it (openpyxl would create it with the umask's mode).
    private_open(path, "wb").close()

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=done)

    writer = write_xlsx if job.file_format == "xlsx" else write_csv
    # Decided with the rows below: the kind masks by the same check (crm.accounts.masking).
    job.unmasked = can_view_personal_data(user)
    try:
        count = writer(path, kind.header_row(user, params), kind.rows_for(user, params), progress)
    except Exception as exc:
        path.unlink(missing_ok=True)
        job.status = ExportJob.Status.FAILED
        job.message = str(exc)[:500]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "message", "finished_at"])
        raise
    job.status = ExportJob.Status.DONE
    job.rows_done = count
    job.rows_total = count
    job.file_path = tenant_file_relative(path)
    job.finished_at = timezone.now()
    # Only a job still running is finished: an erasure meanwhile failed it (the file may hold
    # the erased person, read before the erasure), and then the file goes.
    finished = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
        status=job.status,
        rows_done=count,
        rows_total=count,
        file_path=job.file_path,
        finished_at=job.finished_at,
        unmasked=job.unmasked,
    )
    if not finished:
        path.unlink(missing_ok=True)
        return
    export_audit(
        actor=user, kind=job.kind, query=job.query, rows=count, fmt=job.file_format, job=job.pk
    )


def _export_fail_dead(job: Any) -> int:
    """Mark an export whose worker died (or never came) failed, matching the row as read."""
    from django.utils import timezone
    from django.utils.translation import gettext as _

    from crm.transfer.models import ExportJob

    message = (
        _("The export stopped without finishing (its process ended); start it again.")
        if job.taken_at
        else _("No worker started this export in time; start it again.")
    )
    return ExportJob.objects.filter(pk=job.pk, status=job.status, taken_at=job.taken_at).update(
        status=ExportJob.Status.FAILED, message=message, finished_at=timezone.now()
    )


def exports_settle() -> int:
    """Fail every export of the tenant whose worker died (crm.lib.liveness; queued since it
    was created), so the exports page never shows one running forever. How many."""
    from crm.lib.liveness import job_is_dead
    from crm.transfer.models import ExportJob

    busy = ExportJob.objects.filter(
        status__in=(ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)
    ).only("id", "status", "taken_at", "created_at")
    settled = 0
    for job in busy:
        if job_is_dead(
            table=EXPORT_TABLE, pk=job.pk, taken_at=job.taken_at, queued_at=job.created_at
        ):
            settled += _export_fail_dead(job)
    return settled


def exports_expire(*, now: Any = None) -> int:
    """Delete exports (files and rows) older than EXPORT_KEEP_DAYS, except one a worker is
    writing right now (dead ones are settled first); how many."""
    from datetime import timedelta

    from django.utils import timezone

    from crm.transfer.models import ExportJob

    exports_settle()
    cutoff = (now or timezone.now()) - timedelta(days=EXPORT_KEEP_DAYS)
    old = list(
        ExportJob.objects.filter(created_at__lt=cutoff).exclude(
            status__in=(ExportJob.Status.QUEUED, ExportJob.Status.RUNNING)
        )
    )
    for job in old:
        path = export_path(job)
        if path is not None:
            path.unlink(missing_ok=True)
    ExportJob.objects.filter(pk__in=[j.pk for j in old]).delete()
    return len(old)
