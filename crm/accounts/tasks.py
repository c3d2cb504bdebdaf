from celery import shared_task
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone


@shared_task(name="crm.accounts.tasks.sessions_clear_expired")
def sessions_clear_expired() -> dict[str, object]:
    """Delete this tenant's expired sessions. Sent once per tenant by the beat dispatcher."""
    deleted, _by_model = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return {"schema": connection.schema_name, "deleted": deleted}
