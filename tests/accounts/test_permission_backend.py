"""crm.accounts.backends.PermissionBackend answers as Django's ModelBackend does, in one query."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from crm.accounts.backends import PermissionBackend
from crm.accounts.models import User
from tests.support.cast import ROLES

pytestmark = pytest.mark.django_db


def _fresh(pk: int) -> User:
    return User.objects.get(pk=pk)


@pytest.mark.parametrize("role", list(ROLES))
def test_the_same_permissions_as_model_backend_in_one_query(acme, role):
    with schema_context(acme.schema):
        pk = acme.users[role].pk
        user = _fresh(pk)
        # A permission given to the user directly, besides the role's.
        user.user_permissions.add(Permission.objects.get(codename="view_customer"))
        with CaptureQueriesContext(connection) as queries:
            ours = PermissionBackend().get_all_permissions(_fresh(pk))
        statements = [q for q in queries.captured_queries if "search_path" not in q["sql"]]
        assert len(statements) == 2, "the user, then their permissions"
        assert ours == ModelBackend().get_all_permissions(_fresh(pk))
        assert "customers.view_customer" in ours


def test_a_superuser_has_all_and_an_inactive_user_none(acme):
    with schema_context(acme.schema):
        user = _fresh(acme.users["viewer"].pk)
        user.is_superuser = True
        assert PermissionBackend().get_all_permissions(user) == ModelBackend().get_all_permissions(
            user
        )
        inactive = _fresh(acme.users["admin"].pk)
        inactive.is_active = False
        assert PermissionBackend().get_all_permissions(inactive) == set()
        assert not inactive.has_perm("accounts.administer")
