"""The import engine: every write of an import's life, from the uploaded file to undo.

upload (import_start) -> map (import_configure) -> dry run (import_check_request) -> commit
(import_commit_request) -> perhaps undo (import_undo_request). Small files run inline; larger
ones (by their counted rows and their size: settings.CRM_TRANSFER_INLINE_ROWS and
CRM_TRANSFER_INLINE_BYTES) in a Celery task, with progress the job page polls.

The kind (crm.transfer.registry) decides what a row means; the engine reads the file in batches,
writes the rejected rows' report, holds the commit's single transaction (all or nothing: valid-only
commits write their valid rows in that one transaction too), refuses a second import or undo on
the same records while one runs, and leaves an audit entry for each upload, commit and undo.
"""

from __future__ import annotations

import csv
import datetime
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.audit import audit_actor, audit_record, writes
from crm.lib import liveness
from crm.lib.spreadsheet import safe_cell
from crm.lib.tenancy import current_schema
from crm.tenants.files import private_open, tenant_dir, tenant_file_path, tenant_file_relative
from crm.transfer import bulk, reading
from crm.transfer.models import ImportJob, MappingTemplate
from crm.transfer.registry import (
    BATCH_ROWS,
    ImportKind,
    Rejection,
    SourceRow,
    import_kind,
    mapping_fits,
    propose_mapping,
)

if TYPE_CHECKING:
    from crm.accounts.models import User

log = logging.getLogger(__name__)

Status = ImportJob.Status
# Jobs that block other imports and undos on the same records while they run.
BUSY = (Status.RUNNING, Status.UNDOING)
# Jobs a runner works on (crm.lib.liveness decides whether it still does).
LIVE = (Status.CHECKING, *BUSY)
JOB_TABLE = ImportJob._meta.db_table
# Rejections kept for the job page (the CSV has them all), and how much of each: the row's
# cells up to the headers' width and a few more, each cut to REJECTED_CELL_CHARS, so the page
# stays small however long a row in the file is (the CSV keeps the rows whole).
REJECTED_SHOWN = 500
REJECTED_EXTRA_CELLS = 5
REJECTED_CELL_CHARS = 200
REJECTED_REASON_CHARS = 2000
# A batch is checked early once its rows hold this many cells (rows with cells beyond the
# headers are rejected whole and kept for the report until the batch is checked).
BATCH_CELLS = 1_000_000
ERROR_HEADER = "error"


# --- files ------------------------------------------------------------------------------------


IMPORTS_FOLDER = "imports"


def import_dir() -> Path:
    """Where this tenant's uploads and rejected-row reports live (never served directly)."""
    return tenant_dir(IMPORTS_FOLDER)


def job_path(job: ImportJob) -> Path:
    """The job's uploaded file (SuspiciousFileOperation if its row names none or a path outside
    the tenant's files)."""
    return tenant_file_path(job.file_path)


def rejected_paths(job: ImportJob) -> tuple[Path, Path]:
    """The rejected rows as CSV (all of them) and as JSON (the first REJECTED_SHOWN)."""
    return (
        tenant_file_path(f"{IMPORTS_FOLDER}/{job.pk}-rejected.csv"),
        tenant_file_path(f"{IMPORTS_FOLDER}/{job.pk}-rejected.json"),
    )


def _files_remove(job: ImportJob) -> None:
    """Delete the job's upload and rejected-row reports; a path its row names outside the
    tenant's files is refused and left alone (and logged), never followed."""
    try:
        paths = [job_path(job)] if job.file_path else []
    except SuspiciousFileOperation:
        log.warning("import %s names a file outside the tenant's files: %r", job.pk, job.file_path)
        paths = []
    for path in [*paths, *rejected_paths(job)]:
        path.unlink(missing_ok=True)


def rejected_shown_cells(cells: list[str], width: int) -> tuple[list[str], int]:
    """What the job page keeps of a rejected row's cells: at most the headers' width and
    REJECTED_EXTRA_CELLS more, each cut to REJECTED_CELL_CHARS ("…" marks a cut cell); and how
    many cells were left out."""
    keep = max(width, 0) + REJECTED_EXTRA_CELLS
    shown = [
        cell if len(cell) <= REJECTED_CELL_CHARS else cell[: REJECTED_CELL_CHARS - 1] + "…"
        for cell in cells[:keep]
    ]
    return shown, max(len(cells) - keep, 0)


def _table_info(job: ImportJob) -> reading.TableInfo:
    return reading.TableInfo(
        file_format=job.file_format,
        encoding=job.encoding,
        delimiter=job.delimiter,
        headers=list(job.headers),
        rows_estimate=job.rows_total,
    )


def _kind(key: str) -> ImportKind:
    try:
        return import_kind(key)
    except KeyError:
        raise ValidationError(_("There is no import of “%(kind)s”.") % {"kind": key}) from None


def _default_options(kind: ImportKind, mapping: dict[str, str]) -> dict[str, Any]:
    """Every option's default; a choice that needs a field mapped (a match key) becomes the
    first choice whose field the mapping has."""
    mapped = set(mapping.values())
    options: dict[str, Any] = {}
    for option in kind.options:
        value = option.default
        for choice, _label in option.choices if option.requires else ():
            if option.required_field(choice) in mapped:
                value = choice
                break
        options[option.key] = value
    return options


def _options_clean(
    kind: ImportKind, job: ImportJob, given: dict[str, Any], chosen: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """The job's options with `given` applied (each checked against the kind's declaration),
    and what is wrong with them."""
    errors: list[str] = []
    declared = {o.key: o for o in kind.options}
    for key, value in given.items():
        # An option the kind does not have may be given switched off (callers that pass the
        # same options to every kind), never on.
        if key not in declared and value:
            errors.append(
                _("This import has no option “%(option)s”.") % {"option": key.replace("_", " ")}
            )
    options = {**_default_options(kind, job.mapping), **(job.options or {})}
    options = {key: options.get(key) for key in declared}
    for key, option in declared.items():
        if key not in given:
            continue
        try:
            options[key] = option.clean(given[key])
        except ValueError:
            errors.append(
                _("Choose one of the offered values for “%(option)s”.") % {"option": option.label}
            )
            continue
        needed = option.required_field(options[key]) if option.is_choice else None
        keyed = [option.required_field(choice) for choice, _label in option.choices]
        if needed and needed not in chosen and any(f in chosen for f in keyed if f):
            # A file with no key column at all only adds records; one with another key column
            # most likely meant to match by it.
            label = next((f.label for f in kind.fields if f.key == needed), needed)
            errors.append(
                _("For “%(option)s: %(choice)s”, choose the column that holds %(field)s.")
                % {"option": option.label, "choice": option.display(options[key]), "field": label}
            )
    return options, errors


def proposed_mapping(kind: ImportKind, headers: list[str]) -> tuple[dict[str, str], str]:
    """A saved template that fits the headers (the newest), else the automatic mapping; and
    the template's name ("" for automatic)."""
    fields = list(kind.fields)
    for template in MappingTemplate.objects.filter(kind=kind.key).order_by("-created_at", "-id"):
        if mapping_fits(template.mapping, headers, fields):
            return dict(template.mapping), template.name
    return propose_mapping(fields, headers), ""


# --- upload and configuration -----------------------------------------------------------------


@writes
def import_start(*, actor: User | None, kind: str, upload: IO[bytes], filename: str) -> ImportJob:
    """Keep the uploaded file, read its headers and propose a mapping. ValidationError (and no
    job, no file left) when the file cannot be read."""
    import_kind_ = _kind(kind)
    path = reading.save_upload(upload, filename, import_dir())
    try:
        info = reading.inspect_table(path, filename)
        if any(len(h) > 200 for h in info.headers):
            raise ValidationError(
                _("A column header is longer than 200 characters; shorten it and upload again."),
                code="header_too_long",
            )
        mapping, template = proposed_mapping(import_kind_, info.headers)
        with transaction.atomic():
            job = ImportJob.objects.create(
                kind=kind,
                original_name=Path(filename).name[:255] or "import",
                file_path=tenant_file_relative(path),
                size_bytes=path.stat().st_size,
                file_format=info.file_format,
                encoding=info.encoding,
                delimiter=info.delimiter,
                headers=info.headers,
                mapping=mapping,
                options=_default_options(import_kind_, mapping),
                rows_total=info.rows_estimate,
                created_by=actor if getattr(actor, "pk", None) else None,
                # No user (the command line's label, code passing None): the operator.
                by_operator=getattr(actor, "pk", None) is None,
            )
            audit_record(
                action="import upload",
                actor=actor,
                table_name="transfer_importjob",
                record_id=job.pk,
                detail={
                    "kind": kind,
                    "file": job.original_name,
                    "bytes": job.size_bytes,
                    "rows_estimate": info.rows_estimate,
                    "mapping_template": template,
                },
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job


def _locked(job: ImportJob) -> ImportJob:
    return ImportJob.objects.select_for_update().get(pk=job.pk)


@writes
def import_configure(
    *,
    actor: User | None,
    job: ImportJob,
    mapping: dict[str, str],
    valid_only: bool = False,
    template_name: str = "",
    **options: Any,
) -> ImportJob:
    """Set the mapping, "valid rows only" and the kind's options (checked against the kind's
    declaration: ``match_by="phone"``; an option not given keeps its value or default); the job
    goes back to "uploaded" until checked. With a template name the mapping is saved (or
    replaced) under that name."""
    with transaction.atomic():
        job = _locked(job)
        if job.status not in (Status.UPLOADED, Status.CHECKED, Status.FAILED):
            raise ValidationError(_("This import can no longer be changed."))
        kind = _kind(job.kind)
        fields = {f.key: f for f in kind.fields}
        clean: dict[str, str] = {}
        chosen: dict[str, str] = {}
        errors: list[str] = []
        for header in job.headers:
            key = (mapping.get(header) or "").strip()
            if key and key not in fields:
                errors.append(_("“%(field)s” is not something this import knows.") % {"field": key})
                key = ""
            if key and key in chosen:
                errors.append(
                    _("“%(field)s” is chosen for several columns (%(columns)s): keep only one.")
                    % {"field": fields[key].label, "columns": f"{chosen[key]}, {header}"}
                )
            if key:
                chosen[key] = header
            clean[header] = key
        for f in fields.values():
            if f.required and f.key not in chosen:
                errors.append(
                    _("“%(field)s” is required: choose the column that holds it.")
                    % {"field": f.label}
                )
        clean_options, option_errors = _options_clean(kind, job, options, chosen)
        errors.extend(option_errors)
        name = template_name.strip()[:100]
        if errors:
            raise ValidationError(errors)
        job.mapping = clean
        job.options = clean_options
        job.valid_only = valid_only
        job.status = Status.UPLOADED
        job.created_count = job.updated_count = job.unchanged_count = job.rejected_count = 0
        job.rows_done = 0
        job.checked_at = None
        job.message = ""
        job.save()
        if name:
            MappingTemplate.objects.update_or_create(
                kind=job.kind,
                name=name,
                defaults={
                    "mapping": clean,
                    "created_by": actor if getattr(actor, "pk", None) else None,
                    "created_at": timezone.now(),
                },
            )
    return job


# --- running over the file --------------------------------------------------------------------


class _Progress:
    """rows_done written through a connection of its own: a commit's transaction keeps its
    writes invisible until it ends, and the page polls the job row meanwhile."""

    def __init__(self, job: ImportJob) -> None:
        self.job_id = job.pk
        self.schema = current_schema()
        self.conn: Any = None

    def __call__(self, done: int) -> None:
        try:
            if self.conn is None:
                self.conn = connections.create_connection("default")
                self.conn.set_schema(self.schema)
            with self.conn.cursor() as cursor:
                cursor.execute(
                    "UPDATE transfer_importjob SET rows_done = %s WHERE id = %s",
                    [done, self.job_id],
                )
        except Exception:  # progress is a nicety: never fail the import for it
            log.exception("import progress update failed")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@dataclass
class RunResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_rows: int = 0
    first_rejections: list[dict[str, Any]] = field(default_factory=list)


class _Stop(Exception):
    """An all-or-nothing commit met a rejected row: roll everything back."""


class _Report:
    """The rejected rows: a CSV of the original rows plus an error column (UTF-8 with BOM so
    Excel opens it, formula-safe), and the first ones as JSON for the job page."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.csv_path, self.json_path = rejected_paths(job)
        self.tmp = self.csv_path.with_suffix(".csv.part")
        self.out: Any = None
        self.writer: Any = None
        self.shown: list[dict[str, Any]] = []
        self.rows = 0
        inverse = {key: header for header, key in job.mapping.items() if key}
        try:
            labels = {f.key: str(f.label) for f in _kind(job.kind).fields}
        except ValidationError:
            labels = {}
        self.column = lambda key: inverse.get(key) or labels.get(key, key)

    def add(self, rejections: list[Rejection], cells: dict[int, list[str]]) -> None:
        by_row: dict[int, list[Rejection]] = {}
        for rejection in rejections:
            by_row.setdefault(rejection.row, []).append(rejection)
        if not by_row:
            return
        if self.out is None:
            import_dir()
            self.out = private_open(self.tmp, "w", encoding="utf-8-sig", newline="")
            self.writer = csv.writer(self.out)
            self.writer.writerow([safe_cell(h) for h in [*self.job.headers, ERROR_HEADER]])
        for number in sorted(by_row):
            found = by_row[number]
            row_cells = cells.get(number, [])
            reasons = "; ".join(
                f"{self.column(r.field)}: {r.reason}" if r.field else r.reason for r in found
            )
            self.writer.writerow([safe_cell(c) for c in [*row_cells, reasons]])
            self.rows += 1
            if len(self.shown) >= REJECTED_SHOWN:
                continue
            values, cut = rejected_shown_cells(row_cells, len(self.job.headers))
            for r in found:
                if len(self.shown) < REJECTED_SHOWN:
                    self.shown.append(
                        {
                            "row": number,
                            "column": self.column(r.field) if r.field else "",
                            "reason": str(r.reason)[:REJECTED_REASON_CHARS],
                            "values": values,
                            "cells_cut": cut,
                        }
                    )

    def finish(self) -> str:
        """Put the files in place (or remove old ones); the CSV's path relative to the root."""
        if self.out is not None:
            self.out.close()
            self.tmp.replace(self.csv_path)
            with private_open(self.json_path, "w", encoding="utf-8") as shown:
                shown.write(json.dumps(self.shown, ensure_ascii=False))
            return tenant_file_relative(self.csv_path)
        # No rejected rows this time: an earlier run's report no longer applies.
        self.csv_path.unlink(missing_ok=True)
        self.json_path.unlink(missing_ok=True)
        return ""

    def discard(self) -> None:
        """A run that failed: its partial report goes, an earlier run's report stays."""
        if self.out is not None:
            self.out.close()
            self.tmp.unlink(missing_ok=True)
            self.out = None


def _source_rows(job: ImportJob) -> Iterator[tuple[SourceRow | None, int, list[str]]]:
    """(row or None when the row has cells beyond the headers, its number, its cells)."""
    headers = list(job.headers)
    width = len(headers)
    mapped = [(i, job.mapping.get(h, "")) for i, h in enumerate(headers)]
    mapped = [(i, key) for i, key in mapped if key]
    for number, cells in reading.iter_rows(job_path(job), _table_info(job)):
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            yield None, number, cells
            continue
        cells = cells[:width]
        yield SourceRow(number, {key: cells[i] for i, key in mapped}, cells), number, cells


def _run(
    job: ImportJob, *, write: bool, report: _Report, progress: _Progress | None = None
) -> RunResult:
    kind = _kind(job.kind)
    run = kind.start(job, write=write)
    result = RunResult()
    stop = write and not job.valid_only
    batch: list[SourceRow] = []
    cells: dict[int, list[str]] = {}
    early: list[Rejection] = []

    def flush() -> None:
        outcome = run.batch(batch) if batch else None
        rejections = list(early)
        if outcome is not None:
            result.created += outcome.created
            result.updated += outcome.updated
            result.unchanged += outcome.unchanged
            rejections.extend(outcome.rejected)
        rows = {r.row for r in rejections}
        result.rejected += len(rows)
        report.add(rejections, cells)
        batch.clear()
        cells.clear()
        early.clear()
        if progress is not None:
            progress(result.rows)
        if stop and rows:
            raise _Stop

    try:
        _read(job, result, batch, cells, early, flush)
        run.finish()
    finally:
        # A run may write in the background: its last writes end (or fail) here.
        run.close()
    result.first_rejections = report.shown
    return result


def _read(
    job: ImportJob,
    result: RunResult,
    batch: list[SourceRow],
    cells: dict[int, list[str]],
    early: list[Rejection],
    flush: Any,
) -> None:
    held = 0
    for row, number, row_cells in _source_rows(job):
        result.rows += 1
        cells[number] = row_cells
        held += len(row_cells)
        if row is None:
            early.append(
                Rejection(
                    number,
                    "",
                    _(
                        "This row has more cells than the file has column headers; "
                        "check for a stray separator."
                    ),
                )
            )
        else:
            batch.append(row)
        if len(batch) + len(early) >= BATCH_ROWS or held >= BATCH_CELLS:
            flush()
            held = 0
    flush()


def _inline(rows: int | None) -> bool:
    return rows is not None and rows <= settings.CRM_TRANSFER_INLINE_ROWS


def _inline_file(job: ImportJob) -> bool:
    """Whether checking or importing the job's file may run inside the request: only a small
    file (CRM_TRANSFER_INLINE_BYTES) whose rows, counted, are few. The estimate from its first
    64 KB or its sheet's <dimension> decides nothing: one long first line, or a false
    dimension, would run a large file inside the request."""
    rows = reading.rows_at_most(job_path(job), job.file_format, settings.CRM_TRANSFER_INLINE_BYTES)
    return rows is not None and _inline(rows - 1)


def _fail(job_id: int, message: str, **fields: Any) -> ImportJob:
    ImportJob.objects.filter(pk=job_id).update(
        status=Status.FAILED, message=message[:2000], finished_at=timezone.now(), **fields
    )
    return ImportJob.objects.get(pk=job_id)


# --- dry run ----------------------------------------------------------------------------------


@writes
def import_check_request(
    *, actor: User | None, job: ImportJob, inline: bool | None = None
) -> ImportJob:
    """Dry run: inline for a small file (the job comes back CHECKED), else in the worker (the
    job comes back CHECKING)."""
    with ExitStack() as stack:
        with transaction.atomic():
            job = _locked(job)
            if job.status not in (Status.UPLOADED, Status.CHECKED, Status.FAILED):
                raise ValidationError(_("This import can no longer be checked."))
            _kind(job.kind)
            here = _inline_file(job) if inline is None else inline
            hold = stack.enter_context(_runner_hold(job.pk)) if here else None
            job.status = Status.CHECKING
            job.rows_done = 0
            job.message = ""
            _hand_over(job, taken=here)
            job.save(update_fields=["status", "rows_done", "message", "queued_at", "taken_at"])
            if hold is None:
                from crm.transfer.tasks_imports import import_check_task

                job_id = job.pk
                transaction.on_commit(lambda: import_check_task.delay(job_id))
                return job
        return import_check_run(job.pk, background=False, hold=hold)


def import_check_run(
    job_id: int, *, background: bool = True, hold: liveness.RunnerHold | None = None
) -> ImportJob:
    """The dry run itself (inline or in the task). Idempotent: only a CHECKING job runs, and
    only once (see _as_runner)."""
    return _as_runner(job_id, Status.CHECKING, hold, lambda _held: _check(job_id, background))


def _check(job_id: int, background: bool) -> ImportJob:
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.status != Status.CHECKING:
        return job  # type: ignore[return-value]
    report = _Report(job)
    progress = _Progress(job) if background else None
    try:
        result = _run(job, write=False, report=report, progress=progress)
    except ValidationError as exc:
        report.discard()
        return _fail(job_id, " ".join(exc.messages), rejected_path="")
    except Exception:
        log.exception("import check %s failed", job_id)
        report.discard()
        return _fail(job_id, _("The check stopped because of an error on our side."))
    finally:
        if progress is not None:
            progress.close()
    rejected_path = report.finish()
    ImportJob.objects.filter(pk=job_id, status=Status.CHECKING).update(
        status=Status.CHECKED,
        rows_total=result.rows,
        rows_done=result.rows,
        created_count=result.created,
        updated_count=result.updated,
        unchanged_count=result.unchanged,
        rejected_count=result.rejected,
        rejected_path=rejected_path,
        checked_at=timezone.now(),
        message="",
    )
    return ImportJob.objects.get(pk=job_id)


# --- commit -----------------------------------------------------------------------------------


def _scope(job: ImportJob) -> set[str]:
    """The kinds whose records the job writes: its own, and those its options touch."""
    scope = {job.kind}
    try:
        kind = import_kind(job.kind)
    except KeyError:
        return scope
    for option in kind.options:
        if job.option(option.key):
            scope.update(option.touches)
    return scope


# --- liveness: a job whose runner died no longer blocks anything (crm.lib.liveness) -----------
#
# Every runner (the worker's task, or the request or command that runs a small job inline)
# holds the job's advisory lock on a connection of its own while it works, from before the
# job is marked taken until after its final status is committed, so the lock dies with the
# process. Inline runs take the lock before their claim commits and the claim marks the job
# taken, so there is no moment when a committed claim has neither a runner nor a queue wait.
# A queued job (handed to the worker, not yet taken) is alive for liveness.START_WITHIN.


def _runner_hold(job_id: int) -> liveness.RunnerHold:
    """The runner's lock for `job_id`, taken now; refused if another runner holds it."""
    hold = liveness.RunnerHold(JOB_TABLE, job_id)
    if not hold.acquire():
        raise ValidationError(_("This import is already being worked on; wait for it to finish."))
    return hold


def _hand_over(job: ImportJob, *, taken: bool) -> None:
    """Mark `job` handed to a runner: taken by this process now (inline, holding the lock) or
    queued for the worker. The caller saves queued_at and taken_at."""
    now = timezone.now()
    job.queued_at = now
    job.taken_at = now if taken else None


def _settled_fields(status: str) -> dict[str, Any]:
    """What a job whose runner died becomes: a commit failed (its transaction rolled back), an
    undo back to imported (likewise), a check back to be checked again."""
    if status == Status.RUNNING:
        return {
            "status": Status.FAILED,
            "finished_at": timezone.now(),
            "message": _(
                "The import stopped without finishing (its process ended); nothing was imported."
            ),
        }
    if status == Status.UNDOING:
        return {
            "status": Status.DONE,
            "message": _(
                "The undo stopped without finishing (its process ended); nothing was changed."
            ),
        }
    return {
        "status": Status.UPLOADED,
        "rows_done": 0,
        "created_count": 0,
        "updated_count": 0,
        "unchanged_count": 0,
        "rejected_count": 0,
        "rejected_path": "",
        "checked_at": None,
        "message": _("The check stopped without finishing (its process ended); check it again."),
    }


def _settle(job: ImportJob, *, dead: bool = False) -> bool:
    """Settle `job`, as it was read, if its runner died (or `dead`: the caller holds its lock
    and knows). The UPDATE matches only the row as read, so a runner that just finished or a
    new runner that took the job meanwhile is left alone. Whether it was settled."""
    if job.status not in LIVE:
        return False
    if not dead and not liveness.job_is_dead(
        table=JOB_TABLE, pk=job.pk, taken_at=job.taken_at, queued_at=job.queued_at
    ):
        return False
    fields = _settled_fields(job.status)
    if job.status == Status.CHECKING and job.rejected_path:
        # The dead check's report is gone with it; an earlier one no longer applies.
        for path in rejected_paths(job):
            path.unlink(missing_ok=True)
    # A dead run's half-written report of rejected rows.
    rejected_paths(job)[0].with_suffix(".csv.part").unlink(missing_ok=True)
    return bool(
        ImportJob.objects.filter(pk=job.pk, status=job.status, taken_at=job.taken_at).update(
            **fields
        )
    )


def imports_settle() -> int:
    """Settle every import, check and undo of the tenant whose runner died (called wherever
    imports are shown or claimed, and by the daily expiry). How many were settled."""
    fields = ("id", "status", "taken_at", "queued_at", "rejected_path", "file_path")
    return sum(_settle(job) for job in ImportJob.objects.filter(status__in=LIVE).only(*fields))


def _as_runner(
    job_id: int,
    status: str,
    hold: liveness.RunnerHold | None,
    run: Callable[[liveness.RunnerHold], ImportJob],
) -> ImportJob:
    """Run `run` as the job's runner. With `hold` the caller already holds the lock and its
    claim marked the job taken (an inline run). Otherwise (the worker's task) take the lock,
    or leave if another runner has it (a duplicated task), and take the job once: a job
    already taken by a runner that is gone (its lock was free) is settled instead of run
    again, so a redelivered task never repeats a run that killed its worker."""
    if hold is not None:
        return run(hold)
    with liveness.RunnerHold(JOB_TABLE, job_id) as own:
        if own.acquired:
            if ImportJob.objects.filter(pk=job_id, status=status, taken_at=None).update(
                taken_at=timezone.now()
            ):
                return run(own)
            left = ImportJob.objects.filter(pk=job_id, status=status).first()
            if left is not None:
                _settle(left, dead=True)
    return ImportJob.objects.filter(pk=job_id).first()  # type: ignore[return-value]


def _claim(job: ImportJob, status: str, *, taken: bool) -> None:
    """Refuse while another import or undo runs on the same records; else mark `job` busy
    (taken by this process, or queued for the worker). An advisory lock per tenant serialises
    the claims, so two requests cannot both pass. A job whose runner died blocks nothing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{current_schema()}:import"])
    scope = _scope(job)
    for other in ImportJob.objects.filter(status__in=BUSY).exclude(pk=job.pk):
        if _settle(other):
            continue
        if _scope(other) & scope:
            raise ValidationError(
                _(
                    "Another import (“%(name)s”) is running on the same records; try again "
                    "when it has finished."
                )
                % {"name": other.original_name}
            )
    job.status = status
    job.started_at = timezone.now()
    job.rows_done = 0
    job.message = ""
    _hand_over(job, taken=taken)
    job.save(
        update_fields=["status", "started_at", "rows_done", "message", "queued_at", "taken_at"]
    )


@writes
def import_commit_request(
    *, actor: User | None, job: ImportJob, inline: bool | None = None
) -> ImportJob:
    """Write a checked import: all or nothing, or its valid rows only when the job says so.
    Inline for a small file, else in the worker (the job comes back RUNNING)."""
    with ExitStack() as stack:
        with transaction.atomic():
            job = _locked(job)
            if job.status != Status.CHECKED:
                raise ValidationError(_("Check the file before importing it."))
            if job.rejected_count and not job.valid_only:
                raise ValidationError(
                    _(
                        "%(n)d rows were rejected. Fix them and check again, or choose 'import "
                        "valid rows only': nothing is imported while any row is rejected."
                    )
                    % {"n": job.rejected_count}
                )
            here = _inline_file(job) if inline is None else inline
            hold = stack.enter_context(_runner_hold(job.pk)) if here else None
            _claim(job, Status.RUNNING, taken=here)
            actor_id = getattr(actor, "pk", None)
            if hold is None:
                from crm.transfer.tasks_imports import import_commit_task

                job_id = job.pk
                transaction.on_commit(lambda: import_commit_task.delay(job_id, actor_id))
                return job
        return import_commit_run(job.pk, actor, background=False, hold=hold)


def _actor(actor: Any) -> Any:
    if actor is None or isinstance(actor, str) or hasattr(actor, "pk"):
        return actor  # a user, or a label such as "command line"
    from crm.accounts.models import User

    return User.objects.filter(pk=actor).first()


def import_commit_run(
    job_id: int,
    actor: Any,
    *,
    background: bool = True,
    hold: liveness.RunnerHold | None = None,
) -> ImportJob:
    """The commit itself, in one transaction. Idempotent: only a RUNNING job runs, only once
    (see _as_runner), and a crash rolls everything back and leaves the job FAILED (settled by
    whoever looks next when the process itself died)."""
    return _as_runner(
        job_id, Status.RUNNING, hold, lambda held: _commit(job_id, actor, background, held)
    )


def _commit(job_id: int, actor: Any, background: bool, hold: liveness.RunnerHold) -> ImportJob:
    actor = _actor(actor)
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.status != Status.RUNNING:
        return job  # type: ignore[return-value]
    report = _Report(job)
    progress = _Progress(job) if background else None
    try:
        with audit_actor(actor), transaction.atomic():
            # Not a row lock on the job: the progress connection updates that row meanwhile.
            job = ImportJob.objects.get(pk=job.pk)
            if job.status != Status.RUNNING:
                return job
            bulk.audit_quiet()
            result = _run(job, write=True, report=report, progress=progress)
            bulk.audit_quiet(False)
            if not hold.still_held():
                # The server cut the lock's connection: others may have settled the job as
                # dead, so this run must not write anything after all.
                raise RuntimeError("import runner lost its liveness lock")
            job.status = Status.DONE
            job.rows_total = job.rows_done = result.rows
            job.created_count = result.created
            job.updated_count = result.updated
            job.unchanged_count = result.unchanged
            job.rejected_count = result.rejected
            job.finished_at = timezone.now()
            job.message = ""
            job.save()
            audit_record(
                action="import",
                actor=actor,
                table_name="transfer_importjob",
                record_id=job.pk,
                detail={
                    "kind": job.kind,
                    "file": job.original_name,
                    "rows": result.rows,
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "rejected": result.rejected,
                    "options": job.options,
                    "valid_only": job.valid_only,
                },
            )
    except _Stop:
        first = report.shown[0] if report.shown else None
        rejected_rows = report.rows
        # The rows rejected so far (the commit stopped at the first batch that had any).
        rejected_path = report.finish()
        reason = (
            _("Row %(row)s: %(reason)s") % {"row": first["row"], "reason": first["reason"]}
            if first
            else ""
        )
        return _fail(
            job_id,
            _(
                "Nothing was imported: a row is rejected now that was not at the check (the "
                "records changed since). %(reason)s Check the file again."
            )
            % {"reason": reason},
            rejected_count=rejected_rows,
            rejected_path=rejected_path,
        )
    except ValidationError as exc:
        report.discard()
        return _fail(job_id, _("Nothing was imported: %(why)s") % {"why": " ".join(exc.messages)})
    except Exception:
        log.exception("import commit %s failed", job_id)
        report.discard()
        return _fail(
            job_id, _("The import stopped because of an error on our side; nothing was imported.")
        )
    finally:
        if progress is not None:
            progress.close()
    rejected_path = report.finish()
    ImportJob.objects.filter(pk=job_id).update(rejected_path=rejected_path)
    job.rejected_path = rejected_path
    return job


@writes
def import_commit_direct(*, actor: User | None, job: ImportJob) -> ImportJob:
    """The command line's single pass: commit a configured job without a separate dry run
    (the commit checks every row anyway). When a row is rejected and the job is all or
    nothing, nothing is written and a dry run then lists every rejected row: the job ends
    CHECKED with the counts and the rejected-rows CSV, as if it had been checked first."""
    with ExitStack() as stack:
        with transaction.atomic():
            job = _locked(job)
            if job.status not in (Status.UPLOADED, Status.CHECKED):
                raise ValidationError(_("This import can no longer be changed."))
            # The lock before the claim commits: a process killed at any point leaves a job
            # that is either not claimed or visibly dead.
            hold = stack.enter_context(_runner_hold(job.pk))
            _claim(job, Status.RUNNING, taken=True)
        job = import_commit_run(job.pk, actor, background=False, hold=hold)
        if job.status == Status.FAILED and job.rejected_count and not job.valid_only:
            now = timezone.now()
            ImportJob.objects.filter(pk=job.pk).update(
                status=Status.CHECKING, message="", queued_at=now, taken_at=now
            )
            job = import_check_run(job.pk, background=False, hold=hold)
    return job


# --- undo -------------------------------------------------------------------------------------


@writes
def import_undo_request(
    *, actor: User | None, job: ImportJob, inline: bool | None = None
) -> ImportJob:
    """Undo a finished import (refused with the reason when it may not be undone). Inline for a
    small one, else in the worker (the job comes back UNDOING)."""
    from crm.transfer.selectors import import_undo_blocker

    with ExitStack() as stack:
        with transaction.atomic():
            job = _locked(job)
            blocker = import_undo_blocker(job)
            if blocker:
                raise ValidationError(blocker)
            small = _inline(job.created_count + job.updated_count)
            here = small if inline is None else inline
            hold = stack.enter_context(_runner_hold(job.pk)) if here else None
            _claim(job, Status.UNDOING, taken=here)
            actor_id = getattr(actor, "pk", None)
            if hold is None:
                from crm.transfer.tasks_imports import import_undo_task

                job_id = job.pk
                transaction.on_commit(lambda: import_undo_task.delay(job_id, actor_id))
                return job
        return import_undo_run(job.pk, actor, hold=hold)


def import_undo_run(
    job_id: int, actor: Any, *, hold: liveness.RunnerHold | None = None
) -> ImportJob:
    """Undo itself, in one transaction; on a refusal or an error the job stays imported (DONE)
    with the reason in its message. Runs once (see _as_runner)."""
    return _as_runner(job_id, Status.UNDOING, hold, lambda _held: _undo(job_id, actor))


def _undo(job_id: int, actor: Any) -> ImportJob:
    from crm.transfer.selectors import import_undo_blocker

    actor = _actor(actor)
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.status != Status.UNDOING:
        return job  # type: ignore[return-value]
    try:
        with audit_actor(actor), transaction.atomic():
            job = _locked(job)
            if job.status != Status.UNDOING:
                return job
            kind = _kind(job.kind)
            kind.undo_lock(job)
            blocker = import_undo_blocker(job, busy_ok=True)
            if blocker:
                raise ValidationError(blocker)
            bulk.audit_quiet()
            kind.undo(job)
            bulk.audit_quiet(False)
            job.status = Status.UNDONE
            job.undone_at = timezone.now()
            job.undone_by = actor if getattr(actor, "pk", None) else None
            job.message = ""
            job.save(update_fields=["status", "undone_at", "undone_by", "message"])
            audit_record(
                action="import undo",
                actor=actor,
                table_name="transfer_importjob",
                record_id=job.pk,
                detail={
                    "kind": job.kind,
                    "file": job.original_name,
                    "removed": job.created_count,
                    "restored": job.updated_count,
                },
            )
    except ValidationError as exc:
        ImportJob.objects.filter(pk=job_id).update(
            status=Status.DONE, message=_("Not undone: %(why)s") % {"why": " ".join(exc.messages)}
        )
        return ImportJob.objects.get(pk=job_id)
    except Exception:
        log.exception("import undo %s failed", job_id)
        ImportJob.objects.filter(pk=job_id).update(
            status=Status.DONE,
            message=_("Undo stopped because of an error on our side; nothing was changed."),
        )
        return ImportJob.objects.get(pk=job_id)
    return job


# --- expiry -----------------------------------------------------------------------------------


def imports_expire(*, now: datetime.datetime | None = None) -> int:
    """Once the undo period is over, an import's personal data goes: the uploaded file, the
    rejected rows and the before-images (undo is no longer possible anyway). The job row stays
    as the record of who imported what, when, with which counts. Jobs whose runner died are
    settled first, so only a job being worked on right now waits for the next day. How many
    jobs were cleared."""
    from crm.transfer.models import ImportChange

    imports_settle()
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.CRM_IMPORT_UNDO_DAYS)
    old = ImportJob.objects.filter(created_at__lt=cutoff).exclude(status__in=LIVE)
    cleared = 0
    for job in old.exclude(file_path="").iterator():
        _files_remove(job)
        with transaction.atomic():
            ImportChange.objects.filter(job=job).delete()
            ImportJob.objects.filter(pk=job.pk).update(file_path="", rejected_path="")
        cleared += 1
    return cleared
