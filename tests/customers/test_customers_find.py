"""customers_find: the one bulk lookup of customers by external id, phone or email that both
import kinds call (and later apps will), with the reader's record scope."""

import uuid

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import User
from customers.models import Customer
from customers.selectors import customers_find
from customers.services import CustomerInput, customer_create

pytestmark = pytest.mark.django_db


def test_finds_by_each_key_leaves_out_the_erased_and_what_the_reader_may_not_see(acme):
    tag = uuid.uuid4().hex[:8]
    phone = f"+86139{int(tag, 16) % 10**8:08d}"
    with schema_context(acme.schema):
        agent = User.objects.get(pk=acme.agent.pk)
        other = User.objects.get(pk=acme.manager.pk)
        mine = customer_create(
            actor=None,
            data=CustomerInput(
                name=f"查找{tag}",
                phones=[phone],
                emails=[f"F{tag}@Example.cn"],
                external_id=f"F{tag}",
                owner=agent,
            ),
        )
        theirs = customer_create(
            actor=None,
            data=CustomerInput(name=f"查找2{tag}", phones=[phone], owner=other),
        )
        erased = customer_create(
            actor=None, data=CustomerInput(name=f"查找3{tag}", external_id=f"E{tag}")
        )
        Customer.objects.filter(pk=erased.pk).update(erased_at=timezone.now())

        assert customers_find(by="external_id", values=[f"F{tag}", f"E{tag}", "", "none"]) == {
            f"F{tag}": [mine.pk]
        }
        assert customers_find(by="email", values=[f"f{tag}@example.cn"]) == {
            f"f{tag}@example.cn": [mine.pk]
        }
        assert customers_find(by="phone", values=[phone, phone]) == {
            phone: sorted([mine.pk, theirs.pk])
        }
        # The agent's scope is their own customers: the manager's one is not found.
        assert customers_find(by="phone", values=[phone], user=agent) == {phone: [mine.pk]}
        assert customers_find(by="phone", values=[]) == {}
