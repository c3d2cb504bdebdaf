"""The churn model's pages: the fitted model and its holdout check, the churn-risk list, the
settings. "See reports" opens them; changing the settings also needs "change records"."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from analytics import churn_selectors, churn_services
from analytics.churn import churn_settings
from analytics.churn_forms import ChurnSettingsForm
from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, can, capability_required
from crm.lib import charts

PREVIEW = 10


@capability_required(cap.REPORTS)
def churn_model(request: HttpRequest) -> HttpResponse:
    fit = churn_selectors.latest_fit()
    user = acting_user(request)
    holdout = churn_selectors.holdout_shown(fit) if fit else None
    holdout_chart = None
    if holdout is not None and holdout.fitted and holdout.rows:
        holdout_chart = charts.bar_chart(
            title=_("Repeat purchase days in the holdout period"),
            categories=holdout.categories,
            series={
                _("Actual (mean)"): holdout.series["actual"],
                _("Expected (mean)"): holdout.series["expected"],
            },
            category_label=_("Repeat purchase days before"),
            value_label=_("Repeat purchase days per customer"),
        )
    return render(
        request,
        "analytics/churn_model.html",
        {
            "fit": fit,
            "skip_text": churn_selectors.skip_text(fit.skip_reason) if fit else "",
            "holdout": holdout,
            "holdout_chart": holdout_chart,
            "holdout_skip_text": (
                churn_selectors.skip_text(fit.holdout.get("skip_reason") or {}) if fit else ""
            ),
            "preview": churn_selectors.churn_risk_page(user, size=PREVIEW),
            "settings": churn_settings(),
            "can_configure": can(user, cap.CHANGE),
            "nav_section": "analytics",
        },
    )


@capability_required(cap.REPORTS)
def churn_risk(request: HttpRequest) -> HttpResponse:
    flag = request.GET.get("flag", "")
    tier = request.GET.get("tier", "")
    page = churn_selectors.churn_risk_page(
        acting_user(request), after=request.GET.get("after", ""), flag=flag, tier=tier
    )
    return render(
        request,
        "analytics/churn_risk.html",
        {
            "page": page,
            "fit": churn_selectors.latest_fit(),
            "filters": churn_selectors.churn_filters(),
            "flag": flag,
            "tier": tier,
            "nav_section": "analytics",
        },
    )


@capability_required(cap.REPORTS)
@capability_required(cap.CHANGE)
def churn_settings_edit(request: HttpRequest) -> HttpResponse:
    form = ChurnSettingsForm(request.POST or None, instance=churn_settings())
    if request.method == "POST" and form.is_valid():
        churn_services.churn_settings_save(actor=acting_user(request), settings=form.instance)
        messages.success(request, _("Churn settings saved. The next refresh uses them."))
        return redirect("analytics:churn")
    return render(
        request,
        "analytics/churn_settings.html",
        {"form": form, "nav_section": "analytics"},
    )
