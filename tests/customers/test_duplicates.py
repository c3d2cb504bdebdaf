"""Finding possible duplicates: rules, scores, refresh keeping dismissals, scale-safe SQL."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from customers.duplicates import candidate_pairs, pair_score, queue_page, reasons_display
from customers.merge import duplicate_pair_dismiss, duplicate_pairs_refresh
from customers.models import Customer, DuplicatePair
from customers.services import CustomerInput, customer_create, customer_update


def _c(name: str, **kw):  # type: ignore[no-untyped-def]
    return customer_create(actor=None, data=CustomerInput(name=name, **kw))


def test_scores_combine_and_cap() -> None:
    assert pair_score(["phone"]) == 90
    assert pair_score(["name_city"]) == 50
    assert pair_score(["email", "name_birthday"]) == 95
    assert pair_score(["phone", "email", "name_birthday", "name_city"]) == 100
    assert reasons_display(["phone", "name_city"]) == [
        "same phone number",
        "similar name, same city",
    ]


@pytest.mark.django_db
def test_rules_find_pairs_and_refresh_keeps_dismissals(acme):
    with schema_context(acme.schema):
        a = _c("Zhang Wei", phones=["+8613900000001"], city="Hangzhou")
        b = _c("Zhang  Wei", phones=["+8613900000001"], city="Hangzhou")
        c = _c("Chen Jie", emails=["jie@example.com"])
        d = _c("Someone Else", emails=["jie@example.com"])
        e = _c("Liu Yang", birthday=datetime.date(1985, 3, 3))
        f = _c("Liu Yangg", birthday=datetime.date(1985, 3, 3))
        _c("Liu Yang", birthday=datetime.date(1985, 3, 4))  # another birthday: no pair
        _c("Zhou Min", city="Hangzhou")  # same city, different name: no pair

        pairs = candidate_pairs()
        assert pairs == {
            (a.pk, b.pk): ["phone", "name_city"],
            (c.pk, d.pk): ["email"],
            (e.pk, f.pk): ["name_birthday"],
        }
        assert duplicate_pairs_refresh(actor=None)["created"] == 3
        first = DuplicatePair.objects.get(customer_a=a, customer_b=b)
        assert first.score == 100 and first.reasons == ["phone", "name_city"]

        duplicate_pair_dismiss(actor=acme.manager, pair=DuplicatePair.objects.get(customer_a=c))
        # c and d no longer share the email; e and f stay and stay dismissed-free.
        customer_update(actor=None, customer=d, data=CustomerInput(name="Someone Else"))
        duplicate_pair_dismiss(actor=acme.manager, pair=DuplicatePair.objects.get(customer_a=e))
        result = duplicate_pairs_refresh(actor=None)
        assert result["removed"] == 1 and result["created"] == 0
        assert not DuplicatePair.objects.filter(customer_a=c).exists()
        kept = DuplicatePair.objects.get(customer_a=e)
        assert kept.dismissed_at is not None and kept.dismissed_by == acme.manager
        assert duplicate_pairs_refresh(actor=None) == {
            "found": 2,
            "created": 0,
            "changed": 0,
            "removed": 0,
        }

        rows, more = queue_page(Customer.objects.all())
        assert [(r.a.pk, r.b.pk) for r in rows] == [(a.pk, b.pk)] and more is None
        rows, more = queue_page(Customer.objects.exclude(pk=b.pk))
        assert rows == [], "only pairs whose two customers are both visible"


@pytest.mark.django_db
def test_detection_blocks_on_equalities_and_never_joins_all_pairs(acme):
    """Every name comparison runs inside an equality block: the plans join on e164, email,
    birthday or (city, name prefix), never a bare similarity condition over the table."""
    with schema_context(acme.schema):
        _c("A", city="X")
        with CaptureQueriesContext(connection) as queries:
            candidate_pairs()
        sqls = [q["sql"] for q in queries.captured_queries if "SELECT" in q["sql"]]
        assert len(sqls) == 4
        for sql in sqls:
            join_conditions = sql.split(" ON ")[1:]
            assert all("=" in cond.split("JOIN")[0] for cond in join_conditions), sql
            assert "%" not in sql.replace("%%", ""), "no trigram % operator join"


@pytest.mark.django_db
def test_queue_shows_pairs_in_scope_masks_birthdays_and_dismisses(acme):
    from django.urls import reverse

    from tests.conftest import client_for

    with schema_context(acme.schema):
        mine = acme.agent
        a = _c("Gao Yan", phones=["+8613700000001"], birthday=datetime.date(1991, 1, 2), owner=mine)
        b = _c("Gao  Yan", phones=["+8613700000001"], owner=mine)
        c = _c("Gao Yan", phones=["+8613700000009"], emails=["g@example.com"])  # not the agent's
        d = _c("Gao Yann", emails=["g@example.com"], owner=mine)
        duplicate_pairs_refresh(actor=None)
    agent = client_for(acme, "agent")
    page = agent.get(reverse("customers:duplicates"))
    assert page.status_code == 200
    text = page.content.decode()
    assert f"#{a.pk}" in text and f"#{b.pk}" in text
    assert f"#{c.pk}" not in text and f"#{d.pk}" not in text, "half the pair is out of scope"
    assert "1991" in text and "same phone number" in text
    manager = client_for(acme, "manager")
    assert f"#{c.pk}" in manager.get(reverse("customers:duplicates")).content.decode()
    with schema_context(acme.schema):
        pair = DuplicatePair.objects.get(customer_a=a, customer_b=b)
        other = DuplicatePair.objects.get(customer_a=c, customer_b=d)
    # Out of the agent's scope: a 404, and nothing is dismissed.
    assert (
        agent.post(reverse("customers:duplicate_dismiss", kwargs={"pk": other.pk})).status_code
        == 404
    )
    assert (
        agent.post(reverse("customers:duplicate_dismiss", kwargs={"pk": pair.pk})).status_code
        == 302
    )
    with schema_context(acme.schema):
        assert DuplicatePair.objects.get(pk=pair.pk).dismissed_at is not None
        assert DuplicatePair.objects.get(pk=other.pk).dismissed_at is None
    empty = agent.get(reverse("customers:duplicates")).content.decode()
    assert "No possible duplicates" in empty


@pytest.mark.worker
def test_find_now_button_runs_the_real_worker(committed_db, celery_worker, acme):
    import time
    import uuid

    from django.urls import reverse

    from customers.duplicates import refresh_state
    from tests.conftest import client_for

    email = f"sun-{uuid.uuid4().hex[:8]}@example.com"
    with schema_context(acme.schema):
        one = _c("Sun Li", emails=[email])
        two = _c("Sun  Li", emails=[email])
    try:
        client = client_for(acme, "manager")
        assert client.post(reverse("customers:duplicates_refresh")).status_code == 302
        found = False
        for _ in range(60):
            with schema_context(acme.schema):
                found = DuplicatePair.objects.filter(customer_a=one, customer_b=two).exists()
                state = refresh_state()
            if found and state.get("last") and not state.get("running"):
                break
            time.sleep(0.5)
        assert found
        page = client.get(reverse("customers:duplicates")).content.decode()
        assert "Last looked" in page and f"#{two.pk}" in page
    finally:
        with schema_context(acme.schema):
            Customer.objects.filter(pk__in=[one.pk, two.pk]).delete()
