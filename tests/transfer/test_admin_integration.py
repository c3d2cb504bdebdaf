"""The Django admin on the tenant site: administrators only, exports through the resources
(formula-safe, masked without "see personal data", audited), imports sent to our wizard."""

import csv
import io
import re

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from customers.models import Customer
from customers.resources import CustomerResource, OrderResource
from customers.transfer_exports import CUSTOMER_HEADERS, ORDER_HEADERS
from tests.conftest import client_for
from tests.transfer.test_exports import EVIL, _make

pytestmark = pytest.mark.django_db


def test_resources_have_the_export_kinds_columns_and_mask_and_escape(acme):
    made = _make(acme, "adm")
    with schema_context(acme.schema):
        assert CustomerResource().get_export_headers() == list(CUSTOMER_HEADERS)
        assert OrderResource().get_export_headers() == list(ORDER_HEADERS)
        marketing = User.objects.get(pk=acme.marketing.pk)
        manager = User.objects.get(pk=acme.manager.pk)
        queryset = Customer.objects.filter(pk__in=[c.pk for c in made]).order_by("id")
        masked = CustomerResource(user=marketing).export(queryset=queryset)
        full = CustomerResource(user=manager).export(queryset=queryset)
    assert masked["name"][0] == "'" + EVIL and masked["name"][3] == "'+赵六"
    assert all("1380000" not in v and v for v in masked["phones"])
    assert full["phones"][1] == "'+8613800000002" and full["emails"][1] == "b@x.cn"


def test_the_admin_lists_for_administrators_and_points_imports_to_the_wizard(acme):
    _make(acme, "adm2")
    page = client_for(acme, "admin").get(reverse("tenant_admin:customers_customer_changelist"))
    body = page.content.decode()
    assert page.status_code == 200 and "李四" in body
    assert "/transfer/imports/new/?kind=customers" in body
    assert 'href="/django-admin/customers/customer/add/' not in body  # read-mostly
    assert client_for(acme, "manager").get(reverse("tenant_admin:index")).status_code == 403
    anonymous = client_for(acme).get(reverse("tenant_admin:index"))
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("accounts:login"))


def test_an_admin_export_is_formula_safe_and_audited(acme):
    _make(acme, "adm3")
    admin = client_for(acme, "admin")
    url = reverse("tenant_admin:customers_customer_export")
    form = admin.get(url).content.decode()
    csv_index = re.search(r'<option value="(\d+)"[^>]*>csv</option>', form).group(1)
    fields = {f"customerresource_{h}": "on" for h in CUSTOMER_HEADERS}
    response = admin.post(url, {"format": csv_index, "resource": "0", **fields})
    assert response.status_code == 200, response.content[:500]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    names = {r["name"] for r in rows}
    assert "'" + EVIL in names and EVIL not in names
    with schema_context(acme.schema):
        entry = AuditEntry.objects.filter(action="export").order_by("-id").first()
        assert entry.detail["admin"] is True and entry.actor_id == acme.admin.pk
        assert entry.detail["rows"] == len(rows)


def test_the_admin_still_needs_the_second_factor(acme):
    from django.test import Client

    client = Client(HTTP_HOST=acme.host)
    with schema_context(acme.schema):
        client.force_login(User.objects.get(pk=acme.admin.pk))  # password only, no TOTP yet
    response = client.get(reverse("tenant_admin:customers_customer_changelist"))
    assert response.status_code == 302 and "two-factor" in response.url
