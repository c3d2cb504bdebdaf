"""The "API tokens" page of the tenant admin console, under /admin-console/api-tokens/."""

from django.urls import path

from crm.api import views_admin as views

app_name = "api_admin"

urlpatterns = [
    path("", views.token_list, name="token_list"),
    path("<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
