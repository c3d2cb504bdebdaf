"""Platform tasks. They are sent from the public schema and run there."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from crm.lib.tenancy import in_public_schema
from crm.tenants import mail, selectors, services
from crm.tenants.models import Tenant

logger = logging.getLogger(__name__)


@shared_task(name="crm.tenants.tasks.tenant_provision")
def tenant_provision_task(tenant_id: int) -> str:
    tenant = services.tenant_provision(actor=None, tenant_id=tenant_id)
    return tenant.status


@shared_task(name="crm.tenants.tasks.tenant_welcome_email")
def tenant_welcome_email_task(tenant_id: int, user_id: int) -> None:
    tenant = Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.READY).first()
    if tenant is None:
        logger.warning("welcome email skipped: tenant %s is gone or not ready", tenant_id)
        return
    with schema_context(tenant.schema_name):
        user = get_user_model().objects.get(pk=user_id)
        mail.owner_welcome_send(tenant=tenant, user=user)


@shared_task(name="crm.tenants.tasks.tenants_dispatch")
def tenants_dispatch(task_name: str) -> int:
    """Beat's one entry per job kind: enqueue `task_name` once in every ready tenant's schema."""
    from crm.celery import app

    assert in_public_schema(), "the dispatcher runs from the public schema"
    sent = 0
    for schema_name in selectors.ready_schema_names():
        # tenant-schemas-celery stamps the current schema into the message headers.
        with schema_context(schema_name):
            app.send_task(task_name)
        sent += 1
    return sent
