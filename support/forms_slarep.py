"""Input of the SLA override settings and the attainment report."""

import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.list_columns import ListFilter
from support.attainment import MAX_RANGE_DAYS, MAX_SPAN_DAYS
from support.models import Priority


class FilterChoiceForm(forms.Form):
    """Step one: which customer filter the override picks customers by."""

    filter = forms.ChoiceField(label=_("Customers picked by"))

    def __init__(self, *args: Any, filters: list[ListFilter], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["filter"].choices = [  # type: ignore[attr-defined]
            (f.key, f.field().label or f.key) for f in filters
        ]


class SlaOverrideForm(forms.Form):
    """Step two: the name, the filter's value (through the filter's own field) and the targets
    per priority (both blank: the standard targets for that priority)."""

    name = forms.CharField(label=_("Name"), max_length=100)
    filter_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, list_filter: ListFilter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        value_field = list_filter.field()
        value_field.required = True
        self.fields["filter_value"] = value_field
        for value, label in Priority.choices:
            self.fields[f"{value}_first"] = forms.IntegerField(
                label=_("%(priority)s: first response (minutes)") % {"priority": label},
                required=False,
                min_value=1,
            )
            self.fields[f"{value}_resolution"] = forms.IntegerField(
                label=_("%(priority)s: resolution (minutes)") % {"priority": label},
                required=False,
                min_value=1,
            )

    def raw_value(self) -> str:
        """The value as typed or chosen (stored, and cleaned again by the filter when read)."""
        return str(self.data.get(self.add_prefix("filter_value"), "")).strip()

    def targets(self) -> dict[str, tuple[int, int] | None]:
        data = self.cleaned_data
        found: dict[str, tuple[int, int] | None] = {}
        for value in Priority.values:
            first, resolution = data.get(f"{value}_first"), data.get(f"{value}_resolution")
            if first is None and resolution is None:
                found[value] = None
            elif first is None or resolution is None:
                self.add_error(
                    f"{value}_first" if first is None else f"{value}_resolution",
                    _("Give both targets, or neither."),
                )
            else:
                found[value] = (first, resolution)
        return found

    def target_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [
            (str(label), self[f"{value}_first"], self[f"{value}_resolution"])
            for value, label in Priority.choices
        ]


class ReportRangeForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError(_("The range must end after it starts."))
            if (end - start).days >= MAX_RANGE_DAYS:
                raise forms.ValidationError(_("Choose a range of a year at most."))
            today = timezone.localdate()
            if (today - start).days > MAX_SPAN_DAYS:
                raise forms.ValidationError(_("Choose a range within the last five years."))
        return data


def default_range() -> tuple[datetime.date, datetime.date]:
    today = timezone.localdate()
    return today - datetime.timedelta(days=29), today
