"""Which tenant a host name belongs to, remembered for a few seconds in each process.

django-tenants looks the host up in the public schema on every request (a query joining the
domain and tenant tables, and building both models): about a tenth of a customer list
request's time. Tenants and their domains change rarely, and every change made through this
app (a save, a delete, a status change by crm.tenants.services) forgets what this process
remembered at once; other processes (web workers, the Celery worker) notice within
HOST_TENANT_SECONDS. So a suspended tenant's site closes on every worker within that time.
Host names that match no tenant are never remembered: a new tenant's site opens at once.
"""

import copy
import threading
import time
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django_tenants.middleware.main import TenantMainMiddleware

from crm.tenants.models import Domain, Tenant, tenants_updated

HOST_TENANT_SECONDS = 5.0

_lock = threading.Lock()
_remembered: dict[str, tuple[float, Tenant]] = {}


def forget() -> None:
    """Drop everything this process remembers (after any change to a tenant or a domain)."""
    with _lock:
        _remembered.clear()


def _forget_on_change(**_kwargs: Any) -> None:
    # Now, so this process's next request sees the change it made; and again after the
    # commit, or a request in between could remember the row as it was before.
    forget()
    connection = transaction.get_connection()
    if not any(callback is forget for _sids, callback, _robust in connection.run_on_commit):
        transaction.on_commit(forget)


def connect_signals() -> None:
    tenants_updated.connect(_forget_on_change, dispatch_uid="lookup-updated")
    for model in (Tenant, Domain):
        post_save.connect(_forget_on_change, sender=model, dispatch_uid=f"lookup-{model.__name__}")
        post_delete.connect(
            _forget_on_change, sender=model, dispatch_uid=f"lookup-del-{model.__name__}"
        )


class CachedTenantMiddleware(TenantMainMiddleware):
    """django-tenants' TenantMainMiddleware with the host lookup remembered (see above). Each
    request gets its own copy of the tenant: the middleware sets attributes on it."""

    def get_tenant(self, domain_model: Any, hostname: str) -> Tenant:
        now = time.monotonic()
        found = _remembered.get(hostname)
        if found is not None and found[0] >= now:
            tenant = found[1]
        else:
            tenant = super().get_tenant(domain_model, hostname)
            with _lock:
                _remembered[hostname] = (now + HOST_TENANT_SECONDS, tenant)
        return copy.copy(tenant)
