"""Points for orders that arrive by the real import path (crm.transfer's services, as the
import_records command and the wizard use them): a re-import of the same file earns nothing
more, a re-import that marks orders refunded takes their points back, and undoing the import
takes back what it earned (and removes the accounts of the customers it created)."""

import csv
import datetime
import io
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.transfer import services
from crm.transfer.models import ImportJob
from customers.models import Customer
from loyalty.models import Account, LedgerEntry
from loyalty.selectors import account_balance
from loyalty.services import points_redeem
from tests.loyalty.helpers import assert_consistent, customer, order

pytestmark = pytest.mark.django_db
HEADERS = ["订单号", "手机号", "下单时间", "金额", "币种", "数量", "渠道", "门店", "状态"]


def _csv(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _import(member: Any, rows: list[list[Any]], *, create: bool = False) -> ImportJob:
    actor = User.objects.get(pk=member.manager.pk)
    job = services.import_start(
        actor=actor, kind="orders", upload=io.BytesIO(_csv(rows)), filename="orders.csv"
    )
    job = services.import_configure(
        actor=actor,
        job=job,
        mapping=job.mapping,
        match_by="phone",
        update_existing=True,
        valid_only=False,
        create_missing_customers=create,
    )
    job = services.import_check_request(actor=actor, job=job, inline=True)
    assert job.status == ImportJob.Status.CHECKED, job.message
    job = services.import_commit_request(actor=actor, job=job, inline=True)
    assert job.status == ImportJob.Status.DONE, job.message
    return job


def _phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


def _rows(tag: str, phone: str, status: str = "") -> list[list[Any]]:
    return [HEADERS] + [
        [f"L{tag}-{i}", phone, "2026-11-05 14:30", f"{10 + i}.90", "", "", "", "", status]
        for i in range(5)
    ]


def test_reimporting_the_same_orders_awards_points_once(acme):
    with schema_context(acme.schema):
        phone = _phone()
        who = customer(phones=[phone])
        tag = uuid.uuid4().hex[:6]
        _import(acme, _rows(tag, phone))
        expected = sum(10 + i for i in range(5))
        assert account_balance(who) == expected
        _import(acme, _rows(tag, phone))  # the same file again: nothing changes
        _import(acme, _rows(tag, phone, status="已完成"))
        assert account_balance(who) == expected
        acct = Account.objects.get(customer=who)
        assert LedgerEntry.objects.filter(account=acct, kind="earn").count() == 5
        # The same orders re-imported as refunded give their points back, once.
        _import(acme, _rows(tag, phone, status="refunded"))
        _import(acme, _rows(tag, phone, status="已退款"))
        assert account_balance(who) == 0
        assert LedgerEntry.objects.filter(account=acct, kind="reverse").count() == 5
        assert_consistent(acct)


def test_orders_posted_through_the_service_and_then_imported_earn_once(acme):
    with schema_context(acme.schema):
        phone = _phone()
        who = customer(phones=[phone])
        tag = uuid.uuid4().hex[:6]
        at = datetime.datetime(2026, 11, 5, 14, 30, tzinfo=datetime.UTC)
        order(who, "10.90", number=f"L{tag}-0", at=at)
        _import(acme, _rows(tag, phone))
        assert account_balance(who) == sum(10 + i for i in range(5))
        assert LedgerEntry.objects.filter(account__customer=who, kind="earn").count() == 5


def test_undoing_the_import_takes_its_points_back(acme):
    with schema_context(acme.schema):
        phone = _phone()
        who = customer(phones=[phone])
        order(who, "5")
        tag = uuid.uuid4().hex[:6]
        job = _import(acme, _rows(tag, phone))
        points_redeem(actor=None, customer=who, points=40)
        job = services.import_undo_request(actor=None, job=job, inline=True)
        assert job.status == ImportJob.Status.UNDONE, job.message
        acct = Account.objects.get(customer=who)
        reversed_ = LedgerEntry.objects.filter(account=acct, kind="reverse")
        assert reversed_.count() == 5
        assert acct.balance == 0
        assert sum(e.shortfall for e in reversed_) == 40 - 5
        assert_consistent(acct)


def test_undo_removes_the_accounts_of_customers_it_created(acme):
    with schema_context(acme.schema):
        tag = uuid.uuid4().hex[:6]
        phone = _phone()
        rows = [[*HEADERS, "姓名"]] + [[*r, f"新{tag}"] for r in _rows(tag, phone)[1:]]
        job = _import(acme, rows, create=True)
        created = Customer.objects.get(name=f"新{tag}")
        assert account_balance(created) == sum(10 + i for i in range(5))
        job = services.import_undo_request(actor=None, job=job, inline=True)
        assert job.status == ImportJob.Status.UNDONE, job.message
        assert not Customer.objects.filter(pk=created.pk).exists()
        assert not Account.objects.filter(customer_id=created.pk).exists()


def test_undo_is_refused_when_staff_worked_on_a_created_customers_points(acme):
    with schema_context(acme.schema):
        tag = uuid.uuid4().hex[:6]
        phone = _phone()
        rows = [[*HEADERS, "姓名"]] + [[*r, f"新{tag}"] for r in _rows(tag, phone)[1:]]
        job = _import(acme, rows, create=True)
        created = Customer.objects.get(name=f"新{tag}")
        points_redeem(actor=None, customer=created, points=10)
        with pytest.raises(ValidationError, match="loyalty points staff worked on"):
            services.import_undo_request(actor=None, job=job, inline=True)
        job.refresh_from_db()
        assert job.status == ImportJob.Status.DONE
        assert account_balance(created) == sum(10 + i for i in range(5)) - 10
