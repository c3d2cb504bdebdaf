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
from tests.support.otp import verify_session

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
