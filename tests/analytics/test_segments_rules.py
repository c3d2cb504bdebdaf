"""Segment rules: each field and operator picks the right customers, groups join by AND/OR,
relative dates count from the as-of day, and bad rules are refused with clear messages."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from analytics.segment_fields import segment_fields
from analytics.segment_rules import (
    rules_compile,
    rules_from_form,
    rules_from_json,
    segment_customers,
)
from crm.accounts.models import User
from customers.custom_field_services import CustomFieldInput, custom_field_create
from customers.models import Customer
from loyalty.models import Account, Tier
from loyalty.services import points_adjust
from support.models import Kind, Status, Ticket
from tests.analytics.helpers import form_data, rules
from tests.loyalty.helpers import customer, order
from tests.tickets.factory import ticket

pytestmark = pytest.mark.django_db


def _names(data: dict, **kwargs) -> set[str]:
    return set(segment_customers(rules_from_json(data), **kwargs).values_list("name", flat=True))


def _ticket(who: Customer, *, kind: str = Kind.QUESTION, status: str = Status.OPEN, **fields):
    made = ticket(customer_=who, kind=kind)
    Ticket.objects.filter(pk=made.pk).update(status=status, **fields)
    return made


def test_customer_columns_tags_and_groups(acme):
    with schema_context(acme.schema):
        customer("Seg Wang", city="上海", tags=["vip", "tea"])
        customer("Seg Li", city="北京", tags=["vip"])
        customer("Seg Zhao", city="上海")
        customer("Seg Erased", city="上海")
        Customer.objects.filter(name="Seg Erased").update(erased_at=timezone.now())
        base = ("name", "contains", "Seg ")
        assert _names(rules([base, ("city", "eq", "上海")])) == {"Seg Wang", "Seg Zhao"}
        assert _names(rules([base, ("city", "ne", "上海")])) == {"Seg Li"}
        assert _names(rules([base, ("tags", "has", "vip")])) == {"Seg Wang", "Seg Li"}
        assert _names(rules([base, ("tags", "lacks", "vip")])) == {"Seg Zhao"}
        # OR inside a group, AND between groups.
        either = rules(
            [base], [("tags", "has", "tea"), ("city", "eq", "北京")], join="and", inner="or"
        )
        assert _names(either) == {"Seg Wang", "Seg Li"}
        # OR between groups.
        groups_or = rules([base, ("city", "eq", "北京")], [base, ("tags", "has", "tea")], join="or")
        assert _names(groups_or) == {"Seg Wang", "Seg Li"}


def test_orders_points_tier_and_tickets(acme):
    with schema_context(acme.schema):
        big, small, none = customer("Seg Big"), customer("Seg Small"), customer("Seg None")
        order(big, "300")
        order(big, "200")
        order(small, "20", at=timezone.now() - datetime.timedelta(days=100))
        points_adjust(actor=None, customer=small, points=150, reason="test")
        gold = Tier.objects.create(name="Seg Gold", position=90, threshold=10**8)
        # The tier is set directly: placing members in tiers is loyalty's job.
        Account.objects.filter(customer_id=big.pk).update(tier=gold)
        _ticket(small, kind=Kind.COMPLAINT)
        _ticket(small, status=Status.RESOLVED)
        _ticket(
            none,
            kind=Kind.COMPLAINT,
            status=Status.CLOSED,
            created_at=timezone.now() - datetime.timedelta(days=60),
        )
        base = ("name", "contains", "Seg ")
        assert _names(rules([base, ("orders", "gte", 2)])) == {"Seg Big"}
        assert _names(rules([base, ("orders", "lte", 0)])) == {"Seg None"}
        assert _names(rules([base, ("spent", "gte", "499.99")])) == {"Seg Big"}
        assert _names(rules([base, ("last_order", "within_days", 30)])) == {"Seg Big"}
        # Orders earn points too: the filter agrees with the balances, whoever holds them.
        held = {
            a.customer.name
            for a in Account.objects.filter(customer__in=[big, small, none], balance__gte=150)
        }
        assert "Seg Small" in held and "Seg None" not in held
        assert _names(rules([base, ("loyalty_points", "gte", 150)])) == held
        assert _names(rules([base, ("loyalty_tier", "eq", gold.pk)])) == {"Seg Big"}
        assert "Seg Big" not in _names(rules([base, ("loyalty_tier", "empty", None)]))
        assert _names(rules([base, ("open_tickets", "gte", 1)])) == {"Seg Small"}
        assert _names(rules([base, ("complaints_30d", "gte", 1)])) == {"Seg Small"}
        assert _names(rules([base, ("complaints_90d", "gte", 1)])) == {"Seg Small", "Seg None"}
        # Relative windows count back from the as-of day.
        early = timezone.localdate() - datetime.timedelta(days=50)
        assert _names(rules([base, ("complaints_30d", "gte", 1)]), as_of=early) == {"Seg None"}


def test_custom_fields_and_created_date(acme):
    with schema_context(acme.schema):
        custom_field_create(
            actor=None, key="seg_size", data=CustomFieldInput(label="Shoe size", kind="number")
        )
        customer("Seg Small Feet", custom={"seg_size": "36"})
        customer("Seg Big Feet", custom={"seg_size": "44"})
        customer("Seg No Feet")
        base = ("name", "contains", "Seg ")
        assert _names(rules([base, ("custom:seg_size", "gte", "40")])) == {"Seg Big Feet"}
        assert _names(rules([base, ("custom:seg_size", "empty", None)])) == {"Seg No Feet"}
        today = timezone.localdate().isoformat()
        assert len(_names(rules([base, ("created_at", "after", today)]))) == 3


def test_bad_rules_are_refused_with_their_place(acme):
    with schema_context(acme.schema):
        bad = rules(
            [("city", "eq", "")],
            [("loyalty_points", "gte", "lots"), ("no_such_field", "eq", "x"), ("city", "gte", "1")],
        )
        with pytest.raises(ValidationError) as refused:
            rules_compile(rules_from_json(bad))
        messages = refused.value.messages
        assert messages[0].startswith("Group 1, condition 1: City")
        assert "Enter a value." in messages[0]
        assert "Group 2, condition 1" in messages[1] and "Enter a number." in messages[1]
        assert "“no_such_field” can no longer be tested" in messages[2]
        assert "choose how to compare" in messages[3]
        with pytest.raises(ValidationError, match="Add at least one condition"):
            rules_compile(rules_from_json({"join": "and", "groups": []}))
        with pytest.raises(ValidationError):
            rules_compile(rules_from_json(rules([("created_at", "within_days", "0")])))
        assert rules_from_json("not rules").groups == []


def test_form_round_trip_and_personal_fields_need_personal_data(acme):
    data = rules([("city", "eq", "上海"), ("tags", "has", "vip")], [("orders", "gte", "2")])
    assert rules_from_form(form_data(data)).as_json() == data
    with schema_context(acme.schema):
        custom_field_create(
            actor=None,
            key="seg_income",
            data=CustomFieldInput(label="Income", kind="number", personal=True),
        )
        marketing = User.objects.get(pk=acme.users["marketing"].pk)
        admin = User.objects.get(pk=acme.users["admin"].pk)
        keys_marketing = {f.key for f in segment_fields(marketing)}
        keys_admin = {f.key for f in segment_fields(admin)}
        assert "custom:seg_income" in keys_admin
        assert "custom:seg_income" not in keys_marketing
        uses = rules_from_json(rules([("custom:seg_income", "gte", "1000")]))
        rules_compile(uses, user=admin)
        with pytest.raises(ValidationError):
            rules_compile(uses, user=marketing)
        assert Decimal("1000") == Decimal(uses.groups[0].conditions[0].value)
