"""Against a real Celery worker and Redis: tasks run in the schema they were sent from, the beat
dispatcher fans out per tenant, and the console's provisioning completes in the worker."""

import datetime
import uuid

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.tasks import sessions_clear_expired
from crm.tenants import services
from crm.tenants.models import Tenant
from crm.tenants.tasks import tenants_dispatch
from tests.testkit.smtp import first_link

pytestmark = pytest.mark.worker


def _expired_session(schema: str) -> str:
    with schema_context(schema):
        store = SessionStore()
        store["marker"] = schema
        store.create()
        Session.objects.filter(session_key=store.session_key).update(
            expire_date=timezone.now() - datetime.timedelta(days=1)
        )
        return str(store.session_key)


def _exists(schema: str, key: str) -> bool:
    with schema_context(schema):
        return Session.objects.filter(session_key=key).exists()


def test_a_task_sent_from_a_tenant_runs_in_that_tenants_schema(
    committed_db, celery_worker, acme, globex
):
    acme_key, globex_key = _expired_session(acme.schema), _expired_session(globex.schema)

    with schema_context(acme.schema):
        result = sessions_clear_expired.delay().get(timeout=30)

    assert result == {"schema": acme.schema, "deleted": 1}
    assert not _exists(acme.schema, acme_key)
    assert _exists(globex.schema, globex_key), "the other tenant's data was not touched"
    with schema_context(globex.schema):
        Session.objects.filter(session_key=globex_key).delete()


def test_the_dispatcher_sends_one_task_per_ready_tenant(committed_db, celery_worker, acme, globex):
    keys = {member.schema: _expired_session(member.schema) for member in (acme, globex)}
    sent = tenants_dispatch.delay("crm.accounts.tasks.sessions_clear_expired").get(timeout=30)
    assert sent == Tenant.objects.filter(status=Tenant.Status.READY).count()

    deadline = timezone.now() + datetime.timedelta(seconds=30)
    while any(_exists(s, k) for s, k in keys.items()) and timezone.now() < deadline:
        pass
    assert not any(_exists(s, k) for s, k in keys.items())


def test_the_console_path_provisions_in_the_worker_and_emails_the_owner(
    committed_db, celery_worker, smtp_server
):
    slug = f"w{uuid.uuid4().hex[:10]}"
    owner = f"owner@{slug}.test"
    tenant = services.tenant_create(
        actor=None,
        spec=services.TenantSpec(slug=slug, name="Worker Shop", owner_email=owner),
    )
    try:
        message = smtp_server.wait_for(owner, timeout=60)
        tenant.refresh_from_db()
        assert tenant.status == Tenant.Status.READY
        assert "Worker Shop" in str(message["Subject"])
        assert first_link(message).startswith(f"http://{slug}.localhost:")
    finally:
        services.tenant_delete(actor=None, tenant=Tenant.objects.get(pk=tenant.pk))
