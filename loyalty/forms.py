"""Input of the loyalty pages: the counter (redeem, adjust), the programme settings, the
dashboard's period and point value, and a statement's period."""

import datetime
import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from loyalty.models import EarnRule, Programme, Reward, Tier

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class RewardChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(
            _("%(name)s (%(points)d points)") % {"name": obj.name, "points": obj.points_cost}
        )


class RedeemForm(forms.Form):
    reward = RewardChoice(
        label=_("Reward"),
        queryset=Reward.objects.none(),
        required=False,
        empty_label=_("No reward: points only"),
    )
    points = forms.IntegerField(
        label=_("Points"),
        min_value=1,
        max_value=10_000_000,
        required=False,
        help_text=_("Leave empty when a reward is chosen: it costs its own points."),
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    # One key per rendered form: a second click (or a resent POST) finds the first redemption.
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, rewards: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.fields["reward"].queryset = rewards if rewards is not None else Reward.objects.none()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        reward, points = data.get("reward"), data.get("points")
        if reward is None and not points and not self.has_error("points"):
            raise ValidationError(_("Choose a reward or enter the points to redeem."))
        if reward is not None:
            if points and points != reward.points_cost:
                self.add_error(
                    "points",
                    _("%(reward)s costs %(cost)d points; leave the points empty.")
                    % {"reward": reward.name, "cost": reward.points_cost},
                )
            data["points"] = reward.points_cost
        return data


class AdjustForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        min_value=-10_000_000,
        max_value=10_000_000,
        help_text=_("Positive to grant, negative (e.g. -50) to deduct."),
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise ValidationError(_("Adjust by at least one point."))
        return int(points)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError(_("Say why the points are adjusted."))
        return str(reason)


class ProgrammeForm(forms.ModelForm):
    class Meta:
        model = Programme
        fields = [
            "points_per_unit",
            "expiry_months",
            "tier_basis",
            "tier_window_months",
            "downgrade_grace_days",
            "adjustment_limit",
            "signup_bonus",
            "birthday_bonus",
            "referral_bonus",
        ]
        help_texts = {
            "points_per_unit": _("Points for each unit of the currency spent, rounded down."),
            "expiry_months": _("Points expire at the end of the day this many months after."),
            "downgrade_grace_days": _("How long a member stays in a tier after falling below it."),
            "adjustment_limit": _("A manual adjustment above this needs a second user's approval."),
        }


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = ["name", "position", "threshold", "multiplier", "benefits"]
        widgets = {"benefits": forms.Textarea(attrs={"rows": 2})}
        help_texts = {
            "position": _("Higher tiers have higher numbers."),
            "threshold": _("Qualifying points (or whole currency units spent) over the window."),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        position, threshold = data.get("position"), data.get("threshold")
        if position is None or threshold is None:
            return data
        # Tiers are reached in order: a higher tier needs more than every lower one.
        others = Tier.objects.exclude(pk=self.instance.pk)
        lower = others.filter(position__lt=position, threshold__gte=threshold)
        below = lower.order_by("-threshold").first()
        higher = others.filter(position__gt=position, threshold__lte=threshold)
        above = higher.order_by("threshold").first()
        if below is not None:
            self.add_error(
                "threshold",
                _("%(tier)s, a lower tier, already needs %(threshold)d; this tier needs more.")
                % {"tier": below.name, "threshold": below.threshold},
            )
        elif above is not None:
            self.add_error(
                "threshold",
                _("%(tier)s, a higher tier, needs %(threshold)d; this tier needs less.")
                % {"tier": above.name, "threshold": above.threshold},
            )
        return data


class EarnRuleForm(forms.ModelForm):
    class Meta:
        model = EarnRule
        fields = ["name", "channel", "store", "multiplier", "starts_on", "ends_on", "active"]
        widgets = {"starts_on": DATE, "ends_on": DATE}
        help_texts = {
            "channel": _("Empty: every channel."),
            "store": _("Empty: every store."),
            "multiplier": _("2 doubles the points of matching orders."),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("starts_on"), data.get("ends_on")
        if start and end and start > end:
            self.add_error("ends_on", _("The promotion must end on or after its first day."))
        return data


class RewardForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = [
            "name",
            "points_cost",
            "stock",
            "valid_from",
            "valid_until",
            "per_customer_limit",
            "active",
        ]
        widgets = {"valid_from": DATE, "valid_until": DATE}
        help_texts = {
            "stock": _("Empty: unlimited."),
            "per_customer_limit": _("Empty: no limit."),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and start > end:
            self.add_error("valid_until", _("The last valid day cannot be before the first."))
        return data


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=DATE)
    end = forms.DateField(label=_("Until"), required=False, widget=DATE)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise ValidationError(_("The period must end on or after its first day."))
        return data

    def period(self, today: datetime.date) -> tuple[datetime.date, datetime.date]:
        """The chosen period; the current month up to today by default."""
        data = self.cleaned_data if self.is_valid() else {}
        end = data.get("end") or today
        start = data.get("start") or end.replace(day=1)
        return start, end


class DashboardForm(forms.Form):
    since = forms.DateField(label=_("Since"), required=False, widget=DATE)
    point_value = forms.DecimalField(
        label=_("Value of one point"),
        min_value=Decimal("0"),
        max_digits=10,
        decimal_places=4,
        required=False,
        initial=Decimal("0.01"),
    )
