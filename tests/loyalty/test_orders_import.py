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


def _account_updates() -> int:
    """Rows of loyalty_account updated so far in this transaction (the test's)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_get_xact_tuples_updated('loyalty_account'::regclass)")
        return int(cursor.fetchone()[0])


def test_an_import_of_several_batches_changes_each_balance_once_at_its_end(acme):
    """Orders of one member in two batches of one import: the entries are written batch by
    batch and each account row is updated once, at the import's end (in its transaction), not
    once a batch. On the way, a member reaching a tier moves up at once (the next batch earns
    at its multiplier), and a refund in the second batch takes back points earned in the first
    from a member whose balance was 0 when the import began (never negative meanwhile)."""
    from crm.transfer.registry import BATCH_ROWS
    from loyalty.models import Tier

    with schema_context(acme.schema):
        tag = uuid.uuid4().hex[:6]
        phones = {key: _phone() for key in ("a", "b", "filler")}
        members = {key: customer(phones=[phone]) for key, phone in phones.items()}
        regulars = [(phone, customer(phones=[phone])) for phone in (_phone() for _ in range(20))]
        spent_order = order(members["b"], "100", number=f"M{tag}-b-old")
        points_redeem(actor=None, customer=members["b"], points=100)
        assert account_balance(members["b"]) == 0

        def row(number: str, phone: str, amount: str, status: str = "") -> list[Any]:
            return [number, phone, "2026-11-05 14:30", amount, "", "", "", "", status]

        first = [
            row(f"M{tag}-a-1", phones["a"], "600.00"),
            row(f"M{tag}-a-2", phones["a"], "500.00"),  # 1,100: Silver (1.10 points a unit)
            row(f"M{tag}-b-new", phones["b"], "50.00"),
            *(row(f"M{tag}-r{i}-1", phone, "10.00") for i, (phone, _c) in enumerate(regulars)),
        ]
        first += [
            row(f"M{tag}-f{i}", phones["filler"], "0.50") for i in range(BATCH_ROWS - len(first))
        ]
        second = [
            row(f"M{tag}-a-3", phones["a"], "100.00"),
            row(spent_order.number, phones["b"], "100.00", "refunded"),
            *(row(f"M{tag}-r{i}-2", phone, "10.00") for i, (phone, _c) in enumerate(regulars)),
        ]
        before = _account_updates()
        _import(acme, [HEADERS, *first, *second])
        updates = _account_updates() - before

        a = Account.objects.get(customer=members["a"])
        assert a.balance == 600 + 500 + 110, "the second batch earned at Silver's multiplier"
        assert a.tier == Tier.objects.get(name="Silver")
        b = Account.objects.get(customer=members["b"])
        assert b.balance == 0
        refund = LedgerEntry.objects.get(account=b, kind="reverse")
        assert (refund.points, refund.shortfall) == (-50, 50)
        for _phone_of, regular in regulars:
            assert account_balance(regular) == 20
            assert_consistent(Account.objects.get(customer=regular))
        for acct in (a, b):
            assert_consistent(acct)
        # Once a batch would be 2 updates for each of the 20 regulars alone.
        assert updates <= len(regulars) + 6, updates
