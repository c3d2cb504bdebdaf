"""export_records: unmasked operator exports, formula-safe, audited as "cli"."""

import csv
import io

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from customers.services import CustomerInput, customer_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(acme):
    with schema_context(acme.schema):
        return [
            customer_create(
                actor=None,
                data=CustomerInput(name=name, phones=[phone], tags=["cli"]),
            )
            for name, phone in [("@SUM(A1)", "13900000001"), ("陈七", "13900000002")]
        ]


def test_csv_to_stdout_is_unmasked_filtered_and_audited(acme, two, capsys):
    out = io.StringIO()
    call_command("export_records", acme.tenant.slug, "customers", "--query", "tag=cli", stdout=out)
    text = out.getvalue() or capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert sorted(r["name"] for r in rows) == ["'@SUM(A1)", "陈七"]
    assert "'+8613900000002" in {r["phones"] for r in rows}
    with schema_context(acme.schema):
        entry = AuditEntry.objects.filter(action="export").order_by("-id").first()
        assert entry.actor_id is None and entry.detail["cli"] is True
        assert entry.detail["rows"] == 2 and entry.detail["filter"] == "tag=cli"


def test_xlsx_to_a_file_by_schema_name(acme, two, tmp_path):
    target = tmp_path / "out.xlsx"
    call_command(
        "export_records",
        acme.schema,
        "customers",
        "--format",
        "xlsx",
        "-o",
        str(target),
        "--query",
        "tag=cli",
    )
    values = [[c.value for c in r] for r in openpyxl.load_workbook(target).active.iter_rows()]
    assert sorted(row[1] for row in values[1:]) == ["'@SUM(A1)", "陈七"]


def test_unknown_tenant_or_kind_is_a_readable_error(acme):
    with pytest.raises(CommandError, match="no tenant"):
        call_command("export_records", "nobody", "customers")
    with pytest.raises(CommandError, match="unknown kind"):
        call_command("export_records", acme.tenant.slug, "nope")
