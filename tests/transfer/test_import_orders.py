"""The orders import kind (customers.transfer_imports_orders) through the engine's services and
the import_records command: Chinese headers, dates in every format, bad values with their
messages, unknown customers rejected or created, duplicate numbers, update vs unchanged, undo
(and its refusal after a later change), and the round trip with the orders export."""

import csv
import datetime
import io
import uuid
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.http import QueryDict
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.transfer import services
from crm.transfer.exporting import csv_chunks, export_kind
from crm.transfer.models import ImportChange, ImportJob
from customers.models import Customer, CustomerEmail, CustomerPhone, Order
from customers.services import CustomerInput, customer_create
from tests.testkit.cleanup import customers_delete
from tests.transfer.files import write_csv

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")  # acme's time zone (tests/testkit/cast.py)
HEADERS = ["订单号", "手机号", "下单时间", "金额", "币种", "数量", "渠道", "门店", "状态"]


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _phone(n: int) -> str:
    """A Chinese mobile number unique to the test run."""
    return f"139{uuid.uuid4().int % 10**8:08d}" if n < 0 else f"137{n:08d}"


def _csv(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _customer(name: str, *, phone: str = "", email: str = "", external_id: str = "") -> Customer:
    return customer_create(
        actor=None,
        data=CustomerInput(
            name=name,
            phones=[phone] if phone else [],
            emails=[email] if email else [],
            external_id=external_id,
        ),
    )


def _import(
    member: Any,
    rows: list[list[Any]],
    *,
    match_by: str = "phone",
    update: bool = True,
    create: bool = False,
    valid_only: bool = False,
    commit: bool = True,
) -> ImportJob:
    """Upload, map automatically, check, and commit when the check allows (inline)."""
    actor = User.objects.get(pk=member.manager.pk)
    job = services.import_start(
        actor=actor, kind="orders", upload=io.BytesIO(_csv(rows)), filename="orders.csv"
    )
    job = services.import_configure(
        actor=actor,
        job=job,
        mapping=job.mapping,
        match_by=match_by,
        update_existing=update,
        valid_only=valid_only,
        create_missing_customers=create,
    )
    job = services.import_check_request(actor=actor, job=job, inline=True)
    checked = job.status == ImportJob.Status.CHECKED
    if commit and checked and (valid_only or not job.rejected_count):
        job = services.import_commit_request(actor=actor, job=job, inline=True)
    return job


def _rejections(job: ImportJob) -> list[tuple[int, str, str]]:
    from crm.transfer.selectors import import_rejected_rows

    return [(r.row, r.column, r.reason) for r in import_rejected_rows(job, 100)]


def _row(number: str, phone: str, at: str = "2024-03-05 14:30", amount: str = "99.50", **kw: str):
    return [
        number,
        phone,
        at,
        amount,
        kw.get("currency", ""),
        kw.get("items", ""),
        kw.get("channel", ""),
        kw.get("store", ""),
        kw.get("status", ""),
    ]


# --- mapping ----------------------------------------------------------------------------------


def test_chinese_headers_map_automatically(acme):
    with schema_context(acme.schema):
        actor = User.objects.get(pk=acme.manager.pk)
        data = _csv(
            [[*HEADERS, "邮箱", "客户编号", "姓名"], ["A1", "13700000001", "2024-03-05", "1"]]
        )
        job = services.import_start(
            actor=actor, kind="orders", upload=io.BytesIO(data), filename="订单.csv"
        )
        assert job.mapping == {
            "订单号": "number",
            "手机号": "customer_phone",
            "下单时间": "ordered_at",
            "金额": "amount",
            "币种": "currency",
            "数量": "item_count",
            "渠道": "channel",
            "门店": "store",
            "状态": "status",
            "邮箱": "customer_email",
            "客户编号": "customer_external_id",
            "姓名": "customer_name",
        }
        assert job.option("match_by") == "phone"
        other = services.import_start(
            actor=actor,
            kind="orders",
            upload=io.BytesIO(
                _csv([["日期", "订单号", "金额", "会员编号"], ["2024-03-05", "B", "1", "x"]])
            ),
            filename="b.csv",
        )
        assert other.mapping == {
            "日期": "ordered_at",
            "订单号": "number",
            "金额": "amount",
            "会员编号": "customer_external_id",
        }
        assert other.option("match_by") == "external_id"


# --- values -----------------------------------------------------------------------------------


def test_dates_in_every_format_in_the_tenants_time_zone(acme):
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        customer = _customer(f"日期{tag}", phone=phone)
        cases = {
            "2024-03-05": datetime.datetime(2024, 3, 5, tzinfo=LONDON),
            "2024/3/5": datetime.datetime(2024, 3, 5, tzinfo=LONDON),
            "05.03.2024": datetime.datetime(2024, 3, 5, tzinfo=LONDON),
            "45356": datetime.datetime(2024, 3, 5, tzinfo=LONDON),
            "45356.5": datetime.datetime(2024, 3, 5, 12, tzinfo=LONDON),
            "2024-07-01 14:30": datetime.datetime(2024, 7, 1, 14, 30, tzinfo=LONDON),
            "2024/7/1 2:30 PM": datetime.datetime(2024, 7, 1, 14, 30, tzinfo=LONDON),
            "2024年7月1日": datetime.datetime(2024, 7, 1, tzinfo=LONDON),
            "2024-07-01T14:30:00+08:00": datetime.datetime(2024, 7, 1, 6, 30, tzinfo=datetime.UTC),
        }
        rows: list[list[Any]] = [HEADERS]
        for i, text in enumerate(cases):
            rows.append(_row(f"D{tag}-{i}", phone, at=text))
        job = _import(acme, rows)
        assert job.status == ImportJob.Status.DONE, job.message
        assert job.created_count == len(cases)
        stored = dict(Order.objects.filter(customer=customer).values_list("number", "ordered_at"))
        for i, expected in enumerate(cases.values()):
            assert stored[f"D{tag}-{i}"] == expected, list(cases)[i]


def test_amounts_are_exact_and_defaults_apply(acme):
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        _customer(f"金额{tag}", phone=phone)
        rows = [
            HEADERS,
            _row(f"M{tag}1", phone, amount="0.10", currency="人民币", items="3", status="已退款"),
            _row(f"M{tag}2", phone, amount="¥1,234.56", currency="usd", status="取消"),
            _row(
                f"M{tag}3", phone, amount="100", channel="天猫", store="上海店", status="completed"
            ),
        ]
        job = _import(acme, rows)
        assert job.status == ImportJob.Status.DONE, job.message
        one, two, three = Order.objects.filter(number__startswith=f"M{tag}").order_by("number")
        assert (one.amount, one.currency, one.item_count, one.status) == (
            Decimal("0.10"),
            "CNY",
            3,
            "refunded",
        )
        assert (two.amount, two.currency, two.status) == (Decimal("1234.56"), "USD", "cancelled")
        # Empty cells: the tenant's currency (GBP for acme), one item, completed.
        assert (three.amount, three.currency, three.item_count) == (Decimal("100.00"), "GBP", 1)
        assert (three.channel, three.store, three.status) == ("天猫", "上海店", "completed")
        total = sum(
            Order.objects.filter(number__startswith=f"M{tag}").values_list("amount", flat=True)
        )
        assert total == Decimal("1334.66")


def test_bad_values_are_rejected_with_messages_and_nothing_is_written(acme):
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        _customer(f"坏值{tag}", phone=phone)
        rows = [
            HEADERS,
            _row(f"B{tag}1", phone),  # fine
            _row(f"B{tag}2", phone, amount="12,50"),
            _row(f"B{tag}3", phone, amount="-5"),
            _row(f"B{tag}4", phone, amount="1.234"),
            _row(f"B{tag}5", phone, currency="$"),
            _row(f"B{tag}6", phone, currency="CYN"),
            _row(f"B{tag}7", phone, at="2023-02-29"),
            _row(f"B{tag}8", phone, at="03/05/2024"),
            _row(f"B{tag}9", phone, at="yesterday"),
            _row(f"B{tag}10", phone, status="shipped"),
            _row(f"B{tag}11", phone, items="2.5"),
            _row(f"B{tag}12", phone, amount=""),
            _row(f"=B{tag}13", phone),
            _row(f"B{tag}14", "12345"),
        ]
        job = _import(acme, rows)
        assert job.status == ImportJob.Status.CHECKED
        assert job.rejected_count == 13
        found = {row: (column, reason) for row, column, reason in _rejections(job)}
        assert found[3] == (
            "金额",
            "“12,50” uses a comma for decimals. Write it with a point and no thousands"
            " separator: 12.50.",
        )
        assert found[4] == ("金额", "An amount cannot be negative.")
        assert "more than 2 decimal places" in found[5][1]
        assert found[6][0] == "币种" and "Write the code, such as USD or HKD" in found[6][1]
        assert "“CYN” is not a currency we know" in found[7][1]
        assert found[8] == ("下单时间", "2023 is not a leap year, so it has no 29 February.")
        assert "could be 2024-03-05 or 2024-05-03" in found[9][1]
        assert "is not a date we can read" in found[10][1]
        assert found[11][0] == "状态" and "completed, refunded or cancelled" in found[11][1]
        assert "not a whole number" in found[12][1]
        assert found[13] == ("金额", "An order needs its amount.")
        assert found[14][0] == "订单号" and "formula" in found[14][1]
        assert found[15] == ("手机号", "“12345” is not a phone number we can dial.")
        # All or nothing: the good row is not imported either.
        assert not Order.objects.filter(number__startswith=f"B{tag}").exists()
        with pytest.raises(Exception, match="rows were rejected"):
            services.import_commit_request(actor=None, job=job, inline=True)
        assert not Order.objects.filter(number__startswith=f"B{tag}").exists()


# --- customers --------------------------------------------------------------------------------


def test_unknown_customers_are_rejected_without_the_option(acme):
    tag = _tag()
    with schema_context(acme.schema):
        known = _phone(-1)
        _customer(f"已知{tag}", phone=known)
        unknown = _phone(-1)
        rows = [HEADERS, _row(f"U{tag}1", known), _row(f"U{tag}2", unknown)]
        job = _import(acme, rows)
        assert job.rejected_count == 1
        [(row, column, reason)] = _rejections(job)
        assert (row, column) == (3, "手机号")
        assert reason == (
            f"No customer with phone +86{unknown}; tick “Create customers missing from the "
            "orders” to create them."
        )
        assert not Order.objects.filter(number__startswith=f"U{tag}").exists()
        # Valid rows only: the known customer's order goes in.
        job = _import(acme, rows, valid_only=True)
        assert job.status == ImportJob.Status.DONE
        assert list(
            Order.objects.filter(number__startswith=f"U{tag}").values_list("number", flat=True)
        ) == [f"U{tag}1"]


def test_unknown_customers_are_created_once_per_reference_and_undo_removes_them(acme):
    tag = _tag()
    with schema_context(acme.schema):
        known = _customer(f"老客{tag}", email=f"old-{tag}@example.cn")
        headers = ["订单号", "邮箱", "姓名", "手机号", "客户编号", "日期", "金额"]
        rows = [
            headers,
            [
                f"C{tag}1",
                f"NEW-{tag}@Example.cn",
                f"新客{tag}",
                "13700001111",
                f"ext-{tag}",
                "2024-03-05",
                "10",
            ],
            [f"C{tag}2", f"new-{tag}@example.cn", "another name", "", "", "2024-03-06", "20"],
            [f"C{tag}3", f"old-{tag}@example.cn", "ignored", "", "", "2024-03-07", "30"],
            [f"C{tag}4", f"nameless-{tag}@example.cn", "", "", "", "2024-03-07", "30"],
        ]
        refused = _import(acme, rows[:4], match_by="email")
        assert refused.rejected_count == 2
        assert not Customer.objects.filter(name=f"新客{tag}").exists()

        job = _import(acme, rows, match_by="email", create=True, valid_only=True)
        assert job.status == ImportJob.Status.DONE, job.message
        assert (job.created_count, job.rejected_count) == (3, 1)
        [(row, column, reason)] = _rejections(job)
        assert (row, column) == (5, "姓名")
        assert "gives no customer name" in reason
        created = Customer.objects.get(name=f"新客{tag}")
        assert created.external_id == f"ext-{tag}"
        assert list(created.emails.values_list("email", "is_primary")) == [
            (f"new-{tag}@example.cn", True)
        ]
        assert list(created.phones.values_list("e164", "is_primary")) == [("+8613700001111", True)]
        orders = dict(
            Order.objects.filter(number__startswith=f"C{tag}").values_list("number", "customer_id")
        )
        assert orders == {f"C{tag}1": created.pk, f"C{tag}2": created.pk, f"C{tag}3": known.pk}
        assert ImportChange.objects.filter(job=job, model="customers.customer").count() == 1
        assert Customer.objects.get(pk=known.pk).name == f"老客{tag}"

        job = services.import_undo_request(actor=None, job=job, inline=True)
        assert job.status == ImportJob.Status.UNDONE, job.message
        assert not Order.objects.filter(number__startswith=f"C{tag}").exists()
        assert not Customer.objects.filter(pk=created.pk).exists()
        assert not CustomerEmail.objects.filter(customer_id=created.pk).exists()
        assert not CustomerPhone.objects.filter(customer_id=created.pk).exists()
        assert Customer.objects.filter(pk=known.pk).exists()


def test_a_created_customers_external_id_may_not_be_taken(acme):
    tag = _tag()
    with schema_context(acme.schema):
        holder = _customer(f"持有{tag}", external_id=f"x-{tag}")
        rows = [
            ["订单号", "手机号", "姓名", "客户编号", "日期", "金额"],
            [f"X{tag}1", "13700002222", "新", f"x-{tag}", "2024-03-05", "1"],
            [f"X{tag}2", "13700003333", "新", f"y-{tag}", "2024-03-05", "1"],
            [f"X{tag}3", "13700004444", "新", f"y-{tag}", "2024-03-05", "1"],
        ]
        job = _import(acme, rows, create=True)
        found = {row: (column, reason) for row, column, reason in _rejections(job)}
        assert set(found) == {2, 4}
        assert found[2][0] == "客户编号" and f"#{holder.pk}" in found[2][1]
        assert found[4] == ("客户编号", "Row 3 creates a customer with this external id already.")
        assert not Order.objects.filter(number__startswith=f"X{tag}").exists()


def test_customers_matched_by_external_id_and_several_matches_refused(acme):
    tag = _tag()
    with schema_context(acme.schema):
        one = _customer(f"甲{tag}", external_id=f"e1-{tag}")
        shared = _phone(-1)
        _customer(f"乙{tag}", phone=shared)
        _customer(f"丙{tag}", phone=shared)
        job = _import(
            acme,
            [["订单号", "会员编号", "日期", "金额"], [f"E{tag}", f"e1-{tag}", "2024-03-05", "5"]],
            match_by="external_id",
        )
        assert job.status == ImportJob.Status.DONE, job.message
        assert Order.objects.get(number=f"E{tag}").customer_id == one.pk
        job = _import(acme, [HEADERS, _row(f"S{tag}", shared)])
        [(_row_number, column, reason)] = _rejections(job)
        assert column == "手机号" and reason.startswith("Several customers have this phone")


# --- existing orders --------------------------------------------------------------------------


def test_duplicate_numbers_inside_the_file(acme):
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        _customer(f"重复{tag}", phone=phone)
        job = _import(acme, [HEADERS, _row(f"R{tag}", phone), _row(f"R{tag}", phone, amount="5")])
        assert _rejections(job) == [(3, "订单号", "Row 3 has the same order number as row 2.")]
        assert not Order.objects.filter(number=f"R{tag}").exists()


def test_existing_orders_update_or_stay_unchanged(acme):
    tag = _tag()
    with schema_context(acme.schema):
        phone, other = _phone(-1), _phone(-1)
        first = _customer(f"更新{tag}", phone=phone)
        second = _customer(f"换人{tag}", phone=other)
        rows = [HEADERS, _row(f"P{tag}1", phone), _row(f"P{tag}2", phone, status="已完成")]
        job = _import(acme, rows)
        assert (job.created_count, job.updated_count, job.unchanged_count) == (2, 0, 0)

        same = _import(acme, rows)
        assert (same.created_count, same.updated_count, same.unchanged_count) == (0, 0, 2)

        changed = [
            HEADERS,
            _row(f"P{tag}1", other, amount="120.00"),
            _row(f"P{tag}2", phone, status="已退款"),
        ]
        kept = _import(acme, changed, update=False)
        assert (kept.created_count, kept.updated_count, kept.unchanged_count) == (0, 0, 2)
        assert Order.objects.get(number=f"P{tag}1").amount == Decimal("99.50")

        job = _import(acme, changed)
        assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 2, 0)
        one = Order.objects.get(number=f"P{tag}1")
        assert (one.amount, one.customer_id) == (Decimal("120.00"), second.pk)
        assert Order.objects.get(number=f"P{tag}2").status == "refunded"

        job = services.import_undo_request(actor=None, job=job, inline=True)
        assert job.status == ImportJob.Status.UNDONE, job.message
        one = Order.objects.get(number=f"P{tag}1")
        assert (one.amount, one.customer_id) == (Decimal("99.50"), first.pk)
        assert Order.objects.get(number=f"P{tag}2").status == "completed"


def test_undo_is_refused_when_an_order_changed_later(acme):
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        _customer(f"后改{tag}", phone=phone)
        job = _import(acme, [HEADERS, _row(f"L{tag}1", phone), _row(f"L{tag}2", phone)])
        assert job.status == ImportJob.Status.DONE
        Order.objects.filter(number=f"L{tag}2").update(status=Order.Status.REFUNDED)
        with pytest.raises(Exception, match="were changed after it"):
            services.import_undo_request(actor=None, job=job, inline=True)
        assert Order.objects.filter(number__startswith=f"L{tag}").count() == 2
        assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE
        # Changed back, undo may go ahead.
        Order.objects.filter(number=f"L{tag}2").update(status=Order.Status.COMPLETED)
        job = services.import_undo_request(actor=None, job=job, inline=True)
        assert job.status == ImportJob.Status.UNDONE
        assert not Order.objects.filter(number__startswith=f"L{tag}").exists()


def test_undo_is_refused_when_a_later_import_updated_the_orders(acme):
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        _customer(f"再导{tag}", phone=phone)
        first = _import(acme, [HEADERS, _row(f"T{tag}", phone)])
        later = _import(acme, [HEADERS, _row(f"T{tag}", phone, amount="1.00")])
        assert later.updated_count == 1
        with pytest.raises(Exception, match="were changed after it"):
            services.import_undo_request(actor=None, job=first, inline=True)
        later = services.import_undo_request(actor=None, job=later, inline=True)
        assert later.status == ImportJob.Status.UNDONE
        first = services.import_undo_request(actor=None, job=first, inline=True)
        assert first.status == ImportJob.Status.UNDONE
        assert not Order.objects.filter(number=f"T{tag}").exists()


# --- round trip and command line --------------------------------------------------------------


def test_export_then_import_changes_nothing(acme, tmp_path: Path):
    tag = _tag()
    with schema_context(acme.schema):
        phone = _phone(-1)
        _customer(f"往返{tag}", phone=phone, email=f"rt-{tag}@example.cn", external_id=f"rt-{tag}")
        rows = [
            HEADERS,
            _row(f"RT{tag}1", phone, at="2024-03-05 14:30:15", amount="0.05", currency="USD"),
            _row(
                f"RT{tag}2",
                phone,
                at="2024-10-27 01:30",
                amount="1999.99",
                items="4",
                channel="=cmd",
                status="已取消",
            ),
        ]
        rows[2][6] = "'=cmd"  # an escaped formula-like value, as our own exports write it
        job = _import(acme, rows)
        assert job.status == ImportJob.Status.DONE, job.message
        kind = export_kind("orders")
        exported = [
            row for row in kind.rows_for(None, QueryDict()) if str(row[0]).startswith(f"RT{tag}")
        ]
        assert len(exported) == 2
        text = "".join(csv_chunks(kind.headers, exported)).lstrip("\ufeff")
        path = tmp_path / "orders.csv"
        path.write_text(text, encoding="utf-8")
        before = list(
            Order.objects.filter(number__startswith=f"RT{tag}").order_by("number").values()
        )
        actor = User.objects.get(pk=acme.manager.pk)
        with path.open("rb") as upload:
            again = services.import_start(
                actor=actor, kind="orders", upload=upload, filename="o.csv"
            )
        assert set(again.mapping.values()) >= {"number", "customer_phone", "ordered_at", "amount"}
        for match_by in ("phone", "external_id", "email"):
            job = services.import_configure(
                actor=actor,
                job=again,
                mapping=again.mapping,
                match_by=match_by,
                update_existing=True,
                valid_only=False,
            )
            job = services.import_check_request(actor=actor, job=job, inline=True)
            assert (
                job.created_count,
                job.updated_count,
                job.unchanged_count,
                job.rejected_count,
            ) == (0, 0, 2, 0), match_by
        job = services.import_commit_request(actor=actor, job=job, inline=True)
        assert job.status == ImportJob.Status.DONE
        after = list(
            Order.objects.filter(number__startswith=f"RT{tag}").order_by("number").values()
        )
        assert after == before
        assert after[1]["channel"] == "=cmd"


def test_command_line_creates_missing_customers_and_fails_on_rejected_rows(acme, tmp_path: Path):
    tag = _tag()
    good = write_csv(
        tmp_path / "good.csv",
        [
            ["订单号", "手机号", "姓名", "下单时间", "金额"],
            [f"K{tag}1", "13700005555", f"命令{tag}", "2024-03-05", "12.30"],
            [f"K{tag}2", "137 0000 5555", f"命令{tag}", "2024/3/6", "7"],
        ],
        encoding="gb18030",
    )
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as refused:
        call_command("import_records", "acme", "orders", str(good), stdout=out, stderr=err)
    assert refused.value.code == 1
    assert "No customer with phone +8613700005555" in out.getvalue()
    with schema_context(acme.schema):
        assert not Order.objects.filter(number__startswith=f"K{tag}").exists()

    out = io.StringIO()
    call_command(
        "import_records",
        "acme",
        "orders",
        str(good),
        "--create-missing-customers",
        stdout=out,
        stderr=err,
    )
    assert "imported: 2 new, 0 updated, 0 unchanged, 0 rejected (2 rows)" in out.getvalue()
    with schema_context(acme.schema):
        customer = Customer.objects.get(name=f"命令{tag}")
        assert Order.objects.filter(customer=customer).count() == 2

    bad = write_csv(
        tmp_path / "bad.csv",
        [
            ["订单号", "手机号", "下单时间", "金额"],
            [f"K{tag}3", "13700005555", "2024-03-05", "abc"],
        ],
    )
    out = io.StringIO()
    with pytest.raises(SystemExit) as failed:
        call_command("import_records", "acme", "orders", str(bad), stdout=out, stderr=err)
    assert failed.value.code == 1
    assert "row 2\t金额\t“abc” is not a number." in out.getvalue()
    with schema_context(acme.schema):
        assert not Order.objects.filter(number=f"K{tag}3").exists()


def test_a_committed_import_writes_in_the_background_across_batches(committed_db, acme):
    """Outside a test's transaction the commit writes each batch while the next is checked and
    reads existing orders on a second connection (locking the ones it updates in its own):
    three batches come out as a small import does, and undo puts everything back."""
    from crm.transfer.registry import BATCH_ROWS
    from customers.services import order_create

    tag = _tag()
    phone = _phone(-1)
    try:
        with schema_context(acme.schema):
            customer = _customer(f"后台{tag}", phone=phone)
            old = order_create(
                actor=None,
                customer=customer,
                number=f"W{tag}-0",
                ordered_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
                amount=Decimal("10.00"),
                currency="GBP",
            )
            count = 2 * BATCH_ROWS + 10
            rows: list[list[Any]] = [[*HEADERS, "姓名"]]
            rows += [[*_row(f"W{tag}-{i}", phone, amount="12.34"), ""] for i in range(count)]
            rows.append([*_row(f"W{tag}-new", "13700009999"), f"新来{tag}"])
            job = _import(acme, rows, create=True)
            assert job.status == ImportJob.Status.DONE, job.message
            assert (job.created_count, job.updated_count) == (count, 1)
            assert Order.objects.filter(number__startswith=f"W{tag}-").count() == count + 1
            old.refresh_from_db()
            assert old.amount == Decimal("12.34")
            created = Customer.objects.get(name=f"新来{tag}")
            assert Order.objects.get(number=f"W{tag}-new").customer_id == created.pk
            assert (
                ImportChange.objects.filter(job=job, model="customers.order").count() == count + 1
            )

            job = services.import_undo_request(actor=None, job=job, inline=True)
            assert job.status == ImportJob.Status.UNDONE, job.message
            assert list(
                Order.objects.filter(number__startswith=f"W{tag}-").values_list("number", flat=True)
            ) == [f"W{tag}-0"]
            old.refresh_from_db()
            assert old.amount == Decimal("10.00")
            assert not Customer.objects.filter(pk=created.pk).exists()
    finally:
        with schema_context(acme.schema):
            Order.objects.filter(number__startswith=f"W{tag}-").delete()
            ids = list(Customer.objects.filter(name__endswith=tag).values_list("pk", flat=True))
            CustomerPhone.objects.filter(customer__in=ids).delete()
            CustomerEmail.objects.filter(customer__in=ids).delete()
            customers_delete(ids)
            for leftover in ImportJob.objects.filter(original_name="orders.csv", kind="orders"):
                services.job_path(leftover).unlink(missing_ok=True)
                leftover.delete()
