import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.tenants.models import CURRENCIES, Tenant

_ZONES = sorted(zoneinfo.available_timezones())


class TenantCreateForm(forms.Form):
    slug = forms.CharField(
        label=_("Slug"),
        max_length=30,
        help_text=_("3–30 lower-case letters, digits and hyphens. The site address."),
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    name = forms.CharField(label=_("Business name"), max_length=200)
    owner_email = forms.EmailField(
        label=_("Owner admin email"),
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
    staff_limit = forms.IntegerField(
        label=_("Staff limit"), min_value=1, required=False, help_text=_("Empty: unlimited.")
    )
    customer_limit = forms.IntegerField(
        label=_("Customer limit"), min_value=1, required=False, help_text=_("Empty: unlimited.")
    )
    storage_limit_mb = forms.IntegerField(
        label=_("Storage limit (MB)"), min_value=1, required=False, help_text=_("Empty: unlimited.")
    )
    require_two_factor = forms.BooleanField(
        label=_("Require two-factor sign-in for all staff"), required=False
    )
