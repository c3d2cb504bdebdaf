"""The RFM pages: the overview with counts per segment and the refresh button (with the job's
progress, polled by htmx), the settings, the segment map editor and the transitions between two
snapshot dates. Reading needs "see reports"; changing the settings or the map needs "change
records" as well (admins and managers)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from analytics import rfm_selectors
from analytics.dashboard import visible_customer_ids
from analytics.models import RfmSnapshot, SegmentRule
from analytics.refresh_jobs import refresh_job_current, refresh_job_request
from analytics.rfm_forms import (
    RefreshForm,
    RfmSettingsForm,
    SegmentRuleFormSet,
    TransitionsForm,
    rules_from,
)
from analytics.rfm_map import grid
from analytics.rfm_settings import (
    rfm_settings,
    rfm_settings_save,
    segment_rules_reset,
    segment_rules_save,
)
from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, can, capability_required
from crm.lib import charts

SECTION = {"nav_section": "analytics"}


def _may_edit(request: HttpRequest) -> bool:
    return can(request.user, cap.CHANGE)


def _edit_required(view: Any) -> Any:
    """Reports and "change records": the people who may redefine what the segments mean."""
    return capability_required(cap.REPORTS)(capability_required(cap.CHANGE)(view))


def _job_context() -> dict[str, Any]:
    return {"job": refresh_job_current()}


@capability_required(cap.REPORTS)
def rfm_overview(request: HttpRequest) -> HttpResponse:
    snapshot = rfm_selectors.latest_snapshot()
    # Counted among the reader's customers (their record scope), as on the dashboard.
    counts = rfm_selectors.segment_counts(snapshot, customers=visible_customer_ids(request.user))
    return render(
        request,
        "analytics/rfm_overview.html",
        {
            **SECTION,
            **_job_context(),
            "snapshot": snapshot,
            "counts": counts,
            # Among the reader's customers, as the counts are (the snapshot's own is tenant-wide).
            "scored": sum(row.count for row in counts),
            "segments_chart": rfm_selectors.segment_counts_chart(snapshot, counts),
            "grid": grid(list(SegmentRule.objects.all())),
            "settings": rfm_settings(),
            "refresh_form": RefreshForm(),
            "may_edit": _may_edit(request),
        },
    )


@capability_required(cap.REPORTS)
@require_POST
def rfm_refresh(request: HttpRequest) -> HttpResponse:
    form = RefreshForm(request.POST)
    if form.is_valid():
        try:
            refresh_job_request(actor=acting_user(request), as_of=form.cleaned_data["as_of"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Refresh started; the scores change when it finishes."))
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("analytics:rfm")


@capability_required(cap.REPORTS)
def rfm_refresh_status(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/_rfm_job.html", _job_context())


@_edit_required
def rfm_settings_page(request: HttpRequest) -> HttpResponse:
    current = rfm_settings()
    form = RfmSettingsForm(request.POST or None, initial=RfmSettingsForm.initial_from(current))
    if request.method == "POST" and form.is_valid():
        try:
            rfm_settings_save(actor=acting_user(request), **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("RFM settings saved; they apply from the next refresh."))
            return redirect("analytics:rfm_settings")
    return render(request, "analytics/rfm_settings.html", {**SECTION, "form": form})


def _rules_initial() -> list[dict[str, Any]]:
    return [
        {
            "segment": r.segment,
            "r_min": r.r_min,
            "r_max": r.r_max,
            "fm_min": r.fm_min,
            "fm_max": r.fm_max,
        }
        for r in SegmentRule.objects.all()
    ]


@_edit_required
def rfm_map_page(request: HttpRequest) -> HttpResponse:
    formset = SegmentRuleFormSet(request.POST or None, initial=_rules_initial(), prefix="rules")
    if request.method == "POST" and formset.is_valid():
        try:
            segment_rules_save(actor=acting_user(request), rules=rules_from(formset))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Segment map saved; segments follow at the next refresh."))
            return redirect("analytics:rfm_map")
    rules = list(SegmentRule.objects.all())
    return render(
        request,
        "analytics/rfm_map.html",
        {**SECTION, "formset": formset, "grid": grid(rules), "gaps": _gaps(grid(rules))},
    )


def _gaps(cells: list[list[Any]]) -> int:
    return sum(1 for row in cells for cell in row if cell.rule is None)


@_edit_required
@require_POST
def rfm_map_reset(request: HttpRequest) -> HttpResponse:
    segment_rules_reset(actor=acting_user(request))
    messages.success(
        request, _("The default segment map is back; segments follow at the next refresh.")
    )
    return redirect("analytics:rfm_map")


@capability_required(cap.REPORTS)
def rfm_transitions(request: HttpRequest) -> HttpResponse:
    dates = rfm_selectors.snapshot_dates()
    data = request.GET.copy()
    if len(dates) >= 2:
        data.setdefault("before", dates[1].isoformat())
        data.setdefault("after", dates[0].isoformat())
    form = TransitionsForm(data if dates else None, dates=dates)
    table = None
    chart: tuple[Any, ...] | None = None
    if dates and form.is_valid():
        before = RfmSnapshot.objects.get(as_of=form.cleaned_data["before"])
        after = RfmSnapshot.objects.get(as_of=form.cleaned_data["after"])
        table = rfm_selectors.transitions(before, after, user=request.user)
        chart = rfm_selectors.transitions_chart_data(table)
    heatmap = None
    if chart is not None:
        heatmap = charts.heatmap(
            title=_("Customers moving between segments"),
            x_labels=chart[0],
            y_labels=chart[1],
            values=chart[2],
            x_label=_("Segment at the second date"),
            y_label=_("Segment at the first date"),
        )
    return render(
        request,
        "analytics/rfm_transitions.html",
        {
            **SECTION,
            "form": form,
            "dates": dates,
            "table": table,
            "chart_data": chart,
            "heatmap": heatmap,
        },
    )
