from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

from crm.lib.tenancy import current_schema


@shared_task(name="crm.accounts.tasks.sessions_clear_expired")
def sessions_clear_expired() -> dict[str, object]:
    """Delete this tenant's expired sessions. Sent once per tenant by the beat dispatcher."""
    deleted, _by_model = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return {"schema": current_schema(), "deleted": deleted}
