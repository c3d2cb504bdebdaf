"""The files of imports and exports, as a holder of personal data (crm.lib.erasure).

A file cannot be searched for one person cheaply or surely (a phone written any way, a name in
a cell of a spreadsheet), so the rule is wholesale: erasing any customer removes every import
upload, every rejected-rows report and every export file of the tenant written before the
erasure. The job rows stay with their counts and a message saying why the file is gone; an
import not yet committed fails (upload the file again), an export queued or running fails and
its worker throws away what it wrote. Erasures are rare and these files are copies (the
records are in the database, exports can be run again), so losing them costs little; keeping
one that names the person would undo the erasure.

The files are removed inside the erasure's transaction, after every database holder (order
80), so a committed erasure never leaves one behind. While an import is being checked,
imported or undone the erasure is refused: that run writes before-images and reports the
erasure could not reach."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from crm.lib.erasure import Erasure, ErasureHolder, erasure_holder_register
from crm.transfer.exporting import export_path
from crm.transfer.models import ExportJob, ImportJob

Status = ImportJob.Status
_BUSY = (Status.CHECKING, Status.RUNNING, Status.UNDOING)
_PENDING = (Status.UPLOADED, Status.CHECKED, Status.FAILED)


def _removed_message() -> str:
    return _("The file was removed because a customer was erased.")


def _erase_import_files(erasure: Erasure) -> None:
    from crm.transfer.services import imports_settle, job_path, rejected_paths

    # A run whose process died (crm.lib.liveness) no longer blocks: it is settled first.
    imports_settle()
    if ImportJob.objects.filter(status__in=_BUSY).exists():
        raise ValidationError(
            _("An import is running; erase the customer once it has finished (a few minutes).")
        )
    jobs = list(
        ImportJob.objects.select_for_update()
        .filter(created_at__lte=erasure.at)
        .exclude(file_path="", rejected_path="")
    )
    for job in jobs:
        paths = [*rejected_paths(job)] if job.file_path else []
        if job.file_path:
            paths.insert(0, job_path(job))
        for path in paths:
            path.unlink(missing_ok=True)
        if job.status in _PENDING:
            # Never committed: nothing to undo, so its path can go with its file.
            ImportJob.objects.filter(pk=job.pk).update(
                status=Status.FAILED, file_path="", rejected_path="", message=_removed_message()
            )
        else:
            # Imported or undone: the path stays so expiry still clears the before-images.
            ImportJob.objects.filter(pk=job.pk).update(rejected_path="", message=_removed_message())


def _erase_export_files(erasure: Erasure) -> None:
    jobs = list(ExportJob.objects.select_for_update().filter(created_at__lte=erasure.at))
    for job in jobs:
        path = export_path(job)
        if path is not None:
            path.unlink(missing_ok=True)
    # The filter goes too: it may be the person's name typed into the search box.
    ExportJob.objects.filter(pk__in=[j.pk for j in jobs]).update(
        status=ExportJob.Status.FAILED, file_path="", query="", message=_removed_message()
    )


def _erase_export_filters(erasure: Erasure) -> None:
    """Audit entries of exports keep the filter they were asked with; a search for the
    person's name, email or phone is dropped from it (the rest stays: what kind of list it
    was, how many rows)."""
    from crm.accounts.audit import audit_redact_export_filters

    audit_redact_export_filters(erasure.scrubbed_query)


def register() -> None:
    erasure_holder_register(
        ErasureHolder(
            "transfer.import_files",
            _erase_import_files,
            "every import upload and rejected-rows report written before the erasure",
            order=80,
        )
    )
    erasure_holder_register(
        ErasureHolder(
            "transfer.export_files",
            _erase_export_files,
            "every export file written before the erasure",
            order=80,
        )
    )
    erasure_holder_register(
        ErasureHolder(
            "transfer.export_filters",
            _erase_export_filters,
            "searches for the person in the filters export audit entries recorded",
            order=85,
        )
    )
