"""customers.order_hooks: every path that writes orders tells the registered listeners once per
set, with the orders' ids and the acting user, inside its own transaction: order_create,
order_status_set, each batch of the orders import's commit (never its dry run), and the
import's undo (removing the created orders, then the restored ones written). What a listener
writes rolls back with the write that told it."""

import datetime
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from crm.transfer import services
from crm.transfer.models import ImportJob
from crm.transfer.registry import BATCH_ROWS
from customers.models import Customer, CustomerPhone, Interaction, Order
from customers.order_hooks import (
    orders_batches_register,
    orders_listener_unregister,
    orders_removing_register,
    orders_written_register,
)
from customers.services import order_create, order_status_set
from tests.transfer.test_import_orders import HEADERS, _csv, _customer, _phone, _row, _tag

pytestmark = pytest.mark.django_db

HEARD = "heard orders"


class Listener:
    """Records each call; writes one timeline entry per call (on the first order's customer),
    so a test can see whether the listener's writes outlived a rollback."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.calls: list[tuple[int | None, list[int]]] = []

    def __call__(self, *, actor: User | None, order_ids: Sequence[int]) -> None:
        self.calls.append((getattr(actor, "pk", None), list(order_ids)))
        first = Order.objects.filter(pk__in=order_ids).order_by("pk").first()
        if first is not None:
            Interaction.objects.create(
                customer_id=first.customer_id,
                kind=Interaction.Kind.NOTE,
                source=HEARD,
                title=f"{self.what} {len(order_ids)}",
            )


@pytest.fixture
def written() -> Iterator[Listener]:
    listener = Listener("written")
    orders_written_register(listener)
    yield listener
    orders_listener_unregister(listener)


@pytest.fixture
def removing() -> Iterator[Listener]:
    listener = Listener("removing")
    orders_removing_register(listener)
    yield listener
    orders_listener_unregister(listener)


def _manager(member: Any) -> User:
    return User.objects.get(pk=member.manager.pk)


def _order(customer: Customer, number: str) -> Order:
    return order_create(
        actor=None,
        customer=customer,
        number=number,
        ordered_at=datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC),
        amount=Decimal("25.00"),
        currency="GBP",
    )


def _heard(customer: Customer) -> list[str]:
    return list(
        Interaction.objects.filter(customer=customer, source=HEARD)
        .order_by("pk")
        .values_list("title", flat=True)
    )


def _configured(member: Any, rows: list[list[Any]]) -> ImportJob:
    actor = _manager(member)
    job = services.import_start(
        actor=actor, kind="orders", upload=io.BytesIO(_csv(rows)), filename="orders.csv"
    )
    return services.import_configure(
        actor=actor,
        job=job,
        mapping=job.mapping,
        match_by="phone",
        update_existing=True,
        valid_only=False,
        create_missing_customers=False,
    )


# --- the services -----------------------------------------------------------------------------


def test_order_create_tells_the_listeners_once(acme, written, removing):
    tag = _tag()
    with schema_context(acme.schema):
        customer = _customer(f"听{tag}", phone=_phone(-1))
        manager = _manager(acme)
        order = order_create(
            actor=manager,
            customer=customer,
            number=f"H{tag}",
            ordered_at=datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC),
            amount=Decimal("10.00"),
            currency="GBP",
        )
        assert written.calls == [(manager.pk, [order.pk])]
        assert removing.calls == []
        assert _heard(customer) == ["written 1"]


def test_order_status_set_is_audited_and_tells_the_listeners(acme, written):
    tag = _tag()
    with schema_context(acme.schema):
        customer = _customer(f"退{tag}", phone=_phone(-1))
        order = _order(customer, f"S{tag}")
        written.calls.clear()
        manager = _manager(acme)

        refunded = order_status_set(actor=manager, order=order, status=Order.Status.REFUNDED)
        assert refunded.status == Order.Status.REFUNDED
        assert Order.objects.get(pk=order.pk).status == Order.Status.REFUNDED
        assert written.calls == [(manager.pk, [order.pk])]
        entry = AuditEntry.objects.get(action="order status", record_id=str(order.pk))
        assert entry.actor_id == manager.pk and entry.table_name == "customers_order"
        assert entry.detail == {"number": f"S{tag}", "status": ["completed", "refunded"]}

        # The same status again changes nothing and tells nobody.
        order_status_set(actor=manager, order=order, status=Order.Status.REFUNDED)
        assert len(written.calls) == 1
        assert (
            AuditEntry.objects.filter(action="order status", record_id=str(order.pk)).count() == 1
        )

        with pytest.raises(ValidationError):
            order_status_set(actor=manager, order=order, status="lost")
        assert Order.objects.get(pk=order.pk).status == Order.Status.REFUNDED
        assert len(written.calls) == 1


def test_a_rolled_back_service_rolls_back_what_the_listener_wrote(acme, written):
    tag = _tag()
    with schema_context(acme.schema):
        customer = _customer(f"回滚{tag}", phone=_phone(-1))
        with pytest.raises(RuntimeError), transaction.atomic():
            _order(customer, f"RB{tag}")
            assert _heard(customer) == ["written 1"]
            raise RuntimeError("the caller fails after the order")
        assert len(written.calls) == 1
        assert not Order.objects.filter(number=f"RB{tag}").exists()
        assert _heard(customer) == []


# --- the orders import ------------------------------------------------------------------------


def test_the_import_tells_the_listeners_once_per_batch_and_its_undo_too(acme, written, removing):
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        customer = _customer(f"批{tag}", phone=phone)
        old = _order(customer, f"B{tag}-old")
        written.calls.clear()
        rows = [HEADERS, _row(f"B{tag}-old", phone, amount="1.00")]
        rows += [_row(f"B{tag}-{i}", phone) for i in range(BATCH_ROWS + 10)]
        job = _configured(acme, rows)
        job = services.import_check_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.CHECKED and not job.rejected_count
        assert written.calls == []  # a dry run writes nothing and tells nobody

        job = services.import_commit_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.DONE, job.message
        assert (job.created_count, job.updated_count) == (BATCH_ROWS + 10, 1)
        numbers = dict(
            Order.objects.filter(number__startswith=f"B{tag}-").values_list("pk", "number")
        )
        # One call per batch: the first batch's rows (the updated order and BATCH_ROWS - 1 new
        # ones), then the last eleven, each with the committing manager.
        assert [actor for actor, _ids in written.calls] == [acme.manager.pk] * 2
        first, second = (sorted(ids) for _actor, ids in written.calls)
        assert len(first) == BATCH_ROWS and old.pk in first
        assert sorted(numbers[pk] for pk in second) == sorted(
            f"B{tag}-{i}" for i in range(BATCH_ROWS - 1, BATCH_ROWS + 10)
        )
        assert sorted(first + second) == sorted(numbers)
        assert removing.calls == []
        # The listener's own writes (after the one for `old`) are in the import's transaction.
        assert _heard(customer) == ["written 1", f"written {BATCH_ROWS}", "written 11"]

        written.calls.clear()
        job = services.import_undo_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.UNDONE, job.message
        created = sorted(set(numbers) - {old.pk})
        removed = [ids for _actor, ids in removing.calls]
        assert [actor for actor, _ids in removing.calls] == [acme.manager.pk] * 2
        assert removed == [created[:BATCH_ROWS], created[BATCH_ROWS:]]
        assert written.calls == [(acme.manager.pk, [old.pk])]  # restored: amount back
        assert list(Order.objects.filter(number__startswith=f"B{tag}-")) == [old]
        assert Order.objects.get(pk=old.pk).amount == Decimal("25.00")


def test_a_rolled_back_import_rolls_back_what_the_listener_wrote(acme, written):
    """All or nothing: the first batch is written and told, the second has a row rejected at
    commit (its customer lost the phone after the check), so the commit rolls back, the
    listener's writes with it."""
    tag = _tag()
    with schema_context(acme.schema):
        phone, lost = _phone(-1), _phone(-1)
        customer = _customer(f"全{tag}", phone=phone)
        gone = _customer(f"失{tag}", phone=lost)
        rows = [HEADERS, *(_row(f"A{tag}-{i}", phone) for i in range(BATCH_ROWS))]
        rows.append(_row(f"A{tag}-lost", lost))
        job = _configured(acme, rows)
        job = services.import_check_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.CHECKED and not job.rejected_count
        CustomerPhone.objects.filter(customer=gone).delete()

        job = services.import_commit_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.FAILED
        assert "Nothing was imported" in job.message
        assert [(actor, len(ids)) for actor, ids in written.calls] == [
            (acme.manager.pk, BATCH_ROWS)
        ]
        assert not Order.objects.filter(number__startswith=f"A{tag}-").exists()
        assert _heard(customer) == []


# --- many lists in one transaction: orders_in_batches ------------------------------------------


class BatchesListener:
    """Records when its context is entered and how it ends, with the written calls heard by
    then, so a test sees it wraps them all."""

    def __init__(self, written: Listener) -> None:
        self.written = written
        self.events: list[tuple[str, int | None, int]] = []

    @contextmanager
    def __call__(self, *, actor: User | None) -> Iterator[None]:
        self.events.append(("enter", getattr(actor, "pk", None), len(self.written.calls)))
        try:
            yield
        except BaseException:
            self.events.append(("error", getattr(actor, "pk", None), len(self.written.calls)))
            raise
        self.events.append(("end", getattr(actor, "pk", None), len(self.written.calls)))


@pytest.fixture
def batches(written: Listener) -> Iterator[BatchesListener]:
    listener = BatchesListener(written)
    orders_batches_register(listener)
    yield listener
    orders_listener_unregister(listener)


def test_an_import_and_its_undo_are_wrapped_once_in_the_batches_listeners(
    acme, written, removing, batches
):
    """Entered before the first batch is told, ended after the last, once a commit (and once
    an undo); a dry run and the services never enter it."""
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        customer = _customer(f"包{tag}", phone=phone)
        _order(customer, f"W{tag}-old")
        assert batches.events == []  # a service's single list: no batches
        rows = [HEADERS, *(_row(f"W{tag}-{i}", phone) for i in range(BATCH_ROWS + 3))]
        job = _configured(acme, rows)
        job = services.import_check_request(actor=_manager(acme), job=job, inline=True)
        assert batches.events == []
        written.calls.clear()
        job = services.import_commit_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.DONE, job.message
        manager = acme.manager.pk
        assert batches.events == [("enter", manager, 0), ("end", manager, 2)]

        batches.events.clear()
        job = services.import_undo_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.UNDONE, job.message
        assert len(removing.calls) == 2
        assert batches.events == [("enter", manager, 2), ("end", manager, 2)]


def test_a_failed_import_ends_the_batches_listeners_with_its_error(acme, written, batches):
    """The second batch fails at commit: the listener's context ends with the error (what it
    kept is dropped), never normally, and the commit rolls back."""
    tag = _tag()
    with schema_context(acme.schema):
        phone, lost = _phone(-1), _phone(-1)
        _customer(f"败{tag}", phone=phone)
        gone = _customer(f"丢{tag}", phone=lost)
        rows = [HEADERS, *(_row(f"X{tag}-{i}", phone) for i in range(BATCH_ROWS))]
        rows.append(_row(f"X{tag}-lost", lost))
        job = _configured(acme, rows)
        job = services.import_check_request(actor=_manager(acme), job=job, inline=True)
        CustomerPhone.objects.filter(customer=gone).delete()
        job = services.import_commit_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.FAILED
        manager = acme.manager.pk
        assert batches.events == [("enter", manager, 0), ("error", manager, 1)]
