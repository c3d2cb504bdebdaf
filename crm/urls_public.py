"""The platform console, served on the bare base domain (public schema)."""

from django.urls import include, path

from crm.tenants import views as tenant_views

urlpatterns = [
    path("", include("crm.tenants.urls")),
    path("", include("crm.accounts.urls")),
    path("healthz", tenant_views.healthz, name="healthz"),
]
