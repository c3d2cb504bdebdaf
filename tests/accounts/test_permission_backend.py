"""crm.accounts.backends.PermissionBackend answers as Django's ModelBackend does, in one query,
and loads a signed-in user with their permissions and two-factor enrolment in one query."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from crm.accounts import security
from crm.accounts.backends import PermissionBackend
from crm.accounts.models import User
from tests.testkit.cast import ROLES

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


def _loaded(pk: object) -> User | None:
    """The user as a request loads them from its session."""
    return PermissionBackend().get_user(pk)


@pytest.mark.parametrize("role", list(ROLES))
def test_a_signed_in_user_comes_with_permissions_and_two_factor_in_one_query(acme, role):
    with schema_context(acme.schema):
        pk = acme.users[role].pk
        User.objects.get(pk=pk).user_permissions.add(
            Permission.objects.get(codename="view_customer")
        )
        with CaptureQueriesContext(connection) as queries:
            user = _loaded(pk)
            assert user is not None
            permissions = user.get_all_permissions()
            is_admin = user.is_tenant_admin
            enrolled = security.had_two_factor_when_loaded(user)
        statements = [q for q in queries.captured_queries if "search_path" not in q["sql"]]
        assert len(statements) == 1
        assert permissions == ModelBackend().get_all_permissions(_fresh(pk))
        assert "customers.view_customer" in permissions
        assert is_admin == (role == "admin")
        assert enrolled == security.has_two_factor(_fresh(pk))
        # Every field as the ORM loads it (types, time zones), and a saved, not a new, row.
        fresh = _fresh(pk)
        for field in User._meta.concrete_fields:
            assert getattr(user, field.attname) == getattr(fresh, field.attname), field.name
        assert user.date_joined.tzinfo is not None and not user._state.adding


def test_the_two_factor_answer_is_the_devices_at_load_time(acme):
    with schema_context(acme.schema):
        pk = acme.users["agent"].pk
        user = _fresh(pk)
        TOTPDevice.objects.create(user=user, name="unconfirmed", confirmed=False)
        assert security.had_two_factor_when_loaded(_loaded(pk)) is False
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        assert security.had_two_factor_when_loaded(_loaded(pk)) is True
        # A user loaded another way asks the database.
        assert security.had_two_factor_when_loaded(_fresh(pk)) is True


def test_inactive_missing_and_malformed_users_are_not_loaded(acme):
    with schema_context(acme.schema):
        pk = acme.users["viewer"].pk
        User.objects.filter(pk=pk).update(is_active=False)
        assert _loaded(pk) is None
        assert _loaded(10**9) is None
        assert _loaded("not a number") is None


def test_a_loaded_superuser_has_every_permission(acme):
    with schema_context(acme.schema):
        pk = acme.users["viewer"].pk
        User.objects.filter(pk=pk).update(is_superuser=True)
        user = _loaded(pk)
        assert user is not None
        assert user.get_all_permissions() == {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Permission.objects.select_related("content_type")
        }


def test_a_user_is_loaded_from_their_own_tenant_only(acme, globex):
    with schema_context(acme.schema):
        acme_user = _fresh(acme.users["agent"].pk)
    with schema_context(globex.schema):
        # The same id in another schema is another person, or nobody.
        other = _loaded(acme_user.pk)
        assert other is None or other.email != acme_user.email
        assert not User.objects.filter(email=acme_user.email).exists()


def test_views_get_the_user_itself_not_wrapped_in_lazy_objects(acme):
    """TwoFactorMiddleware hands views the loaded user, with django-otp's verdict on it."""
    from django.urls import reverse
    from django.utils.functional import LazyObject

    from tests.conftest import client_for

    response = client_for(acme, "manager").get(reverse("customers:home"))
    assert response.status_code == 200
    user = response.wsgi_request.user
    assert not isinstance(user, LazyObject) and isinstance(user, User)
    assert user.pk == acme.manager.pk and hasattr(user, "otp_device")
    assert not isinstance(response.context["user"], LazyObject)
