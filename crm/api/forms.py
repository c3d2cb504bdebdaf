from django import forms
from django.utils.translation import gettext_lazy as _

from crm.api.scopes import SCOPES


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("Who or what uses it, for example “Till 3, Oxford Street”."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("May use"),
        choices=list(SCOPES.items()),
        widget=forms.CheckboxSelectMultiple,
    )
