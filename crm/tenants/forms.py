import unicodedata
import zoneinfo
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.lib.columns import integer_range, max_length
from crm.tenants.models import CURRENCIES, Tenant

_ZONES = sorted(zoneinfo.available_timezones())


def _no_control_characters(value: str) -> None:
    """A name goes into mail subjects and page titles: no line breaks or other controls."""
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise forms.ValidationError(_("Use letters, digits, spaces and punctuation only."))


def _limit_field(label: Any, name: str) -> forms.IntegerField:
    """A plan limit, bounded by its column (2,147,483,647: a larger number is a form error,
    not a database one)."""
    _bottom, top = integer_range(Tenant, name)
    return forms.IntegerField(
        label=label, min_value=1, max_value=top, required=False, help_text=_("Empty: unlimited.")
    )


class TenantCreateForm(forms.Form):
    slug = forms.CharField(
        label=_("Slug"),
        max_length=30,
        help_text=_("3–30 lower-case letters, digits and hyphens. The site address."),
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    name = forms.CharField(
        label=_("Business name"),
        max_length=max_length(Tenant, "name"),
        validators=[_no_control_characters],
    )
    owner_email = forms.EmailField(
        label=_("Owner admin email"),
        max_length=max_length(Tenant, "owner_email"),
        help_text=_("Receives an email to set a password once the workspace is ready."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=Tenant.Language.choices)
    time_zone = forms.ChoiceField(
        label=_("Time zone"), choices=[(z, z) for z in _ZONES], initial="Asia/Shanghai"
    )
    currency = forms.ChoiceField(
        label=_("Currency"), choices=[(c, c) for c in CURRENCIES], initial="CNY"
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip().lower()
        # The model's own rules, checked here too so every error shows at once.
        Tenant._meta.get_field("slug").run_validators(slug)
        if Tenant.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("This slug is taken; choose another."))
        return slug


class SuspendForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class LimitsForm(forms.Form):
    staff_limit = _limit_field(_("Staff limit"), "staff_limit")
    customer_limit = _limit_field(_("Customer limit"), "customer_limit")
    storage_limit_mb = _limit_field(_("Storage limit (MB)"), "storage_limit_mb")
    require_two_factor = forms.BooleanField(
        label=_("Require two-factor sign-in for all staff"), required=False
    )
