"""The real UI in headless Chromium, against gunicorn, a Celery worker, Redis and Postgres."""

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context
from playwright.sync_api import Page, expect

from crm.tenants import services
from crm.tenants.models import Tenant
from tests.e2e.conftest import enter_code, shot
from tests.testkit.cast import PASSWORD
from tests.testkit.smtp import first_link

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def tenant_url(live_server_url: str, slug: str) -> str:
    return live_server_url.replace("//localhost", f"//{slug}.localhost")


def test_staff_log_in_switch_language_and_log_out(page: Page, live_server_url, acme, authenticator):
    base = tenant_url(live_server_url, "acme")
    device = authenticator(acme.schema, acme.admin.pk)  # admins sign in with a second factor
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, "tenant-login")

    page.get_by_label("Email").fill(acme.email("admin"))
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("do not match an active account")).to_be_visible()

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    enter_code(page, acme.schema, device)
    expect(page.get_by_role("heading", name="Welcome, acme")).to_be_visible()
    nav = page.locator("nav.container-fluid")
    for section in ("Customers", "Support", "Loyalty", "Analytics", "Admin"):
        expect(nav.get_by_role("link", name=section, exact=True)).to_be_visible()
    shot(page, "tenant-home-en")

    nav.get_by_role("link", name="Customers", exact=True).click()
    expect(page.get_by_text("No customers yet")).to_be_visible()

    page.get_by_label("Interface language").select_option("zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(nav.get_by_role("link", name="客户", exact=True)).to_be_visible()
    expect(page).to_have_url(base + "/customers/")
    shot(page, "tenant-customers-zh")

    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(base + "/login/")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login/"))


def test_operator_creates_a_tenant_and_its_owner_logs_in_once_ready(
    page: Page, live_server_url, celery_worker, committed_db, smtp_server, authenticator
):
    get_user_model().objects.get_or_create(
        email="ops@platform.test", defaults={"is_staff": True, "is_superuser": True}
    )[0].set_password(PASSWORD)
    operator = get_user_model().objects.get(email="ops@platform.test")
    operator.set_password(PASSWORD)
    operator.save()
    operator_device = authenticator("public", operator.pk)  # operators sign in with a code
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    owner = f"boss@{slug}.test"

    page.goto(live_server_url + "/")
    page.get_by_label("Email").fill("ops@platform.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    enter_code(page, "public", operator_device)
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    shot(page, "console-tenants")

    page.get_by_role("link", name="New tenant").first.click()
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_text("This field is required.").first).to_be_visible()

    page.get_by_label("Slug").fill(slug)
    page.get_by_label("Business name").fill("E2E 花店 Florist")
    page.get_by_label("Owner admin email").fill(owner)
    page.get_by_label("Language", exact=True).select_option("zh-hans")
    page.get_by_label("Time zone").select_option("Asia/Shanghai")
    page.get_by_label("Currency").select_option("CNY")
    shot(page, "console-new-tenant")
    page.get_by_role("button", name="Create tenant").click()

    try:
        # The status panel polls until the worker has cloned the schema.
        expect(page.locator("[data-status]")).to_have_attribute(
            "data-status", "ready", timeout=30_000
        )
        shot(page, "console-tenant-ready")

        link = first_link(smtp_server.wait_for(owner))
        assert link.startswith(tenant_url(live_server_url, slug))
        page.goto(link)
        page.get_by_label("新密码", exact=True).fill("florist-password-1")
        page.get_by_label("新密码确认").fill("florist-password-1")
        page.get_by_role("button", name="保存密码").click()
        expect(page.get_by_role("heading", name="密码已保存")).to_be_visible()

        page.get_by_role("button", name="登录").click()
        schema = Tenant.objects.get(slug=slug).schema_name
        with schema_context(schema):
            owner_pk = get_user_model().objects.get(email=owner).pk
        owner_device = authenticator(schema, owner_pk)  # the owner is an admin
        page.get_by_label("电子邮箱").fill(owner)
        page.get_by_label("密码").fill("florist-password-1")
        page.get_by_role("button", name="登录").click()
        enter_code(page, schema, owner_device)
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(
            page.locator("header nav").get_by_role("link", name="管理", exact=True)
        ).to_be_visible()
        shot(page, "new-tenant-home-zh")
    finally:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is not None:
            services.tenant_delete(actor=None, tenant=tenant)
