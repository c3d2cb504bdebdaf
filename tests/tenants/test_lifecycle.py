"""Tenant lifecycles that create and drop schemas, committed as in real use (each cleans up)."""

import time
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from crm.accounts.models import User
from crm.tenants import services
from crm.tenants.models import Domain, Tenant, TenantEvent
from tests.tenants.test_provisioning import _spec


def test_create_and_provision_inline_then_suspend_resume_delete(committed_db):
    slug = f"t{uuid.uuid4().hex[:10]}"
    tenant = services.tenant_create(actor=None, spec=_spec(slug), provision_async=False)
    assert tenant.status == Tenant.Status.PROVISIONING
    assert not schema_exists(tenant.schema_name)

    tenant = services.tenant_provision(
        actor=None, tenant_id=tenant.pk, owner_password="a-long-password-1"
    )
    assert tenant.status == Tenant.Status.READY
    with schema_context(tenant.schema_name):
        owner = User.objects.get()
        assert owner.email == "owner@example.com"  # normalised to lower case
        assert owner.check_password("a-long-password-1")

    tenant = services.tenant_suspend(actor=None, tenant=tenant, reason="unpaid")
    assert tenant.status == Tenant.Status.SUSPENDED and tenant.suspended_at
    with pytest.raises(ValidationError):
        services.tenant_suspend(actor=None, tenant=tenant)
    tenant = services.tenant_resume(actor=None, tenant=tenant)
    assert tenant.status == Tenant.Status.READY and tenant.suspended_at is None
    with pytest.raises(ValidationError):
        services.tenant_resume(actor=None, tenant=tenant)

    services.tenant_delete(actor=None, tenant=tenant)
    assert not schema_exists(tenant.schema_name)
    assert not Tenant.objects.filter(slug=slug).exists()
    assert not Domain.objects.filter(domain=f"{slug}.localhost").exists()


def test_failed_provisioning_is_recorded_and_can_be_retried(committed_db, celery_worker):
    slug = f"t{uuid.uuid4().hex[:10]}"
    tenant = services.tenant_create(actor=None, spec=_spec(slug), provision_async=False)
    # A stray empty schema of that name (say, from a half-restored backup) makes it fail.
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{tenant.schema_name}"')
    with pytest.raises(services.ProvisioningError, match="lacks"):
        services.tenant_provision(actor=None, tenant_id=tenant.pk)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.FAILED
    assert "lacks" in tenant.status_detail
    assert not User.objects.filter(email="owner@example.com").exists(), "nothing leaked to public"
    assert tenant.events.filter(action=TenantEvent.Action.PROVISIONING_FAILED).exists()

    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{tenant.schema_name}"')
    tenant = services.tenant_provision_retry(actor=None, tenant=tenant)
    assert tenant.status == Tenant.Status.PROVISIONING
    # The retry went to the worker; running it here at the same time must not spoil it.
    tenant = services.tenant_provision(
        actor=None, tenant_id=tenant.pk, owner_password="a-long-password-1"
    )
    assert tenant.status == Tenant.Status.READY
    deadline = time.monotonic() + 30
    while tenant.events.filter(action="provisioned").count() == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # let the worker's run finish: it must find the tenant ready and do nothing
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.READY
    assert tenant.events.filter(action="provisioned").count() == 1
    services.tenant_delete(actor=None, tenant=tenant)
