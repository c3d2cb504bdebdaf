from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from crm.tenants.models import Tenant


class TenantAvailabilityMiddleware:
    """Close a tenant's site unless it is ready: a clear page, and no login or session use."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if (
            tenant is not None
            and tenant.schema_name != settings.PUBLIC_SCHEMA_NAME
            and tenant.status != Tenant.Status.READY
        ):
            # Sessions are not loaded yet, so nothing below this runs for a closed tenant.
            with translation.override(tenant.language):
                response = render(
                    request,
                    "tenants/unavailable.html",
                    {"tenant": tenant, "unavailable_status": tenant.status},
                    status=503,
                )
            response.headers["Retry-After"] = "30"
            return response
        return self.get_response(request)
