"""SLA overrides by customer filter (managers and administrators, support.permissions) and
the attainment report ("see reports")."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, capability_required
from crm.lib.spreadsheet import safe_cell
from customers.list_columns import list_filter, list_filters
from support import attainment as reports
from support import sla_override_services, sla_overrides
from support.forms_slarep import FilterChoiceForm, ReportRangeForm, SlaOverrideForm, default_range
from support.models import Priority, SlaOverride, SlaPolicy
from support.permissions import support_configurer_required


def minutes_text(minutes: float | None) -> str:
    """Business minutes as "2 h 30 min" (a dash for none)."""
    if minutes is None:
        return "—"
    whole = round(minutes)
    hours, rest = divmod(whole, 60)
    if hours and rest:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": rest}
    if hours:
        return _("%(hours)d h") % {"hours": hours}
    return _("%(minutes)d min") % {"minutes": rest}


@support_configurer_required
def sla_overrides_page(request: HttpRequest) -> HttpResponse:
    return _override_page(request, None)


@support_configurer_required
def sla_override_edit(request: HttpRequest, pk: int) -> HttpResponse:
    override = SlaOverride.objects.filter(pk=pk).first()
    if override is None:
        raise Http404
    return _override_page(request, override)


def _override_page(request: HttpRequest, override: SlaOverride | None) -> HttpResponse:
    user = acting_user(request)
    filters = list_filters(user)
    chooser = FilterChoiceForm(
        request.GET if "filter" in request.GET else None,
        filters=filters,
        initial={"filter": override.filter_key if override else None},
    )
    key = request.POST.get("filter_key") or request.GET.get("filter") or ""
    if not key and override is not None:
        key = override.filter_key
    chosen = list_filter(key) if key in {f.key for f in filters} else None
    form = None
    if chosen is not None:
        initial: dict[str, Any] = {"filter_key": chosen.key}
        if override is not None:
            initial["name"] = override.name
            if override.filter_key == chosen.key:
                initial["filter_value"] = override.filter_value
            for target in override.targets.all():
                initial[f"{target.priority}_first"] = target.first_response_minutes
                initial[f"{target.priority}_resolution"] = target.resolution_minutes
        form = SlaOverrideForm(
            request.POST if request.method == "POST" else None,
            initial=initial,
            list_filter=chosen,
        )
    if request.method == "POST":
        if form is None:
            messages.error(request, _("Choose a customer filter from the list."))
        elif form.is_valid():
            targets = form.targets()
            if form.is_valid():
                try:
                    sla_override_services.sla_override_save(
                        actor=user,
                        override=override,
                        name=form.cleaned_data["name"],
                        filter_key=chosen.key,  # type: ignore[union-attr]
                        filter_value=form.raw_value(),
                        targets=targets,
                    )
                except ValidationError as exc:
                    for name, errors in exc.message_dict.items():
                        for error in errors:
                            form.add_error(name if name in form.fields else None, error)
                else:
                    messages.success(
                        request,
                        _("Override saved. Tickets opened from now on use these targets."),
                    )
                    return redirect("support:sla_overrides")
    standard = {p.priority: p for p in SlaPolicy.objects.all()}
    rows = sla_overrides.override_rows()
    return render(
        request,
        "support/sla_overrides.html",
        {
            "nav_section": "support",
            "chooser": chooser,
            "form": form,
            "chosen": chosen,
            "editing": override,
            "priorities": Priority.choices,
            "standard": [
                (
                    label,
                    minutes_text(standard[v].first_response_minutes) if v in standard else "—",
                    minutes_text(standard[v].resolution_minutes) if v in standard else "—",
                )
                for v, label in Priority.choices
            ],
            "rows": [
                (
                    row,
                    [
                        (
                            minutes_text(row.targets[v].first_response_minutes),
                            minutes_text(row.targets[v].resolution_minutes),
                        )
                        if v in row.targets
                        else None
                        for v in Priority.values
                    ],
                )
                for row in rows
            ],
        },
    )


@support_configurer_required
@require_POST
def sla_override_delete(request: HttpRequest, pk: int) -> HttpResponse:
    override = SlaOverride.objects.filter(pk=pk).first()
    if override is None:
        raise Http404
    sla_override_services.sla_override_delete(actor=acting_user(request), override=override)
    messages.success(request, _("Override removed."))
    return redirect("support:sla_overrides")


# --- reports ---------------------------------------------------------------------------------


def _range(request: HttpRequest) -> tuple[ReportRangeForm, Any, Any]:
    start, end = default_range()
    form = ReportRangeForm(request.GET if "start" in request.GET else None)
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    elif not form.is_bound:
        form = ReportRangeForm(initial={"start": start, "end": end})
    return form, start, end


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


@capability_required(cap.REPORTS)
def attainment_page(request: HttpRequest) -> HttpResponse:
    form, start, end = _range(request)
    found = reports.attainment(acting_user(request), start=start, end=end)
    return render(
        request,
        "support/reports.html",
        {
            "nav_section": "support",
            "form": form,
            "report": found,
            "sections": [
                (_("By team"), _("Team"), _table(found.teams)),
                (_("By agent"), _("Agent"), _table(found.agents)),
            ],
            "total": _table([found.total])[0] if found.total else None,
            "csv_query": f"start={start.isoformat()}&end={end.isoformat()}",
        },
    )


def _table(rows: list[reports.AttainmentRow]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "tickets": r.tickets,
            "first_met": _pct(r.first_met_pct),
            "resolution_met": _pct(r.resolution_met_pct),
            "median_first": minutes_text(r.median_first_minutes),
            "median_resolution": minutes_text(r.median_resolution_minutes),
            "breached": r.breached,
            "open_past_due": r.open_past_due,
        }
        for r in rows
    ]


@capability_required(cap.REPORTS)
def attainment_csv(request: HttpRequest) -> HttpResponse:
    """The report's tables as CSV (one row per team and per agent, then the total); medians
    in business minutes. Cells are escaped against spreadsheet formulas."""
    import csv
    import io

    _form, start, end = _range(request)
    found = reports.attainment(acting_user(request), start=start, end=end)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            _("Group"),
            _("Name"),
            _("Tickets"),
            _("First response met %"),
            _("Resolution met %"),
            _("Median first response (business minutes)"),
            _("Median resolution (business minutes)"),
            _("Breached"),
            _("Open past due"),
        ]
    )
    groups = [(_("Team"), found.teams), (_("Agent"), found.agents)]
    if found.total:
        groups.append((_("Total"), [found.total]))
    for group, rows in groups:
        for r in rows:
            writer.writerow(
                [
                    safe_cell(group),
                    safe_cell(r.name),
                    r.tickets,
                    "" if r.first_met_pct is None else r.first_met_pct,
                    "" if r.resolution_met_pct is None else r.resolution_met_pct,
                    "" if r.median_first_minutes is None else round(r.median_first_minutes),
                    ""
                    if r.median_resolution_minutes is None
                    else round(r.median_resolution_minutes),
                    r.breached,
                    r.open_past_due,
                ]
            )
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="sla-attainment-{start.isoformat()}-{end.isoformat()}.csv"'
    )
    return response


# --- linking a customer by hand -----------------------------------------------------------


@capability_required(cap.CHANGE)
@require_POST
def ticket_customer_link(request: HttpRequest, pk: int) -> HttpResponse:
    """Link one of the reader's customers (by the number in its page's address) to a ticket
    that has none; the ticket's SLA targets are decided again for them."""
    from customers.selectors import visible_customers
    from support import selectors, ticket_customer_services
    from support.models import Ticket

    user = acting_user(request)
    try:
        ticket = selectors.ticket_for(user, pk)
    except Ticket.DoesNotExist:
        raise Http404 from None
    number = request.POST.get("customer", "").strip()
    customer = (
        visible_customers(user).filter(pk=int(number)).first()
        if number.isdigit() and len(number) < 19
        else None
    )
    if customer is None:
        messages.error(request, _("No customer with this number in your records."))
        return redirect("support:detail", pk=ticket.pk)
    try:
        ticket_customer_services.ticket_customer_link(actor=user, ticket=ticket, customer=customer)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    else:
        messages.success(request, _("Customer linked; the SLA targets were decided again."))
    return redirect("support:detail", pk=ticket.pk)
