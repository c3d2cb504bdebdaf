"""Every top-level page fits a laptop (1366 px) and a phone (390 px): the page itself never
scrolls sideways (wide tables scroll inside their own box), and no page logs a console error or
asks for something that fails (a 404 asset, a request refused by the CSP)."""

import datetime
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tenants.utils import schema_context
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect

from crm.accounts.models import Team, User
from crm.transfer.models import ImportJob
from customers.models import Customer
from customers.services import CustomerInput, customer_create, order_create
from tests.e2e.conftest import SCREENSHOTS, enter_code
from tests.e2e.test_browser import tenant_url
from tests.testkit.cast import PASSWORD
from tests.testkit.cleanup import customers_delete

pytestmark = [pytest.mark.e2e]

WIDTHS = {"laptop": (1366, 800), "phone": (390, 844)}
# Pages whose screenshots a reviewer looks at, at both widths.
SHOWN = {
    "customers",
    "customer",
    "imports",
    "audit",
    "support",
    "ticket",
    "loyalty",
    "loyalty-settings",
    "feedback-reports",
    "analytics",
    "segment-new",
    "churn-model",
    "churn-risk",
}
# Lists whose every column fits a laptop without scrolling their box, one line a row.
WHOLE_AT_LAPTOP = {"customers": ".customer-table", "imports": ".import-list"}

# How far a list's box scrolls sideways, and its tallest row over its header row.
_TABLE_FIT = """(selector) => {
  const table = document.querySelector(selector);
  const box = table.closest(".table-scroll");
  const head = table.querySelector("thead tr").getBoundingClientRect().height;
  const rows = [...table.querySelectorAll("tbody tr")].map((r) => r.getBoundingClientRect().height);
  return [box.scrollWidth - box.clientWidth, Math.max(...rows) / head];
}"""


@dataclass
class Trouble:
    """What the browser reported while a page loaded."""

    lines: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.lines.append(f"script error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":  # a CSP refusal or a script error shows up here
            self.lines.append(f"console error: {message.text}")

    def _failed(self, request: Request) -> None:
        # Leaving a page cancels what it still loads (the icon, often): not the server's fault.
        # Answers with an error status are caught by _response.
        if request.failure != "net::ERR_ABORTED":
            self.lines.append(f"failed: {request.url} {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.lines.append(f"{response.status}: {response.url}")


def _overflow(page: Page) -> int:
    """How far the page itself scrolls sideways, in CSS pixels."""
    return int(
        page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


# The outermost elements that reach past the right edge, to say what to fix.
_CULPRITS = """() => {
  const edge = document.documentElement.clientWidth + 1;
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.getBoundingClientRect().right <= edge) continue;
    let parent = el.parentElement, inner = false;
    while (parent && parent !== document.body) {
      if (parent.getBoundingClientRect().right > edge) { inner = true; break; }
      parent = parent.parentElement;
    }
    if (!inner) out.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "")
      + " right=" + Math.round(el.getBoundingClientRect().right));
  }
  return out.slice(0, 5).join(", ");
}"""


def _walk(page: Page, trouble: Trouble, base: str, paths: dict[str, str], width: str) -> list[str]:
    problems = []
    for name, path in paths.items():
        trouble.lines.clear()
        response = page.goto(base + path)
        assert response is not None and response.ok, (
            f"{name} ({path}): {response and response.status}"
        )
        page.wait_for_load_state("networkidle")
        overflow = _overflow(page)
        if overflow > 1:
            culprits = page.evaluate(_CULPRITS)
            problems.append(f"{width} {name} ({path}) scrolls sideways by {overflow}px: {culprits}")
        problems += [f"{width} {name} ({path}) {line}" for line in trouble.lines]
        if width == "laptop" and name in WHOLE_AT_LAPTOP:
            hidden, tallest = page.evaluate(_TABLE_FIT, WHOLE_AT_LAPTOP[name])
            if hidden > 1 or tallest > 1.3:
                problems.append(
                    f"{width} {name}: {hidden}px of the list hidden, a row {tallest:.1f}x its head"
                )
        if name in SHOWN:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"layout-{name}-{width}.png"), full_page=True)
    return problems


def _context_page(browser: Browser, width: str) -> tuple[Page, Trouble]:
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    trouble = Trouble()
    trouble.watch(page)
    return page, trouble


@pytest.fixture
def crowded_acme(acme, committed_db) -> Iterator[dict[str, int]]:
    """A customer owned by someone in two long-named teams, and a finished import: what makes the
    list's owner cell and the imports list wide."""
    marker = uuid.uuid4().hex[:6]
    with schema_context(acme.schema):
        manager = User.objects.get(pk=acme.manager.pk)
        teams = [
            Team.objects.create(name=f"Shanghai flagship store counter {marker}"),
            Team.objects.create(name=f"Key accounts and wholesale {marker}"),
        ]
        for team in teams:
            team.members.add(manager)
        customer = customer_create(
            actor=None,
            data=CustomerInput(
                name=f"欧阳娜娜 Layout {marker}",
                phones=["+86 138 0013 8000"],
                emails=[f"layout.{marker}@example.cn"],
                city="上海",
                address="上海市浦东新区世纪大道 100 号 环球金融中心 72 层",
                tags=[f"layout-{marker}", "vip", "wholesale"],
                owner=manager,
                team=teams[0],
                external_id=f"EXT-{marker}",
            ),
        )
        # Points and a tier, as the list's points column shows them at their widest.
        order_create(
            actor=None,
            customer=customer,
            number=f"LAYOUT-{marker}",
            ordered_at=timezone.now(),
            amount=Decimal("16000"),
            currency="GBP",
            status="completed",
        )
        job = ImportJob.objects.create(
            kind="customers",
            status=ImportJob.Status.DONE,
            original_name=f"客户名单 spring campaign {marker}.csv",
            file_path="",
            file_format="csv",
            rows_total=1200,
            rows_done=1200,
            created_count=1100,
            updated_count=90,
            unchanged_count=5,
            rejected_count=5,
            created_by=User.objects.get(pk=acme.admin.pk),
            started_at=timezone.now(),
            finished_at=timezone.now(),
        )
        ticket = _layout_ticket(customer, manager, marker)
        # The churn pages' list: the complaint past its resolution time flags the customer.
        from analytics.churn import churn_refresh
        from support.models import Ticket

        Ticket.objects.filter(pk=ticket.pk).update(
            resolution_due=timezone.now() - datetime.timedelta(hours=30)
        )
        churn_refresh(as_of=timezone.localdate())
        # A saved queue view with a long name: the queue page's saved views must wrap.
        from support.models import TicketSavedView

        saved_view = TicketSavedView.objects.create(
            user=User.objects.get(pk=acme.admin.pk),
            name=f"华东区物流投诉·紧急·未分配 East China delivery complaints {marker}"[:100],
            query="queue=all&priority=urgent&escalated=on",
            shared=True,
        )
    yield {"customer": customer.pk, "job": job.pk, "ticket": ticket.pk}
    with schema_context(acme.schema):
        from analytics.models_churn import ChurnFit, ChurnScore
        from support.models import Ticket

        ChurnScore.objects.all().delete()
        ChurnFit.objects.all().delete()
        saved_view.delete()

        Ticket.objects.filter(pk=ticket.pk).delete()
        ImportJob.objects.filter(pk=job.pk).delete()
        customers_delete([customer.pk])
        Team.objects.filter(pk__in=[t.pk for t in teams]).delete()


def _layout_ticket(customer: Customer, manager: User, marker: str):  # type: ignore[no-untyped-def]
    """A complaint with a long subject, a reply and a note: what makes the ticket page wide."""
    from support.services import TicketInput, ticket_create, ticket_note, ticket_reply

    ticket = ticket_create(
        actor=manager,
        data=TicketInput(
            subject=f"快递包裹破损，要求补发并赔偿 parcel crushed in transit {marker}",
            description="收到时外箱严重变形，里面的茶具碎了两件。" * 5,
            customer=customer,
            kind="complaint",
            severity="major",
            category="物流 Delivery",
            tags=["vip", f"layout-{marker}"],
            assignee=manager,
        ),
    )
    ticket_reply(actor=manager, ticket=ticket, body="非常抱歉，我们马上为您安排补发。")
    ticket_note(actor=manager, ticket=ticket, body="Warehouse: reship from Pudong " * 8)
    return ticket


@pytest.mark.parametrize("width", list(WIDTHS))
def test_tenant_pages_fit_laptop_and_phone(
    browser: Browser, width, live_server_url, acme, crowded_acme, authenticator
):
    base = tenant_url(live_server_url, "acme")
    device = authenticator(acme.schema, acme.admin.pk)
    page, trouble = _context_page(browser, width)
    try:
        page.goto(base + "/login/")
        page.get_by_label("Email").fill(acme.email("admin"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        enter_code(page, acme.schema, device)
        expect(page.get_by_role("heading", name="Welcome, acme")).to_be_visible()
        customer, job = crowded_acme["customer"], crowded_acme["job"]
        paths = {
            "home": "/",
            "customers": "/customers/",
            "customer": f"/customers/{customer}/",
            "customer-form": "/customers/new/",
            "customer-edit": f"/customers/{customer}/edit/",
            "duplicates": "/customers/duplicates/",
            "merges": "/customers/merges/",
            "custom-fields": "/customers/fields/",
            "imports": "/transfer/imports/",
            "import-new": "/transfer/imports/new/",
            "import-job": f"/transfer/imports/{job}/",
            "exports": "/transfer/exports/",
            "staff": "/admin-console/staff/",
            "staff-edit": f"/admin-console/staff/{acme.manager.pk}/",
            "staff-access": f"/admin-console/staff/{acme.manager.pk}/access/",
            "roles": "/admin-console/roles/",
            "teams": "/admin-console/teams/",
            "audit": "/admin-console/audit/",
            "security": "/admin-console/security/",
            "api-tokens": "/admin-console/api-tokens/",
            "support": "/support/?queue=all",
            "ticket": f"/support/{crowded_acme['ticket']}/",
            "ticket-new": "/support/new/",
            "support-settings": "/support/settings/",
            "canned-responses": "/support/canned/",
            "feedback-reports": "/support/feedback/",
            "feedback-comments": "/support/feedback/comments/",
            "feedback-sends": "/support/feedback/sends/",
            "feedback-settings": "/support/feedback/settings/",
            "sla-overrides": "/support/settings/sla-overrides/?filter=tier",
            "support-reports": "/support/reports/",
            "loyalty": "/loyalty/",
            "loyalty-approvals": "/loyalty/approvals/",
            "loyalty-settings": "/loyalty/settings/",
            "loyalty-history": f"/loyalty/customers/{customer}/history/",
            "loyalty-statement": f"/loyalty/customers/{customer}/statement/",
            "analytics": "/analytics/",
            "segments": "/analytics/segments/",
            "segment-new": "/analytics/segments/new/",
            "churn-model": "/analytics/churn/",
            "churn-risk": "/analytics/churn/risk/",
            "churn-settings": "/analytics/churn/settings/",
            "two-factor": "/two-factor/",
        }
        problems = _walk(page, trouble, base, paths, width)
        assert not problems, "\n".join(problems)
        page.goto(base + "/")
        if width == "phone":
            # The navigation folds into a menu that opens and shows every section.
            nav = page.locator("header nav")
            expect(nav.get_by_role("link", name="Customers", exact=True)).to_be_hidden()
            nav.locator("summary.nav-toggle").click()
            for section in ("Customers", "Support", "Import / export", "Admin"):
                expect(nav.get_by_role("link", name=section, exact=True)).to_be_visible()
            assert _overflow(page) <= 1
            page.screenshot(path=str(SCREENSHOTS / "layout-menu-phone.png"))
        else:
            # On a laptop the sections show in a row, with no menu button.
            nav = page.locator("header nav")
            expect(nav.locator("summary.nav-toggle")).to_be_hidden()
            expect(nav.get_by_role("link", name="Customers", exact=True)).to_be_visible()
        # Browsers ask for /favicon.ico unless a page names its icon; ours is a static file.
        icon = page.locator('head link[rel="icon"]').get_attribute("href")
        assert icon
        answer = page.goto(base + icon)
        assert answer is not None and answer.ok and "svg" in answer.headers["content-type"]
    finally:
        page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_console_pages_fit_laptop_and_phone(
    browser: Browser, width, live_server_url, acme, committed_db, authenticator
):
    operator, _ = get_user_model().objects.get_or_create(
        email="ops@platform.test", defaults={"is_staff": True, "is_superuser": True}
    )
    operator.set_password(PASSWORD)
    operator.save()
    device = authenticator("public", operator.pk)
    page, trouble = _context_page(browser, width)
    try:
        page.goto(live_server_url + "/login/")
        page.get_by_label("Email").fill("ops@platform.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        enter_code(page, "public", device)
        expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
        paths = {
            "tenants": "/",
            "tenant": f"/tenants/{acme.tenant.slug}/",
            "tenant-new": "/tenants/new/",
        }
        problems = _walk(page, trouble, live_server_url, paths, width)
        assert not problems, "\n".join(problems)
    finally:
        page.context.close()
