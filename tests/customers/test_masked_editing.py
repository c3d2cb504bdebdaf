"""An editor without "see personal data" edits customers through the real views: the form
carries masks, never the stored phones, emails, birthday or address (not in value=, not after
an error); a mask left as it is keeps the stored value, a typed value replaces it; and the
duplicate warning does not compare birthdays for them."""

import datetime

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from crm.accounts.models import User
from customers.models import Customer
from customers.services import CustomerInput, customer_create
from tests.conftest import client_for
from tests.testkit.masked_roles import client_as, masked_staff

pytestmark = pytest.mark.django_db

PHONE, OTHER_PHONE = "+8615866610550", "+8613911112222"
EMAIL = "li.na.private@example.cn"
BIRTHDAY = datetime.date(1988, 7, 14)
ADDRESS = "Room 1207, 99 Huaihai Middle Road"
SECRETS = [
    "15866610550",
    "158 6661 0550",
    EMAIL,
    "1988-07-14",
    "14/07/1988",
    ADDRESS,
    "13911112222",
]


def _customer(member, **extra):
    with schema_context(member.schema):
        return customer_create(
            actor=None,
            data=CustomerInput(
                name="李娜",
                phones=[PHONE, OTHER_PHONE],
                emails=[EMAIL],
                birthday=BIRTHDAY,
                address=ADDRESS,
                city="Shanghai",
                owner=User.objects.get(pk=member.users["agent"].pk),
                **extra,
            ),
        )


def _state(member, customer):
    with schema_context(member.schema):
        c = Customer.objects.get(pk=customer.pk)
        return {
            "phones": sorted(c.phones.values_list("e164", flat=True)),
            "emails": sorted(c.emails.values_list("email", flat=True)),
            "birthday": c.birthday,
            "address": c.address,
            "city": c.city,
            "name": c.name,
        }


def _assert_no_secret(page: str) -> None:
    for secret in SECRETS:
        assert secret not in page, secret


@pytest.fixture
def editor(acme):
    return client_as(acme, masked_staff(acme, "editor"))


def _posted(response) -> dict[str, str]:
    """The form as the browser would send it back untouched: its bound or initial values."""
    form = response.context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or name == "not_a_duplicate":
            continue
        if hasattr(value, "pk"):
            value = value.pk
        data[name] = str(value)
    return data


def test_the_form_shows_masks_and_saving_it_untouched_keeps_every_value(acme, editor):
    customer = _customer(acme)
    before = _state(acme, customer)
    url = reverse("customers:edit", args=[customer.pk])
    response = editor.get(url)
    page = response.content.decode()
    assert response.status_code == 200
    _assert_no_secret(page)
    assert "+86 •••••••0550" in page and "+86 •••••••2222" in page
    assert "l•••@•••.cn" in page and "••••-••-••" in page and "••••••" in page
    assert 'type="date"' not in page, "a date input cannot hold the mask"

    data = _posted(response)
    data["city"] = "Hangzhou"  # a field that is not personal changes as usual
    assert editor.post(url, data).status_code == 302
    assert _state(acme, customer) == {**before, "city": "Hangzhou"}


def test_typed_values_replace_and_removed_lines_clear(acme, editor):
    customer = _customer(acme)
    url = reverse("customers:edit", args=[customer.pk])
    data = _posted(editor.get(url))
    # Keep the first phone, drop the second, add a new one; replace the email; new birthday;
    # clear the address.
    data["phones"] = "+86 •••••••0550\n138 0013 8000"
    data["emails"] = "new.li@example.cn"
    data["birthday"] = "1990-01-02"
    data["address"] = ""
    assert editor.post(url, data).status_code == 302
    state = _state(acme, customer)
    assert state["phones"] == sorted([PHONE, "+8613800138000"])
    assert state["emails"] == ["new.li@example.cn"]
    assert state["birthday"] == datetime.date(1990, 1, 2)
    assert state["address"] == ""


def test_an_edited_mask_is_refused_and_the_error_page_shows_no_value(acme, editor):
    customer = _customer(acme)
    before = _state(acme, customer)
    url = reverse("customers:edit", args=[customer.pk])
    data = _posted(editor.get(url))
    data["phones"] = "+86 •••••••0551\n+86 •••••••2222"  # a guess at the hidden digits
    data["emails"] = "l•••@•••.cn\nnot-an-email"
    data["birthday"] = "••••-••-••"
    data["address"] = "Room ••••••"
    response = editor.post(url, data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"phones", "address"}
    page = response.content.decode()
    _assert_no_secret(page)
    assert "A masked phone number was changed" in page
    assert _state(acme, customer) == before

    # A service error about the other values names only what was typed.
    data["phones"] = "+86 •••••••0550"
    data["address"] = "••••••"
    response = editor.post(url, data)
    assert response.status_code == 200
    page = response.content.decode()
    _assert_no_secret(page)
    assert "not-an-email" in page
    assert _state(acme, customer) == before


def test_people_who_may_see_personal_data_get_the_values(acme):
    customer = _customer(acme)
    page = client_for(acme, "agent").get(reverse("customers:edit", args=[customer.pk]))
    text = page.content.decode()
    assert EMAIL in text and ADDRESS in text and "1988-07-14" in text


def test_no_birthday_based_duplicate_hint_for_masked_editors(acme, editor):
    """A similar name with the same birthday warns those who may see birthdays, and says
    nothing to an editor who may not (it would confirm a birthday they cannot see)."""
    _customer(acme)
    form = {
        "name": "李娜",
        "kind": "individual",
        "birthday": "1988-07-14",
        "phones": "",
        "emails": "",
    }
    agent = client_for(acme, "agent").post(reverse("customers:new"), form)
    assert agent.status_code == 200
    assert "similar name, same birthday" in agent.content.decode()

    with schema_context(acme.schema):
        count = Customer.objects.count()
    masked = editor.post(reverse("customers:new"), form)
    assert masked.status_code == 302, "no hint: the customer is added"
    with schema_context(acme.schema):
        assert Customer.objects.count() == count + 1
