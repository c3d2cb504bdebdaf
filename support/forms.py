"""Input validation for the support pages."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from support.models import Channel, HolidayOverride, Kind, Priority, Severity, Status
from support.selectors import StaffChoices


def _id_choices(pairs: list[tuple[int, str]], empty: Any) -> list[tuple[str, Any]]:
    return [("", empty), *((str(pk), label) for pk, label in pairs)]


class QueueFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Open work")), ("any", _("Any status")), *Status.choices],
    )
    priority = forms.ChoiceField(
        label=_("Priority"), required=False, choices=[("", _("Any")), *Priority.choices]
    )
    team = forms.TypedChoiceField(label=_("Team"), required=False, coerce=int, empty_value=None)
    assignee = forms.TypedChoiceField(
        label=_("Assignee"), required=False, coerce=int, empty_value=None
    )
    category = forms.CharField(label=_("Category"), required=False, max_length=60)
    escalated = forms.BooleanField(label=_("Escalated complaints only"), required=False)

    def __init__(self, *args: Any, choices: StaffChoices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = _id_choices(choices.teams, _("Any"))  # type: ignore[attr-defined]
        self.fields["assignee"].choices = _id_choices(choices.staff, _("Anyone"))  # type: ignore[attr-defined]


class TicketForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea, required=False)
    customer = forms.IntegerField(
        label=_("Customer number"),
        required=False,
        min_value=1,
        help_text=_(
            "The number in the customer page's address; or give the requester's email or phone."
        ),
    )
    requester_name = forms.CharField(label=_("Requester name"), max_length=150, required=False)
    requester_email = forms.EmailField(label=_("Requester email"), required=False)
    requester_phone = forms.CharField(label=_("Requester phone"), max_length=50, required=False)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, initial=Channel.PHONE)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL
    )
    category = forms.CharField(label=_("Category"), max_length=60, required=False)
    tags = forms.CharField(
        label=_("Tags"), max_length=300, required=False, help_text=_("Comma-separated.")
    )
    kind = forms.ChoiceField(label=_("Type"), choices=Kind.choices, initial=Kind.QUESTION)
    severity = forms.ChoiceField(
        label=_("Severity (complaints)"), choices=[("", "—"), *Severity.choices], required=False
    )
    assignee = forms.TypedChoiceField(
        label=_("Assignee"), required=False, coerce=int, empty_value=None
    )
    team = forms.TypedChoiceField(label=_("Team"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, choices: StaffChoices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = _id_choices(choices.staff, _("Unassigned"))  # type: ignore[attr-defined]
        self.fields["team"].choices = _id_choices(choices.teams, _("From the customer"))  # type: ignore[attr-defined]


class MessageForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 5}))
    status = forms.ChoiceField(label=_("Then set the status to"), required=False)

    def __init__(
        self, *args: Any, statuses: list[tuple[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("(unchanged)")), *(statuses or Status.choices)]  # type: ignore[attr-defined]


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Status.choices)


class AssignForm(forms.Form):
    assignee = forms.TypedChoiceField(
        label=_("Assignee"), required=False, coerce=int, empty_value=None
    )
    team = forms.TypedChoiceField(label=_("Team"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, choices: StaffChoices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = _id_choices(choices.staff, _("Unassigned"))  # type: ignore[attr-defined]
        self.fields["team"].choices = _id_choices(choices.teams, _("No team"))  # type: ignore[attr-defined]


class DetailsForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)
    category = forms.CharField(label=_("Category"), max_length=60, required=False)
    tags = forms.CharField(label=_("Tags"), max_length=300, required=False)
    kind = forms.ChoiceField(label=_("Type"), choices=Kind.choices)
    severity = forms.ChoiceField(
        label=_("Severity"), choices=[("", "—"), *Severity.choices], required=False
    )
    root_cause = forms.CharField(
        label=_("Root cause"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    resolution = forms.CharField(
        label=_("Resolution"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    compensation = forms.CharField(
        label=_("Compensation"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )


class MergeForm(forms.Form):
    other = forms.CharField(
        label=_("Merge this ticket into"),
        max_length=20,
        help_text=_("The other ticket's reference, e.g. T-000123. This ticket is then closed."),
    )


class BulkForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(coerce=int, required=True)
    action = forms.ChoiceField(choices=[("assign", "assign"), ("status", "status")])
    assignee = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(required=False, choices=[("", "—"), *Status.choices])

    def __init__(self, *args: Any, choices: StaffChoices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ids = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(i, i) for i in ids if str(i).isdigit()]  # type: ignore[attr-defined]
        self.fields["assignee"].choices = _id_choices(choices.staff, _("Unassigned"))  # type: ignore[attr-defined]


AUTO = "auto"


class SettingsForm(forms.Form):
    holiday_country = forms.ChoiceField(label=_("Public holidays of"), required=False)
    near_breach_minutes = forms.IntegerField(
        label=_("Warn this many minutes before a breach"), min_value=1, max_value=7 * 24 * 60
    )
    pause_on_hold = forms.BooleanField(label=_("Pause the SLA clock while on hold"), required=False)

    def __init__(self, *args: Any, countries: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["holiday_country"].choices = [  # type: ignore[attr-defined]
            (AUTO, _("The workspace's country")),
            ("", _("None")),
            *((c, c) for c in countries),
        ]

    def country(self) -> str | None:
        """The chosen country: None follows the workspace's phone region."""
        value = self.cleaned_data["holiday_country"]
        return None if value == AUTO else value


class OverrideForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(label=_("Kind"), choices=HolidayOverride.Kind.choices)
    name = forms.CharField(label=_("Name"), max_length=100, required=False)


class CannedForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=100)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 6}))


def tags_from(text: str) -> list[str]:
    return [t.strip() for t in text.replace("，", ",").split(",") if t.strip()]


class SavedViewForm(forms.Form):
    name = forms.CharField(label=_("View name"), max_length=100)
    shared = forms.BooleanField(label=_("Share with everyone"), required=False)
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
