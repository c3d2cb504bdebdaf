"""The platform console, as an operator uses it, and what a suspended tenant's staff see."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.tenants import lookup, services
from crm.tenants.models import Tenant, TenantEvent
from tests.conftest import client_for
from tests.testkit.cast import PASSWORD
from tests.testkit.otp import authenticator_for, totp_code, verify_session

pytestmark = pytest.mark.django_db
PUBLIC = settings.PUBLIC_SCHEMA_URLCONF


@pytest.fixture
def operator_client(acme) -> Client:
    operator = User.objects.create_superuser("ops@platform.test", PASSWORD)
    client = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
    client.force_login(operator)
    verify_session(client, operator)  # operators must use two-factor sign-in
    return client


def test_operator_logs_in_at_the_bare_domain_and_sees_the_tenants(acme):
    operator = User.objects.create_superuser("ops@platform.test", PASSWORD)
    device = authenticator_for(operator)
    client = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
    assert client.get("/").url.startswith("/login/")
    response = client.post(
        "/login/", {"username": "OPS@platform.test", "password": PASSWORD}, follow=True
    )
    verify_url = response.redirect_chain[-1][0]
    assert verify_url.startswith("/two-factor/verify/")
    response = client.post(verify_url, {"code": totp_code(device)}, follow=True)
    page = response.content.decode()
    assert "Acme Trading" in page and "环球零售 Globex" in page
    assert "Template" not in page and "Platform" not in page.split("<main", 1)[1]


def test_status_filter_and_empty_state(operator_client):
    page = operator_client.get("/?status=suspended").content.decode()
    assert "No tenant has this status" in page
    assert "Acme Trading" not in page


def test_creating_a_tenant_from_the_console_queues_its_provisioning(
    operator_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator_client.post(
            reverse("console:tenant_new", urlconf=PUBLIC),
            {
                "slug": "Fresh-Shop",
                "name": "Fresh Shop 鲜店",
                "owner_email": "boss@fresh.test",
                "language": "zh-hans",
                "time_zone": "Asia/Shanghai",
                "currency": "CNY",
            },
        )
    tenant = Tenant.objects.get(slug="fresh-shop")
    assert response.status_code == 302
    assert response.url == reverse("console:tenant_detail", urlconf=PUBLIC, args=["fresh-shop"])
    assert tenant.status == Tenant.Status.PROVISIONING
    assert tenant.events.get().actor == "ops@platform.test"
    queued = [c for c in callbacks if c is not lookup.forget]  # the host lookup's, aside
    assert len(queued) == 1, "provisioning is sent to a worker after commit"

    detail = operator_client.get(response.url).content.decode()
    assert 'hx-get="/tenants/fresh-shop/status/"' in detail, "the page polls while provisioning"
    assert "Preparing the workspace" in detail


def test_console_form_errors_are_shown_and_nothing_is_created(operator_client):
    response = operator_client.post(
        reverse("console:tenant_new", urlconf=PUBLIC),
        {
            "slug": "www",
            "name": "",
            "owner_email": "not-an-email",
            "language": "en",
            "time_zone": "UTC",
            "currency": "CNY",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "is reserved" in page
    assert "This field is required." in page
    assert "Enter a valid email address." in page
    assert not Tenant.objects.filter(slug="www").exists()


def test_suspending_closes_the_site_and_resuming_opens_it(operator_client, acme):
    staff = client_for(acme, "agent")
    assert staff.get("/").status_code == 200

    response = operator_client.post(
        reverse("console:tenant_suspend", urlconf=PUBLIC, args=["acme"]), {"reason": "unpaid"}
    )
    assert response.status_code == 302
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.SUSPENDED
    event = TenantEvent.objects.filter(tenant=acme.tenant).first()
    assert (event.action, event.detail, event.actor) == ("suspended", "unpaid", "ops@platform.test")

    closed = staff.get("/")
    assert closed.status_code == 503
    assert "This workspace is suspended" in closed.content.decode()
    login = client_for(acme).post(
        "/login/", {"username": acme.email("admin"), "password": PASSWORD}
    )
    assert login.status_code == 503
    assert "_auth_user_id" not in login.client.session

    operator_client.post(reverse("console:tenant_resume", urlconf=PUBLIC, args=["acme"]))
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.READY
    assert staff.get("/").status_code == 200


def test_refused_transitions_explain_and_change_nothing(operator_client, acme):
    response = operator_client.post(
        reverse("console:tenant_resume", urlconf=PUBLIC, args=["acme"]), follow=True
    )
    assert "Only a suspended tenant can be resumed." in response.content.decode()
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.READY


def test_system_rows_are_not_reachable_in_the_console(operator_client):
    for slug in ("public", services.TEMPLATE_SLUG):
        url = reverse("console:tenant_detail", urlconf=PUBLIC, args=[slug])
        assert operator_client.get(url).status_code == 404


def test_the_status_fragment_stops_polling_once_ready(operator_client, acme):
    url = reverse("console:tenant_status", urlconf=PUBLIC, args=["acme"])
    fragment = operator_client.get(url).content.decode()
    assert "hx-get" not in fragment
    assert 'href="http://acme.localhost:8000/"' in fragment


def test_the_console_needs_a_get_or_post_as_designed(operator_client):
    url = reverse("console:tenant_suspend", urlconf=PUBLIC, args=["acme"])
    assert operator_client.get(url).status_code == 405
    with schema_context("public"):
        assert Tenant.objects.get(slug="acme").status == Tenant.Status.READY


def test_operators_set_plan_limits_and_see_usage_as_counts_only(operator_client, acme):
    url = reverse("console:tenant_limits", urlconf=PUBLIC, args=["acme"])
    bad = operator_client.post(url, {"staff_limit": "0", "storage_limit_mb": "abc"})
    assert bad.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in bad.content.decode()
    assert Tenant.objects.get(slug="acme").staff_limit == 25

    operator_client.post(
        url,
        {
            "staff_limit": "8",
            "customer_limit": "",
            "storage_limit_mb": "500",
            "require_two_factor": "on",
        },
    )
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.staff_limit, tenant.customer_limit, tenant.storage_limit_mb) == (8, None, 500)
    assert tenant.require_two_factor
    event = tenant.events.first()
    assert event.action == "limits_changed" and "staff_limit: 25 → 8" in event.detail

    page = operator_client.get(
        reverse("console:tenant_detail", urlconf=PUBLIC, args=["acme"])
    ).content.decode()
    assert "Active staff" in page and "6 / 8" in page
    assert acme.email("viewer") not in page, "no tenant records in the console"
    listing = operator_client.get("/").content.decode()
    assert " MB / 500 MB" in listing


def test_the_suspend_form_says_how_soon_a_suspension_reaches_every_web_process(
    operator_client, acme
):
    url = reverse("console:tenant_detail", urlconf=PUBLIC, args=["acme"])
    page = operator_client.get(url).content.decode()
    assert "A suspension reaches every web process within 5 seconds" in page
    assert int(lookup.HOST_TENANT_SECONDS) == 5
