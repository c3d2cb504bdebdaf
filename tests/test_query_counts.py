"""List pages run a bounded number of queries, however many rows they show."""

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts import services
from crm.accounts.models import AuditEntry, Team, User
from tests.conftest import client_for
from tests.testkit.listing import listed_names
from tests.testkit.otp import verify_session

pytestmark = pytest.mark.django_db


def _queries(client: Client, url: str) -> int:
    """Queries for one page view, not counting django-tenants' SET search_path. A first view
    warms the caches (content types, permissions) as any earlier request would have."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return sum(1 for q in captured.captured_queries if "search_path" not in q["sql"])


def _grow(member, n: int) -> None:
    with schema_context(member.schema):
        team = Team.objects.create(name=f"Team {User.objects.count()}")
        for i in range(n):
            user = services.staff_create(
                actor=None,
                email=f"bulk{User.objects.count()}-{i}@example.com",
                full_name=f"Bulk {i}",
                role="Agent",
                password=None,
            )
            team.members.add(user)
            AuditEntry.objects.create(action="export", actor_id=user.pk)


@pytest.mark.parametrize(
    "name",
    [
        "admin_console:staff_list",
        "admin_console:audit_log",
        "admin_console:role_list",
        "admin_console:team_list",
    ],
)
def test_admin_lists_do_not_grow_with_rows(name, acme):
    admin = client_for(acme, "admin")
    url = reverse(name)
    _grow(acme, 3)
    few = _queries(admin, url)
    _grow(acme, 30)
    many = _queries(admin, url)
    assert many == few, f"{name}: {few} queries with few rows, {many} with many"
    assert many <= 16


def test_the_console_list_does_not_grow_with_tenants(acme, globex):
    operator = User.objects.create_superuser("ops@platform.test", "x-password-123")
    client = Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)
    client.force_login(operator)
    verify_session(client, operator)
    assert _queries(client, "/") <= 10


def _customer_list_data(member) -> None:
    """Enough of everything the customer list shows or offers: customers with phones and emails
    owned across teams, custom fields of each kind, and a saved view for every role."""
    from customers.models import CustomField, SavedView
    from customers.services import CustomerInput, customer_create

    with schema_context(member.schema):
        team = Team.objects.create(name="North store")
        team.members.add(member.users["agent"])
        CustomField.objects.create(key="tier", label="Tier", kind="choice", choices=["A", "B"])
        CustomField.objects.create(key="spend", label="Spend", kind="number")
        CustomField.objects.create(key="joined", label="Joined", kind="date")
        CustomField.objects.create(key="hobby", label="Hobby", kind="text")
        CustomField.objects.create(key="ssn", label="ID card", kind="text", personal=True)
        for i in range(60):
            customer_create(
                actor=None,
                data=CustomerInput(
                    name=f"张伟 {i:02d}" if i % 2 else f"Customer {i:02d}",
                    phones=[f"138 0013 {8000 + i}"],
                    emails=[f"c{i}@shop.cn"],
                    owner=member.users["agent"] if i % 3 else member.users["manager"],
                    team=team if i % 4 else None,
                    tags=["vip"] if i % 5 == 0 else [],
                    custom={"tier": "A" if i % 2 else "B", "spend": str(i * 10)},
                ),
            )
        for role in ("admin", "manager", "agent", "viewer"):
            SavedView.objects.create(user=member.users[role], name="Mine", query="q=zhang")
            SavedView.objects.create(user=member.users[role], name="VIPs", query="tag=vip")


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "viewer"])
def test_the_customer_list_and_a_filtered_search_run_at_most_eight_queries(role, acme):
    _customer_list_data(acme)
    client = client_for(acme, role)
    home = reverse("customers:home")
    with schema_context(acme.schema):
        owner = acme.users["agent"].pk
        team = Team.objects.get(name="North store").pk
    first = _queries(client, home)
    assert first <= 8, f"{role}: {first} queries for the first page"
    response = client.get(home)
    assert len(listed_names(response)) == 50, "the list shows a full page"
    second = _queries(client, f"{home}?{response.context['next_query']}")
    assert second <= 8, f"{role}: {second} queries for the next page"
    filtered = (
        f"{home}?q=zhang&stage=lead&owner={owner}&team={team}&order=newest"
        "&cf-tier=A&cf-spend-min=10&cf-spend-max=500&cf-hobby=x"
    )
    assert _queries(client, filtered) <= 8, f"{role}: a search with every filter"
    for q in ("王", "张伟", "138 0013", "c1@shop"):
        assert _queries(client, f"{home}?q={q}") <= 8, f"{role}: search {q}"
