"""What the churn model registers below it: the customer tab, its scores as rows derived from
a customer (an import's undo removes them), and a merge taking the dropped record's score
with it; the settings table is audited."""

import datetime

import pytest

from analytics.churn import churn_refresh
from analytics.models_churn import ChurnScore
from crm.accounts.audit_labels import TABLES
from customers.customer_tabs import customer_tabs
from customers.merge import customer_merge
from customers.removal_hooks import derived_rows
from tests.analytics.churn_kit import at, customer, order
from tests.tickets.factory import in_tenant, staff


def test_the_registrations_are_in_place():
    assert any(rows.model is ChurnScore for rows in derived_rows())
    assert "analytics_churnsettings" in TABLES


@pytest.mark.django_db
def test_every_reader_of_a_customer_gets_the_churn_tab(acme):
    with in_tenant(acme):
        assert "churn" in [tab.key for tab in customer_tabs(staff(acme, "viewer"))]


@pytest.mark.django_db
def test_a_merge_drops_the_dropped_records_score_and_an_undo_of_rows_removes_them(acme):
    with in_tenant(acme):
        keep, drop = customer("Keep"), customer("Drop")
        for who in (keep, drop):
            order(who, at(datetime.date(2026, 3, 1)))
        churn_refresh(as_of=datetime.date(2026, 6, 30))
        assert ChurnScore.objects.filter(customer_id__in=[keep.pk, drop.pk]).count() == 2

        customer_merge(actor=None, keep=keep, drop=drop, chosen={})

        assert list(ChurnScore.objects.values_list("customer_id", flat=True)) == [keep.pk]
        [rows] = [r for r in derived_rows() if r.model is ChurnScore]
        assert rows.blocker([keep.pk]) is None
        rows.remove([keep.pk])
        assert not ChurnScore.objects.exists()
