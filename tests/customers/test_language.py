"""A customer's preferred language (Customer.language): the form, the customer page, the
service's check, a merge, the JSON API's answer and dynamic segments."""

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation
from django_tenants.utils import schema_context

from analytics.segment_rules import rules_from_json, segment_customers
from customers.languages import language_read
from customers.merge import customer_merge
from customers.models import Customer
from customers.services import CustomerInput, customer_create, customer_update
from tests.analytics.helpers import rules
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield


def _form(name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "kind": "individual", **extra}


def test_the_form_saves_shows_and_clears_the_language(acme):
    admin = client_for(acme, "admin")
    response = admin.post(reverse("customers:new"), _form("Lang Form", language="zh-hans"))
    assert response.status_code == 302
    with schema_context(acme.schema):
        customer = Customer.objects.get(name="Lang Form")
        assert customer.language == "zh-hans"
    edit = admin.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert '<option value="zh-hans" selected>' in edit
    assert '<option value="">Not known</option>' in edit
    page = admin.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "<dt>Preferred language</dt><dd>Simplified Chinese</dd>" in page
    # Saved again unchanged, it stays; chosen "Not known", it is cleared.
    initial = _form("Lang Form", language="zh-hans")
    assert admin.post(reverse("customers:edit", args=[customer.pk]), initial).status_code == 302
    with schema_context(acme.schema):
        customer.refresh_from_db()
        assert customer.language == "zh-hans"
    cleared = _form("Lang Form", language="")
    assert admin.post(reverse("customers:edit", args=[customer.pk]), cleared).status_code == 302
    with schema_context(acme.schema):
        customer.refresh_from_db()
        assert customer.language == ""
    page = admin.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "<dt>Preferred language</dt><dd>Not known</dd>" in page


def test_the_form_and_the_service_refuse_an_unknown_language(acme):
    with schema_context(acme.schema):
        customer = customer_create(
            actor=None, data=CustomerInput(name="Lang Refused", language="en")
        )
    admin = client_for(acme, "admin")
    response = admin.post(
        reverse("customers:edit", args=[customer.pk]), _form("Lang Refused", language="fr")
    )
    assert response.status_code == 200
    assert "Write English or Chinese, e.g. en or zh-hans (or leave it empty)." in (
        response.content.decode()
    )
    with schema_context(acme.schema):
        with pytest.raises(ValidationError) as refused:
            customer_update(
                actor=None, customer=customer, data=CustomerInput(name="X", language="de")
            )
        assert "language" in refused.value.message_dict
        customer.refresh_from_db()
        assert (customer.name, customer.language) == ("Lang Refused", "en")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("english", "en"),
        ("English", "en"),
        ("英文", "en"),
        ("zh", "zh-hans"),
        ("zh-Hans", "zh-hans"),
        ("ZH-CN", "zh-hans"),
        ("Chinese", "zh-hans"),
        ("中文", "zh-hans"),
        (" 简体中文 ", "zh-hans"),
        ("", ""),
        ("fr", None),
        ("zh-tw", None),
        ("Klingon", None),
    ],
)
def test_language_read(text, code):
    assert language_read(text) == code


def test_a_merge_keeps_the_survivors_language_or_takes_the_others(acme):
    with schema_context(acme.schema):

        def person(name: str, language: str) -> Customer:
            return customer_create(actor=None, data=CustomerInput(name=name, language=language))

        keep, drop = person("Lang Keep", "en"), person("Lang Drop", "zh-hans")
        customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        assert Customer.objects.get(pk=keep.pk).language == "en", "the survivor keeps its own"
        keep, drop = person("Lang Blank", ""), person("Lang Known", "zh-hans")
        customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        assert Customer.objects.get(pk=keep.pk).language == "zh-hans", "blank takes the other's"
        keep, drop = person("Lang Chosen", "en"), person("Lang Other", "zh-hans")
        customer_merge(actor=None, keep=keep, drop=drop, chosen={"language": "dropped"})
        assert Customer.objects.get(pk=keep.pk).language == "zh-hans", "one may choose the other's"


def test_the_merge_page_offers_the_languages_by_name(acme):
    with schema_context(acme.schema):
        a = customer_create(actor=None, data=CustomerInput(name="Lang Page A", language="en"))
        b = customer_create(actor=None, data=CustomerInput(name="Lang Page B"))
    page = client_for(acme, "admin").get(reverse("customers:merge", args=[a.pk, b.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Preferred language" in text and "English" in text


def test_segments_test_the_language(acme):
    with schema_context(acme.schema):
        customer_create(actor=None, data=CustomerInput(name="LangSeg Wang", language="zh-hans"))
        customer_create(actor=None, data=CustomerInput(name="LangSeg Park", language="en"))
        customer_create(actor=None, data=CustomerInput(name="LangSeg Unknown"))
        base = ("name", "contains", "LangSeg ")

        def names(condition: tuple[str, str, Any]) -> set[str]:
            found = segment_customers(rules_from_json(rules([base, condition])))
            return set(found.values_list("name", flat=True))

        assert names(("language", "eq", "zh-hans")) == {"LangSeg Wang"}
        assert names(("language", "ne", "zh-hans")) == {"LangSeg Park", "LangSeg Unknown"}
        assert names(("language", "empty", None)) == {"LangSeg Unknown"}
        assert names(("language", "present", None)) == {"LangSeg Wang", "LangSeg Park"}


def test_the_json_api_answers_with_the_language(acme):
    from tests.api.conftest import ApiClient, token_make

    with schema_context(acme.schema):
        customer_create(
            actor=None,
            data=CustomerInput(name="Lang Api", external_id="LANG-API-1", language="zh-hans"),
        )
        customer_create(actor=None, data=CustomerInput(name="Lang Api 2", external_id="LANG-API-2"))
    api = ApiClient(acme, token_make(acme, "customers"))
    assert api.get("/api/v1/customers/LANG-API-1").json()["language"] == "zh-hans"
    assert api.get("/api/v1/customers/LANG-API-2").json()["language"] == ""
