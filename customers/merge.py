"""Writes for duplicates: refreshing the queue, dismissing a pair, merging two customers and
undoing a merge. Each service runs in one transaction and leaves an audit entry."""

import datetime
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.audit import audit_record, writes
from crm.accounts.models import User
from customers import schema
from customers.duplicates import candidate_pairs, pair_score
from customers.erasure import customer_erased_blocker
from customers.models import (
    ConsentEvent,
    Customer,
    CustomerEmail,
    CustomerMerge,
    CustomerPhone,
    DuplicatePair,
    Interaction,
    Order,
)
from customers.services import timeline_add

# The customer fields a merge offers a choice for, in page order (customers.schema). Contacts
# and tags are unioned; custom fields are offered as "custom:<key>".
MERGE_FIELDS = schema.merge_fields()

_RELATIONS: list[tuple[type[models.Model], str]] = []


def merge_relation_register(model: type[models.Model], field_name: str) -> None:
    """Rows of `model` whose `field_name` points at a customer move to the survivor of a merge
    (and back if it is undone). Apps call this from AppConfig.ready."""
    if (model, field_name) not in _RELATIONS:
        _RELATIONS.append((model, field_name))


def merge_relations() -> list[tuple[type[models.Model], str]]:
    return list(_RELATIONS)


@dataclass(frozen=True)
class MergeHandler:
    """For rows a plain repointing cannot move (a one-to-one account whose balances must be
    added up): `on_merge(keep, drop)` runs inside the merge, before the dropped record is
    deleted, and returns what its undo needs (JSON-safe, kept in the merge's before-images);
    `on_revert(keep, dropped_id, data)` runs inside the undo once the dropped record is back,
    and may refuse with a ValidationError (the undo then changes nothing)."""

    key: str
    on_merge: Callable[[Customer, Customer], dict[str, Any]]
    on_revert: Callable[[Customer, int, dict[str, Any]], None]


_HANDLERS: dict[str, MergeHandler] = {}


def merge_handler_register(handler: MergeHandler) -> None:
    """Apps call this from AppConfig.ready (loyalty: point accounts)."""
    _HANDLERS[handler.key] = handler


def _label(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


def _json_default(value: Any) -> Any:
    # Full precision: DjangoJSONEncoder would cut datetimes to milliseconds.
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a before-image")


def _image(objects: Any) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts ({"model", "pk", "fields"}), restorable exactly by _restore."""
    rows = serializers.serialize("python", objects)
    return json.loads(json.dumps(rows, default=_json_default))


def _restore(images: list[dict[str, Any]]) -> None:
    for item in serializers.deserialize("python", images):
        item.save()


# --- the queue ---------------------------------------------------------------------------


@writes
@transaction.atomic
def duplicate_pairs_refresh(*, actor: User | None) -> dict[str, int]:
    """Bring DuplicatePair up to date with the tenant's customers: new pairs added, scores and
    reasons updated, dismissals kept, pairs that no longer match removed."""
    found = candidate_pairs()
    existing = {(p.customer_a_id, p.customer_b_id): p for p in DuplicatePair.objects.all()}
    created: list[DuplicatePair] = []
    changed: list[DuplicatePair] = []
    for key, reasons in found.items():
        score = pair_score(reasons)
        pair = existing.pop(key, None)
        if pair is None:
            created.append(
                DuplicatePair(
                    customer_a_id=key[0], customer_b_id=key[1], score=score, reasons=reasons
                )
            )
        elif pair.score != score or pair.reasons != reasons:
            pair.score, pair.reasons = score, reasons
            changed.append(pair)
    DuplicatePair.objects.bulk_create(created, batch_size=2000, ignore_conflicts=True)
    DuplicatePair.objects.bulk_update(changed, ["score", "reasons"], batch_size=2000)
    gone = [p.pk for p in existing.values()]
    DuplicatePair.objects.filter(pk__in=gone).delete()
    return {
        "found": len(found),
        "created": len(created),
        "changed": len(changed),
        "removed": len(gone),
    }


@writes
@transaction.atomic
def duplicate_pair_dismiss(*, actor: User | None, pair: DuplicatePair) -> DuplicatePair:
    """ "Not duplicates": the pair leaves the queue and stays out after refreshes."""
    DuplicatePair.objects.filter(pk=pair.pk, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now(), dismissed_by=actor
    )
    pair.refresh_from_db()
    return pair


# --- merging -----------------------------------------------------------------------------


def _attname(field: str) -> str:
    return str(Customer._meta.get_field(field).attname)  # type: ignore[union-attr]


def _value(customer: Customer, field: str) -> Any:
    if field.startswith("custom:"):
        return (customer.custom or {}).get(field[7:])
    return getattr(customer, _attname(field))


def default_choices(keep: Customer, drop: Customer, fields: list[str]) -> dict[str, str]:
    """The kept record's value unless it is empty and the dropped one's is not."""
    return {
        f: "dropped"
        if _value(keep, f) in (None, "", []) and _value(drop, f) not in (None, "", [])
        else "kept"
        for f in fields
    }


def merge_field_names(keep: Customer, drop: Customer) -> list[str]:
    keys = sorted(set((keep.custom or {}).keys()) | set((drop.custom or {}).keys()))
    return list(MERGE_FIELDS) + [f"custom:{k}" for k in keys]


@writes
@transaction.atomic
def customer_merge(
    *, actor: User | None, keep: Customer, drop: Customer, chosen: dict[str, str]
) -> CustomerMerge:
    """Merge `drop` into `keep`: chosen field values, contacts and tags unioned, every
    registered relation moved; `drop` is deleted. Undo with customer_merge_revert."""
    if keep.pk == drop.pk:
        raise ValidationError(_("A customer cannot be merged with itself."))
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=[keep.pk, drop.pk])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError(_("One of the two customers no longer exists."))
    keep, drop = locked[keep.pk], locked[drop.pk]
    if keep.erased_at or drop.erased_at:
        raise ValidationError(_("Erased customers cannot be merged."))
    fields = merge_field_names(keep, drop)
    unknown = set(chosen) - set(fields)
    bad = {v for v in chosen.values() if v not in ("kept", "dropped")}
    if unknown or bad:
        raise ValidationError(_("Choose the kept or the merged record's value for each field."))
    choices = {**default_choices(keep, drop, fields), **chosen}

    before: dict[str, Any] = {
        "kept": _image([keep]),
        "kept_phones": _image(keep.phones.all()),
        "kept_emails": _image(keep.emails.all()),
        "dropped": _image([drop]),
        "dropped_phones": _image(drop.phones.all()),
        "dropped_emails": _image(drop.emails.all()),
        "dropped_consent": _image(drop.consent_events.all()),
    }
    moved: dict[str, list[int]] = {}

    # Contacts: move the dropped record's phones and emails the kept one lacks.
    have_phones = set(keep.phones.values_list("e164", flat=True))
    phone_ids = [p.pk for p in drop.phones.all() if p.e164 not in have_phones]
    CustomerPhone.objects.filter(pk__in=phone_ids).update(customer=keep, is_primary=False)
    moved[_label(CustomerPhone)] = phone_ids
    have_emails = set(keep.emails.values_list("email", flat=True))
    email_ids = [e.pk for e in drop.emails.all() if e.email not in have_emails]
    CustomerEmail.objects.filter(pk__in=email_ids).update(customer=keep, is_primary=False)
    moved[_label(CustomerEmail)] = email_ids

    for model, field_name in _RELATIONS:
        rows = model._default_manager.filter(**{field_name: drop.pk})
        ids = list(rows.values_list("pk", flat=True))
        model._default_manager.filter(pk__in=ids).update(**{field_name: keep.pk})
        moved[_label(model)] = ids

    before["handlers"] = {key: h.on_merge(keep, drop) for key, h in _HANDLERS.items()}

    # Field values; an external id chosen from the dropped record is freed there first.
    for field in fields:
        if choices[field] != "dropped":
            continue
        if field.startswith("custom:"):
            custom = dict(keep.custom or {})
            value = (drop.custom or {}).get(field[7:])
            if value is None:
                custom.pop(field[7:], None)
            else:
                custom[field[7:]] = value
            keep.custom = custom
        else:
            setattr(keep, _attname(field), _value(drop, field))
    if choices.get("external_id") == "dropped" and drop.external_id:
        Customer.objects.filter(pk=drop.pk).update(external_id="")
    keep.tags = sorted(set(keep.tags) | set(drop.tags))
    from crm.lib.contacts import name_sort_key

    keep.name_sort = name_sort_key(keep.name)
    keep.save()

    dropped_id, dropped_name = drop.pk, drop.name
    DuplicatePair.objects.filter(
        Q(customer_a=drop) | Q(customer_b=drop) | Q(customer_a=keep, customer_b=drop)
    ).delete()
    try:
        drop.delete()
    except ProtectedError:
        # A relation no app registered for merging still points at the record: refuse (the
        # transaction rolls back) rather than lose or orphan those rows.
        raise ValidationError(
            _("Other records still point at the merged customer; this merge is not possible yet.")
        ) from None
    entry = timeline_add(
        customer=keep,
        kind=Interaction.Kind.EVENT,
        title=_("Merged with %(name)s (#%(id)d)") % {"name": dropped_name, "id": dropped_id},
        source="merge",
        actor=actor,
    )
    keep.refresh_from_db()
    before["kept_after_updated_at"] = keep.updated_at.isoformat()
    before["timeline_entry"] = entry.pk
    merge = CustomerMerge.objects.create(
        kept=keep,
        kept_id_value=keep.pk,
        dropped_id=dropped_id,
        actor=actor,
        before=before,
        moved=moved,
        chosen=choices,
    )
    audit_record(
        action="merge",
        actor=actor,
        table_name="customers_customer",
        record_id=keep.pk,
        detail={"merge_id": merge.pk, "kept": keep.pk, "dropped": dropped_id},
    )
    return merge


def _model(label: str) -> type[models.Model]:
    from django.apps import apps

    return apps.get_model(label)


def _field_for(model: type[models.Model]) -> str:
    if model in (CustomerPhone, CustomerEmail):
        return "customer"
    for registered, field_name in _RELATIONS:
        if registered is model:
            return field_name
    raise ValidationError(_("This merge moved records this version no longer knows about."))


@writes
@transaction.atomic
def customer_merge_revert(*, actor: User | None, merge: CustomerMerge) -> None:
    """Undo a merge exactly: the merged customer comes back with its id, fields and contacts,
    the moved rows go back, and the kept customer gets its earlier values. Refused when that
    would lose later changes."""
    merge = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.reverted_at is not None:
        raise ValidationError(_("This merge was already undone."))
    # Before anything else: an erased person's before-images are gone, and must stay gone.
    erased = customer_erased_blocker([merge.kept_id_value, merge.dropped_id])
    if erased:
        raise ValidationError(erased)
    keep = Customer.objects.select_for_update().filter(pk=merge.kept_id_value).first()
    if keep is None:
        raise ValidationError(
            _("The kept customer no longer exists, so the merge cannot be undone.")
        )
    before = merge.before
    if keep.updated_at.isoformat() != before.get("kept_after_updated_at"):
        raise ValidationError(
            _("The kept customer was changed after the merge; undoing it would lose those changes.")
        )
    if Customer.objects.filter(pk=merge.dropped_id).exists():
        raise ValidationError(_("A customer with the merged record's id exists again."))
    dropped_fields = before["dropped"][0]["fields"]
    kept_fields = before["kept"][0]["fields"]
    ext = dropped_fields.get("external_id") or ""
    if ext and Customer.objects.filter(external_id=ext).exclude(pk=keep.pk).exists():
        raise ValidationError(_("Another customer now has the merged record's external id."))
    if ext and ext == kept_fields.get("external_id"):
        raise ValidationError(_("Another customer now has the merged record's external id."))
    for label, ids in merge.moved.items():
        model = _model(label)
        field_name = _field_for(model)
        still = model._default_manager.filter(pk__in=ids, **{field_name: keep.pk}).count()
        if still != len(ids):
            raise ValidationError(
                _("Records moved by the merge were deleted or moved since; it cannot be undone.")
            )

    # The kept customer's earlier values (and a free external id), then the merged one back.
    _restore(before["kept"])
    _restore(before["dropped"])
    moved_ids = {label: set(ids) for label, ids in merge.moved.items()}
    for label, ids in merge.moved.items():
        model = _model(label)
        model._default_manager.filter(pk__in=ids).update(**{_field_for(model): merge.dropped_id})
    # Contacts and consent the merge deleted with the record (not moved ones) come back too,
    # and moved contacts get their primary flags back.
    for key, model in (
        ("dropped_phones", CustomerPhone),
        ("dropped_emails", CustomerEmail),
        ("dropped_consent", ConsentEvent),
    ):
        ids = moved_ids.get(_label(model), set())
        _restore([i for i in before[key] if i["pk"] not in ids or model is not ConsentEvent])
    for key in ("kept_phones", "kept_emails"):
        _restore(before[key])
    for key, data in before.get("handlers", {}).items():
        handler = _HANDLERS.get(key)
        if handler is None:
            raise ValidationError(_("This merge moved records this version no longer knows about."))
        handler.on_revert(keep, merge.dropped_id, data)
    updated = {"kept": kept_fields["updated_at"], "dropped": dropped_fields["updated_at"]}
    Customer.objects.filter(pk=keep.pk).update(updated_at=updated["kept"])
    Customer.objects.filter(pk=merge.dropped_id).update(updated_at=updated["dropped"])
    keep.refresh_from_db()
    timeline_add(
        customer=keep,
        kind=Interaction.Kind.EVENT,
        title=_("Merge with #%(id)d undone") % {"id": merge.dropped_id},
        source="merge",
        actor=actor,
    )
    Customer.objects.filter(pk=keep.pk).update(updated_at=updated["kept"])
    merge.reverted_at = timezone.now()
    merge.reverted_by = actor
    merge.save(update_fields=["reverted_at", "reverted_by"])
    audit_record(
        action="merge revert",
        actor=actor,
        table_name="customers_customer",
        record_id=merge.dropped_id,
        detail={"merge_id": merge.pk, "kept": keep.pk, "dropped": merge.dropped_id},
    )


def register_defaults() -> None:
    merge_relation_register(Order, "customer")
    merge_relation_register(Interaction, "customer")
    merge_relation_register(ConsentEvent, "customer")
