"""Undo of an import: created records removed, updated ones restored exactly from their
before-images; refused, with the reason and nothing changed, when later changes would be lost."""

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from crm.transfer import selectors, services
from crm.transfer.models import ImportJob
from customers.custom_field_services import CustomFieldInput, custom_field_create
from customers.models import Customer, CustomerEmail, CustomerPhone, Order
from customers.services import CustomerInput, customer_create, customer_update, customers_tag
from tests.transfer.test_import_engine import (  # noqa: F401  (english: a fixture)
    csv_bytes,
    english,
    imported,
    manager,
    marker,
)

pytestmark = pytest.mark.django_db


def undo(member: Any, job: ImportJob) -> ImportJob:
    return services.import_undo_request(actor=manager(member), job=job, inline=True)


def state(customer_ids: list[int]) -> Any:
    return (
        list(Customer.objects.filter(pk__in=customer_ids).order_by("pk").values()),
        list(CustomerPhone.objects.filter(customer__in=customer_ids).order_by("pk").values()),
        list(CustomerEmail.objects.filter(customer__in=customer_ids).order_by("pk").values()),
    )


def _new_file(m: str, n: int = 3) -> bytes:
    rows = [["姓名", "手机", "邮箱"]]
    rows += [[f"U{i}{m}", f"1397777{i:04d}", f"u{i}.{m}@example.cn"] for i in range(n)]
    return csv_bytes(rows)


def test_undo_removes_what_the_import_created(acme):
    m = marker()
    with schema_context(acme.schema):
        job = imported(acme, _new_file(m), match_by="phone")
        ids = list(Customer.objects.filter(name__endswith=m).values_list("pk", flat=True))
        assert len(ids) == 3 and selectors.import_undo_blocker(job) is None
        job = undo(acme, job)
        assert job.status == ImportJob.Status.UNDONE and job.undone_by_id == acme.manager.pk
        assert state(ids) == ([], [], [])
        entry = AuditEntry.objects.get(action="import undo", record_id=str(job.pk))
        assert entry.detail["removed"] == 3 and entry.actor_id == acme.manager.pk
        with pytest.raises(ValidationError, match="already undone"):
            undo(acme, job)


def test_undo_restores_updated_records_exactly(acme):
    m = marker()
    with schema_context(acme.schema):
        custom_field_create(
            actor=None, key=f"level_{m}", data=CustomFieldInput(label=f"Level {m}", kind="text")
        )
        customer = customer_create(
            actor=None,
            data=CustomerInput(
                name=f"Kept{m}",
                phones=["13978780000"],
                emails=[f"kept.{m}@example.cn"],
                city="北京",
                tags=["a"],
                birthday=datetime.date(1980, 1, 2),
                external_id=f"K-{m}",
                custom={f"level_{m}": "gold"},
            ),
        )
        before = state([customer.pk])
        rows = [
            ["外部编号", "姓名", "手机", "邮箱", "城市", "标签", "生日", f"Level {m}"],
            [
                f"K-{m}",
                f"Renamed{m}",
                "13978780001",
                f"new.{m}@example.cn",
                "上海",
                "b",
                "1981-01-02",
                "silver",
            ],
        ]
        job = imported(acme, csv_bytes(rows), match_by="external_id")
        assert job.updated_count == 1
        changed = state([customer.pk])
        assert changed != before
        assert changed[0][0]["name_sort"].startswith("renamed")
        assert len(changed[1]) == 2 and len(changed[2]) == 2
        job = undo(acme, job)
        assert job.status == ImportJob.Status.UNDONE, job.message
        assert state([customer.pk]) == before


def _updated_by_import(acme: Any, m: str) -> tuple[Customer, ImportJob]:
    customer = customer_create(
        actor=None, data=CustomerInput(name=f"Later{m}", external_id=f"L-{m}", city="北京")
    )
    rows = [["外部编号", "姓名", "城市"], [f"L-{m}", f"Later{m}", "上海"]]
    return customer, imported(acme, csv_bytes(rows), match_by="external_id")


def _refused(acme: Any, job: ImportJob, ids: list[int], words: str) -> None:
    before = state(ids)
    blocker = selectors.import_undo_blocker(job)
    assert blocker and words in blocker, blocker
    with pytest.raises(ValidationError, match=words):
        undo(acme, job)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert state(ids) == before


def test_undo_is_refused_when_a_record_was_edited_after_the_import(acme):
    m = marker()
    with schema_context(acme.schema):
        customer, job = _updated_by_import(acme, m)
        customer.refresh_from_db()
        customer_update(
            actor=None,
            customer=customer,
            data=CustomerInput(name=customer.name, external_id=customer.external_id, city="深圳"),
        )
        _refused(acme, job, [customer.pk], "changed after it")


def test_undo_is_refused_after_a_bulk_change_that_leaves_updated_at_alone(acme):
    m = marker()
    with schema_context(acme.schema):
        job = imported(acme, _new_file(m, 2), match_by="phone")
        ids = list(Customer.objects.filter(name__endswith=m).values_list("pk", flat=True))
        customers_tag(actor=None, customer_ids=ids[:1], tag="later")
        _refused(acme, job, ids, "changed after it")


def test_undo_is_refused_when_later_records_hang_off_a_created_customer(acme):
    m = marker()
    with schema_context(acme.schema):
        job = imported(acme, _new_file(m, 1), match_by="phone")
        customer = Customer.objects.get(name__endswith=m)
        Order.objects.create(
            number=f"O-{m}",
            customer=customer,
            ordered_at=timezone.now(),
            amount=Decimal("10.00"),
            currency="CNY",
        )
        _refused(acme, job, [customer.pk], "orders")


def test_undo_is_refused_when_a_record_was_erased_or_deleted(acme):
    from customers.privacy import customer_erase

    m = marker()
    with schema_context(acme.schema):
        job = imported(acme, _new_file(m, 2), match_by="phone")
        first, second = Customer.objects.filter(name__endswith=m).order_by("pk")
        customer_erase(actor=manager(acme), customer=first)
        _refused(acme, job, [first.pk, second.pk], "erased")
    m = marker()
    with schema_context(acme.schema):
        job = imported(acme, _new_file(m, 2), match_by="phone")
        first, second = Customer.objects.filter(name__endswith=m).order_by("pk")
        CustomerPhone.objects.filter(customer=first).delete()
        CustomerEmail.objects.filter(customer=first).delete()
        first.delete()
        _refused(acme, job, [second.pk], "deleted")


def test_undo_is_refused_after_the_undo_period(acme, settings):
    m = marker()
    with schema_context(acme.schema):
        customer, job = _updated_by_import(acme, m)
        ImportJob.objects.filter(pk=job.pk).update(
            finished_at=timezone.now() - datetime.timedelta(days=settings.CRM_IMPORT_UNDO_DAYS + 1)
        )
        job.refresh_from_db()
        _refused(acme, job, [customer.pk], f"for {settings.CRM_IMPORT_UNDO_DAYS} days")


def test_only_a_finished_import_can_be_undone(acme):
    m = marker()
    with schema_context(acme.schema):
        job = services.import_start(
            actor=manager(acme),
            kind="customers",
            upload=__import__("io").BytesIO(_new_file(m, 1)),
            filename="f.csv",
        )
        with pytest.raises(ValidationError, match="Only a finished import"):
            undo(acme, job)


def test_after_the_undo_period_the_file_rejects_and_before_images_go(acme, settings):
    m = marker()
    with schema_context(acme.schema):
        _customer, job = _updated_by_import(acme, m)
        assert job.changes.exists() and services.job_path(job).is_file()
        services.imports_expire()
        job.refresh_from_db()
        assert job.file_path, "a recent import keeps its file"
        ImportJob.objects.filter(pk=job.pk).update(
            created_at=timezone.now() - datetime.timedelta(days=settings.CRM_IMPORT_UNDO_DAYS + 1),
            finished_at=timezone.now() - datetime.timedelta(days=settings.CRM_IMPORT_UNDO_DAYS + 1),
        )
        path = services.job_path(job)
        assert services.imports_expire() >= 1
        job.refresh_from_db()
        assert not path.exists() and job.file_path == "" and not job.changes.exists()
        assert (job.status, job.updated_count) == (ImportJob.Status.DONE, 1)
        assert "days" in (selectors.import_undo_blocker(job) or "")
        assert selectors.import_sample_rows(job, 3) == []
