"""A tenant's site, served on <slug>.<base domain> (the tenant's schema).

Every pattern here needs a case in tests/isolation/cases.py; the suite fails without one."""

from django.urls import include, path

from crm.accounts import views as account_views
from crm.accounts.admin_site import site as tenant_admin_site
from crm.tenants import views as tenant_views
from support import views_mail as support_mail_views
from support.feedback_public import survey_answer

urlpatterns = [
    path("", account_views.home, name="home"),
    path("", include("crm.accounts.urls")),
    path("admin-console/", include("crm.accounts.urls_admin")),
    path("invitation/<str:token>/", account_views.invitation_accept, name="invitation_accept"),
    path("customers/", include("customers.urls")),
    path("transfer/", include("crm.transfer.urls")),
    path("django-admin/", tenant_admin_site.urls),
    path("support/", include("support.urls")),
    # The public web form customers open tickets with (no sign-in).
    path("help/", include("support.urls_web_form")),
    # A survey email's link: public, no login (support.feedback_public).
    path("survey/<str:token>/", survey_answer, name="survey_answer"),
    path("loyalty/", include("loyalty.urls")),
    path("analytics/", include("analytics.urls")),
    path("api/v1/", include("crm.api.urls")),
    path("admin-console/api-tokens/", include("crm.api.urls_admin")),
    # Only ok / not ok here; the console host's /healthz has the details.
    path("healthz", tenant_views.healthz_tenant, name="healthz"),
    # Mail relays post raw messages here (support.views_mail); the secret is per tenant.
    path("inbound/email/<str:secret>", support_mail_views.inbound_email, name="inbound_email"),
]
