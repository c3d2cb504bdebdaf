"""bulk.BackgroundWriter writes from a thread on Django's own connection, under Django's back:
it must write in the import's transaction and in the tenant it was made in, whatever the
search_path, and refuse writes that would land elsewhere."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from crm.transfer import bulk
from customers.models import Customer

pytestmark = pytest.mark.django_db


def _txid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT txid_current()")
        return int(cursor.fetchone()[0])


def test_the_writer_thread_writes_in_the_callers_transaction_and_tenant(acme, globex):
    with schema_context(acme.schema):
        customer = Customer.objects.create(name="Written later", name_sort="written later")
        writer = bulk.BackgroundWriter()
        try:
            writer.submit(
                [
                    (
                        "execute",
                        "CREATE TEMP TABLE writer_probe AS"
                        " SELECT current_schema() AS schema, txid_current() AS tx",
                        [],
                    ),
                    ("copy", '"writer_probe"', ("schema", "tx"), [("copied", 0)]),
                    (
                        "execute",
                        f"UPDATE {bulk.qualified('customers_customer')} SET notes = %s"  # noqa: S608
                        " WHERE id = %s",
                        ["from the writer", customer.pk],
                    ),
                ]
            )
            writer.wait()
        finally:
            writer.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT schema, tx FROM writer_probe ORDER BY tx DESC")
            rows = cursor.fetchall()
        assert rows == [(acme.schema, _txid()), ("copied", 0)], "same session and transaction"
        assert Customer.objects.get(pk=customer.pk).notes == "from the writer"
    with schema_context(globex.schema):
        assert not Customer.objects.filter(notes="from the writer").exists()


def test_the_writer_refuses_writes_outside_its_tenant(acme, globex):
    with schema_context(acme.schema):
        writer = bulk.BackgroundWriter()
        before = Customer.objects.count()
    try:
        with schema_context(acme.schema):
            for target in ('"globex"."customers_customer"', "customers_customer"):
                with pytest.raises(RuntimeError, match=f"is not in schema {acme.schema}$"):
                    writer.submit([("copy", target, ("name", "name_sort"), [("X", "x")])])
        with schema_context(globex.schema):
            # The caller switched tenants while the writer holds the connection: refused.
            table = bulk.qualified("customers_customer")
            with pytest.raises(
                RuntimeError, match=f"made in schema {acme.schema} was given writes from"
            ):
                writer.submit([("copy", table, ("name", "name_sort"), [("X", "x")])])
    finally:
        writer.close()
    with schema_context(acme.schema):
        assert Customer.objects.count() == before
    with schema_context(globex.schema):
        assert not Customer.objects.filter(name="X").exists()
