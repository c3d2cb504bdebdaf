"""One customer schema (customers.schema): every concrete field of Customer is declared or
excluded with a reason, and the import, the export (kind and admin resource), the privacy ZIP,
the merge, the form, seeding and the import's COPY all list what the declaration says."""

import datetime
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from django.utils.text import capfirst
from django_tenants.utils import schema_context

from crm.accounts.models import Team, User
from crm.transfer.registry import import_kind
from customers import merge, privacy, schema, seeding, transfer_exports, transfer_imports
from customers.form_masking import PERSONAL_FIELDS
from customers.forms import CustomerForm
from customers.import_extensions import customer_import_columns
from customers.models import Customer
from customers.resources import CustomerResource
from customers.services import CustomerInput, customer_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield


def test_every_concrete_field_is_declared_or_excluded_with_a_reason():
    declared = {c.field for c in schema.COLUMNS if c.field is not None}
    concrete = {f.name for f in Customer._meta.concrete_fields}
    assert not declared & set(schema.EXCLUDED), "a field both declared and excluded"
    undeclared = concrete - declared - set(schema.EXCLUDED)
    assert not undeclared, f"declare these in customers/schema.py or exclude them: {undeclared}"
    assert not (declared | set(schema.EXCLUDED)) - concrete, "a declared field the model lacks"
    assert all(reason.strip() for reason in schema.EXCLUDED.values())
    keys = [c.key for c in schema.COLUMNS]
    assert len(keys) == len(set(keys))


def test_labels_and_lengths_come_from_the_model():
    for c in schema.COLUMNS:
        if c.field is None:
            assert c.label_override is not None, c.key
            continue
        field = Customer._meta.get_field(c.field)
        if c.label_override is None:
            assert str(c.label) == str(capfirst(field.verbose_name))  # type: ignore[union-attr]
    assert schema.max_length("name") == Customer._meta.get_field("name").max_length
    assert schema.max_length("tags") == 50
    assert schema.max_length("notes") == schema.NOTES_MAX_LENGTH


def test_the_customers_import_lists_the_declared_columns(acme):
    with schema_context(acme.schema):
        fields = import_kind("customers").fields
    # Other apps' columns (customers.import_extensions) come right after the declared ones.
    extensions = [c.key for c in customer_import_columns()]
    fixed = [
        f
        for f in fields
        if not f.key.startswith(transfer_imports.CUSTOM_PREFIX) and f.key not in extensions
    ]
    declared = schema.imported()
    assert [f.key for f in fields][len(declared) : len(declared) + len(extensions)] == extensions
    assert [f.key for f in fixed] == [c.key for c in declared]
    assert [str(f.label) for f in fixed] == [str(c.import_label) for c in declared]
    assert [f.aliases for f in fixed] == [c.aliases for c in declared]
    assert [f.personal for f in fixed] == [c.personal for c in declared]
    assert [f.key for f in fixed if f.required] == ["name"]
    assert set(schema.personal()) == transfer_imports.PERSONAL
    # COPY writes every table column but erased_at, in table order.
    assert (
        tuple(str(f.column) for f in Customer._meta.concrete_fields if f.name != "erased_at")
        == transfer_imports.COLUMNS
    )


def test_the_export_kind_and_the_admin_resource_list_the_declared_columns(acme):
    assert schema.export_headers() == transfer_exports.CUSTOMER_HEADERS
    with schema_context(acme.schema):
        headers = CustomerResource().get_export_headers()
    assert headers[: len(schema.export_headers())] == list(schema.export_headers())
    # The export's file headers are the import's keys: an export imports back unchanged.
    assert set(schema.export_headers()) <= {c.key for c in schema.imported()}


def test_merge_zip_form_and_masking_follow_the_declaration():
    assert schema.merge_fields() == merge.MERGE_FIELDS
    assert schema.zip_fields() == privacy._PROFILE_FIELDS
    assert tuple(schema.personal()) == PERSONAL_FIELDS
    form = CustomerForm()
    for c in schema.COLUMNS:
        if c.key in form.fields:
            assert str(form.fields[c.key].label) == str(c.label), c.key
            limit = getattr(form.fields[c.key], "max_length", None)
            if limit is not None:
                assert limit == schema.max_length(c.key), c.key


def test_seeding_writes_every_column_but_the_custom_values():
    source = Path(seeding.__file__).read_text(encoding="utf-8")
    assert 'schema.table_columns(without=("custom",))' in source
    assert schema.table_columns(without=("custom",)) == tuple(
        str(f.column) for f in Customer._meta.concrete_fields if f.name != "custom"
    )


def _customer(member: Any) -> Customer:
    owner = User.objects.get(pk=member.manager.pk)
    team = Team.objects.order_by("pk").first()
    customer = customer_create(
        actor=None,
        data=CustomerInput(
            name="Schema 王",
            kind=Customer.Kind.COMPANY,
            phones=["+8613900001111"],
            emails=["schema@example.com"],
            birthday=datetime.date(1990, 4, 5),
            gender="female",
            language="zh-hans",
            address="1 Road",
            city="Shanghai",
            region="SH",
            postal_code="200000",
            country="cn",
            tags=["b", "a"],
            source="web",
            channel="wechat",
            owner=owner,
            team=team,
            external_id="SCHEMA-1",
            notes="private note",
        ),
    )
    Customer.objects.filter(pk=customer.pk).update(stage=Customer.Stage.LOYAL)
    customer.refresh_from_db()
    return customer


def test_each_export_cell_is_its_headers_value(acme):
    with schema_context(acme.schema):
        customer = _customer(acme)
        rows = transfer_exports._customer_rows(Customer.objects.filter(pk=customer.pk), None)
        row = dict(zip(schema.export_headers(), next(rows), strict=False))
        owner = customer.owner.email if customer.owner else ""
        team = customer.team.name if customer.team else ""
    assert row == {
        "external_id": "SCHEMA-1",
        "name": "Schema 王",
        "kind": "company",
        "phones": "+8613900001111",
        "emails": "schema@example.com",
        "birthday": "1990-04-05",
        "gender": "female",
        "language": "zh-hans",
        "address": "1 Road",
        "city": "Shanghai",
        "region": "SH",
        "postal_code": "200000",
        "country": "CN",
        "tags": "a,b",
        "stage": "loyal",
        "source": "web",
        "channel": "wechat",
        "owner": owner,
        "team": team,
        "created_at": customer.created_at.isoformat(),
    }


def test_the_zip_profile_and_the_merge_choices_are_the_declared_ones(acme):
    with schema_context(acme.schema):
        customer = _customer(acme)
        archive = zipfile.ZipFile(
            io.BytesIO(privacy.customer_data_export(actor=None, customer=customer))
        )
        profile = json.loads(archive.read("customer.json"))["customer"]
        other = customer_create(actor=None, data=CustomerInput(name="Schema other"))
        names = merge.merge_field_names(customer, other)
    assert list(profile) == list(schema.zip_fields())
    assert profile["notes"] == "private note"
    assert names == list(schema.merge_fields())


def test_erasure_empties_the_declared_columns_and_keeps_the_others(acme):
    with schema_context(acme.schema):
        customer = _customer(acme)
        before = Customer.objects.get(pk=customer.pk)
        privacy.customer_erase(actor=None, customer=customer)
        after = Customer.objects.get(pk=customer.pk)
    for c in schema.COLUMNS:
        if c.field is None or c.key in ("name", "id"):
            continue
        value = getattr(after, Customer._meta.get_field(c.field).attname)
        if c.erased:
            assert value == c.empty, c.key
        else:
            assert value == getattr(before, Customer._meta.get_field(c.field).attname), c.key
    assert after.name == f"Erased customer #{customer.pk}"
    assert after.custom == {}
