"""Personal data masking: one decision, used by pages (and later exports and reports)."""

import datetime

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django_tenants.utils import schema_context

from crm.accounts.masking import mask_email, mask_phone, shown
from crm.accounts.models import User

pytestmark = pytest.mark.django_db


def test_masks_keep_only_what_tells_records_apart():
    assert mask_phone("+8613812345678") == "+86 •••••••5678"
    assert mask_phone("138-1234-5678") == "•••••••5678"
    assert mask_phone("123") == "••••"
    assert mask_email("li.wei@example.com") == "l•••@•••.com"
    assert mask_email("not-an-email") == "••••"


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        ("admin", True),
        ("manager", True),
        ("agent", True),
        ("viewer", False),
    ],
)
def test_who_sees_personal_data(role, sees, acme):
    with schema_context(acme.schema):
        user = User.objects.get(pk=acme.users[role].pk)
        phone = shown(user, "phone", "+8613812345678")
        email = shown(user, "email", "wang@example.cn")
        birthday = shown(user, "birthday", datetime.date(2000, 2, 29))
    assert (phone == "+86 138 1234 5678") is sees
    assert (email == "wang@example.cn") is sees
    assert (birthday == datetime.date(2000, 2, 29)) is sees


def test_the_template_tag_masks_for_the_viewer_and_anonymous(acme):
    template = Template('{% load pii %}{% pii phone "phone" %}|{% pii email "email" %}')
    with schema_context(acme.schema):
        for role, expected in (
            ("viewer", "+86 •••••••5678|w•••@•••.cn"),
            ("agent", "+86 138 1234 5678|wang@example.cn"),
        ):
            request = RequestFactory().get("/")
            request.user = User.objects.get(pk=acme.users[role].pk)
            context = Context(
                {"request": request, "phone": "+8613812345678", "email": "wang@example.cn"}
            )
            assert template.render(context) == expected
        anonymous = Context({"phone": "+8613812345678", "email": "wang@example.cn"})
        assert "5678" in template.render(anonymous) and "wang@" not in template.render(anonymous)


def test_unknown_kinds_are_a_programming_error():
    with pytest.raises(ValueError, match="unknown personal data kind"):
        shown(None, "shoe size", "44")
