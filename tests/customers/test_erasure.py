"""Erasure and undo: no merge revert or import undo brings an erased customer back."""

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation
from django_tenants.utils import schema_context

from crm.transfer import selectors, services
from crm.transfer.models import ImportChange, ImportJob
from customers.erasure import customer_erased_blocker
from customers.models import Customer, CustomerEmail, CustomerMerge, CustomerPhone, Order
from customers.privacy import customer_erase
from customers.services import CustomerInput, customer_create
from tests.conftest import client_for
from tests.transfer.test_import_engine import csv_bytes, imported, manager
from tests.transfer.test_import_orders import HEADERS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():  # type: ignore[no-untyped-def]
    with translation.override("en"):
        yield


def _twins(m: str) -> tuple[Customer, Customer]:
    data = {"name": f"Twin {m}", "phones": ["+8613911112222"], "notes": f"secret {m}"}
    a = customer_create(actor=None, data=CustomerInput(**data, emails=[f"a.{m}@example.cn"]))
    b = customer_create(actor=None, data=CustomerInput(**data, emails=[f"b.{m}@example.cn"]))
    return a, b


def test_the_merge_revert_attack_is_refused_and_restores_nothing(acme):
    """Issue 12.1: A and B alike, merge B into A, erase A, revert the merge from the merge
    history page: refused with the reason, A stays erased, B stays gone."""
    m = uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        a, b = _twins(m)
    admin = client_for(acme, "admin")
    merged = admin.post(reverse("customers:merge", args=[a.pk, b.pk]), {"keep": str(a.pk)})
    assert merged.status_code == 302
    erased = admin.post(reverse("customers:erase", args=[a.pk]), {"confirm": "erase"})
    assert erased.status_code == 302
    with schema_context(acme.schema):
        merge = CustomerMerge.objects.get(kept_id_value=a.pk, dropped_id=b.pk)
        before = Customer.objects.get(pk=a.pk)
        assert before.erased_at is not None and before.name == f"Erased customer #{a.pk}"
        assert m not in str(merge.before), "the merge's before-images hold nothing of the person"

    history = admin.get(reverse("customers:merges")).content.decode()
    assert "an erased customer cannot be brought back" in history
    assert reverse("customers:merge_revert", args=[merge.pk]) not in history

    answer = admin.post(reverse("customers:merge_revert", args=[merge.pk]), follow=True)
    page = answer.content.decode()
    assert f"Customer #{a.pk} was erased on" in page
    assert "an erased customer cannot be brought back" in page
    with schema_context(acme.schema):
        after = Customer.objects.get(pk=a.pk)
        assert (after.name, after.notes, after.erased_at) == (
            before.name,
            "",
            before.erased_at,
        )
        assert not Customer.objects.filter(pk=b.pk).exists()
        assert not CustomerPhone.objects.filter(customer__in=[a.pk, b.pk]).exists()
        assert not CustomerEmail.objects.filter(customer__in=[a.pk, b.pk]).exists()
        assert CustomerMerge.objects.get(pk=merge.pk).reverted_at is None


def test_erasure_moves_updated_at_and_covers_records_merged_into_the_person(acme):
    m = uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        from customers.merge import customer_merge, customer_merge_revert

        a, b = _twins(m)
        merge = customer_merge(actor=None, keep=a, drop=b, chosen={})
        stamp = Customer.objects.get(pk=a.pk).updated_at
        customer_erase(actor=manager(acme), customer=a)
        assert Customer.objects.get(pk=a.pk).updated_at > stamp
        with pytest.raises(ValidationError, match=f"Customer #{a.pk} was erased on"):
            customer_merge_revert(actor=None, merge=merge)
        # B was the same person (merged into A): it is erased too, as far as any undo knows.
        assert customer_erased_blocker([b.pk]) is not None
        assert customer_erased_blocker([]) is None


def test_import_undo_is_refused_for_an_erased_customer_with_the_reason(acme):
    m = uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        person = customer_create(
            actor=None,
            data=CustomerInput(name=f"Imp {m}", emails=[f"imp.{m}@example.cn"], city="Old"),
        )
        data = csv_bytes([["姓名", "邮箱", "城市"], [f"Imp {m}", f"imp.{m}@example.cn", "New"]])
        job = imported(acme, data, match_by="email")
        assert job.status == ImportJob.Status.DONE and job.updated_count == 1
        assert selectors.import_undo_blocker(job) is None
        customer_erase(actor=manager(acme), customer=person)
        assert ImportChange.objects.get(job=job, object_id=person.pk).before is None
        reason = selectors.import_undo_blocker(job)
        assert reason and f"Customer #{person.pk} was erased on" in reason
        with pytest.raises(ValidationError, match="cannot be brought back"):
            services.import_undo_request(actor=manager(acme), job=job, inline=True)
        person.refresh_from_db()
        assert (person.name, person.city) == (f"Erased customer #{person.pk}", "")
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE


def test_orders_import_undo_is_refused_when_an_order_belongs_to_an_erased_customer(acme):
    from tests.transfer.test_import_orders import _import, _phone, _row

    m = uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        phone = _phone(-1)
        person = customer_create(actor=None, data=CustomerInput(name=f"Ord {m}", phones=[phone]))
        job = _import(acme, [HEADERS, _row(f"E-{m}", phone, amount="7.00")])
        assert job.status == ImportJob.Status.DONE and job.created_count == 1, job.message
        assert selectors.import_undo_blocker(job) is None
        customer_erase(actor=manager(acme), customer=person)
        reason = selectors.import_undo_blocker(job)
        assert reason and f"Customer #{person.pk} was erased on" in reason
        with pytest.raises(ValidationError, match="cannot be brought back"):
            services.import_undo_request(actor=manager(acme), job=job, inline=True)
        assert Order.objects.get(number=f"E-{m}").customer_id == person.pk


def test_erasure_waits_for_a_running_import_and_changes_nothing(acme):
    m = uuid.uuid4().hex[:8]
    with schema_context(acme.schema):
        person = customer_create(
            actor=None, data=CustomerInput(name=f"Wait {m}", emails=[f"w.{m}@example.cn"])
        )
        running = ImportJob.objects.create(
            kind="customers",
            status=ImportJob.Status.RUNNING,
            original_name="big.csv",
            file_path="",
            file_format="csv",
            started_at=timezone.now(),
            queued_at=timezone.now(),  # waiting for a worker: alive (crm.lib.liveness)
        )
        with pytest.raises(ValidationError, match="An import is running"):
            customer_erase(actor=manager(acme), customer=person)
        person.refresh_from_db()
        assert (person.name, person.erased_at) == (f"Wait {m}", None)
        assert person.emails.count() == 1
        # A runner took it and holds no lock now: its process died, so it no longer holds
        # the erasure up (it is settled as failed first).
        ImportJob.objects.filter(pk=running.pk).update(taken_at=timezone.now())
        assert customer_erase(actor=manager(acme), customer=person).erased_at is not None
        assert ImportJob.objects.get(pk=running.pk).status == ImportJob.Status.FAILED


def test_a_queued_export_is_failed_by_an_erasure_and_never_written(acme):
    from crm.transfer.exporting import export_run
    from crm.transfer.models import ExportJob

    with schema_context(acme.schema):
        person = customer_create(actor=None, data=CustomerInput(name="Queued"))
        job = ExportJob.objects.create(
            kind="customers", query="q=Queued", file_format="csv", created_by=manager(acme)
        )
        customer_erase(actor=manager(acme), customer=person)
        job.refresh_from_db()
        assert (job.status, job.query, job.file_path) == (ExportJob.Status.FAILED, "", "")
        assert "because a customer was erased" in job.message
        export_run(job.pk)
        job.refresh_from_db()
        assert (job.status, job.file_path) == (ExportJob.Status.FAILED, "")
