"""The import wizard: upload, map the columns, dry run, commit, and undo; and the list of imports.

The engine (crm.transfer.services / selectors / registry) does the work; these views only check
permissions, show its results and turn its refusals into messages."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, can_view_personal_data, capability_required
from crm.transfer import reading, registry, selectors, services
from crm.transfer.forms import ImportMappingForm, ImportUploadForm
from crm.transfer.models import ImportJob
from crm.transfer.rejected_masking import rejected_rows_masked
from crm.transfer.uploads import UploadLimit, upload_limit_install

PAGE_SIZE = 50
BUSY = (ImportJob.Status.CHECKING, ImportJob.Status.RUNNING, ImportJob.Status.UNDOING)


def _job_or_404(request: HttpRequest, pk: int) -> ImportJob:
    """The job when it is the user's (or the user administers): another's is a 404."""
    try:
        return selectors.import_jobs(request.user).get(pk=pk)
    except ImportJob.DoesNotExist:
        raise Http404 from None


def _kind_or_none(key: str) -> Any:
    try:
        return registry.import_kind(key)
    except KeyError:
        return None


def _messages_of(exc: ValidationError) -> list[str]:
    return [str(message) for message in exc.messages]


def _refused(request: HttpRequest, exc: ValidationError) -> None:
    for message in _messages_of(exc):
        messages.error(request, message)


@capability_required(cap.IMPORT)
def import_list(request: HttpRequest) -> HttpResponse:
    services.imports_settle()  # a job whose process died shows as such, not as running
    page = Paginator(
        selectors.import_jobs(request.user).select_related("created_by"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    kinds = {kind.key: kind.label for kind in registry.import_kinds()}
    rows = []
    for job in page.object_list:
        blocker = (
            selectors.import_undo_blocker(job, thorough=False)
            if job.status == ImportJob.Status.DONE
            else None
        )
        rows.append({"job": job, "kind": kinds.get(job.kind, job.kind), "undo_blocker": blocker})
    return render(request, "transfer/import_list.html", {"page": page, "rows": rows})


@csrf_exempt  # the upload handlers must change before the CSRF check reads the body ...
@capability_required(cap.IMPORT)
def import_new(request: HttpRequest) -> HttpResponse:
    limit = upload_limit_install(request, settings.CRM_IMPORT_MAX_BYTES)
    return _import_new(request, limit)


@csrf_protect  # ... and the check runs here, as the body is read
def _import_new(request: HttpRequest, limit: UploadLimit) -> HttpResponse:
    kinds = registry.import_kinds()
    form = ImportUploadForm(
        request.POST or None,
        request.FILES or None,
        kinds=kinds,
        initial={"kind": request.GET.get("kind", "")},
    )
    if request.method == "POST" and limit.refused:
        form.is_valid()
        form.errors["file"] = form.error_class(_messages_of(reading.upload_too_large()))
    elif request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_start(
                actor=acting_user(request),
                kind=form.cleaned_data["kind"],
                upload=upload,
                filename=upload.name,
            )
        except ValidationError as exc:
            for message in _messages_of(exc):
                form.add_error("file", message)
        else:
            messages.success(
                request,
                _("“%(name)s” is uploaded: check how its columns map, then run the check.")
                % {"name": job.original_name},
            )
            return redirect("transfer:import_map", pk=job.pk)
    return render(request, "transfer/import_new.html", {"form": form})


@capability_required(cap.IMPORT)
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(request, pk)
    kind = _kind_or_none(job.kind)
    if kind is None:
        raise Http404
    if job.status not in (
        ImportJob.Status.UPLOADED,
        ImportJob.Status.CHECKED,
        ImportJob.Status.FAILED,
    ):
        messages.warning(request, _("This import can no longer be changed."))
        return redirect("transfer:import_detail", pk=job.pk)
    form = ImportMappingForm(request.POST or None, job=job, kind=kind)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actor = acting_user(request)
        try:
            job = services.import_configure(
                actor=actor,
                job=job,
                mapping=form.mapping(),
                valid_only=data["valid_only"],
                template_name=data["save_as"].strip(),
                **form.options(),
            )
            job = services.import_check_request(actor=actor, job=job)
        except ValidationError as exc:
            for message in _messages_of(exc):
                form.add_error(None, message)
        else:
            if job.status == ImportJob.Status.CHECKING:
                messages.info(
                    request,
                    _("The check runs in the background; you may leave this page and come back."),
                )
            return redirect("transfer:import_detail", pk=job.pk)
    samples = selectors.import_sample_rows(job, 3)
    columns = [
        {
            "header": header,
            "field": bound,
            "samples": [row[index] if index < len(row) else "" for row in samples],
        }
        for index, header, bound in form.column_fields()
    ]
    return render(
        request,
        "transfer/import_map.html",
        {
            "job": job,
            "kind": kind,
            "form": form,
            "columns": columns,
            "required_fields": [field for field in kind.fields if field.required],
            # Fields with a note on how they are used (an app's column: new records only ...).
            "noted_fields": [field for field in kind.fields if field.help],
            "show_values": can_view_personal_data(request.user),
            "template_name": selectors.import_mapping_template_name(job),
        },
    )


def _state_context(request: HttpRequest, job: ImportJob) -> dict[str, Any]:
    kind = _kind_or_none(job.kind)
    context: dict[str, Any] = {
        "job": job,
        "kind_label": kind.label if kind else job.kind,
        "options": selectors.import_options_shown(job),
        "busy": job.status in BUSY,
        "progress": selectors.import_progress(job) if job.status in BUSY else None,
        "show_values": can_view_personal_data(request.user),
    }
    if job.status in (ImportJob.Status.CHECKED, ImportJob.Status.DONE, ImportJob.Status.FAILED):
        context["rejected"] = selectors.import_rejected_rows(job, 100) if job.rejected_count else []
        if not context["show_values"]:
            fields = kind.fields if kind else None
            context["rejected"] = rejected_rows_masked(job, fields, context["rejected"])
        context["has_rejected_csv"] = bool(job.rejected_count) and (
            selectors.import_rejected_csv_path(job) is not None
        )
    if job.status == ImportJob.Status.CHECKED:
        context["commit_blocked"] = bool(job.rejected_count) and not job.valid_only
    if job.status == ImportJob.Status.DONE:
        context["undo_blocker"] = selectors.import_undo_blocker(job)
    return context


@capability_required(cap.IMPORT)
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    services.imports_settle()
    job = _job_or_404(request, pk)
    return render(request, "transfer/import_detail.html", _state_context(request, job))


@capability_required(cap.IMPORT)
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The job's state section: a progress bar polled every second while the job is busy, then
    (once it is finished) the results, which replace the bar and stop the polling."""
    services.imports_settle()
    job = _job_or_404(request, pk)
    return render(request, "transfer/_import_state.html", _state_context(request, job))


@capability_required(cap.IMPORT)
def import_rejected_csv(request: HttpRequest, pk: int) -> HttpResponseBase:
    job = _job_or_404(request, pk)
    if not can_view_personal_data(request.user):
        raise PermissionDenied
    path = selectors.import_rejected_csv_path(job)
    if path is None or not path.is_file():
        raise Http404
    stem = job.original_name.rsplit(".", 1)[0] or "import"
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{stem}-rejected.csv",
        content_type="text/csv; charset=utf-8",
    )


@require_POST
@capability_required(cap.IMPORT)
def import_commit(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_or_404(request, pk)
    try:
        job = services.import_commit_request(actor=acting_user(request), job=job)
    except ValidationError as exc:
        _refused(request, exc)
    else:
        if job.status == ImportJob.Status.RUNNING:
            messages.info(request, _("The import runs in the background; you may leave this page."))
        elif job.status == ImportJob.Status.DONE:
            messages.success(
                request,
                _("Imported: %(new)s new, %(updated)s updated, %(unchanged)s unchanged.")
                % {
                    "new": job.created_count,
                    "updated": job.updated_count,
                    "unchanged": job.unchanged_count,
                },
            )
        elif job.status == ImportJob.Status.FAILED:
            messages.error(request, job.message or _("Nothing was imported."))
    return redirect("transfer:import_detail", pk=job.pk)


@capability_required(cap.IMPORT)
def import_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what undo will do and a confirm button; POST: undo."""
    job = _job_or_404(request, pk)
    if request.method != "POST":
        blocker = (
            selectors.import_undo_blocker(job)
            if job.status == ImportJob.Status.DONE
            else _("Only a finished import can be undone.")
        )
        return render(request, "transfer/import_undo.html", {"job": job, "blocker": blocker})
    try:
        job = services.import_undo_request(actor=acting_user(request), job=job)
    except ValidationError as exc:
        _refused(request, exc)
    else:
        if job.status == ImportJob.Status.UNDOING:
            messages.info(request, _("Undo runs in the background; you may leave this page."))
        else:
            messages.success(
                request,
                _("The import is undone: its new records are removed and updated ones restored."),
            )
    return redirect("transfer:import_detail", pk=job.pk)
