"""Merging two customer records, and undoing the merge exactly."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.accounts.models import AuditEntry
from customers.merge import customer_merge, customer_merge_revert, merge_relation_register
from customers.models import (
    ConsentEvent,
    Customer,
    CustomerEmail,
    CustomerMerge,
    CustomerPhone,
    Interaction,
    Order,
)
from customers.services import (
    CustomerInput,
    consent_set,
    customer_create,
    customer_update,
    order_create,
    timeline_add,
)


def _pair(acme):  # type: ignore[no-untyped-def]
    keep = customer_create(
        actor=None,
        data=CustomerInput(
            name="Wang Fang",
            phones=["+8613800000001"],
            emails=["fang@example.com"],
            city="Shanghai",
            tags=["vip"],
            external_id="K-1",
        ),
    )
    drop = customer_create(
        actor=None,
        data=CustomerInput(
            name="Wang  Fang",
            phones=["+8613800000001", "+8613800000002"],
            emails=["fang2@example.com"],
            birthday=datetime.date(1990, 5, 1),
            city="Beijing",
            tags=["newsletter"],
            external_id="D-1",
            notes="from the shop",
        ),
    )
    order = order_create(
        actor=None,
        customer=drop,
        number=f"M-{drop.pk}",
        ordered_at=timezone.now(),
        amount=Decimal("12.50"),
        currency="CNY",
    )
    note = timeline_add(actor=None, customer=drop, kind="note", title="Called")
    consent = consent_set(actor=None, customer=drop, channel="email", granted=True, source="form")
    return keep, drop, order, note, consent


def _snapshot(*ids: int) -> dict:
    return {
        "customers": list(Customer.objects.filter(pk__in=ids).order_by("pk").values()),
        "phones": list(CustomerPhone.objects.filter(customer__in=ids).order_by("pk").values()),
        "emails": list(CustomerEmail.objects.filter(customer__in=ids).order_by("pk").values()),
        "orders": list(Order.objects.filter(customer__in=ids).order_by("pk").values()),
        "consent": list(ConsentEvent.objects.filter(customer__in=ids).order_by("pk").values()),
    }


@pytest.mark.django_db
def test_merge_moves_everything_applies_choices_and_revert_restores_exactly(acme):
    with schema_context(acme.schema):
        actor = acme.manager
        keep, drop, order, note, consent = _pair(acme)
        before = _snapshot(keep.pk, drop.pk)
        drop_id = drop.pk

        merge = customer_merge(
            actor=actor,
            keep=keep,
            drop=drop,
            chosen={"birthday": "dropped", "external_id": "dropped", "city": "kept"},
        )

        assert not Customer.objects.filter(pk=drop_id).exists()
        kept = Customer.objects.get(pk=keep.pk)
        assert kept.birthday == datetime.date(1990, 5, 1)
        assert kept.external_id == "D-1"
        assert kept.city == "Shanghai"
        assert kept.notes == "from the shop", "empty on the kept record: the other's by default"
        assert kept.tags == ["newsletter", "vip"]
        assert sorted(kept.phones.values_list("e164", flat=True)) == [
            "+8613800000001",
            "+8613800000002",
        ]
        assert sorted(kept.emails.values_list("email", flat=True)) == [
            "fang2@example.com",
            "fang@example.com",
        ]
        assert Order.objects.get(pk=order.pk).customer_id == keep.pk
        assert Interaction.objects.get(pk=note.pk).customer_id == keep.pk
        assert ConsentEvent.objects.get(pk=consent.pk).customer_id == keep.pk
        assert kept.interactions.filter(title__startswith="Merged with Wang  Fang").exists()
        assert merge.moved["customers.Order"] == [order.pk]
        assert merge.before["dropped"][0]["fields"]["external_id"] == "D-1"
        assert merge.before["kept"][0]["fields"]["external_id"] == "K-1"
        assert len(merge.before["dropped_phones"]) == 2
        entry = AuditEntry.objects.get(action="merge", detail__merge_id=merge.pk)
        assert entry.detail == {"merge_id": merge.pk, "kept": keep.pk, "dropped": drop_id}
        assert entry.actor_id == actor.pk

        customer_merge_revert(actor=actor, merge=merge)

        assert _snapshot(keep.pk, drop_id) == before
        merge.refresh_from_db()
        assert merge.reverted_at is not None and merge.reverted_by == actor
        assert AuditEntry.objects.filter(action="merge revert", detail__merge_id=merge.pk).exists()

        with pytest.raises(ValidationError, match="already undone"):
            customer_merge_revert(actor=actor, merge=merge)
        assert _snapshot(keep.pk, drop_id) == before


@pytest.mark.django_db
def test_revert_is_refused_after_the_survivor_was_edited_or_a_moved_row_deleted(acme):
    with schema_context(acme.schema):
        keep, drop, _order, _note, _consent = _pair(acme)
        merge = customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        customer_update(
            actor=None,
            customer=Customer.objects.get(pk=keep.pk),
            data=CustomerInput(name="Wang Fang Jr", phones=["+8613800000001"]),
        )
        after = _snapshot(keep.pk, drop.pk)
        with pytest.raises(ValidationError, match="changed after the merge"):
            customer_merge_revert(actor=None, merge=merge)
        assert _snapshot(keep.pk, drop.pk) == after
        assert CustomerMerge.objects.get(pk=merge.pk).reverted_at is None

        keep2, drop2, _order2, note2, _c2 = _pair_b()
        merge2 = customer_merge(actor=None, keep=keep2, drop=drop2, chosen={})
        Interaction.objects.filter(pk=note2.pk).delete()
        with pytest.raises(ValidationError, match="deleted or moved"):
            customer_merge_revert(actor=None, merge=merge2)
        assert not Customer.objects.filter(pk=drop2.pk).exists()


def _pair_b():  # type: ignore[no-untyped-def]
    keep = customer_create(actor=None, data=CustomerInput(name="Li Lei"))
    drop = customer_create(actor=None, data=CustomerInput(name="Li  Lei"))
    note = timeline_add(actor=None, customer=drop, kind="note", title="Visited")
    return keep, drop, None, note, None


@pytest.mark.django_db
def test_refused_merges_change_nothing(acme):
    with schema_context(acme.schema):
        keep, drop, *_ = _pair(acme)
        before = _snapshot(keep.pk, drop.pk)
        with pytest.raises(ValidationError):
            customer_merge(actor=None, keep=keep, drop=keep, chosen={})
        with pytest.raises(ValidationError):
            customer_merge(actor=None, keep=keep, drop=drop, chosen={"name": "both"})
        with pytest.raises(ValidationError):
            customer_merge(actor=None, keep=keep, drop=drop, chosen={"password": "kept"})
        Customer.objects.filter(pk=drop.pk).update(erased_at=timezone.now())
        with pytest.raises(ValidationError, match="Erased"):
            customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        Customer.objects.filter(pk=drop.pk).update(erased_at=None)
        after = _snapshot(keep.pk, drop.pk)
        for part in ("phones", "emails", "orders", "consent"):
            assert after[part] == before[part]
        assert not CustomerMerge.objects.exists()
        assert not AuditEntry.objects.filter(action="merge").exists()


@pytest.mark.django_db
def test_a_registered_relation_moves_and_moves_back(acme):
    """Registering a relation twice is harmless; a registered relation's rows move and come
    back by their recorded ids."""
    with schema_context(acme.schema):
        merge_relation_register(Order, "customer")  # registering twice is harmless
        keep, drop, order, *_ = _pair(acme)
        merge = customer_merge(actor=None, keep=keep, drop=drop, chosen={})
        assert merge.moved["customers.Order"] == [order.pk]
        customer_merge_revert(actor=None, merge=merge)
        assert Order.objects.get(pk=order.pk).customer_id == drop.pk


@pytest.mark.django_db
def test_merge_page_swaps_sides_applies_choices_and_history_reverts(acme):
    from django.urls import reverse

    from tests.conftest import client_for

    with schema_context(acme.schema):
        left, right, order, *_ = _pair(acme)
    client = client_for(acme, "manager")
    url = reverse("customers:merge", kwargs={"a": left.pk, "b": right.pk})
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="f-birthday" value="right" checked' in page.content
    # Keep the right-hand record; take the left one's city.
    response = client.post(url, {"keep": str(right.pk), "f-city": "left", "f-name": "right"})
    assert response.status_code == 302
    with schema_context(acme.schema):
        assert not Customer.objects.filter(pk=left.pk).exists()
        kept = Customer.objects.get(pk=right.pk)
        assert kept.city == "Shanghai" and kept.name == "Wang  Fang"
        assert Order.objects.get(pk=order.pk).customer_id == right.pk
        merge = CustomerMerge.objects.get(dropped_id=left.pk)
    history = client.get(reverse("customers:merges"))
    assert b"Revert this merge" in history.content
    client.post(reverse("customers:merge_revert", kwargs={"pk": merge.pk}))
    with schema_context(acme.schema):
        assert Customer.objects.get(pk=left.pk).city == "Shanghai"
        assert Customer.objects.get(pk=right.pk).city == "Beijing"
        assert CustomerMerge.objects.get(pk=merge.pk).reverted_at is not None


@pytest.mark.django_db
def test_viewer_and_marketing_cannot_merge_and_nothing_changes(acme):
    from django.urls import reverse

    from tests.conftest import client_for

    with schema_context(acme.schema):
        left, right, *_ = _pair(acme)
    url = reverse("customers:merge", kwargs={"a": left.pk, "b": right.pk})
    for role in ("viewer", "marketing"):
        client = client_for(acme, role)
        assert client.get(url).status_code == 403
        assert client.post(url, {"keep": str(left.pk)}).status_code == 403
    with schema_context(acme.schema):
        assert Customer.objects.filter(pk__in=[left.pk, right.pk]).count() == 2
        assert not CustomerMerge.objects.exists()


@pytest.mark.django_db
def test_audit_log_offers_revert_and_edit_form_links_to_merge(acme):
    from django.urls import reverse

    from tests.conftest import client_for

    with schema_context(acme.schema):
        keep, drop, *_ = _pair(acme)
        merge = customer_merge(actor=acme.admin, keep=keep, drop=drop, chosen={})
        other = customer_create(
            actor=None, data=CustomerInput(name="Other", phones=["+8613811111111"])
        )
    admin = client_for(acme, "admin")
    log = admin.get(reverse("admin_console:audit_log") + "?action=merge").content.decode()
    revert_url = reverse("customers:merge_revert", kwargs={"pk": merge.pk})
    assert revert_url in log
    assert admin.post(revert_url, {"next": "https://evil.example/"}).url == reverse(
        "customers:merges"
    )
    with schema_context(acme.schema):
        assert Customer.objects.filter(pk=drop.pk).exists()
    manager = client_for(acme, "manager")
    form = manager.post(
        reverse("customers:edit", kwargs={"pk": other.pk}),
        {"name": "Other", "kind": "individual", "phones": "+8613800000001", "stage": "lead"},
    ).content.decode()
    assert reverse("customers:merge", kwargs={"a": other.pk, "b": keep.pk}) in form


@pytest.mark.django_db
def test_custom_field_values_are_offered_merged_and_restored(acme):
    with schema_context(acme.schema):
        keep, drop, *_ = _pair(acme)
        Customer.objects.filter(pk=keep.pk).update(custom={"colour": "red"})
        Customer.objects.filter(pk=drop.pk).update(custom={"colour": "blue", "size": "L"})
        keep.refresh_from_db()
        drop.refresh_from_db()
        before = _snapshot(keep.pk, drop.pk)
        merge = customer_merge(
            actor=None, keep=keep, drop=drop, chosen={"custom:colour": "dropped"}
        )
        assert merge.chosen["custom:size"] == "dropped", "empty on the kept record"
        assert Customer.objects.get(pk=keep.pk).custom == {"colour": "blue", "size": "L"}
        customer_merge_revert(actor=None, merge=merge)
        assert _snapshot(keep.pk, drop.pk) == before
