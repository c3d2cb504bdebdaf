"""django-tenants sends `SET search_path` once per connection and tenant
(TENANT_LIMIT_SET_CALLS), not before every cursor. PostgreSQL undoes a SET made inside a
transaction that rolls back, so after any rollback the next query must set the path again:
otherwise it would run in whichever tenant's schema the connection had before."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context


class Boom(Exception):
    pass


def _schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return str(cursor.fetchone()[0])


def _sets(queries: CaptureQueriesContext) -> int:
    return sum(1 for q in queries.captured_queries if q["sql"].startswith("SET search_path"))


@pytest.mark.django_db
def test_the_path_is_set_once_per_tenant(acme, globex):
    with CaptureQueriesContext(connection) as queries:
        with schema_context(acme.schema):
            assert [_schema() for _ in range(3)] == [acme.schema] * 3
        with schema_context(globex.schema):
            assert [_schema() for _ in range(3)] == [globex.schema] * 3
    assert _sets(queries) == 2


def test_a_rolled_back_transaction_does_not_leave_the_previous_tenant(committed_db, acme, globex):
    with schema_context(acme.schema):
        assert _schema() == acme.schema  # set outside a transaction: it stays
        with pytest.raises(Boom), transaction.atomic():
            connection.set_tenant(globex.tenant)
            assert _schema() == globex.schema  # set inside: the rollback undoes it
            raise Boom
        assert connection.schema_name == globex.schema
        assert _schema() == globex.schema


@pytest.mark.django_db
def test_a_rolled_back_savepoint_does_not_leave_the_previous_tenant(acme, globex):
    with schema_context(acme.schema):
        assert _schema() == acme.schema
        with pytest.raises(Boom), transaction.atomic():  # a savepoint in the test's transaction
            connection.set_tenant(globex.tenant)
            assert _schema() == globex.schema
            raise Boom
        assert connection.schema_name == globex.schema
        assert _schema() == globex.schema
