"""Lifecycle stages: derived nightly from completed orders, unless staff set one by hand."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from customers.models import Customer
from customers.services import CustomerInput, customer_create, order_create, stages_derive
from tests.conftest import client_for
from tests.testkit.cleanup import customers_delete

NOW = timezone.now()


def _with_orders(name: str, ages_in_days: list[int], status: str = "completed") -> Customer:
    customer = customer_create(actor=None, data=CustomerInput(name=name))
    for n, age in enumerate(ages_in_days):
        order_create(
            actor=None,
            customer=customer,
            number=f"{name}-{n}-{customer.pk}",
            ordered_at=NOW - datetime.timedelta(days=age),
            amount=Decimal("10"),
            currency="CNY",
            status=status,
        )
    return customer


@pytest.mark.django_db
def test_stages_follow_orders_and_a_second_run_changes_nothing(acme):
    with schema_context(acme.schema):
        people = {
            "lead": _with_orders("nobody-bought", []),
            "new": _with_orders("first-timer", [3]),
            "active": _with_orders("regular", [10, 40]),
            "loyal": _with_orders("fan", [1, 20, 40, 60, 80, 100]),
            "at_risk": _with_orders("quiet", [200, 300]),
            "churned": _with_orders("gone", [400, 500]),
        }
        refunded_only = _with_orders("refunder", [5], status="refunded")
        pinned = _with_orders("pinned", [1, 2, 3, 4, 5, 6, 7])
        Customer.objects.filter(pk=pinned.pk).update(stage="at_risk", stage_override=True)

        assert stages_derive(actor=None, now=NOW, chunk=3) >= 5
        for stage, customer in people.items():
            assert Customer.objects.get(pk=customer.pk).stage == stage, stage
        assert Customer.objects.get(pk=refunded_only.pk).stage == "lead"
        assert Customer.objects.get(pk=pinned.pk).stage == "at_risk", "set by hand: left alone"
        assert stages_derive(actor=None, now=NOW) == 0


@pytest.mark.django_db
def test_staff_set_a_stage_by_hand_and_it_is_recorded(acme):
    with schema_context(acme.schema):
        customer = _with_orders("hand-set", [1])
    response = client_for(acme, "agent").post(
        reverse("customers:stage", args=[customer.pk]), {"stage": "loyal"}
    )
    assert response.status_code == 404, "not the agent's customer: out of their scope"
    with schema_context(acme.schema):
        assert Customer.objects.get(pk=customer.pk).stage_override is False
    client_for(acme, "manager").post(
        reverse("customers:stage", args=[customer.pk]), {"stage": "loyal"}
    )
    with schema_context(acme.schema):
        customer.refresh_from_db()
        assert (customer.stage, customer.stage_override) == ("loyal", True)
        entry = AuditEntry.objects.filter(table_name="customers_customer", action="update").first()
        assert entry.after["stage"] == "loyal" and entry.actor_id == acme.manager.pk


@pytest.mark.worker
def test_the_nightly_dispatcher_derives_stages_in_each_tenant(committed_db, celery_worker, acme):
    from crm.tenants.tasks import tenants_dispatch

    with schema_context(acme.schema):
        customer = _with_orders("nightly", [2])
        Customer.objects.filter(pk=customer.pk).update(stage="lead")
    try:
        tenants_dispatch.delay("customers.tasks.stages_derive").get(timeout=30)
        deadline = timezone.now() + datetime.timedelta(seconds=30)
        while timezone.now() < deadline:
            with schema_context(acme.schema):
                if Customer.objects.get(pk=customer.pk).stage == "new":
                    break
        with schema_context(acme.schema):
            assert Customer.objects.get(pk=customer.pk).stage == "new"
            # The task wrote without a user: the log names it, never a blank or bare "system".
            entry = AuditEntry.objects.filter(
                table_name="customers_customer", record_id=str(customer.pk), after__stage="new"
            ).latest("pk")
            assert entry.actor_id is None
            assert entry.actor_label == "system: customers.tasks.stages_derive"
    finally:
        with schema_context(acme.schema):
            customer.orders.all().delete()
            customers_delete([customer.pk])
