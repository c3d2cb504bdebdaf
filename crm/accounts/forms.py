from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from crm.accounts import roles
from crm.accounts.capabilities import CAPABILITIES
from crm.accounts.models import Invitation, RecordScope, Team, User
from crm.lib.columns import max_length


class EmailAuthenticationForm(AuthenticationForm):
    """Staff sign in with their email address; letter case does not matter."""

    username = forms.EmailField(
        label=_("Email"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        "invalid_login": _(
            "That email and password do not match an active account here. Check both and try again."
        ),
        "inactive": _("This account is deactivated. Ask your administrator."),
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    next = forms.CharField(required=False)


class _RoleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(roles.ROLE_LABELS.get(obj.name, obj.name))


def _role_field() -> _RoleChoiceField:
    return _RoleChoiceField(
        label=_("Role"), queryset=Group.objects.order_by("-profile__is_preset", "name")
    )


def _teams_field() -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        label=_("Teams"),
        queryset=Team.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        max_length=max_length(Invitation, "email"),
        widget=forms.EmailInput(attrs={"autofocus": True}),
    )
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    role = _role_field()
    teams = _teams_field()


class InvitationAcceptForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=150)
    password1 = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("Password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                password_validation.validate_password(
                    first, User(email=self.email, full_name=data.get("full_name", ""))
                )
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class StaffForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    role = _role_field()
    teams = _teams_field()


class RoleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150)
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    scope = forms.ChoiceField(label=_("Record scope"), choices=RecordScope.choices)
    capabilities = forms.MultipleChoiceField(
        label=_("Capabilities"),
        choices=[(codename, label) for codename, label, _help in CAPABILITIES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    members = forms.ModelMultipleChoiceField(
        label=_("Members"),
        queryset=User.objects.filter(is_active=True).order_by("full_name", "email"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class AuditFilterForm(forms.Form):
    actor = forms.TypedChoiceField(label=_("User"), required=False, coerce=int, empty_value=None)
    table = forms.ChoiceField(label=_("Record type"), required=False)
    action = forms.ChoiceField(label=_("Action"), required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(
        self,
        *args: Any,
        actors: list[tuple[int, str]],
        tables: dict[str, Any],
        actions: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices: dict[str, list[tuple[Any, Any]]] = {
            "actor": [("", _("Anyone")), *actors],
            "table": [("", _("Any")), *tables.items()],
            "action": [("", _("Any")), *actions.items()],
        }
        for name, options in choices.items():
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = options
