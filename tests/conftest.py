"""Shared fixtures: the test database with two tenants and their staff, clients logged in as
any of them, and the real worker, web server and SMTP server for tests that need them."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.accounts.security import two_factor_required
from crm.tenants.models import Tenant
from tests.testkit.cast import TenantCast, build_cast
from tests.testkit.otp import verify_session
from tests.testkit.processes import Managed, service_env, start_web, start_worker
from tests.testkit.smtp import SmtpServer, free_port

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# Tasks sent by this run go to a queue of its own, so a developer's worker never takes them.
TEST_QUEUE = f"crm-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session", autouse=True)
def _suite_settings() -> Iterator[None]:
    from crm.celery import app

    app.conf.task_default_queue = TEST_QUEUE
    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        CELERY_TASK_DEFAULT_QUEUE=TEST_QUEUE,
        TEMPLATE_MEMO_VERIFY=True,
    ):
        yield


@pytest.fixture(scope="session")
def django_db_setup(  # type: ignore[no-untyped-def]
    request, django_test_environment, django_db_blocker, django_db_keepdb
) -> Iterator[None]:
    """pytest-django's own, except that the test database is always created: its version
    skips that when no test carries the django_db mark, and tests that only commit (for a
    worker or a web server to see) would then write into the development database."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            aliases={"default"},
            keepdb=django_db_keepdb,
        )
    assert connection.settings_dict["NAME"].startswith("test_"), "never test on a real database"
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            _disconnect_others()
            teardown_databases(config, verbosity=request.config.option.verbose)


def _disconnect_others() -> None:
    """Child processes are stopped by now; name and end any connection still open, so the test
    database can be dropped."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, state, left(query, 80) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for row in cursor.fetchall():
            print(f"closing a leftover connection to the test database: {row}")
            cursor.execute("SELECT pg_terminate_backend(%s)", [row[0]])


@pytest.fixture(scope="session")
def cast(django_db_setup: None, django_db_blocker) -> dict[str, TenantCast]:  # type: ignore[no-untyped-def]
    """After pytest-django migrates the public schema: the template, acme and globex."""
    with django_db_blocker.unblock():
        members = build_cast()
        connection.set_schema_to_public()
    return members


@pytest.fixture
def acme(cast: dict[str, TenantCast]) -> TenantCast:
    return cast["acme"]


@pytest.fixture
def globex(cast: dict[str, TenantCast]) -> TenantCast:
    return cast["globex"]


@pytest.fixture(autouse=True)
def _back_to_public() -> Iterator[None]:
    """Requests and schema_context leave the connection in a tenant; every test starts public."""
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _forget_remembered_tenants() -> Iterator[None]:
    """Each test's changes to tenants are rolled back, which sends no signal: a tenant this
    process remembered in a test (crm.tenants.lookup) must not outlive it."""
    from crm.tenants import lookup

    yield
    lookup.forget()


@pytest.fixture(autouse=True)
def _back_to_default_language() -> Iterator[None]:
    """A request leaves its language active in the thread (LocaleMiddleware activates it and
    nothing deactivates it): a test after one of a Chinese-speaking tenant's requests would
    otherwise get Chinese messages. Every test starts in the default language."""
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


def client_for(member: TenantCast, role: str | None = None) -> Client:
    """A test client on the tenant's host, logged in as `role` when given.

    Whoever must use two-factor sign-in (admins; everyone when the tenant requires it) gets a
    real authenticator and a session verified with it, as if they had entered its code."""
    client = Client(HTTP_HOST=member.host)
    if role is not None:
        with schema_context(member.schema):
            # A fresh copy: logging in writes last_login, which must not leak between tests.
            user = User.objects.get(pk=member.users[role].pk)
            client.force_login(user)
            if two_factor_required(user, Tenant.objects.get(pk=member.tenant.pk)):
                verify_session(client, user)
    return client


@pytest.fixture
def public_client() -> Client:
    return Client(HTTP_HOST=settings.CRM_BASE_DOMAIN)


@pytest.fixture
def committed_db(cast: dict[str, TenantCast], django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Database access without the per-test transaction, for tests whose writes a worker or a
    web server in another process must see. Such tests use unique names and clean up."""
    with django_db_blocker.unblock():
        yield
        connection.set_schema_to_public()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def web_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def _services_env(
    cast: dict[str, TenantCast], smtp_server: SmtpServer, web_port: int
) -> dict[str, str]:
    return service_env(
        connection.settings_dict["NAME"],
        EMAIL_URL=smtp_server.url,
        CELERY_TASK_DEFAULT_QUEUE=TEST_QUEUE,
        CRM_PUBLIC_PORT=str(web_port),
        DJANGO_DEBUG="1",
    )


@pytest.fixture(scope="session")
def celery_worker(_services_env: dict[str, str]) -> Iterator[Managed]:
    """A real Celery worker on the real Redis, reading this run's queue and the test database."""
    worker = start_worker(_services_env, ARTIFACTS, TEST_QUEUE)
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def live_server_url(_services_env: dict[str, str], web_port: int) -> Iterator[str]:
    """gunicorn serving the app on localhost; tenants are at http://<slug>.localhost:<port>."""
    web = start_web(_services_env, ARTIFACTS, web_port)
    yield f"http://localhost:{web_port}"
    web.stop()
