"""Input of the RFM pages: the settings, the segment map's rules, a refresh's as-of date and
the two dates of the transitions table."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib.postgres.forms import SimpleArrayField
from django.utils.translation import gettext_lazy as _

from analytics.models import RfmSegment, RfmSettings
from analytics.rfm_settings import RuleInput, rule_refused, threshold_list_refused
from crm.lib.widgets import ListSelect


class RfmSettingsForm(forms.Form):
    window_days = forms.IntegerField(
        label=_("Window (days)"),
        required=False,
        min_value=1,
        help_text=_(
            "Only orders in this many days up to the as-of date count. Empty: all history."
        ),
    )
    scoring = forms.ChoiceField(label=_("Scoring"), choices=RfmSettings.Scoring.choices)
    recency_days = SimpleArrayField(
        forms.IntegerField(min_value=0),
        label=_("Recency thresholds (days)"),
        help_text=_("At most this many days for R 5, 4, 3 and 2, e.g. 30, 90, 180, 365."),
    )
    frequency = SimpleArrayField(
        forms.IntegerField(min_value=0),
        label=_("Frequency thresholds (orders)"),
        help_text=_("At least this many orders for F 2, 3, 4 and 5, e.g. 2, 3, 5, 10."),
    )
    monetary = SimpleArrayField(
        forms.DecimalField(min_value=0, max_digits=14, decimal_places=2),
        label=_("Monetary thresholds"),
        help_text=_("At least this much spent for M 2, 3, 4 and 5, e.g. 100, 250, 500, 1000."),
    )
    snapshot_keep_days = forms.IntegerField(
        label=_("Keep snapshots (days)"),
        min_value=1,
        help_text=_("Snapshots older than this are removed at the next refresh."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for field in ("recency_days", "frequency", "monetary"):
            refused = threshold_list_refused(data[field]) if field in data else None
            if refused:
                self.add_error(field, refused)
        return data

    @classmethod
    def initial_from(cls, settings: RfmSettings) -> dict[str, Any]:
        return {
            "window_days": settings.window_days,
            "scoring": settings.scoring,
            "recency_days": settings.recency_days,
            "frequency": settings.frequency,
            "monetary": settings.monetary,
            "snapshot_keep_days": settings.snapshot_keep_days,
        }


SCORE_CHOICES = [(n, str(n)) for n in range(1, 6)]


class SegmentRuleForm(forms.Form):
    segment = forms.ChoiceField(label=_("Segment"), choices=RfmSegment.choices, widget=ListSelect)
    r_min = forms.TypedChoiceField(label=_("R from"), choices=SCORE_CHOICES, coerce=int)
    r_max = forms.TypedChoiceField(label=_("R to"), choices=SCORE_CHOICES, coerce=int)
    fm_min = forms.TypedChoiceField(label=_("FM from"), choices=SCORE_CHOICES, coerce=int)
    fm_max = forms.TypedChoiceField(label=_("FM to"), choices=SCORE_CHOICES, coerce=int)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if len(data) == 5:
            refused = rule_refused(self.to_rule(data))
            if refused:
                raise forms.ValidationError(refused)
        return data

    @staticmethod
    def to_rule(data: dict[str, Any]) -> RuleInput:
        return RuleInput(
            segment=data["segment"],
            r_min=data["r_min"],
            r_max=data["r_max"],
            fm_min=data["fm_min"],
            fm_max=data["fm_max"],
        )


SegmentRuleFormSet = forms.formset_factory(
    SegmentRuleForm, extra=1, can_delete=True, can_order=False, max_num=50, validate_max=True
)


def rules_from(formset: Any) -> list[RuleInput]:
    """The kept rules, in page order; a blank extra row is skipped."""
    kept = []
    extra = set(map(id, formset.extra_forms))
    for form in formset.forms:
        if (id(form) in extra and not form.has_changed()) or form.cleaned_data.get("DELETE"):
            continue
        kept.append(SegmentRuleForm.to_rule(form.cleaned_data))
    return kept


class RefreshForm(forms.Form):
    as_of = forms.DateField(
        label=_("As of"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Orders after this date are ignored. Empty: today."),
    )

    def clean_as_of(self) -> datetime.date | None:
        value: datetime.date | None = self.cleaned_data.get("as_of")
        if value is not None and value > datetime.date.today() + datetime.timedelta(days=1):
            raise forms.ValidationError(_("Choose a date that is not in the future."))
        return value


class TransitionsForm(forms.Form):
    before = forms.TypedChoiceField(label=_("From"), coerce=datetime.date.fromisoformat)
    after = forms.TypedChoiceField(label=_("To"), coerce=datetime.date.fromisoformat)

    def __init__(self, *args: Any, dates: list[datetime.date], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(d.isoformat(), d.isoformat()) for d in dates]
        for name in ("before", "after"):
            self.fields[name].choices = choices  # type: ignore[attr-defined]
