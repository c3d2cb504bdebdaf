"""The public web form, on the tenant's host at /help/ (crm/urls_tenant.py)."""

from django.urls import path

from support import views_web_form

app_name = "web_form"

urlpatterns = [
    path("", views_web_form.web_form_page, name="form"),
    path("sent/<str:token>/", views_web_form.web_form_sent, name="sent"),
]
