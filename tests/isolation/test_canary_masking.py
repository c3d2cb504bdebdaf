"""The canary walk: unique personal values are planted in acme (a customer's phone, email,
birthday, address and personal custom field; a merged-away twin's contacts, kept in the merge's
before-image; a rejected import row; the audit entries all of that writes, and one of an export
of a search by phone; an export file written unmasked), then every URL pattern of both URLconfs
is requested as each role that may not see personal data. No response body (downloads
included) may carry a canary, nor the phone's digits in any spelling.

Every URL is walked with the isolation suite's cases (tests/isolation/cases.py): GET routes
with the planted records where a route names one, POST routes with an empty form (their
answers are redirects, errors or files, and none may quote a canary either). A route is left
out only by name in NOT_WALKED, with the reason; a new route fails the coverage check until
it is walked or listed."""

import datetime
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.transfer import services as transfer_services
from crm.transfer.exporting import export_audit, export_path, export_run
from crm.transfer.models import ExportJob, ImportJob
from customers.custom_field_services import CustomFieldInput, custom_field_create
from customers.merge import customer_merge
from customers.models import Customer, DuplicatePair, Order
from customers.services import CustomerInput, customer_create
from support.models import Ticket
from support.services import TicketInput, ticket_create
from tests.conftest import client_for
from tests.isolation.cases import PUBLIC_CASES, TENANT_CASES, Case
from tests.isolation.urls import named_patterns
from tests.testkit.cast import PASSWORD, TenantCast
from tests.testkit.masked_roles import MASKED_ROLES, client_as, masked_staff
from tests.testkit.otp import verify_session

pytestmark = pytest.mark.django_db

# Roles of the fixed cast without "see personal data", and the custom ones of masked_roles.
CAST_ROLES = ("marketing", "viewer")
ROLES = (*CAST_ROLES, *MASKED_ROLES)

PHONE = "+86 139 7531 8642"
PHONE_DIGITS = "13975318642"
TWIN_PHONE_DIGITS = "13975319753"
CANARIES = (
    "+8613975318642",
    PHONE_DIGITS,
    "139 7531 8642",
    "139-7531-8642",
    "canary.q7x3",  # the email's local part: the mask keeps only its first letter
    "example-q7x3.org",
    "1979-11-23",
    "Nov. 23, 1979",
    "November 23, 1979",
    "23 November 1979",
    "1979年11月23日",
    "Canary Wharf",
    "CANARY-ID-Q7X3",
    TWIN_PHONE_DIGITS,
    "twin.q7x3",
    "rejected.q7x3",
    "1979-02-30",
)

# Routes not walked, and why. Everything else in both URLconfs is requested.
NOT_WALKED = {
    "accounts:logout": "ends the session the walk uses; answers with a redirect",
}
_CONSOLE_ACTION = "changes a tenant's state and redirects to its page, which is walked"
NOT_WALKED_CONSOLE = {
    "accounts:logout": "ends the session the walk uses; answers with a redirect",
    "console:tenant_suspend": _CONSOLE_ACTION,
    "console:tenant_resume": _CONSOLE_ACTION,
    "console:tenant_retry": _CONSOLE_ACTION,
    "console:tenant_limits": _CONSOLE_ACTION,
    "accounts:security_policy": "changes the platform's sign-in policy; redirects",
}


@dataclass
class Planted:
    customer: Customer
    other: Customer  # a plain customer, for the merge page's pair
    pair: DuplicatePair
    merge_id: int
    order: Order
    import_job: ImportJob
    export_job: ExportJob
    # A support ticket from the web form, not linked to the customer: its requester's email
    # and phone are on the ticket page (support, issue 16).
    ticket: Ticket | None = None


def _plant(member: TenantCast, importer: User) -> Planted:
    with schema_context(member.schema):
        agent = User.objects.get(pk=member.users["agent"].pk)
        key = custom_field_create(
            actor=None,
            key=f"canary_{uuid.uuid4().hex[:6]}",
            data=CustomFieldInput(label="ID card", kind="text", personal=True),
        ).key
        customer = customer_create(
            actor=None,
            data=CustomerInput(
                name="金丝雀 Canary",
                phones=[PHONE],
                emails=["canary.q7x3@example-q7x3.org"],
                birthday=datetime.date(1979, 11, 23),
                address="7 Canary Wharf Lane",
                city="Shanghai",
                owner=agent,
                custom={key: "CANARY-ID-Q7X3"},
            ),
        )
        twin = customer_create(
            actor=None,
            data=CustomerInput(
                name="金丝雀 Canary",
                phones=["+86 139 7531 9753"],
                emails=["twin.q7x3@example-q7x3.org"],
                birthday=datetime.date(1979, 11, 23),
                owner=agent,
            ),
        )
        merge = customer_merge(actor=None, keep=customer, drop=twin, chosen={})
        customer.refresh_from_db()
        other = customer_create(
            actor=None, data=CustomerInput(name="金丝雀 Canary Two", city="Shanghai", owner=agent)
        )
        pair = DuplicatePair.objects.create(
            customer_a=customer, customer_b=other, score=50, reasons=["name_city"]
        )
        order = Order.objects.create(
            number=f"CANARY-{uuid.uuid4().hex[:8]}",
            customer=customer,
            ordered_at=timezone.now(),
            amount=Decimal("19.90"),
            currency="GBP",
        )
        rows = (
            "姓名,手机,邮箱,生日\r\n"
            "金丝雀导入,13975310000,rejected.q7x3@example-q7x3.org,1979-02-30\r\n"
        )
        job = transfer_services.import_start(
            actor=importer,
            kind="customers",
            upload=io.BytesIO(rows.encode()),
            filename="canary.csv",
        )
        job = transfer_services.import_configure(
            actor=importer,
            job=job,
            mapping=job.mapping,
            match_by="phone",
            update_existing=True,
            valid_only=True,
        )
        job = transfer_services.import_check_request(actor=importer, job=job, inline=True)
        assert job.rejected_count == 1
        export = ExportJob.objects.create(
            kind="customers",
            file_format="csv",
            created_by=User.objects.get(pk=member.users["admin"].pk),
        )
        export_run(export.pk)
        # A manager's export of a search by phone: the audit entry keeps the filter.
        export_audit(
            actor=User.objects.get(pk=member.users["manager"].pk),
            kind="customers",
            query=f"q={PHONE_DIGITS}",
            rows=1,
            fmt="csv",
        )
        export.refresh_from_db()
        assert export.unmasked and PHONE_DIGITS in export_path(export).read_text("utf-8-sig")
        ticket = ticket_create(
            actor=None,
            data=TicketInput(
                subject="Canary's parcel",
                requester_name="金丝雀",
                requester_email="canary.q7x3@example-q7x3.org",
                requester_phone=PHONE,
                channel="web",
                assignee=agent,
            ),
        )
        Ticket.objects.filter(pk=ticket.pk).update(customer=None)
        return Planted(customer, other, pair, merge.pk, order, job, export, ticket)


# Routes that name a record: the planted one, so its page is the one checked.
PLANTED_KWARGS: dict[str, Callable[[Planted], dict[str, object]]] = {
    "customers:detail": lambda p: {"pk": p.customer.pk},
    "customers:edit": lambda p: {"pk": p.customer.pk},
    "customers:merge": lambda p: {"a": p.customer.pk, "b": p.other.pk},
    "transfer:import_detail": lambda p: {"pk": p.import_job.pk},
    "transfer:import_map": lambda p: {"pk": p.import_job.pk},
    "transfer:import_progress": lambda p: {"pk": p.import_job.pk},
    "transfer:import_rejected_csv": lambda p: {"pk": p.import_job.pk},
    "transfer:import_undo": lambda p: {"pk": p.import_job.pk},
    "transfer:export_download": lambda p: {"pk": p.export_job.pk},
    "tenant_admin:customers_customer_change": lambda p: {"object_id": p.customer.pk},
    "tenant_admin:customers_customer_history": lambda p: {"object_id": p.customer.pk},
    "tenant_admin:customers_order_change": lambda p: {"object_id": p.order.pk},
    "tenant_admin:customers_order_history": lambda p: {"object_id": p.order.pk},
    "support:detail": lambda p: {"pk": p.ticket.pk if p.ticket else 0},
}

# Query strings that make a GET route show more of what was planted.
QUERIES = {
    "customers:home": "q=金丝雀",
    "transfer:export_start": "format=csv",
}


# POST routes whose answer can carry records: sent with a form that asks for them.
POST_DATA: dict[str, Callable[[Planted], dict[str, object]]] = {
    "customers:bulk": lambda p: {"action": "export", "ids": [p.customer.pk]},
}


def _body(response) -> str:
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    return content.decode("utf-8", errors="replace")


def _leaks(body: str) -> list[str]:
    found = [canary for canary in CANARIES if canary in body]
    digits = re.sub(r"\D", "", body)
    found += [d for d in (PHONE_DIGITS, TWIN_PHONE_DIGITS) if d in digits and d not in found]
    return found


def _url(name: str, case: Case, member: TenantCast, planted: Planted | None, urlconf: str) -> str:
    kwargs: dict[str, object]
    if planted is not None and name in PLANTED_KWARGS:
        kwargs = PLANTED_KWARGS[name](planted)
    else:
        kwargs = dict(case.kwargs(member)) if case.kwargs else {}
    url = reverse(name, urlconf=urlconf, kwargs=kwargs)
    return f"{url}?{QUERIES[name]}" if name in QUERIES else url


def _walk(client: Client, member: TenantCast, urlconf: str, planted: Planted | None):
    """Every walked route, GETs first (so no POST changes what they show): the leaks by route,
    and each GET route's status (so a test can tell the pages really answered)."""
    console = urlconf == settings.PUBLIC_SCHEMA_URLCONF
    cases, skipped = (PUBLIC_CASES, NOT_WALKED_CONSOLE) if console else (TENANT_CASES, NOT_WALKED)
    leaks: dict[str, list[str]] = {}
    statuses: dict[str, int] = {}
    ordered = sorted(cases.items(), key=lambda item: (item[1].method != "GET", item[0]))
    for name, case in ordered:
        if name in skipped:
            continue
        url = _url(name, case, member, planted if case.method == "GET" else None, urlconf)
        if case.method == "GET":
            response = client.get(url)
        else:
            data = POST_DATA[name](planted) if planted and name in POST_DATA else {}
            response = client.post(url, data)
        found = _leaks(_body(response))
        if found:
            leaks[f"{case.method} {url} ({name}, {response.status_code})"] = found
        if case.method == "GET":
            statuses[name] = response.status_code
    return leaks, statuses


@pytest.mark.parametrize(
    ("urlconf", "cases", "skipped"),
    [
        (settings.ROOT_URLCONF, TENANT_CASES, NOT_WALKED),
        (settings.PUBLIC_SCHEMA_URLCONF, PUBLIC_CASES, NOT_WALKED_CONSOLE),
    ],
)
def test_every_route_is_walked_or_listed_with_a_reason(urlconf, cases, skipped):
    """_walk requests every case but the skipped ones; every route must have a case."""
    routes = set(named_patterns(urlconf))
    assert sorted(routes - set(cases)) == [], "add a case in tests/isolation/cases.py"
    assert sorted(set(skipped) - routes) == [], "stale entries of routes not walked"
    assert sorted(set(PLANTED_KWARGS) - set(TENANT_CASES)) == []


def test_the_canaries_are_on_the_pages_for_someone_who_may_see_them(acme):
    """The control: the walk would notice them (the manager sees personal data)."""
    steward = masked_staff(acme, "steward")
    planted = _plant(acme, steward)
    manager = client_for(acme, "manager")
    detail = manager.get(reverse("customers:detail", args=[planted.customer.pk]))
    assert set(_leaks(_body(detail))) >= {"139 7531 8642", PHONE_DIGITS, "canary.q7x3"}
    edit = manager.get(reverse("customers:edit", args=[planted.customer.pk]))
    assert "Canary Wharf" in _leaks(_body(edit))
    download = manager.get(reverse("transfer:export_start", args=["customers"]) + "?format=csv")
    assert PHONE_DIGITS in _leaks(_body(download))
    bulk = manager.post(reverse("customers:bulk"), POST_DATA["customers:bulk"](planted))
    assert PHONE_DIGITS in _leaks(_body(bulk))
    assert planted.ticket is not None
    ticket = manager.get(reverse("support:detail", args=[planted.ticket.pk]))
    assert {"canary.q7x3", PHONE_DIGITS} <= set(_leaks(_body(ticket)))


# Pages holding the planted values that each role opens (200), so the walk is not vacuous.
_VIEWING = ("customers:home", "customers:detail", "support:detail")
REACHES = {
    "viewer": _VIEWING,
    "marketing": (*_VIEWING, "transfer:export_start"),
    "editor": (*_VIEWING, "customers:edit", "customers:duplicates", "customers:merges"),
    "steward": (
        *_VIEWING,
        "transfer:import_detail",
        "transfer:export_start",
        "admin_console:audit_log",
        "tenant_admin:customers_customer_change",
        "tenant_admin:customers_order_change",
    ),
}


@pytest.mark.parametrize("role", ROLES)
def test_no_canary_reaches_a_role_without_personal_data(role, acme):
    importer = masked_staff(acme, "steward")
    planted = _plant(acme, importer)
    if role in CAST_ROLES:
        client = client_for(acme, role)
    elif role == "steward":
        client = client_as(acme, importer)
    else:
        client = client_as(acme, masked_staff(acme, role))
    leaks, statuses = _walk(client, acme, settings.ROOT_URLCONF, planted)
    assert leaks == {}
    opened = {name: statuses[name] for name in REACHES[role]}
    assert opened == dict.fromkeys(REACHES[role], 200), "the walk must see the planted pages"


def test_no_canary_reaches_the_platform_console(acme):
    """The console holds no personal data: an operator walking it finds none of acme's."""
    importer = masked_staff(acme, "steward")
    _plant(acme, importer)
    operator = User.objects.create_superuser(f"ops-{uuid.uuid4().hex[:6]}@platform.test", PASSWORD)
    client = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
    client.force_login(operator)
    verify_session(client, operator)
    leaks, statuses = _walk(client, acme, settings.PUBLIC_SCHEMA_URLCONF, None)
    assert leaks == {}
    assert statuses["console:tenant_detail"] == 200
