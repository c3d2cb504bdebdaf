"""The customers import and export carry the preferred language (Customer.language): the
import takes codes and the languages' names in English and Chinese, refuses anything else with
the reason, and leaves the stored language alone for an empty cell; the export writes the code."""

import pytest
from django.db import connection
from django.http import QueryDict
from django_tenants.utils import schema_context

from crm.transfer.exporting import csv_chunks, export_kind
from crm.transfer.models import ImportChange, ImportJob
from customers.models import Customer
from customers.services import CustomerInput, customer_create
from tests.transfer.test_import_engine import (  # noqa: F401  (english: a fixture)
    check,
    commit,
    csv_bytes,
    english,
    imported,
    manager,
    marker,
    reasons,
    start,
)
from tests.transfer.test_import_undo import undo

pytestmark = pytest.mark.django_db

SYNONYMS = [
    ("en", "en"),
    ("English", "en"),
    ("ENGLISH", "en"),
    ("英文", "en"),
    ("zh", "zh-hans"),
    ("zh-hans", "zh-hans"),
    ("zh-CN", "zh-hans"),
    ("chinese", "zh-hans"),
    ("中文", "zh-hans"),
    ("简体中文", "zh-hans"),
]


def test_new_customers_take_every_spelling_of_a_language(acme):
    m = marker()
    rows = [["姓名", "手机", "语言"]]
    rows += [[f"L{i}{m}", f"1396666{i:04d}", text] for i, (text, _code) in enumerate(SYNONYMS)]
    rows.append([f"Blank{m}", "13966669999", ""])
    with schema_context(acme.schema):
        job = imported(acme, csv_bytes(rows), match_by="phone")
        assert (job.created_count, job.rejected_count) == (len(SYNONYMS) + 1, 0)
        stored = dict(Customer.objects.filter(name__endswith=m).values_list("name", "language"))
    assert stored == {
        **{f"L{i}{m}": code for i, (_text, code) in enumerate(SYNONYMS)},
        f"Blank{m}": "",
    }


def test_a_language_we_do_not_have_is_a_rejected_row_with_the_reason(acme):
    m = marker()
    rows = [
        ["姓名", "手机", "language"],
        [f"Good{m}", "13966610001", "中文"],
        [f"Bad{m}", "13966610002", "français"],
        [f"Traditional{m}", "13966610003", "zh-tw"],
    ]
    with schema_context(acme.schema):
        job = check(acme, start(acme, csv_bytes(rows)), match_by="phone")
        assert (job.created_count, job.rejected_count) == (1, 2)
        reason = "Write English or Chinese, e.g. en or zh-hans (or leave it empty)."
        assert reasons(job) == [(3, "language", reason), (4, "language", reason)]
        job = check(acme, job, match_by="phone", valid_only=True)
        job = commit(acme, job)
        assert set(Customer.objects.filter(name__endswith=m).values_list("name", flat=True)) == {
            f"Good{m}"
        }


def _known(m: str, language: str) -> Customer:
    return customer_create(
        actor=None,
        data=CustomerInput(name=f"Known{m}", external_id=f"LANG-{m}", language=language),
    )


def test_an_update_changes_the_language_and_an_empty_cell_keeps_it(acme):
    m = marker()
    with schema_context(acme.schema):
        customer = _known(m, "zh-hans")
        blank = [["外部编号", "姓名", "首选语言"], [f"LANG-{m}", f"Known{m}", ""]]
        job = imported(acme, csv_bytes(blank), match_by="external_id")
        assert (job.updated_count, job.unchanged_count) == (0, 1)
        customer.refresh_from_db()
        assert customer.language == "zh-hans"
        same = [["外部编号", "姓名", "首选语言"], [f"LANG-{m}", f"Known{m}", "Chinese"]]
        job = imported(acme, csv_bytes(same), match_by="external_id")
        assert (job.updated_count, job.unchanged_count) == (0, 1)
        changed = [["外部编号", "姓名", "Preferred language"], [f"LANG-{m}", f"Known{m}", "EN"]]
        job = imported(acme, csv_bytes(changed), match_by="external_id")
        assert job.updated_count == 1
        customer.refresh_from_db()
        assert customer.language == "en"
        assert ImportChange.objects.get(job=job).before["row"]["language"] == "zh-hans"
        undone = undo(acme, job)
        assert undone.status == ImportJob.Status.UNDONE, undone.message
        customer.refresh_from_db()
        assert customer.language == "zh-hans"


def test_undoing_an_import_made_before_the_language_existed_keeps_the_language(acme):
    """Before-images taken before the column was added have no "language" key: undo restores
    what they hold and leaves the language as it is (not NULL, which the column refuses)."""
    m = marker()
    with schema_context(acme.schema):
        customer = _known(m, "en")
        rows = [["外部编号", "姓名", "城市"], [f"LANG-{m}", f"Known{m}", "上海"]]
        job = imported(acme, csv_bytes(rows), match_by="external_id")
        change = ImportChange.objects.get(job=job)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE transfer_importchange SET before = before #- '{row,language}'"
                " WHERE id = %s",
                [change.pk],
            )
        assert "language" not in ImportChange.objects.get(pk=change.pk).before["row"]
        undone = undo(acme, job)
        assert undone.status == ImportJob.Status.UNDONE, undone.message
        customer.refresh_from_db()
        assert (customer.city, customer.language) == ("", "en")


def test_the_export_has_a_language_column_that_imports_back(acme):
    m = marker()
    with schema_context(acme.schema):
        customer = _known(m, "zh-hans")
        kind = export_kind("customers")
        user = manager(acme)
        params = QueryDict(f"q=Known{m}")
        text = "".join(csv_chunks(kind.header_row(user, params), kind.rows_for(user, params)))
        lines = text.lstrip("\ufeff").splitlines()
        assert "language" in lines[0].split(",")
        at = lines[0].split(",").index("language")
        assert lines[1].split(",")[at] == "zh-hans"
        Customer.objects.filter(pk=customer.pk).update(language="")
        job = imported(acme, text.encode(), match_by="external_id")
        assert job.updated_count == 1, job.message
        customer.refresh_from_db()
        assert customer.language == "zh-hans"
