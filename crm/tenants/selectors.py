from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django_tenants.utils import schema_context

from crm.tenants.models import Tenant


def business_tenants() -> QuerySet[Tenant]:
    """Every tenant that is a business (not the public row or the template)."""
    return Tenant.objects.exclude(status=Tenant.Status.SYSTEM)


def ready_schema_names() -> list[str]:
    return list(
        Tenant.objects.filter(status=Tenant.Status.READY)
        .order_by("schema_name")
        .values_list("schema_name", flat=True)
    )


def tenant_site_url(tenant: Tenant) -> str:
    """Where a tenant's staff open their site, for links in the console and in emails."""
    port = settings.CRM_PUBLIC_PORT
    netloc = f"{tenant.slug}.{settings.CRM_BASE_DOMAIN}" + (f":{port}" if port else "")
    return f"{settings.CRM_PUBLIC_SCHEME}://{netloc}"


@dataclass(frozen=True)
class TenantUsage:
    staff_active: int | None
    storage_mb: float
    customers: int | None = None


# Apps above this one count what they hold for the plan limits (customers registers a counter
# at start-up); each counter runs inside the tenant's schema.
_customer_counter: list[Callable[[], int]] = []


def register_customer_counter(counter: Callable[[], int]) -> None:
    _customer_counter[:] = [counter]


def customer_count() -> int | None:
    """Customers in the current schema, or None before the customers app registered."""
    return _customer_counter[0]() if _customer_counter else None


def schema_sizes_mb() -> dict[str, float]:
    """Database storage per schema in one query (tables, indexes and TOAST)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, coalesce(sum(pg_total_relation_size(c.oid)), 0)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'm') AND n.nspname LIKE 't\\_%%'"
            " GROUP BY n.nspname"
        )
        return {name: round(size / 1024 / 1024, 1) for name, size in cursor.fetchall()}


def tenant_usage(tenant: Tenant) -> TenantUsage:
    """What a tenant uses against its plan limits. Counts only: operators see no records."""
    staff = None
    if tenant.status in (Tenant.Status.READY, Tenant.Status.SUSPENDED):
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT count(*) FROM "{tenant.schema_name}".accounts_user WHERE is_active'  # noqa: S608
            )
            staff = int(cursor.fetchone()[0])
    customers = None
    if staff is not None:
        with schema_context(tenant.schema_name):
            customers = customer_count()
    return TenantUsage(
        staff_active=staff,
        storage_mb=schema_sizes_mb().get(tenant.schema_name, 0.0),
        customers=customers,
    )
