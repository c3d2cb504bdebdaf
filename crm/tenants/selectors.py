from django.conf import settings
from django.db.models import QuerySet

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
