"""The administrators' form for a custom field definition. It only parses what was typed; the
rules (key format, unique key, choices, a kind or choice in use) live in
customers.custom_field_services, so every writer gets the same answers."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.custom_field_services import CustomFieldInput
from customers.models import CustomField


class CustomFieldForm(forms.Form):
    label = forms.CharField(
        label=_("Label"),
        max_length=100,
        help_text=_("What staff see beside the input, e.g. “Shoe size” or “会员卡号”."),
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    key = forms.CharField(
        label=_("Key"),
        max_length=40,
        help_text=_(
            "The column name in exports and imports: lower-case letters, digits and _,"
            " starting with a letter (e.g. shoe_size). It cannot change later."
        ),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=CustomField.Kind.choices,
        help_text=_("It can only change while no customer has a value in the field."),
    )
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For a choice field only: one choice per line."),
    )
    help_text = forms.CharField(
        label=_("Help text"),
        max_length=200,
        required=False,
        help_text=_("Shown under the input on the customer form (optional)."),
    )
    required = forms.BooleanField(
        label=_("Required: every customer saved from the form must have a value"),
        required=False,
    )
    personal = forms.BooleanField(
        label=_("Personal data: masked for staff who may not see personal data"),
        required=False,
    )

    def __init__(self, *args: Any, custom_field: CustomField | None = None, **kwargs: Any) -> None:
        if custom_field is not None:
            kwargs.setdefault("initial", self.initial_for(custom_field))
        super().__init__(*args, **kwargs)
        if custom_field is not None:
            # Values are stored under the key: it is shown, never submitted.
            key = self.fields["key"]
            key.disabled = True
            key.help_text = _("Values are stored under this key, so it cannot change.")

    @staticmethod
    def initial_for(custom_field: CustomField) -> dict[str, Any]:
        return {
            "label": custom_field.label,
            "key": custom_field.key,
            "kind": custom_field.kind,
            "choices": "\n".join(custom_field.choices),
            "help_text": custom_field.help_text,
            "required": custom_field.required,
            "personal": custom_field.personal,
        }

    def to_input(self) -> CustomFieldInput:
        data = self.cleaned_data
        return CustomFieldInput(
            label=data["label"],
            kind=data["kind"],
            choices=[line.strip() for line in data["choices"].splitlines() if line.strip()],
            required=data["required"],
            personal=data["personal"],
            help_text=data["help_text"],
        )
