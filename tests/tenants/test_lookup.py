"""The host-to-tenant lookup remembered per process (crm.tenants.lookup): one query fewer on
every request, and no change to a tenant or a domain goes unseen."""

import time

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.tenants import lookup
from crm.tenants.models import Domain, Tenant
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _looks_up_the_host(queries) -> bool:
    return any('"tenants_domain"' in q["sql"] for q in queries.captured_queries)


def test_the_host_is_looked_up_once_then_remembered(acme):
    client = client_for(acme)
    client.get("/login/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/login/").status_code == 200
    assert not _looks_up_the_host(queries)


def test_a_change_made_by_a_queryset_update_is_seen_at_once(acme):
    client = client_for(acme)
    client.get("/login/")
    Tenant.objects.filter(pk=acme.tenant.pk).update(name="Acme Renamed Ltd")
    assert "Acme Renamed Ltd" in client.get("/login/").content.decode()


def test_a_saved_change_is_seen_at_once(acme):
    client = client_for(acme)
    client.get("/login/")
    tenant = Tenant.objects.get(pk=acme.tenant.pk)
    tenant.name = "Acme Saved Ltd"
    tenant.save()
    assert "Acme Saved Ltd" in client.get("/login/").content.decode()


def test_an_unknown_host_is_not_remembered(acme):
    host = f"alias.{settings.CRM_BASE_DOMAIN}"
    client = client_for(acme)
    client.defaults["HTTP_HOST"] = host
    assert client.get("/login/").status_code == 404
    Domain.objects.create(domain=host, tenant=acme.tenant, is_primary=False)
    assert client.get("/login/").status_code == 200


def test_a_change_made_elsewhere_is_seen_when_the_entry_expires(acme):
    """Another process's change sends no signal here: the entry lasts HOST_TENANT_SECONDS."""
    client = client_for(acme)
    client.get("/login/")
    with connection.cursor() as cursor:  # as another process would: no signal in this one
        cursor.execute(
            "UPDATE tenants_tenant SET name = 'Changed Elsewhere' WHERE id = %s", [acme.tenant.pk]
        )
    assert "Changed Elsewhere" not in client.get("/login/").content.decode()
    for host, (_expires, tenant) in list(lookup._remembered.items()):
        lookup._remembered[host] = (time.monotonic() - 1, tenant)
    assert "Changed Elsewhere" in client.get("/login/").content.decode()


def test_each_request_gets_its_own_tenant_object(acme):
    client = client_for(acme)
    first = client.get("/login/").wsgi_request.tenant
    second = client.get("/login/").wsgi_request.tenant
    assert first is not second and first.pk == second.pk
