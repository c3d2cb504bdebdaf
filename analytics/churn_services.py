"""Writes of the churn model's settings (thresholds of the flags, when to fit the model)."""

from django.db import transaction

from analytics.models_churn import ChurnSettings
from crm.accounts.models import User
from crm.lib.audit_actor import writes


@writes
@transaction.atomic
def churn_settings_save(*, actor: User | None, settings: ChurnSettings) -> ChurnSettings:
    """Save the tenant's one settings row; the next refresh uses it."""
    settings.pk = 1
    settings.full_clean()
    settings.save()
    return settings
