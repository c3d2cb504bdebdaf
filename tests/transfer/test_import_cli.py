"""import_records: the engine on the command line, with its exit status and report."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from crm.transfer.models import ImportJob, MappingTemplate
from customers.models import Customer
from customers.services import CustomerInput, customer_create
from tests.transfer.test_import_engine import (  # noqa: F401  (english: a fixture)
    csv_bytes,
    english,
    marker,
)

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_records", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def write(tmp_path: Path, rows: list[list[str]], name: str = "in.csv", enc: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(csv_bytes(rows, enc))
    return str(path)


def test_a_clean_file_imports_and_exits_zero(acme, tmp_path):
    m = marker()
    path = write(
        tmp_path,
        [["姓名", "手机"], [f"Cli1{m}", "13988880001"], [f"Cli2{m}", "13988880002"]],
        enc="gb18030",
    )
    status, out, _err = run(acme.tenant.slug, "customers", path, "--match", "phone")
    assert status == 0, out
    assert "imported: 2 new, 0 updated, 0 unchanged, 0 rejected (2 rows)" in out
    with schema_context(acme.schema):
        assert Customer.objects.filter(name__endswith=m).count() == 2
        job = ImportJob.objects.order_by("-pk").first()
        assert job.status == ImportJob.Status.DONE and job.created_by is None
        entry = AuditEntry.objects.get(action="import", record_id=str(job.pk))
        assert entry.actor_label == "command line"


def test_rejected_rows_are_reported_and_exit_non_zero_with_nothing_written(acme, tmp_path):
    m = marker()
    path = write(
        tmp_path,
        [
            ["姓名", "手机", "生日"],
            [f"Good{m}", "13988881001", "1990-01-01"],
            [f"Bad{m}", "13988881002", "1990-13-01"],
            [f"Dup{m}", "13988881001", ""],
        ],
    )
    status, out, _err = run(acme.schema, "customers", path, "--match", "phone")
    assert status == 1
    assert "not imported (all or nothing): 1 new" in out
    assert "row 3\t生日\t" in out
    assert "row 4\t手机\tRow 4 has the same phone as row 2." in out
    assert "all rejected rows with the reason: " in out and "-rejected.csv" in out
    with schema_context(acme.schema):
        assert not Customer.objects.filter(name__endswith=m).exists()

    status, out, _err = run(acme.schema, "customers", path, "--match", "phone", "--valid-only")
    assert status == 1 and "imported: 1 new" in out
    with schema_context(acme.schema):
        assert list(Customer.objects.filter(name__endswith=m).values_list("name", flat=True)) == [
            f"Good{m}"
        ]


def test_dry_run_writes_nothing(acme, tmp_path):
    m = marker()
    path = write(tmp_path, [["姓名", "邮箱"], [f"Dry{m}", f"dry.{m}@example.cn"]])
    status, out, _err = run(acme.schema, "customers", path, "--dry-run")
    assert status == 0 and "would import: 1 new" in out
    with schema_context(acme.schema):
        assert not Customer.objects.filter(name=f"Dry{m}").exists()


def test_match_update_options_and_a_saved_mapping(acme, tmp_path):
    m = marker()
    with schema_context(acme.schema):
        customer = customer_create(
            actor=None,
            data=CustomerInput(name=f"Old{m}", emails=[f"o.{m}@example.cn"], city="北京"),
        )
        MappingTemplate.objects.create(
            kind="customers",
            name=f"shop {m}",
            mapping={"Wer": "name", "Mail": "emails", "Ort": "city"},
        )
    path = write(tmp_path, [["Wer", "Mail", "Ort"], [f"Old{m}", f"o.{m}@example.cn", "上海"]])
    status, out, _err = run(
        acme.schema, "customers", path, "--match", "email", "--mapping", f"shop {m}", "--no-update"
    )
    assert status == 0 and "imported: 0 new, 0 updated, 1 unchanged" in out
    status, out, _err = run(
        acme.schema, "customers", path, "--match", "email", "--mapping", f"shop {m}"
    )
    assert status == 0 and "imported: 0 new, 1 updated" in out
    with schema_context(acme.schema):
        customer.refresh_from_db()
        assert customer.city == "上海"


def test_unreadable_files_and_unknown_names_are_readable_errors(acme, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    status, _out, err = run(acme.schema, "customers", str(empty))
    assert status == 2 and err.strip()
    with pytest.raises(CommandError, match="no tenant"):
        run("nope", "customers", str(empty))
    with pytest.raises(CommandError, match="unknown kind"):
        run(acme.schema, "planets", str(empty))
    with pytest.raises(CommandError, match="no such file"):
        run(acme.schema, "customers", str(tmp_path / "missing.csv"))
