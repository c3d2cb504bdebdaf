from django.urls import path

from crm.tenants import views

app_name = "console"

urlpatterns = [
    path("", views.console_home, name="home"),
    path("tenants/new/", views.tenant_new, name="tenant_new"),
    path("tenants/<slug:slug>/", views.tenant_detail, name="tenant_detail"),
    path("tenants/<slug:slug>/status/", views.tenant_status, name="tenant_status"),
    path("tenants/<slug:slug>/suspend/", views.tenant_suspend, name="tenant_suspend"),
    path("tenants/<slug:slug>/resume/", views.tenant_resume, name="tenant_resume"),
    path("tenants/<slug:slug>/retry/", views.tenant_retry, name="tenant_retry"),
    path("tenants/<slug:slug>/limits/", views.tenant_limits, name="tenant_limits"),
]
