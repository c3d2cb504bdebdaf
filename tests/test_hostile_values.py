"""Values the storage cannot hold and filters that cannot be read (issue 13, parts 5-7): each
answers with a bounded, clear result, never a 500, and a refused value changes nothing."""

import base64
import csv
import io
import json
import uuid

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import Invitation, User
from crm.lib.columns import column_errors, integer_range
from crm.lib.contacts import NAME_SORT_MAX_LENGTH, name_sort_key
from crm.tenants.models import Tenant, TenantEvent
from customers.custom_field_services import CustomFieldInput, custom_field_create
from customers.models import Customer, CustomerEmail, CustomerPhone
from customers.services import CustomerInput, customer_create
from tests.conftest import client_for
from tests.testkit.otp import verify_session

pytestmark = pytest.mark.django_db


def _cursor(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _customer(member, name: str, **extra) -> Customer:
    with schema_context(member.schema):
        return customer_create(actor=None, data=CustomerInput(name=name, **extra))


# --- part 5: values the columns cannot hold ---------------------------------------------------


def test_the_sort_key_is_capped_at_its_column():
    assert Customer._meta.get_field("name_sort").max_length == NAME_SORT_MAX_LENGTH
    for name in ("庄" * 100, "\ufdfa" * 40, "庄" * 200):
        assert len(name_sort_key(name)) <= NAME_SORT_MAX_LENGTH
    assert name_sort_key("王芳") == "wangfang 王芳"  # short names unchanged


@pytest.mark.parametrize("name", ["庄" * 100, "\ufdfa" * 40])
def test_long_names_are_saved_through_the_form(acme, name):
    response = client_for(acme, "agent").post(
        reverse("customers:new"), {"name": name, "kind": "individual"}
    )
    assert response.status_code == 302
    with schema_context(acme.schema):
        assert Customer.objects.filter(name=name).exists()


@pytest.mark.parametrize(
    ("field", "value", "column"),
    [
        ("emails", "a" * 280 + "@example.com", "email"),
        ("phones", "138 1234 5678" + " " * 2 + "x" * 60, "raw"),
    ],
)
def test_contacts_too_long_for_their_columns_are_form_errors(acme, field, value, column):
    before = _count(acme)
    response = client_for(acme, "agent").post(
        reverse("customers:new"), {"name": "Long Contact", "kind": "individual", field: value}
    )
    assert response.status_code == 200
    assert "characters" in response.content.decode() or "not a" in response.content.decode()
    assert _count(acme) == before


def _count(member) -> int:
    with schema_context(member.schema):
        return Customer.objects.count()


def test_the_service_checks_every_column(acme):
    with schema_context(acme.schema), pytest.raises(ValidationError) as caught:
        customer_create(
            actor=None,
            data=CustomerInput(name="Too Long", city="c" * 101, tags=["t" * 51], source="a\x00b"),
        )
    assert set(caught.value.message_dict) == {"city", "tags", "source"}
    assert column_errors(CustomerEmail, {"email": "a" * 255})
    assert column_errors(CustomerPhone, {"raw": "1" * 50}) == {}


@pytest.mark.parametrize(
    "cursor",
    [
        "WyJhIiwieCJd",  # ["a", "x"]
        "W251bGwsIG51bGxd",  # [null, null]
        _cursor(["a\x00b", 5]),
        _cursor(["a", 2**70]),
        _cursor([True]),
        _cursor({"a": 1}),
        "%%%not-base64",
        "A" * 10_000,
    ],
)
@pytest.mark.parametrize("order", ["name", "newest"])
def test_tampered_cursors_give_the_first_page(acme, cursor, order):
    _customer(acme, "Cursor Person")
    client = client_for(acme, "admin")
    first = client.get(reverse("customers:home"), {"order": order})
    response = client.get(reverse("customers:home"), {"order": order, "after": cursor})
    assert response.status_code == 200
    assert "Cursor Person" in response.content.decode()
    assert "Cursor Person" in first.content.decode()


@pytest.fixture
def number_field(acme):
    with schema_context(acme.schema):
        custom_field_create(
            actor=None, key="spend", data=CustomFieldInput(label="Spend", kind="number")
        )
    return "cf-spend-min"


@pytest.mark.parametrize("value", ["1e999999", "1e-20000", "NaN", "Infinity", "9" * 60])
def test_number_filters_out_of_range_are_form_errors(acme, number_field, value):
    client = client_for(acme, "admin")
    response = client.get(reverse("customers:home"), {number_field: value})
    assert response.status_code == 200
    assert "Some filters could not be read" in response.content.decode()
    export = client.get(
        reverse("transfer:export_start", kwargs={"kind": "customers"}), {number_field: value}
    )
    assert export.status_code == 400
    assert "Spend" in export.content.decode()


def test_a_plan_limit_beyond_the_column_is_a_form_error(acme, operator_client):
    top = integer_range(Tenant, "customer_limit")[1]
    url = reverse(
        "console:tenant_limits",
        urlconf=settings.PUBLIC_SCHEMA_URLCONF,
        kwargs={"slug": acme.tenant.slug},
    )
    response = operator_client.post(url, {"customer_limit": str(top + 1), "staff_limit": "5"})
    assert response.status_code == 400
    assert Tenant.objects.get(pk=acme.tenant.pk).staff_limit != 5
    ok = operator_client.post(url, {"customer_limit": str(top), "staff_limit": "5"})
    assert ok.status_code == 302
    assert Tenant.objects.get(pk=acme.tenant.pk).customer_limit == top


def test_an_invitation_email_longer_than_the_column_is_refused(acme):
    before = _invitations(acme)
    response = client_for(acme, "admin").post(
        _invite_url(),
        {"email": "a" * 250 + "@example.com", "role": "", "full_name": ""},
    )
    assert response.status_code in (200, 400)
    assert _invitations(acme) == before


def _invite_url() -> str:
    return reverse("admin_console:staff_invite")


def _invitations(member) -> int:
    with schema_context(member.schema):
        return Invitation.objects.count()


def test_the_admin_export_ignores_unknown_parameters(acme):
    response = client_for(acme, "admin").get(
        reverse("tenant_admin:customers_customer_export") + "?foo=1"
    )
    assert response.status_code == 400
    assert "could not be read" in response.content.decode()


# --- part 6: filters that cannot be read never widen ------------------------------------------


def test_an_invalid_filter_shows_its_error_and_no_rows(acme):
    _customer(acme, "Widening Check")
    client = client_for(acme, "admin")
    url = reverse("customers:home")
    assert "Widening Check" not in client.get(url, {"q": "zzzzzqqq"}).content.decode()
    page = client.get(url, {"q": "zzzzzqqq", "owner": "999999"}).content.decode()
    assert "Widening Check" not in page
    assert "Some filters could not be read" in page and "Owner" in page


def test_the_export_of_an_invalid_filter_is_refused(acme):
    _customer(acme, "Export Widening")
    client = client_for(acme, "admin")
    url = reverse("transfer:export_start", kwargs={"kind": "customers"})
    narrow = client.get(url, {"format": "csv", "q": "zzzzzqqq"})
    assert narrow.status_code == 200
    lines = list(csv.reader(io.StringIO(b"".join(narrow.streaming_content).decode("utf-8-sig"))))
    assert len(lines) == 1  # the header only
    refused = client.get(url, {"format": "csv", "q": "zzzzzqqq", "owner": "999999"})
    assert refused.status_code == 400
    assert "Owner" in refused.content.decode()


def test_a_saved_view_with_a_renamed_choice_exports_nothing(acme):
    client = client_for(acme, "admin")
    url = reverse("transfer:export_start", kwargs={"kind": "customers"})
    # "vip" was once a stage; the saved view still asks for it.
    response = client.get(url, {"format": "csv", "stage": "vip"})
    assert response.status_code == 400


# --- part 7 -----------------------------------------------------------------------------------


@pytest.fixture
def operator_client(acme) -> Client:
    operator = User.objects.create_superuser("ops-hostile@platform.test", "x-password-123")
    client = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
    client.force_login(operator)
    verify_session(client, operator)
    return client


def test_a_tenant_name_with_a_line_break_is_refused(operator_client):
    url = reverse("console:tenant_new", urlconf=settings.PUBLIC_SCHEMA_URLCONF)
    response = operator_client.post(
        url,
        {
            "slug": "linebreak",
            "name": "Bob\nShop",
            "owner_email": "o@example.com",
            "language": "en",
            "time_zone": "UTC",
            "currency": "CNY",
        },
    )
    assert response.status_code == 200
    assert not Tenant.objects.filter(slug="linebreak").exists()


def test_mail_subjects_are_plain_text_on_one_line(acme):
    from crm.tenants.mail import owner_welcome_send

    tenant = Tenant.objects.get(pk=acme.tenant.pk)
    tenant.name = "Bob's Shop & <Co>\nLine"  # as an older tenant may still be named
    with schema_context(acme.schema):
        user = User.objects.get(pk=acme.admin.pk)
        owner_welcome_send(tenant=tenant, user=user)
    assert mail.outbox[-1].subject == "Your CRM workspace Bob's Shop & <Co> Line is ready"


def test_invitation_subjects_are_not_html_escaped(acme, django_capture_on_commit_callbacks):
    Tenant.objects.filter(pk=acme.tenant.pk).update(name="Bob's Shop & <Co>")
    client = client_for(acme, "admin")
    with schema_context(acme.schema):
        from django.contrib.auth.models import Group

        from crm.accounts import roles

        role = Group.objects.get(name=roles.VIEWER).pk
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_invite_url(), {"email": "subject-check@example.com", "role": role})
    assert mail.outbox, "the invitation was sent"
    assert mail.outbox[-1].subject == "You are invited to Bob's Shop & <Co>'s CRM"


def test_a_suspend_reason_too_long_suspends_nothing(acme, operator_client):
    url = reverse(
        "console:tenant_suspend",
        urlconf=settings.PUBLIC_SCHEMA_URLCONF,
        kwargs={"slug": acme.tenant.slug},
    )
    response = operator_client.post(url, {"reason": "r" * 501})
    assert response.status_code == 400
    assert Tenant.objects.get(pk=acme.tenant.pk).status == Tenant.Status.READY
    assert not TenantEvent.objects.filter(
        tenant=acme.tenant, action=TenantEvent.Action.SUSPENDED
    ).exists()


@pytest.mark.parametrize("slug", ["xn--80ak6aa92e", "ab--cd"])
def test_punycode_slugs_are_refused(operator_client, slug):
    url = reverse("console:tenant_new", urlconf=settings.PUBLIC_SCHEMA_URLCONF)
    response = operator_client.post(
        url,
        {
            "slug": slug,
            "name": "Look Alike",
            "owner_email": "o@example.com",
            "language": "en",
            "time_zone": "UTC",
            "currency": "CNY",
        },
    )
    assert response.status_code == 200
    assert "third and fourth" in response.content.decode()
    assert not Tenant.objects.filter(slug=slug).exists()


def test_signed_in_pages_and_downloads_are_not_stored(acme):
    client = client_for(acme, "admin")
    for response in (
        client.get(reverse("customers:home")),
        client.get(
            reverse("transfer:export_start", kwargs={"kind": "customers"}), {"format": "csv"}
        ),
    ):
        assert "no-store" in response["Cache-Control"]


@override_settings(PASSWORD_RESET_PER_EMAIL=2, PASSWORD_RESET_PER_IP=4)
def test_password_reset_is_rate_limited(acme):
    client = client_for(acme)
    url = reverse("accounts:password_reset")
    email = acme.email("agent")
    # The counts live in Redis across runs: an address of this run's own.
    ip = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    answers = [client.post(url, {"email": email}, REMOTE_ADDR=ip).status_code for _ in range(3)]
    assert answers == [302, 302, 429]
    sent = len(mail.outbox)
    assert sent == 2
    other = client.post(url, {"email": acme.email("viewer")}, REMOTE_ADDR=ip)
    assert other.status_code == 302  # another email: the address's fourth request
    assert client.post(url, {"email": acme.email("admin")}, REMOTE_ADDR=ip).status_code == 429


def test_an_import_rejects_what_the_columns_cannot_hold_in_the_dry_run(acme):
    from tests.transfer.test_import_engine import check, commit, csv_bytes, reasons, start

    m = uuid.uuid4().hex[:8]
    data = csv_bytes(
        [
            ["姓名", "手机", "邮箱"],
            [f"庄{m}" + "庄" * 100, "13911110001", f"a{m}@example.cn"],
            [f"B{m}", "13911110002", "b" * 280 + "@example.cn"],
            [f"\ufdfa{m}" + "\ufdfa" * 40, "13911110003", ""],
        ]
    )
    with schema_context(acme.schema):
        job = check(acme, start(acme, data), match_by="phone", valid_only=True)
        assert (job.created_count, job.rejected_count) == (2, 1)
        assert [(row, column) for row, column, _reason in reasons(job)] == [(3, "邮箱")]
        job = commit(acme, job)
        assert (job.status, job.created_count) == ("done", 2)
        names = Customer.objects.filter(name__contains=m)
        assert names.count() == 2
        assert all(len(c.name_sort) <= NAME_SORT_MAX_LENGTH for c in names)


def test_a_queued_export_whose_filter_became_unreadable_fails_with_the_reason(acme):
    from crm.transfer.exporting import export_job_request, export_run
    from crm.transfer.models import ExportJob

    with schema_context(acme.schema):
        admin = User.objects.get(pk=acme.admin.pk)
        job = export_job_request(
            actor=admin, kind="customers", query="stage=vip", file_format="csv"
        )
        export_run(job.pk)
        job.refresh_from_db()
        assert job.status == ExportJob.Status.FAILED
        assert "Stage" in job.message and not job.file_path


def test_a_view_the_list_cannot_read_is_not_saved(acme):
    from customers.models import SavedView

    client = client_for(acme, "admin")
    with schema_context(acme.schema):
        before = SavedView.objects.count()
    response = client.post(
        reverse("customers:view_save"), {"name": "Broken", "query": "owner=999999"}, follow=True
    )
    assert response.status_code == 200
    assert "Owner" in response.content.decode()
    good = client.post(reverse("customers:view_save"), {"name": "Fine", "query": "q=ann"})
    assert good.status_code == 302
    with schema_context(acme.schema):
        assert list(SavedView.objects.values_list("name", flat=True).order_by("id"))[before:] == [
            "Fine"
        ]
