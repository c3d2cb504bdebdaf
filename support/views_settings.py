"""Support settings pages (managers and administrators, support.permissions): SLA targets per
priority, business hours, public holiday calendar and the tenant's overrides, canned responses."""

import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts.permissions import acting_user
from support import selectors, services_settings, sla
from support.canned import VARIABLES
from support.forms import AUTO, CannedForm, OverrideForm, SettingsForm
from support.models import (
    BusinessHours,
    CannedResponse,
    HolidayOverride,
    Priority,
    SlaPolicy,
)
from support.permissions import support_configurer_required
from support.views_mail import mail_settings_context


def _weekday_names() -> list[str]:
    from django.utils.dates import WEEKDAYS as DJANGO_WEEKDAYS

    return [str(DJANGO_WEEKDAYS[d]) for d in range(7)]


def _time(text: str) -> datetime.time | None:
    try:
        return datetime.time.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


@support_configurer_required
def sla_settings(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    current = sla.support_settings()
    countries = sla.holiday_countries()
    settings_form = SettingsForm(
        request.POST if request.POST.get("part") == "settings" else None,
        initial={
            "holiday_country": AUTO if current.holiday_country is None else current.holiday_country,
            "near_breach_minutes": current.near_breach_minutes,
            "pause_on_hold": current.pause_on_hold,
        },
        countries=countries,
    )
    override_form = OverrideForm(request.POST if request.POST.get("part") == "override" else None)
    if request.method == "POST":
        part = request.POST.get("part")
        try:
            if part == "targets":
                targets = {}
                for priority in Priority.values:
                    first = request.POST.get(f"{priority}-first", "")
                    resolution = request.POST.get(f"{priority}-resolution", "")
                    if not (first.isdigit() and resolution.isdigit()):
                        raise ValidationError(_("Targets are whole minutes above zero."))
                    targets[priority] = (int(first), int(resolution))
                services_settings.sla_policies_save(actor=user, targets=targets)
            elif part == "hours":
                hours: dict[int, tuple[datetime.time, datetime.time] | None] = {}
                for weekday in range(7):
                    opens = _time(request.POST.get(f"opens-{weekday}", ""))
                    closes = _time(request.POST.get(f"closes-{weekday}", ""))
                    open_day = request.POST.get(f"open-{weekday}") == "1"
                    if open_day and (opens is None or closes is None):
                        raise ValidationError(_("Give the opening and closing time of open days."))
                    hours[weekday] = (opens, closes) if open_day and opens and closes else None
                services_settings.business_hours_save(actor=user, hours=hours)
            elif part == "settings":
                if not settings_form.is_valid():
                    raise ValidationError(_("Check the settings."))
                services_settings.support_settings_save(
                    actor=user,
                    holiday_country=settings_form.country(),
                    near_breach_minutes=settings_form.cleaned_data["near_breach_minutes"],
                    pause_on_hold=settings_form.cleaned_data["pause_on_hold"],
                )
            elif part == "override":
                if not override_form.is_valid():
                    raise ValidationError(_("Give the date and the kind of day."))
                services_settings.holiday_override_save(actor=user, **override_form.cleaned_data)
            else:
                raise ValidationError(_("Unknown form."))
        except ValidationError as exc:
            for error in exc.messages:
                messages.error(request, error)
        else:
            messages.success(request, _("Saved. Tickets opened from now on use these settings."))
            return redirect("support:settings")
    policies = {p.priority: p for p in SlaPolicy.objects.all()}
    hours_by_day = {h.weekday: h for h in BusinessHours.objects.all()}
    names = _weekday_names()
    return render(
        request,
        "support/settings.html",
        {
            "nav_section": "support",
            "targets": [(value, label, policies.get(value)) for value, label in Priority.choices],
            "days": [(d, names[d], hours_by_day.get(d)) for d in range(7)],
            "settings_form": settings_form,
            "override_form": override_form,
            "overrides": list(HolidayOverride.objects.all()),
            **mail_settings_context(user),
        },
    )


@support_configurer_required
@require_POST
def override_delete(request: HttpRequest, pk: int) -> HttpResponse:
    override = HolidayOverride.objects.filter(pk=pk).first()
    if override is None:
        raise Http404
    services_settings.holiday_override_delete(actor=acting_user(request), override=override)
    messages.success(request, _("Override removed."))
    return redirect("support:settings")


@support_configurer_required
def canned_list(request: HttpRequest) -> HttpResponse:
    return _canned_page(request, None)


@support_configurer_required
def canned_edit(request: HttpRequest, pk: int) -> HttpResponse:
    response = CannedResponse.objects.filter(pk=pk).first()
    if response is None:
        raise Http404
    return _canned_page(request, response)


def _canned_page(request: HttpRequest, response: CannedResponse | None) -> HttpResponse:
    initial = {"title": response.title, "body": response.body} if response else None
    form = CannedForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services_settings.canned_response_save(
                actor=acting_user(request), response=response, **form.cleaned_data
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("Canned response saved."))
            return redirect("support:canned")
    return render(
        request,
        "support/canned.html",
        {
            "nav_section": "support",
            "form": form,
            "editing": response,
            "responses": selectors.canned_responses(),
            "variables": [(f"{{{{{key}}}}}", label) for key, (label, _fill) in VARIABLES.items()],
        },
    )


@support_configurer_required
@require_POST
def canned_delete(request: HttpRequest, pk: int) -> HttpResponse:
    response = CannedResponse.objects.filter(pk=pk).first()
    if response is None:
        raise Http404
    services_settings.canned_response_delete(actor=acting_user(request), response=response)
    messages.success(request, _("Canned response deleted."))
    return redirect("support:canned")
