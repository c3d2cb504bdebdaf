"""The import engine with the customers kind: automatic mapping, the dry run, all-or-nothing and
valid-only commits, duplicates inside the file, matching by each key, custom fields, masked and
formula cells, concurrent imports, mapping templates, audit, and the export -> import round trip.
"""

import csv
import datetime
import io
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils import timezone, translation
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry, User
from crm.lib.contacts import InvalidPhone, phone_e164, phone_normalise
from crm.transfer import selectors, services
from crm.transfer.exporting import csv_chunks, export_kind
from crm.transfer.models import ImportChange, ImportJob, MappingTemplate
from crm.transfer.registry import header_key, import_kind, propose_mapping
from customers.custom_field_services import CustomFieldInput, custom_field_create
from customers.models import Customer, CustomerEmail, CustomerPhone
from customers.services import CustomerInput, customer_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english() -> Any:
    """Messages are compared in English (an earlier request may leave another language on)."""
    with translation.override("en"):
        yield


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def marker() -> str:
    return uuid.uuid4().hex[:8]


def manager(member: Any) -> User:
    return User.objects.get(pk=member.manager.pk)


def start(member: Any, data: bytes, name: str = "file.csv") -> ImportJob:
    return services.import_start(
        actor=manager(member), kind="customers", upload=io.BytesIO(data), filename=name
    )


def check(member: Any, job: ImportJob, **options: Any) -> ImportJob:
    job = services.import_configure(
        actor=manager(member),
        job=job,
        mapping=options.pop("mapping", job.mapping),
        valid_only=options.pop("valid_only", False),
        template_name=options.pop("template_name", ""),
        **options,  # the kind's options (match_by, update_existing); unknown ones are refused
    )
    return services.import_check_request(actor=manager(member), job=job, inline=True)


def commit(member: Any, job: ImportJob) -> ImportJob:
    return services.import_commit_request(actor=manager(member), job=job, inline=True)


def imported(member: Any, data: bytes, **options: Any) -> ImportJob:
    job = check(member, start(member, data), **options)
    assert job.status == ImportJob.Status.CHECKED, job.message
    return commit(member, job)


def reasons(job: ImportJob) -> list[tuple[int, str, str]]:
    return [(r.row, r.column, r.reason) for r in selectors.import_rejected_rows(job, 100)]


# --- mapping ---------------------------------------------------------------------------------


def test_chinese_and_english_headers_map_automatically(acme):
    headers = [
        "姓名",
        "手机号码",
        "电子邮件",
        "出生日期",
        "性别",
        "地址",
        "城市",
        "标签",
        "备注",
        "客户编号",
        "E-Mail ",
        "Postal code",
        "whatever",
    ]
    with schema_context(acme.schema):
        mapping = propose_mapping(import_kind("customers").fields, headers)
    assert mapping == {
        "姓名": "name",
        "手机号码": "phones",
        "电子邮件": "emails",
        "出生日期": "birthday",
        "性别": "gender",
        "地址": "address",
        "城市": "city",
        "标签": "tags",
        "备注": "notes",
        "客户编号": "external_id",
        "E-Mail ": "",  # emails are taken by the first column that names them
        "Postal code": "postal_code",
        "whatever": "",
    }
    assert header_key("Ｅ－mail：") == header_key("e mail")


def test_a_saved_mapping_template_wins_for_the_same_headers(acme):
    m = marker()
    data = csv_bytes([["Kundenname", "Handy"], [f"T{m}", "13900001234"]])
    with schema_context(acme.schema):
        job = start(acme, data)
        assert job.mapping == {"Kundenname": "", "Handy": ""}
        job = check(
            acme,
            job,
            mapping={"Kundenname": "name", "Handy": "phones"},
            match_by="phone",
            template_name=f"German {m}",
        )
        assert MappingTemplate.objects.filter(kind="customers", name=f"German {m}").exists()
        again = start(acme, data)
        assert again.mapping == {"Kundenname": "name", "Handy": "phones"}
        assert again.option("match_by") == "phone"


def test_configure_refuses_a_missing_name_or_match_column(acme):
    with schema_context(acme.schema):
        job = start(acme, csv_bytes([["姓名", "邮箱"], ["A", "a@example.cn"]]))
        assert job.option("match_by") == "email"
        with pytest.raises(ValidationError, match="required"):
            check(acme, job, mapping={"姓名": "", "邮箱": "emails"}, match_by="email")
        with pytest.raises(ValidationError, match=r"Match existing records by: Phone.*holds Phone"):
            check(acme, job, match_by="phone")
        # Options are the kind's own: one only orders have is refused when switched on.
        with pytest.raises(ValidationError, match="no option"):
            check(acme, job, create_missing_customers=True)
        with pytest.raises(ValidationError, match="offered values"):
            check(acme, job, match_by="fax")
        job.refresh_from_db()
        assert job.status == ImportJob.Status.UPLOADED


# --- values ----------------------------------------------------------------------------------


def test_gb18030_file_with_chinese_headers_is_imported_with_the_forms_rules(acme):
    m = marker()
    data = csv_bytes(
        [
            ["姓名", "手机号", "邮箱", "生日", "性别", "城市", "标签"],
            [
                f"王芳{m}",
                "139 0000 2222；+86 138-0000-3333",
                f" Wang.{m}@Example.CN ",
                "1990/3/5",
                "女",
                "上海",
                "vip，新客",
            ],
        ],
        "gb18030",
    )
    with schema_context(acme.schema):
        job = imported(acme, data, match_by="phone")
        assert (job.status, job.created_count, job.rejected_count) == ("done", 1, 0)
        customer = Customer.objects.get(name=f"王芳{m}")
        assert customer.name_sort.startswith("wangfang")
        assert customer.birthday == datetime.date(1990, 3, 5)
        assert customer.gender == "female" and customer.city == "上海"
        assert customer.tags == ["vip", "新客"]
        phones = list(customer.phones.values_list("e164", "raw", "digits", "is_primary"))
        assert phones == [
            ("+8613900002222", "139 0000 2222", "8613900002222", True),
            ("+8613800003333", "+86 138-0000-3333", "8613800003333", False),
        ]
        assert list(customer.emails.values_list("email", "is_primary")) == [
            (f"wang.{m}@example.cn", True)
        ]


@pytest.mark.parametrize(
    "raw",
    [
        "13900001111",
        "139 0000 1111",
        "139-0000-1111",
        "+86 139 0000 1111",
        "008613900001111",
        "+8613900001111",
        "17951139000011",
        "010 6552 9988",
        "+1 650 253 0000",
        "12345",
        "1390000111",
        "１３９００００１１１１",
    ],
)
def test_the_fast_phone_path_agrees_with_phone_normalise(raw):
    phone_e164.cache_clear()
    try:
        expected: str | None = phone_normalise(raw, default_region="CN").e164
    except InvalidPhone:
        expected = None
    try:
        got: str | None = phone_e164(raw, "CN")
    except InvalidPhone:
        got = None
    assert got == expected


def test_bad_values_are_rejected_with_the_column_and_a_reason(acme):
    m = marker()
    rows = [
        ["姓名", "手机", "邮箱", "生日", "性别", "国家"],
        [f"OK{m}", "13900004444", "", "", "", ""],
        [f"Bad{m}", "12", "not-an-email", "2023-02-29", "maybe", "China"],
        ["", "13900005555", "", "", "", ""],
        ['=HYPERLINK("http://x")', "13900006666", "", "", "", ""],
        [f"Masked{m}", "+86 ••••••••1234", "", "", "", ""],
    ]
    with schema_context(acme.schema):
        job = check(acme, start(acme, csv_bytes(rows)), match_by="phone")
        assert (job.created_count, job.rejected_count) == (1, 4)
        found = reasons(job)
        by_column = {(row, column) for row, column, _reason in found}
        assert {(3, "手机"), (3, "邮箱"), (3, "生日"), (3, "性别"), (3, "国家")} <= by_column
        assert (4, "姓名") in by_column  # a new customer needs a name
        assert (5, "姓名") in by_column and any("formula" in r for _n, _c, r in found)
        assert any(row == 6 and "masked" in reason for row, _c, reason in found)
        assert any("is not a phone number we can dial" in r for _n, _c, r in found)
        assert Customer.objects.filter(name__endswith=m).count() == 0


def test_custom_field_values_are_checked_like_the_form(acme):
    m = marker()
    with schema_context(acme.schema):
        custom_field_create(
            actor=None,
            key=f"size_{m}",
            data=CustomFieldInput(label=f"Size {m}", kind="choice", choices=["S", "M", "L"]),
        )
        custom_field_create(
            actor=None, key=f"visits_{m}", data=CustomFieldInput(label="Visits", kind="number")
        )
        data = csv_bytes(
            [
                ["姓名", "手机", f"Size {m}", f"custom_visits_{m}"],
                [f"C1{m}", "13900007771", "m", "1,250.50"],
                [f"C2{m}", "13900007772", "XL", "many"],
            ]
        )
        job = start(acme, data)
        assert job.mapping[f"Size {m}"] == f"custom:size_{m}"
        assert job.mapping[f"custom_visits_{m}"] == f"custom:visits_{m}"
        job = check(acme, job, match_by="phone", valid_only=True)
        assert (job.created_count, job.rejected_count) == (1, 1)
        messages = {column: reason for _row, column, reason in reasons(job)}
        assert messages[f"Size {m}"] == "Choose one of: S, M, L."
        assert messages[f"custom_visits_{m}"] == "Enter a number, such as 1250 or -3.5."
        commit(acme, job)
        assert Customer.objects.get(name=f"C1{m}").custom == {
            f"size_{m}": "M",
            f"visits_{m}": "1250.5",
        }


# --- all or nothing, valid only --------------------------------------------------------------


def _one_bad_row(m: str) -> bytes:
    return csv_bytes(
        [
            ["姓名", "手机", "邮箱"],
            [f"A{m}", "13911110001", f"a{m}@example.cn"],
            [f"B{m}", "not a phone", f"b{m}@example.cn"],
            [f"C{m}", "13911110003", f"c{m}@example.cn"],
        ]
    )


def test_all_or_nothing_refuses_a_file_with_one_bad_row(acme):
    m = marker()
    with schema_context(acme.schema):
        job = check(acme, start(acme, _one_bad_row(m)), match_by="phone")
        assert (job.created_count, job.rejected_count) == (2, 1)
        assert reasons(job) == [(3, "手机", "“not a phone” is not a phone number we can dial.")]
        with pytest.raises(ValidationError, match="import valid rows only"):
            commit(acme, job)
        job.refresh_from_db()
        assert job.status == ImportJob.Status.CHECKED
        assert Customer.objects.filter(name__endswith=m).count() == 0
        assert not job.changes.exists()


def test_valid_only_writes_the_good_rows_and_keeps_the_bad_ones_in_a_csv(acme):
    m = marker()
    with schema_context(acme.schema):
        job = imported(acme, _one_bad_row(m), match_by="phone", valid_only=True)
        assert (job.status, job.created_count, job.rejected_count) == ("done", 2, 1)
        assert set(Customer.objects.filter(name__endswith=m).values_list("name", flat=True)) == {
            f"A{m}",
            f"C{m}",
        }
        assert job.changes.filter(action="created").count() == 2
        path = selectors.import_rejected_csv_path(job)
        assert path is not None
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # Excel needs the byte order mark
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows == [
            ["姓名", "手机", "邮箱", "error"],
            [
                f"B{m}",
                "not a phone",
                f"b{m}@example.cn",
                "手机: “not a phone” is not a phone number we can dial.",
            ],
        ]


def test_a_commit_rechecks_against_the_database_as_it_is_then(acme):
    m = marker()
    with schema_context(acme.schema):
        customer_create(
            actor=None, data=CustomerInput(name=f"First{m}", emails=[f"shared.{m}@example.cn"])
        )
        data = csv_bytes(
            [["姓名", "邮箱", "城市"], [f"First{m}", f"shared.{m}@example.cn", "上海"]]
        )
        job = check(acme, start(acme, data), match_by="email")
        assert (job.updated_count, job.rejected_count) == (1, 0)
        # Meanwhile someone adds a second customer with that email: the row is ambiguous now.
        customer_create(
            actor=None, data=CustomerInput(name=f"Second{m}", emails=[f"shared.{m}@example.cn"])
        )
        job = commit(acme, job)
        assert job.status == ImportJob.Status.FAILED
        assert "Nothing was imported" in job.message and "several customers" in job.message
        [(row, column, reason)] = reasons(job)
        assert (row, column) == (2, "邮箱") and "several customers" in reason
        assert not Customer.objects.filter(name__endswith=m, city="上海").exists()
        assert not job.changes.exists()


# --- duplicates and matching -----------------------------------------------------------------


def test_duplicate_keys_inside_the_file_are_rejected(acme):
    m = marker()
    rows = [
        ["姓名", "手机", "外部编号"],
        [f"D1{m}", "13933330001", f"X1-{m}"],
        [f"D2{m}", "139 3333 0001", f"X2-{m}"],
        [f"D3{m}", "13933330003", f"X1-{m}"],
    ]
    with schema_context(acme.schema):
        job = check(acme, start(acme, csv_bytes(rows)), match_by="phone", valid_only=True)
        assert reasons(job) == [
            (3, "手机", "Row 3 has the same phone as row 2."),
            (4, "外部编号", "Row 4 has the same external id as row 2."),
        ]
        assert job.created_count == 1


def _existing(m: str) -> Customer:
    return customer_create(
        actor=None,
        data=CustomerInput(
            name=f"Existing{m}",
            phones=["1394" + str(int(m, 16) % 10**7).zfill(7)],
            emails=[f"existing.{m}@example.cn"],
            city="北京",
            external_id=f"E-{m}",
            tags=["old"],
        ),
    )


@pytest.mark.parametrize("match_by", ["external_id", "phone", "email"])
def test_match_by_each_key_updates_only_what_changed(acme, match_by):
    m = marker()
    with schema_context(acme.schema):
        customer = _existing(m)
        phone = customer.phones.get().e164
        before_updated = customer.updated_at
        rows = [
            ["外部编号", "姓名", "手机", "邮箱", "城市", "标签"],
            [f"E-{m}", f"Existing{m}", phone, f"existing.{m}@example.cn", "上海", "new"],
        ]
        job = imported(acme, csv_bytes(rows), match_by=match_by)
        assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 1, 0)
        customer.refresh_from_db()
        assert customer.city == "上海"
        assert customer.tags == ["new", "old"]  # tags are added, none removed
        assert customer.updated_at > before_updated
        change = ImportChange.objects.get(job=job)
        assert change.action == "updated" and change.before["row"]["city"] == "北京"
        assert change.before["phones"] == [customer.phones.get().pk]


def test_a_row_matching_two_customers_is_rejected(acme):
    m = marker()
    with schema_context(acme.schema):
        for i in range(2):
            customer_create(
                actor=None, data=CustomerInput(name=f"Twin{i}{m}", emails=[f"twin.{m}@example.cn"])
            )
        rows = [["姓名", "邮箱"], [f"Twin{m}", f"twin.{m}@example.cn"]]
        job = check(acme, start(acme, csv_bytes(rows)), match_by="email")
        [(row, column, reason)] = reasons(job)
        assert (row, column) == (2, "邮箱") and "matches several customers" in reason


def test_update_existing_off_leaves_matches_unchanged(acme):
    m = marker()
    with schema_context(acme.schema):
        customer = _existing(m)
        rows = [["外部编号", "姓名", "城市"], [f"E-{m}", "Renamed", "上海"], ["", f"Fresh{m}", ""]]
        job = imported(acme, csv_bytes(rows), match_by="external_id", update_existing=False)
        assert (job.created_count, job.updated_count, job.unchanged_count) == (1, 0, 1)
        customer.refresh_from_db()
        assert (customer.name, customer.city) == (f"Existing{m}", "北京")


def test_empty_cells_leave_stored_values_alone(acme):
    m = marker()
    with schema_context(acme.schema):
        customer = _existing(m)
        rows = [["外部编号", "姓名", "城市", "邮箱"], [f"E-{m}", f"Existing{m}", "", ""]]
        job = imported(acme, csv_bytes(rows), match_by="external_id")
        assert (job.updated_count, job.unchanged_count) == (0, 1)
        customer.refresh_from_db()
        assert customer.city == "北京" and customer.emails.count() == 1


def test_erased_customers_are_never_matched(acme):
    from customers.privacy import customer_erase

    m = marker()
    with schema_context(acme.schema):
        customer = _existing(m)
        phone = customer.phones.get().e164
        customer_erase(actor=manager(acme), customer=customer)
        job = imported(acme, csv_bytes([["姓名", "手机"], [f"Back{m}", phone]]), match_by="phone")
        assert (job.created_count, job.updated_count) == (1, 0)
        customer.refresh_from_db()
        assert customer.erased_at is not None and customer.name.startswith("Erased")


# --- round trip, concurrency, audit ----------------------------------------------------------


def test_export_then_import_changes_nothing(acme):
    m = marker()
    with schema_context(acme.schema):
        made = [
            customer_create(
                actor=None,
                data=CustomerInput(
                    name=name,
                    phones=phones,
                    emails=emails,
                    birthday=datetime.date(1988, 2, 29),
                    address='1 Road, Suite "A"',
                    city="广州",
                    country="CN",
                    tags=[f"rt{m}", "vip", "=odd"],
                    external_id=ext,
                    owner=User.objects.get(pk=acme.agent.pk),
                ),
            )
            for name, phones, emails, ext in (
                (
                    f"=Formula {m}",
                    ["13955550001", "13955550002"],
                    [f"f1.{m}@example.cn"],
                    f"R1-{m}",
                ),
                (f"欧阳娜娜{m}", ["+44 20 7946 0958"], [], f"R2-{m}"),
                (f"-Minus {m}", [], [f"m.{m}@example.cn", f"m2.{m}@example.cn"], f"R3-{m}"),
            )
        ]
        kind = export_kind("customers")
        params = QueryDict(f"tag=rt{m}")
        data = "".join(csv_chunks(kind.header_row(None, params), kind.rows_for(None, params)))
        before = {
            c.pk: (
                Customer.objects.filter(pk=c.pk).values().get(),
                list(CustomerPhone.objects.filter(customer=c).values()),
                list(CustomerEmail.objects.filter(customer=c).values()),
            )
            for c in made
        }
        # Columns other apps add to the export (customers.export_columns: RFM scores) are
        # derived values, read back by no import: they stay unmapped and change nothing.
        from customers.export_columns import export_columns

        derived = {c.header for c in export_columns(None)}
        for match_by in ("external_id", "phone", "email"):
            job = start(acme, data.encode("utf-8"), "export.csv")
            assert all(job.mapping[h] for h in job.headers if h not in derived), job.mapping
            assert not any(job.mapping[h] for h in job.headers if h in derived), job.mapping
            job = check(acme, job, match_by=match_by)
            assert (job.created_count, job.updated_count, job.rejected_count) == (0, 0, 0), (
                match_by,
                reasons(job),
            )
            assert job.unchanged_count == 3
            job = commit(acme, job)
            assert job.status == "done" and not job.changes.exists()
        after = {
            c.pk: (
                Customer.objects.filter(pk=c.pk).values().get(),
                list(CustomerPhone.objects.filter(customer=c).values()),
                list(CustomerEmail.objects.filter(customer=c).values()),
            )
            for c in made
        }
        assert after == before


def test_a_second_import_is_refused_while_one_runs_on_the_same_records(acme):
    m = marker()
    with schema_context(acme.schema):
        running = start(acme, csv_bytes([["姓名"], [f"R{m}"]]), "running.csv")
        # Queued for the worker a moment ago, not taken yet: alive (see crm.lib.liveness).
        ImportJob.objects.filter(pk=running.pk).update(
            status=ImportJob.Status.RUNNING, queued_at=timezone.now()
        )
        job = check(acme, start(acme, csv_bytes([["姓名"], [f"S{m}"]])), match_by="external_id")
        with pytest.raises(ValidationError, match=r"running\.csv"):
            commit(acme, job)
        job.refresh_from_db()
        assert job.status == ImportJob.Status.CHECKED
        assert not Customer.objects.filter(name=f"S{m}").exists()
        ImportJob.objects.filter(pk=running.pk).update(status=ImportJob.Status.FAILED)
        assert commit(acme, job).status == ImportJob.Status.DONE


def test_an_import_leaves_one_audit_entry_not_one_per_row(acme):
    m = marker()
    rows = [["姓名", "手机"]] + [[f"Au{i}{m}", f"1396666{i:04d}"] for i in range(20)]
    with schema_context(acme.schema):
        before = AuditEntry.objects.count()
        job = imported(acme, csv_bytes(rows), match_by="phone")
        entries = AuditEntry.objects.order_by("id")[before:]
        actions = [e.action for e in entries]
        assert actions == ["import upload", "import"], actions
        detail = AuditEntry.objects.get(action="import", record_id=str(job.pk)).detail
        assert (detail["created"], detail["rows"]) == (20, 20)
        assert ImportChange.objects.filter(job=job, action="created").count() == 20


def test_files_the_reader_refuses_leave_no_job(acme):
    with schema_context(acme.schema):
        before = ImportJob.objects.count()
        with pytest.raises(ValidationError):
            start(acme, b"")
        with pytest.raises(ValidationError):
            start(acme, b"\x00\x01\x02binary", "x.csv")
        assert ImportJob.objects.count() == before


def test_a_commit_that_stops_half_way_writes_nothing(acme):
    """More rows than a batch, then (the file changed on disk since the check) a line in another
    encoding: the first batch was written in the commit's transaction, and rolled back."""
    m = marker()
    rows = [["姓名", "手机"]] + [[f"H{i}{m}", f"1375{i:07d}"] for i in range(6000)]
    with schema_context(acme.schema):
        job = check(acme, start(acme, csv_bytes(rows)), match_by="phone")
        assert job.created_count == 6000
        with services.job_path(job).open("ab") as out:
            out.write("坏行,13912345678\r\n".encode("gb18030"))
        job = commit(acme, job)
        assert job.status == ImportJob.Status.FAILED and "Nothing was imported" in job.message
        assert not Customer.objects.filter(name__endswith=m).exists()
        assert not job.changes.exists()


def test_an_xlsx_with_typed_cells_imports(acme, tmp_path):
    import openpyxl

    m = marker()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "手机", "生日", "城市"])
    sheet.append([f"X1{m}", 13977770001, datetime.date(1991, 2, 3), "杭州"])
    sheet.append([f"X2{m}", "139 7777 0002", datetime.datetime(1992, 4, 5, 0, 0), None])
    path = tmp_path / "customers.xlsx"
    book.save(path)
    with schema_context(acme.schema):
        job = start(acme, path.read_bytes(), "customers.xlsx")
        assert job.file_format == "xlsx" and all(job.mapping.values())
        job = commit(acme, check(acme, job, match_by="phone"))
        assert (job.status, job.created_count, job.rejected_count) == ("done", 2, 0)
        first = Customer.objects.get(name=f"X1{m}")
        assert first.birthday == datetime.date(1991, 2, 3) and first.city == "杭州"
        assert first.phones.get().e164 == "+8613977770001"
        assert Customer.objects.get(name=f"X2{m}").birthday == datetime.date(1992, 4, 5)


def test_the_cached_name_sort_key_agrees_with_plain_lazy_pinyin():
    """name_sort_key (the one the forms and the imports call) takes pypinyin through a converter
    that remembers segments, behind a cache: it gives what the plain definition gives."""
    import random
    import unicodedata

    from pypinyin import lazy_pinyin

    from crm.lib.contacts import name_sort_capped, name_sort_key

    def plain(name: str) -> str:
        folded = unicodedata.normalize("NFKC", name).casefold().strip()
        if any("\u3400" <= ch <= "\u9fff" for ch in folded):
            pinyin = "".join(p.strip() for p in lazy_pinyin(folded) if p.strip())
            return name_sort_capped(f"{pinyin} {folded}")
        return name_sort_capped(folded)

    given = [
        "欧阳娜娜",
        "单雄信",
        "曾国藩",
        "长孙无忌",
        "重庆火锅店",
        "John 王",
        "Ｗａｎｇ　芳",
        "  张伟  ",
        "李-白·二",
        "𠀋字",
        "한국 金",
        "Émile Zola",
        "ß straße",
        "=SUM 王",
        "",
    ]
    rng = random.Random(5)
    chars = "张王李赵刘陈杨黄吴周欧阳长重行乐单解曾区朴仇伟芳娜秀英敏静丽强军洋"
    extra = ["", " ", "a", "1", "-", "·", "Ａ", "ﬁ", "\u3000", "々", "〇", "ü"]
    names = given + [
        rng.choice(extra)
        + "".join(rng.choice(chars) for _ in range(rng.randint(1, 4)))
        + rng.choice(extra)
        + str(i)
        for i in range(3000)
    ]
    names += ["庄" * 100, "\ufdfa" * 40, "庄" * 200]  # capped at the column
    name_sort_key.cache_clear()
    assert [name_sort_key(n) for n in names] == [plain(n) for n in names]


def test_the_customers_copy_columns_follow_the_model():
    """The import writes customers with COPY in a fixed column order (COLUMNS, and the line
    formatter beside it); a field added to Customer must be added there too, or imports would
    silently leave it at its default."""
    from customers.models import Customer
    from customers.transfer_imports import COLUMNS

    model_columns = tuple(
        f.column for f in Customer._meta.concrete_fields if f.column != "erased_at"
    )
    assert model_columns == COLUMNS
