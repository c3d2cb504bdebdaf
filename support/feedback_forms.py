"""Input validation for the survey pages."""

import datetime
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from support.models_feedback import SCALES, SurveyKind


class FeedbackSettingsForm(forms.Form):
    csat_on_resolve = forms.BooleanField(
        label=_("Send a CSAT survey when a ticket is resolved"), required=False
    )
    ces_on_resolve = forms.BooleanField(
        label=_("Ask the effort question (CES) when a ticket is resolved"),
        required=False,
        help_text=_(
            "With CSAT on, both questions are asked in one survey; alone, CES replaces it."
        ),
    )
    resolve_delay_minutes = forms.IntegerField(
        label=_("Minutes after resolving before the survey goes out"),
        min_value=0,
        max_value=30 * 24 * 60,
    )
    expiry_days = forms.IntegerField(
        label=_("Days a survey link works"), min_value=1, max_value=365
    )
    fatigue_days = forms.IntegerField(
        label=_("At most one survey per customer in this many days"), min_value=0, max_value=365
    )
    complaint_keywords = forms.CharField(
        label=_("Complaint keywords"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One a line. A comment holding one opens a follow-up ticket whatever the score."
        ),
    )

    def keywords(self) -> list[str]:
        text = self.cleaned_data["complaint_keywords"].replace("，", "\n").replace(",", "\n")
        return [k.strip() for k in text.splitlines() if k.strip()]


def query_string_of(text: str) -> str:
    """The query string of a pasted customer list address (or the query string itself)."""
    text = text.strip()
    if "?" in text:
        return urlsplit(text).query
    return text.lstrip("?")


class SendForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    audience_query = forms.CharField(
        label=_("Customer list filter"),
        required=False,
        max_length=4000,
        help_text=_(
            "Filter the customer list, then paste its address here (empty: all your customers)."
        ),
    )
    external_ids = forms.CharField(
        label=_("Or these customers' external ids"),
        required=False,
        max_length=2_000_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One a line; when given, the filter is not used."),
    )

    def clean_audience_query(self) -> str:
        return query_string_of(self.cleaned_data["audience_query"])


class ReportForm(forms.Form):
    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    until = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def period(self) -> tuple[datetime.date, datetime.date]:
        today = timezone.localdate()
        data: dict[str, Any] = self.cleaned_data if self.is_valid() else {}
        until = data.get("until") or today
        since = data.get("since") or (until - datetime.timedelta(days=365))
        if since > until:
            since, until = until, since
        return since, until


class CommentFilterForm(ReportForm):
    kind = forms.ChoiceField(
        label=_("Survey"), required=False, choices=[("", _("Any")), *SurveyKind.choices]
    )
    detractors = forms.BooleanField(label=_("Detractors only"), required=False)
    q = forms.CharField(label=_("Comment contains"), required=False, max_length=100)


class AnswerForm(forms.Form):
    """The public survey: a score on the invitation's scale, the effort beside CSAT when asked,
    an optional comment."""

    score = forms.TypedChoiceField(coerce=int, widget=forms.RadioSelect)
    effort = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us? (optional)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, kind: str, with_effort: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        low, high = SCALES[SurveyKind(kind)]
        self.fields["score"].choices = [(n, str(n)) for n in range(low, high + 1)]  # type: ignore[attr-defined]
        low, high = SCALES[SurveyKind.CES]
        self.fields["effort"].choices = [(n, str(n)) for n in range(low, high + 1)]  # type: ignore[attr-defined]
        if not with_effort:
            del self.fields["effort"]
