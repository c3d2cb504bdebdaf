"""A duplicate-key race on create gives the form error, not a server error (crm.lib.unique).

The race is real: another connection inserts the same name in a transaction it keeps open, so
the service's check does not see it; the service's insert then waits on the unique index, the
other transaction commits, and the insert fails with a unique violation, which the service must
turn into the form error its check gives."""

import datetime
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts import services as account_services
from crm.accounts.models import Team, User
from customers import services as customer_services
from customers.models import Customer, Order
from tests.conftest import client_for
from tests.testkit.cleanup import customers_delete


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        return bool(cursor.fetchone()[0])


class Rival(threading.Thread):
    """Inserts the clashing row on its own connection and commits it only once someone waits
    on it (or after a few seconds, so a service that never inserts cannot hang the test)."""

    def __init__(self, schema: str, insert: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.schema, self.insert = schema, insert
        self.holding = threading.Event()
        self.saw_a_waiter = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with schema_context(self.schema), transaction.atomic():
                self.insert()
                self.holding.set()
                deadline = timezone.now() + datetime.timedelta(seconds=10)
                while timezone.now() < deadline and not self.saw_a_waiter:
                    self.saw_a_waiter = _waiting_on_a_lock()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.holding.set()
        finally:
            connection.close()


def _race(schema: str, insert: Callable[[], object], service: Callable[[], object]) -> object:
    rival = Rival(schema, insert)
    rival.start()
    assert rival.holding.wait(10)
    try:
        with schema_context(schema):
            return service()
    finally:
        rival.join(15)
        assert rival.error is None, rival.error
        assert rival.saw_a_waiter, "the service's insert never waited on the rival's row"


def _messages(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict if hasattr(exc.value, "error_dict") else {"": exc.value.messages}


def test_two_roles_of_the_same_name_at_once(committed_db, acme):
    name = f"Race role {uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(ValidationError) as refused:
            _race(
                acme.schema,
                lambda: Group.objects.create(name=name),
                lambda: account_services.role_create(
                    actor=None, name=name, description="", scope="all", codenames=[]
                ),
            )
        assert _messages(refused) == {"name": ["A role with this name exists."]}
        with schema_context(acme.schema):
            assert Group.objects.filter(name=name).count() == 1
    finally:
        with schema_context(acme.schema):
            Group.objects.filter(name=name).delete()


def test_two_teams_of_the_same_name_at_once(committed_db, acme):
    name = f"Race team {uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(ValidationError) as refused:
            _race(
                acme.schema,
                lambda: Team.objects.create(name=name),
                lambda: account_services.team_save(actor=None, team=None, name=name, members=[]),
            )
        assert _messages(refused) == {"name": ["A team with this name exists."]}
        with schema_context(acme.schema):
            assert Team.objects.filter(name=name).count() == 1
    finally:
        with schema_context(acme.schema):
            Team.objects.filter(name=name).delete()


def test_two_staff_accounts_with_the_same_email_at_once(committed_db, acme):
    email = f"race-{uuid.uuid4().hex[:8]}@acme.test"
    try:
        with pytest.raises(ValidationError) as refused:
            _race(
                acme.schema,
                lambda: User.objects.create(email=email, full_name="First"),
                lambda: account_services.staff_create(
                    actor=None, email=email, full_name="Second", role="Agent", password=None
                ),
            )
        assert refused.value.messages == ["A user with this email already exists."]
        with schema_context(acme.schema):
            assert list(User.objects.filter(email=email).values_list("full_name", flat=True)) == [
                "First"
            ]
    finally:
        with schema_context(acme.schema):
            User.objects.filter(email=email).delete()


def test_two_customers_with_the_same_external_id_and_two_orders_with_one_number(committed_db, acme):
    external_id = f"RACE-{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(ValidationError) as refused:
            _race(
                acme.schema,
                lambda: Customer.objects.create(
                    name="First", name_sort="first", external_id=external_id
                ),
                lambda: customer_services.customer_create(
                    actor=None,
                    data=customer_services.CustomerInput(name="Second", external_id=external_id),
                ),
            )
        assert _messages(refused) == {"external_id": ["Another customer has this external id."]}
        with schema_context(acme.schema):
            first = Customer.objects.get(external_id=external_id)
            assert first.name == "First" and not Customer.objects.filter(name="Second").exists()

        number = f"RACE-{uuid.uuid4().hex[:8]}"
        order = {
            "ordered_at": timezone.now(),
            "amount": Decimal("5"),
            "currency": "CNY",
        }
        with pytest.raises(ValidationError) as refused:
            _race(
                acme.schema,
                lambda: Order.objects.create(customer=first, number=number, **order),
                lambda: customer_services.order_create(
                    actor=None, customer=first, number=number, **order
                ),
            )
        assert _messages(refused) == {"number": ["An order with this number exists."]}
        with schema_context(acme.schema):
            assert Order.objects.filter(number=number).count() == 1
    finally:
        with schema_context(acme.schema):
            Order.objects.filter(customer__external_id=external_id).delete()
            customers_delete(
                Customer.objects.filter(external_id=external_id).values_list("pk", flat=True)
            )


def test_the_page_shows_the_form_error_when_it_loses_the_race(committed_db, acme):
    name = f"Race page {uuid.uuid4().hex[:8]}"
    admin = client_for(acme, "admin")
    try:
        response = _race(
            acme.schema,
            lambda: Group.objects.create(name=name),
            lambda: admin.post(
                reverse("admin_console:role_new"),
                {"name": name, "description": "", "scope": "all"},
            ),
        )
        assert response.status_code == 200  # the form again, not a 500 nor a redirect
        assert "A role with this name exists." in response.content.decode()
        with schema_context(acme.schema):
            assert Group.objects.filter(name=name).count() == 1
    finally:
        with schema_context(acme.schema):
            Group.objects.filter(name=name).delete()
