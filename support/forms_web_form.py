"""Input validation of the public web form and of its settings."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from support import web_form
from support.portal_services import CATEGORIES_MAX, INTRO_MAX

# The honeypot: a field people never see (hidden by CSS, skipped by the keyboard and screen
# readers); a bot that fills every field fills it.
HONEYPOT = "website"


class WebTicketForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("Email"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=50,
        required=False,
        help_text=_("Give your email, your phone, or both, so we can answer you."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(
        label=_("How can we help?"),
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    category = forms.ChoiceField(label=_("Topic"), required=False)
    website = forms.CharField(required=False, label=_("Leave this field empty"))
    stamp = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, categories: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if categories:
            self.fields["category"].choices = [("", "—"), *((c, c) for c in categories)]  # type: ignore[attr-defined]
        else:
            del self.fields["category"]
        self.fields[HONEYPOT].widget.attrs.update({"tabindex": "-1", "autocomplete": "off"})
        self.spam = ""  # why the form was refused as a bot's, if it was

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get(HONEYPOT):
            self.spam = "honeypot"
        problem = web_form.stamp_problem(self.data.get("stamp", ""))
        if problem == "old":
            raise forms.ValidationError(
                _("This form was open too long. Check your message and send it again."),
                code="old",
            )
        if problem:
            self.spam = self.spam or problem
        if self.spam:
            raise forms.ValidationError(
                _("Your message could not be accepted. Wait a moment and send it again."),
                code="spam",
            )
        if not (data.get("email") or (data.get("phone") or "").strip()):
            self.add_error("email", _("Give your email or your phone number."))
        links = web_form.link_count(data.get("subject", ""), data.get("description", ""))
        if links > web_form.limit("MAX_LINKS"):
            self.add_error(
                "description",
                _("Please include at most %(count)d links.")
                % {"count": web_form.limit("MAX_LINKS")},
            )
        return data


class WebFormSettingsForm(forms.Form):
    enabled = forms.BooleanField(
        label=_("Customers may open tickets through the web form"), required=False
    )
    intro = forms.CharField(
        label=_("Text above the form"),
        required=False,
        max_length=INTRO_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For example your opening hours, or what to include in a message."),
    )
    categories = forms.CharField(
        label=_("Topics customers choose from"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "One per line; they become the ticket's category. Leave empty to ask for none."
        ),
    )

    def category_list(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data.get("categories", "").splitlines()]
        return [line for line in lines if line][: CATEGORIES_MAX + 1]
