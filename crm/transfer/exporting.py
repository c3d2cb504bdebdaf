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

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.http import QueryDict
from openpyxl import Workbook

from crm.lib.spreadsheet import safe_cell

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


def export_dir() -> Path:
    from django.conf import settings

    from crm.lib.tenancy import current_schema

    return Path(settings.CRM_PRIVATE_MEDIA_ROOT) / current_schema() / "exports"


def export_audit(*, actor: Any, kind: str, query: str, rows: int, fmt: str, **extra: Any) -> None:
    from crm.accounts.audit import audit_record

    audit_record(
        action="export",
        actor=actor,
        detail={"kind": kind, "filter": query, "rows": rows, "format": fmt, **extra},
    )


def export_job_request(*, actor: Any, kind: str, query: str, file_format: str) -> Any:
    """Queue a large export for a worker (sent once the transaction commits)."""
    from django.db import transaction

    from crm.transfer.models import ExportJob
    from crm.transfer.tasks_exports import export_run_task

    if file_format not in FORMATS:
        raise ValueError(file_format)
    export_kind(kind)
    job = ExportJob.objects.create(
        kind=kind, query=query, file_format=file_format, created_by=actor
    )
    transaction.on_commit(lambda: export_run_task.delay(job.pk))
    return job


def export_run(job_id: int) -> None:
    """Write a queued export's file (idempotent: a finished job is left alone)."""
    from django.utils import timezone

    from crm.transfer.models import ExportJob

    job = ExportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED):
        return
    kind = export_kind(job.kind)
    user = job.created_by
    params = QueryDict(job.query)
    try:
        total = kind.estimated_count(user, params)
    except InvalidFilter as exc:
        # The filter was readable when asked for and is not now (a choice renamed since):
        # a failed job that says why, never an export of more than was asked for.
        job.status = ExportJob.Status.FAILED
        job.message = exc.message[:500]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "message", "finished_at"])
        return
    job.status = ExportJob.Status.RUNNING
    job.rows_total = total
    job.save(update_fields=["status", "rows_total"])
    folder = export_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job.pk}-{job.kind}.{job.file_format}"

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=done)

    writer = write_xlsx if job.file_format == "xlsx" else write_csv
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
    job.file_path = str(path)
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "rows_done", "rows_total", "file_path", "finished_at"])
    export_audit(
        actor=user, kind=job.kind, query=job.query, rows=count, fmt=job.file_format, job=job.pk
    )


def exports_expire(*, now: Any = None) -> int:
    """Delete exports (files and rows) older than EXPORT_KEEP_DAYS; how many."""
    from datetime import timedelta

    from django.utils import timezone

    from crm.transfer.models import ExportJob

    cutoff = (now or timezone.now()) - timedelta(days=EXPORT_KEEP_DAYS)
    old = list(ExportJob.objects.filter(created_at__lt=cutoff))
    for job in old:
        if job.file_path:
            Path(job.file_path).unlink(missing_ok=True)
    ExportJob.objects.filter(pk__in=[j.pk for j in old]).delete()
    return len(old)
