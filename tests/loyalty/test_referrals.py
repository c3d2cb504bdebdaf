"""Referral codes where customers are made (loyalty.referrals): the new-customer form's input
and the customers import's column. A code links the new customer to its member, who earns the
referral bonus once, when that customer's first order completes; a refused code writes
nothing; undoing the import removes the links with the customers."""

import csv
import io
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation
from django_tenants.utils import schema_context

from crm.accounts.models import User
from crm.transfer import selectors, services
from crm.transfer.models import ImportJob
from crm.transfer.registry import import_kind, propose_mapping
from customers.forms import CustomerForm
from customers.models import Customer, Order
from loyalty.models import Account, LedgerEntry, Programme
from tests.conftest import client_for
from tests.loyalty.helpers import account, assert_consistent, customer, order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield


def _referrer(acme: Any) -> tuple[Customer, str]:
    """A member with an account (their first order opened it) and so a referral code."""
    with schema_context(acme.schema):
        Programme.objects.filter(pk=1).update(referral_bonus=150, signup_bonus=0)
        who = customer(owner=User.objects.get(pk=acme.agent.pk))
        order(who, "10")
        return who, account(who).referral_code


def _referral_bonuses(who: Customer) -> int:
    return LedgerEntry.objects.filter(account=account(who), bonus="referral").count()


# --- the new-customer form ---------------------------------------------------------------------


def test_a_code_on_the_form_links_the_customer_and_pays_the_bonus_once(acme):
    referrer, code = _referrer(acme)
    name = f"Referred {uuid.uuid4().hex[:6]}"
    response = client_for(acme, "agent").post(
        reverse("customers:new"),
        {"name": name, "kind": "individual", "referral_code": f" {code.lower()} "},
    )
    assert response.status_code == 302
    with schema_context(acme.schema):
        friend = Customer.objects.get(name=name)
        assert account(friend).referred_by_id == account(referrer).pk
        assert account(referrer).balance == 10
        order(friend, "20", status=Order.Status.CANCELLED)  # not completed: no bonus yet
        assert _referral_bonuses(referrer) == 0
        order(friend, "20")
        order(friend, "30")
        assert _referral_bonuses(referrer) == 1
        assert account(referrer).balance == 160
        assert_consistent(account(referrer))


def test_an_unknown_code_is_a_form_error_and_no_customer_is_made(acme):
    _referrer(acme)
    name = f"Nobody {uuid.uuid4().hex[:6]}"
    response = client_for(acme, "agent").post(
        reverse("customers:new"), {"name": name, "kind": "individual", "referral_code": "NOPE1"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["referral_code"] == ["No member has this referral code."]
    with schema_context(acme.schema):
        assert not Customer.objects.filter(name=name).exists()


def test_the_input_is_on_the_create_form_only(acme):
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.agent.pk)
        assert "referral_code" in CustomerForm(user=agent).fields
        who = customer()
        assert "referral_code" not in CustomerForm(user=agent, customer=who).fields
    page = client_for(acme, "agent").get(reverse("customers:new"))
    assert b'name="referral_code"' in page.content


# --- the customers import ----------------------------------------------------------------------


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _manager(acme: Any) -> User:
    return User.objects.get(pk=acme.manager.pk)


def _checked(acme: Any, rows: list[list[str]], **options: Any) -> ImportJob:
    job = services.import_start(
        actor=_manager(acme), kind="customers", upload=io.BytesIO(_csv(rows)), filename="c.csv"
    )
    job = services.import_configure(
        actor=_manager(acme),
        job=job,
        mapping=job.mapping,
        valid_only=options.pop("valid_only", True),
        template_name="",
        match_by="external_id",
        update_existing=True,
    )
    return services.import_check_request(actor=_manager(acme), job=job, inline=True)


def _reasons(job: ImportJob) -> list[tuple[int, str, str]]:
    return [(r.row, r.column, r.reason) for r in selectors.import_rejected_rows(job, 100)]


def test_the_mapping_finds_the_referral_code_column(acme):
    with schema_context(acme.schema):
        fields = import_kind("customers").fields
    headers = ["Name", "referral_code", "推荐码", "Referred by"]
    assert propose_mapping(fields, headers)["referral_code"] == "referral_code"
    assert propose_mapping(fields, ["姓名", "推荐码"])["推荐码"] == "referral_code"


def test_an_import_links_new_customers_rejects_unknown_codes_and_undo_removes_the_links(acme):
    referrer, code = _referrer(acme)
    m = uuid.uuid4().hex[:6]
    with schema_context(acme.schema):
        existing = customer(external_id=f"EX-{m}")
        order(existing, "5")
        own_code = account(existing).referral_code
    rows = [
        ["external_id", "name", "referral_code"],
        [f"A-{m}", f"Ann {m}", code.lower()],  # lower case: codes are upper case
        [f"B-{m}", f"Bob {m}", f" {code} "],  # the same code again: both are referred
        [f"C-{m}", f"Cid {m}", "NOPE1"],  # unknown
        [f"D-{m}", f"Dee {m}", ""],  # no code
        [f"EX-{m}", f"Existing {m}", own_code],  # matches a customer: the code is not used
    ]
    with schema_context(acme.schema):
        job = _checked(acme, rows)
        assert job.status == ImportJob.Status.CHECKED, job.message
        assert _reasons(job) == [(4, "referral_code", "No member has the referral code “NOPE1”.")]
        assert (job.created_count, job.updated_count, job.rejected_count) == (3, 1, 1)
        assert not Customer.objects.filter(external_id__in=[f"A-{m}", f"B-{m}"]).exists()

        Programme.objects.filter(pk=1).update(signup_bonus=25)
        job = services.import_commit_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.DONE, job.message
        assert job.created_count == 3
        referrer_account = account(referrer)
        for ext in (f"A-{m}", f"B-{m}"):  # members now, with the sign-up bonus
            assert_consistent(account(Customer.objects.get(external_id=ext)))
            assert account(Customer.objects.get(external_id=ext)).balance == 25
        referred = set(
            Account.objects.filter(referred_by=referrer_account).values_list(
                "customer__external_id", flat=True
            )
        )
        assert referred == {f"A-{m}", f"B-{m}"}
        assert not Customer.objects.filter(external_id=f"C-{m}").exists()
        assert not Account.objects.filter(customer__external_id=f"D-{m}").exists()
        assert account(existing).referred_by_id is None  # not referred by itself, nor at all
        assert Customer.objects.get(external_id=f"EX-{m}").name == f"Existing {m}"

        # Undo before any order: the customers go, their accounts and links with them.
        assert selectors.import_undo_blocker(job) is None
        job = services.import_undo_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.UNDONE, job.message
        assert not Customer.objects.filter(external_id__in=[f"A-{m}", f"B-{m}"]).exists()
        assert not Account.objects.filter(referred_by=referrer_account).exists()
        assert_consistent(account(referrer))


def test_an_imported_referral_pays_the_bonus_once_and_all_or_nothing_refuses_a_bad_code(acme):
    referrer, code = _referrer(acme)
    m = uuid.uuid4().hex[:6]
    with schema_context(acme.schema):
        bad = _checked(
            acme,
            [["external_id", "name", "推荐码"], [f"X-{m}", "X", code], [f"Y-{m}", "Y", "ZZZ9"]],
            valid_only=False,
        )
        assert [r[0] for r in _reasons(bad)] == [3]
        with pytest.raises(ValidationError):
            services.import_commit_request(actor=_manager(acme), job=bad, inline=True)
        assert not Customer.objects.filter(external_id__in=[f"X-{m}", f"Y-{m}"]).exists()

        job = _checked(acme, [["external_id", "name", "推荐码"], [f"X-{m}", "X", code]])
        job = services.import_commit_request(actor=_manager(acme), job=job, inline=True)
        assert job.status == ImportJob.Status.DONE, job.message
        friend = Customer.objects.get(external_id=f"X-{m}")
        assert account(friend).referred_by_id == account(referrer).pk
        order(friend, "40")
        order(friend, "40")
        assert _referral_bonuses(referrer) == 1
        assert account(referrer).balance == 160
        assert_consistent(account(referrer))


def test_the_wizard_maps_the_referral_code_header_and_says_it_is_for_new_customers(acme):
    _referrer_customer, code = _referrer(acme)
    client = client_for(acme, "manager")
    data = _csv([["姓名", "referral_code"], [f"Wiz {uuid.uuid4().hex[:6]}", code]])
    response = client.post(
        reverse("transfer:import_new"),
        {"kind": "customers", "file": SimpleUploadedFile("c.csv", data, content_type="text/csv")},
    )
    assert response.status_code == 302
    with schema_context(acme.schema):
        job = ImportJob.objects.order_by("-pk").first()
        assert job is not None and job.mapping["referral_code"] == "referral_code"
    page = client.get(response.url).content.decode()
    assert "New customers only" in page


def test_import_records_takes_the_column_with_the_operator_as_nobody(acme, tmp_path):
    referrer, code = _referrer(acme)
    m = uuid.uuid4().hex[:6]
    path = tmp_path / "in.csv"
    path.write_bytes(_csv([["姓名", "外部编号", "推荐码"], [f"Cli {m}", f"CLI-{m}", code]]))
    out = io.StringIO()
    call_command("import_records", acme.tenant.slug, "customers", str(path), stdout=out)
    assert "1 new" in out.getvalue(), out.getvalue()
    with schema_context(acme.schema):
        friend = Customer.objects.get(external_id=f"CLI-{m}")
        assert account(friend).referred_by_id == account(referrer).pk
