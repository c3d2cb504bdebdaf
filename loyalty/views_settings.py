"""Programme settings (users with "manage loyalty"): the rules, tiers, earn rules and
promotions, and the rewards catalogue."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.accounts import capabilities as cap
from crm.accounts.permissions import acting_user, capability_required
from loyalty import settings_services
from loyalty.forms import EarnRuleForm, ProgrammeForm, RewardForm, TierForm
from loyalty.models import EarnRule, Redemption, Reward, Tier
from loyalty.programme import programme


def _errors_into(form: ModelForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        form.add_error(None, exc)


def _settings_page(request: HttpRequest, form: ProgrammeForm) -> HttpResponse:
    return render(
        request,
        "loyalty/settings.html",
        {
            "form": form,
            "tiers": Tier.objects.order_by("position").annotate(members=Count("accounts")),
            "rules": EarnRule.objects.all(),
            "rewards": Reward.objects.annotate(
                redeemed=Count(
                    "redemptions", filter=Q(redemptions__status=Redemption.Status.COMPLETED)
                )
            ).order_by("-active", "points_cost", "name"),
            "nav_section": "loyalty",
        },
    )


@capability_required(cap.LOYALTY)
def settings_page(request: HttpRequest) -> HttpResponse:
    current = programme()
    form = ProgrammeForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        try:
            settings_services.programme_save(actor=acting_user(request), programme=form.instance)
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, _("Programme settings saved."))
            return redirect("loyalty:settings")
    return _settings_page(request, form)


def _edit(
    request: HttpRequest,
    *,
    form: ModelForm,
    save: Any,
    title: str,
    saved: str,
) -> HttpResponse:
    if request.method == "POST" and form.is_valid():
        try:
            save(form.instance)
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, saved)
            return redirect("loyalty:settings")
    return render(
        request,
        "loyalty/settings_form.html",
        {"form": form, "title": title, "record": form.instance, "nav_section": "loyalty"},
    )


@capability_required(cap.LOYALTY)
def tier_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    tier = get_object_or_404(Tier, pk=pk) if pk is not None else None
    actor = acting_user(request)
    return _edit(
        request,
        form=TierForm(request.POST or None, instance=tier),
        save=lambda t: settings_services.tier_save(actor=actor, tier=t),
        title=_("Edit tier") if tier else _("New tier"),
        saved=_("Tier saved."),
    )


@capability_required(cap.LOYALTY)
@require_POST
def tier_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tier = get_object_or_404(Tier, pk=pk)
    settings_services.tier_delete(actor=acting_user(request), tier=tier)
    messages.success(
        request,
        _("Tier %(name)s removed; its members are placed again at the next evaluation.")
        % {"name": tier.name},
    )
    return redirect("loyalty:settings")


@capability_required(cap.LOYALTY)
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(EarnRule, pk=pk) if pk is not None else None
    actor = acting_user(request)
    return _edit(
        request,
        form=EarnRuleForm(request.POST or None, instance=rule),
        save=lambda r: settings_services.earn_rule_save(actor=actor, rule=r),
        title=_("Edit earn rule") if rule else _("New earn rule or promotion"),
        saved=_("Earn rule saved."),
    )


@capability_required(cap.LOYALTY)
def reward_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    reward = get_object_or_404(Reward, pk=pk) if pk is not None else None
    actor = acting_user(request)
    return _edit(
        request,
        form=RewardForm(request.POST or None, instance=reward),
        save=lambda r: settings_services.reward_save(actor=actor, reward=r),
        title=_("Edit reward") if reward else _("New reward"),
        saved=_("Reward saved."),
    )


@capability_required(cap.LOYALTY)
@require_POST
def reward_active(request: HttpRequest, pk: int) -> HttpResponse:
    reward = get_object_or_404(Reward, pk=pk)
    active = request.POST.get("active") == "1"
    settings_services.reward_active_set(actor=acting_user(request), reward=reward, active=active)
    if active:
        messages.success(request, _("%(name)s is offered again.") % {"name": reward.name})
    else:
        messages.success(request, _("%(name)s is no longer offered.") % {"name": reward.name})
    return redirect("loyalty:settings")
