"""Exports from a list's current filter: small ones stream at once, large ones run in a worker
and are downloaded from the exports page (for EXPORT_KEEP_DAYS days)."""

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts import capabilities as cap
from crm.accounts.permissions import (
    acting_user,
    can,
    can_administer,
    can_view_personal_data,
    capability_required,
)
from crm.transfer import exporting
from crm.transfer.models import ExportJob

_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _filename(kind: str, fmt: str) -> str:
    return f"{kind}-{timezone.localdate().isoformat()}.{fmt}"


@capability_required(cap.EXPORT)
def export_start(request: HttpRequest, kind: str) -> HttpResponseBase:
    """GET ?format=csv|xlsx&<the list's own filter>."""
    try:
        export = exporting.export_kind(kind)
    except KeyError:
        raise Http404 from None
    if not can(request.user, export.capability):
        raise PermissionDenied
    params = request.GET.copy()
    fmt = params.pop("format", ["csv"])[-1]
    if fmt not in exporting.FORMATS:
        raise Http404
    params.pop("after", None)
    query = params.urlencode()
    actor = acting_user(request)
    try:
        estimated = export.estimated_count(request.user, params)
    except exporting.InvalidFilter as exc:
        return render(request, "400.html", {"message": exc.message}, status=400)
    if estimated is not None and estimated > settings.CRM_TRANSFER_INLINE_ROWS:
        exporting.export_job_request(actor=actor, kind=kind, query=query, file_format=fmt)
        return redirect("transfer:exports")
    exporting.export_audit(actor=actor, kind=kind, query=query, rows=estimated or 0, fmt=fmt)
    rows = export.rows_for(request.user, params)
    response: HttpResponseBase
    if fmt == "csv":
        response = StreamingHttpResponse(
            exporting.csv_chunks(export.header_row(request.user, params), rows),
            content_type=_TYPES["csv"],
        )
    else:
        handle = tempfile.NamedTemporaryFile(suffix=".xlsx")  # noqa: SIM115 (closed by the response)
        exporting.write_xlsx(Path(handle.name), export.header_row(request.user, params), rows)
        handle.seek(0)
        response = FileResponse(handle, content_type=_TYPES["xlsx"])
    response["Content-Disposition"] = f'attachment; filename="{_filename(kind, fmt)}"'
    return response


def _jobs(request: HttpRequest) -> QuerySet[ExportJob]:
    jobs = ExportJob.objects.select_related("created_by")
    return jobs if can_administer(request.user) else jobs.filter(created_by=request.user.pk)


def _listed(request: HttpRequest) -> dict[str, object]:
    exporting.exports_settle()  # an export whose worker died shows as failed, not running
    jobs = list(_jobs(request)[:100])
    labels = {kind.key: kind.label for kind in exporting.export_kinds()}
    for job in jobs:
        job.kind_label = labels.get(job.kind, job.kind)  # type: ignore[attr-defined]
    return {"jobs": jobs, "running": any(j.status in ("queued", "running") for j in jobs)}


def _job_or_404(request: HttpRequest, pk: int) -> ExportJob:
    try:
        return _jobs(request).get(pk=pk)
    except ExportJob.DoesNotExist:
        raise Http404 from None


@capability_required(cap.EXPORT)
def export_list(request: HttpRequest) -> HttpResponse:
    kinds = [k for k in exporting.export_kinds() if can(request.user, k.capability)]
    context = {**_listed(request), "keep_days": exporting.EXPORT_KEEP_DAYS, "kinds": kinds}
    return render(request, "transfer/export_list.html", context)


@capability_required(cap.EXPORT)
def export_rows(request: HttpRequest) -> HttpResponse:
    """The table alone, polled by htmx while an export runs."""
    return render(request, "transfer/_export_rows.html", _listed(request))


@capability_required(cap.EXPORT)
def export_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    job = _job_or_404(request, pk)
    if job.unmasked and not can_view_personal_data(request.user):
        # Written with personal data for someone who could see it then; whoever asks now
        # (its writer after losing the permission, or another administrator) may not.
        reason = _(
            "This export holds personal data you may not see. Export the list again to get it"
            " masked."
        )
        return render(request, "403.html", {"reason": reason}, status=403)
    path = exporting.export_path(job)
    if job.status != ExportJob.Status.DONE or path is None or not path.is_file():
        raise Http404(_("This export is not ready or has expired."))
    response = FileResponse(path.open("rb"), content_type=_TYPES[job.file_format])
    response["Content-Disposition"] = (
        f'attachment; filename="{_filename(job.kind, job.file_format)}"'
    )
    return response
