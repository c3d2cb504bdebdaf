"""Every write to customer records. Row changes are audited by the database triggers."""

import datetime
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import CharField, F, Func, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.audit import audit_record, writes
from crm.accounts.models import Team, User
from crm.accounts.permissions import can
from crm.lib import validation_messages
from crm.lib.columns import column_errors, max_length, text_error
from crm.lib.contacts import InvalidPhone, email_normalise, name_sort_key, phone_normalise
from crm.lib.tenancy import current_schema
from crm.lib.unique import Clash, clash_check, clash_refused
from crm.tenants.models import Tenant
from customers import schema
from customers import validation as messages
from customers.custom_fields import custom_values_clean, custom_values_merge, field_definitions
from customers.customer_tabs import timeline_event
from customers.form_extensions import customer_form_field
from customers.languages import language_codes
from customers.models import (
    ConsentEvent,
    Customer,
    CustomerEmail,
    CustomerPhone,
    Interaction,
    Order,
    SavedView,
)
from customers.order_hooks import orders_written


@dataclass
class CustomerInput:
    """What a form, an import row or an API call says about a customer."""

    name: str
    kind: str = Customer.Kind.INDIVIDUAL
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    birthday: datetime.date | None = None
    gender: str = ""
    # A code of settings.LANGUAGES, "" when not known.
    language: str = ""
    address: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    tags: list[str] = field(default_factory=list)
    source: str = ""
    channel: str = ""
    owner: User | None = None
    team: Team | None = None
    external_id: str = ""
    notes: str = ""
    # Values of the active custom fields by key (customers.custom_fields). None leaves the
    # stored values as they are, for writers that do not deal with custom fields.
    custom: dict[str, Any] | None = None


def tenant_phone_region() -> str:
    tenant = Tenant.objects.filter(schema_name=current_schema()).only("phone_region").first()
    return tenant.phone_region if tenant else "CN"


def _clean_phones(raw_phones: list[str]) -> list[tuple[str, str]]:
    region = tenant_phone_region()
    cleaned: list[tuple[str, str]] = []
    errors: list[str] = []
    for raw in (p.strip() for p in raw_phones):
        if not raw:
            continue
        too_long = text_error(raw, max_length(CustomerPhone, "raw"))
        if too_long:
            errors.append(validation_messages.quoted(raw, too_long))
            continue
        try:
            phone = phone_normalise(raw, default_region=region)
        except InvalidPhone:
            errors.append(validation_messages.not_a_phone(raw))
            continue
        if phone.e164 not in {e for _raw, e in cleaned}:
            cleaned.append((phone.raw, phone.e164))
    if errors:
        raise ValidationError({"phones": errors})
    return cleaned


def _clean_emails(raw_emails: list[str]) -> list[str]:
    from django.core.validators import validate_email

    cleaned: list[str] = []
    errors: list[str] = []
    for raw in raw_emails:
        email = email_normalise(raw)
        if not email:
            continue
        try:
            validate_email(email)
        except ValidationError:
            errors.append(validation_messages.not_an_email(raw.strip()))
            continue
        too_long = text_error(email, max_length(CustomerEmail, "email"))
        if too_long:
            errors.append(validation_messages.quoted(raw.strip(), too_long))
            continue
        if email not in cleaned:
            cleaned.append(email)
    if errors:
        raise ValidationError({"emails": errors})
    return cleaned


def _external_id_clash(customer: Customer, external_id: str) -> Clash:
    def clash() -> ValidationError | None:
        if not external_id:
            return None
        taken = Customer.objects.filter(external_id=external_id).exclude(pk=customer.pk)
        if taken.exists():
            return ValidationError({"external_id": messages.external_id_taken()})
        return None

    return clash


def _value_errors(data: CustomerInput) -> dict[str, Any]:
    """What the import checks about a row's values (customers.transfer_imports), with its
    words (customers.validation): every writer then refuses the same values the same way."""
    errors: dict[str, Any] = {}
    if data.kind not in Customer.Kind.values:
        errors["kind"] = messages.KIND_UNKNOWN
    if data.gender and data.gender not in Customer.Gender.values:
        errors["gender"] = messages.GENDER_UNKNOWN
    if data.language and data.language not in language_codes():
        errors["language"] = messages.LANGUAGE_UNKNOWN
    country = data.country.strip()
    if country and not re.fullmatch(r"[A-Za-z]{2}", country):
        errors["country"] = messages.COUNTRY_FORMAT
    tag_limit = schema.max_length("tags") or 0
    if any(len(t.strip()) > tag_limit for t in data.tags):
        errors["tags"] = messages.TAG_LENGTH
    too_long = text_error(data.notes.replace("\r\n", "\n"), schema.NOTES_MAX_LENGTH)
    if too_long:
        errors["notes"] = too_long
    return errors


def _save(customer: Customer) -> None:
    with clash_refused(_external_id_clash(customer, customer.external_id)):
        customer.save()


def _apply(customer: Customer, data: CustomerInput) -> None:
    name = data.name.strip()
    if not name:
        raise ValidationError({"name": messages.NAME_REQUIRED})
    # Every refused value at once, not the first: a form (or an API caller) fixes them together.
    errors = _value_errors(data)
    external_id = data.external_id.strip()
    customer.name = name
    customer.name_sort = name_sort_key(name)
    customer.kind = data.kind
    customer.birthday = data.birthday
    customer.gender = data.gender
    customer.language = data.language
    customer.address = data.address.strip()
    customer.city = data.city.strip()
    customer.region = data.region.strip()
    customer.postal_code = data.postal_code.strip()
    customer.country = data.country.strip().upper()
    customer.tags = sorted({t.strip() for t in data.tags if t.strip()})
    customer.source = data.source.strip()
    customer.channel = data.channel.strip()
    customer.owner = data.owner
    customer.team = data.team
    customer.external_id = external_id
    customer.notes = data.notes
    # Forms check most of these already; imports and other writers may not.
    too_long = column_errors(
        Customer,
        {
            f.name: getattr(customer, f.attname)
            for f in Customer._meta.concrete_fields
            if f.get_internal_type() in ("CharField", "TextField", "ArrayField")
        },
    )
    errors = {**too_long, **errors}
    if errors:
        raise ValidationError(errors)
    clash_check(_external_id_clash(customer, external_id))
    if data.custom is not None:
        definitions = field_definitions()
        cleaned = custom_values_clean(definitions, data.custom)
        customer.custom = custom_values_merge(definitions, customer.custom or {}, cleaned)


def _replace_contacts(customer: Customer, phones: list[tuple[str, str]], emails: list[str]) -> None:
    """Keep the rows whose value stays, drop the others, add the new: the audit log then shows
    what really changed."""
    wanted_phones = {e164: raw for raw, e164 in phones}
    customer.phones.exclude(e164__in=wanted_phones).delete()
    have = set(customer.phones.values_list("e164", flat=True))
    for index, (raw, e164) in enumerate(phones):
        if e164 not in have:
            CustomerPhone.objects.create(
                customer=customer,
                raw=raw,
                e164=e164,
                digits=e164.lstrip("+"),
                is_primary=index == 0,
            )
    customer.emails.exclude(email__in=emails).delete()
    have_emails = set(customer.emails.values_list("email", flat=True))
    for index, email in enumerate(emails):
        if email not in have_emails:
            CustomerEmail.objects.create(customer=customer, email=email, is_primary=index == 0)


def clean_contacts(data: CustomerInput) -> tuple[list[tuple[str, str]], list[str]]:
    """Both lists checked, so one answer names every bad phone and email at once."""
    errors: dict[str, list[str]] = {}
    phones: list[tuple[str, str]] = []
    emails: list[str] = []
    try:
        phones = _clean_phones(data.phones)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        emails = _clean_emails(data.emails)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return phones, emails


def _check_customer_limit() -> None:
    tenant = Tenant.objects.filter(schema_name=current_schema()).only("customer_limit").first()
    limit = tenant.customer_limit if tenant else None
    if limit is not None and Customer.objects.count() >= limit:
        raise ValidationError(messages.customer_limit_reached(limit))


@writes
@transaction.atomic
def customer_create(
    *, actor: User | None, data: CustomerInput, extras: Mapping[str, Any] | None = None
) -> Customer:
    """`extras`: values of the create form's registered fields (customers.form_extensions) by
    key; each non-empty one is applied once the customer is written, in this transaction, so
    one it refuses leaves nothing written."""
    _check_customer_limit()
    phones, emails = clean_contacts(data)
    customer = Customer()
    _apply(customer, data)
    _save(customer)
    _replace_contacts(customer, phones, emails)
    for key, value in (extras or {}).items():
        if value in (None, ""):
            continue
        try:
            extension = customer_form_field(key)
        except KeyError:
            raise ValidationError(_("Unknown field: %(key)s.") % {"key": key}) from None
        if isinstance(actor, User) and not can(actor, extension.capability):
            raise PermissionDenied
        extension.apply(actor=actor, customer=customer, value=value)
    return customer


@writes
@transaction.atomic
def customer_update(*, actor: User | None, customer: Customer, data: CustomerInput) -> Customer:
    phones, emails = clean_contacts(data)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.erased_at is not None:
        raise ValidationError(_("This customer was erased and cannot be changed."))
    _apply(customer, data)
    _save(customer)
    _replace_contacts(customer, phones, emails)
    return customer


@writes
@transaction.atomic
def customer_stage_set(*, actor: User | None, customer: Customer, stage: str) -> Customer:
    """Staff choose the stage by hand; the nightly derivation then leaves it alone."""
    if stage not in Customer.Stage.values:
        raise ValidationError({"stage": messages.stage_unknown()})
    Customer.objects.filter(pk=customer.pk).update(stage=stage, stage_override=True)
    customer.refresh_from_db()
    return customer


@writes
def timeline_add(
    *,
    customer: Customer,
    kind: str,
    title: str,
    body: str = "",
    source: str = "staff",
    actor: User | None,
    occurred_at: datetime.datetime | None = None,
) -> Interaction:
    """The one way onto a customer's timeline, for staff entries and for other apps' events."""
    if kind not in Interaction.Kind.values:
        raise ValidationError({"kind": _("Unknown kind of interaction.")})
    if not title.strip():
        raise ValidationError({"title": _("Say in a few words what happened.")})
    return Interaction.objects.create(
        customer=customer,
        kind=kind,
        title=title.strip()[:200],
        body=body,
        source=source,
        actor=actor,
        occurred_at=occurred_at or timezone.now(),
    )


@writes
def timeline_event_add(
    *,
    customer: Customer,
    event: str,
    title: str,
    body: str = "",
    actor: User | None,
    occurred_at: datetime.datetime | None = None,
) -> Interaction:
    """An app's event on a customer's timeline ("ticket opened", "points earned"): `event` is
    a kind the app registered (customers.customer_tabs.timeline_event_register), which the
    timeline labels it with."""
    if timeline_event(event) is None:
        raise ValidationError({"kind": _("Unknown kind of timeline event.")})
    return timeline_add(
        customer=customer,
        kind=Interaction.Kind.EVENT,
        title=title,
        body=body,
        source=event,
        actor=actor,
        occurred_at=occurred_at,
    )


@writes
@transaction.atomic
def consent_set(
    *, actor: User | None, customer: Customer, channel: str, granted: bool, source: str
) -> ConsentEvent:
    if channel not in ConsentEvent.Channel.values:
        raise ValidationError({"channel": _("Unknown channel.")})
    if not source.strip():
        raise ValidationError(
            {"source": _("Say where the consent came from (form, call, store…).")}
        )
    return ConsentEvent.objects.create(
        customer=customer, channel=channel, granted=granted, source=source.strip(), actor=actor
    )


def _order_number_clash(number: str) -> ValidationError | None:
    if Order.objects.filter(number=number).exists():
        return ValidationError({"number": _("An order with this number exists.")})
    return None


@writes
@transaction.atomic
def order_create(
    *,
    actor: User | None,
    customer: Customer,
    number: str,
    ordered_at: datetime.datetime,
    amount: Decimal,
    currency: str,
    item_count: int = 1,
    channel: str = "",
    store: str = "",
    status: str = Order.Status.COMPLETED,
) -> Order:
    clash = functools.partial(_order_number_clash, number)
    clash_check(clash)
    if amount < 0:
        raise ValidationError({"amount": _("An amount cannot be negative.")})
    if status not in Order.Status.values:
        raise ValidationError({"status": _("Choose a status from the list.")})
    with clash_refused(clash):
        order = Order.objects.create(
            customer=customer,
            number=number,
            ordered_at=ordered_at,
            amount=amount,
            currency=currency.upper(),
            item_count=item_count,
            channel=channel,
            store=store,
            status=status,
        )
    orders_written(actor=actor, order_ids=[order.pk])
    return order


@writes
@transaction.atomic
def order_status_set(*, actor: User | None, order: Order, status: str) -> Order:
    """Mark an order refunded or cancelled (or completed again): audited, and the listeners of
    customers.order_hooks hear of it (loyalty takes back the points of a refund)."""
    if status not in Order.Status.values:
        raise ValidationError({"status": _("Unknown order status.")})
    # Locked and read again: the status it had is the one in the audit entry.
    order = Order.objects.select_for_update().get(pk=order.pk)
    before = order.status
    if before == status:
        return order
    order.status = status
    order.save(update_fields=["status"])
    audit_record(
        action="order status",
        actor=actor,
        table_name=Order._meta.db_table,
        record_id=order.pk,
        detail={"number": order.number, "status": [before, status]},
    )
    orders_written(actor=actor, order_ids=[order.pk])
    return order


# Thresholds of the nightly stage derivation (days since the last completed order, orders).
STAGE_AT_RISK_DAYS = 180
STAGE_CHURNED_DAYS = 365
STAGE_LOYAL_ORDERS = 6


@writes
def stages_derive(
    *, actor: User | None, now: datetime.datetime | None = None, chunk: int = 500
) -> int:
    """Set every customer's lifecycle stage from their completed orders, except where staff set
    it by hand. Runs in chunks of ids, each in one UPDATE; returns how many rows changed.
    Idempotent: a second run changes nothing."""
    from django.db import connection

    now = now or timezone.now()
    changed = 0
    last_id = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM customers_customer WHERE id > %s AND NOT stage_override"
                " AND erased_at IS NULL ORDER BY id LIMIT %s",
                [last_id, chunk],
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return changed
            last_id = ids[-1]
            cursor.execute(
                """
                WITH facts AS (
                    SELECT c.id,
                           count(o.id) AS orders,
                           max(o.ordered_at) AS last_order
                    FROM customers_customer c
                    LEFT JOIN customers_order o
                           ON o.customer_id = c.id AND o.status = 'completed'
                    WHERE c.id = ANY(%s)
                    GROUP BY c.id
                ), derived AS (
                    SELECT id, CASE
                        WHEN orders = 0 THEN 'lead'
                        WHEN last_order < %s - make_interval(days => %s) THEN 'churned'
                        WHEN last_order < %s - make_interval(days => %s) THEN 'at_risk'
                        WHEN orders >= %s THEN 'loyal'
                        WHEN orders = 1 THEN 'new'
                        ELSE 'active' END AS stage
                    FROM facts
                )
                UPDATE customers_customer c SET stage = d.stage
                FROM derived d WHERE c.id = d.id AND c.stage <> d.stage
                """,
                [ids, now, STAGE_CHURNED_DAYS, now, STAGE_AT_RISK_DAYS, STAGE_LOYAL_ORDERS],
            )
            changed += cursor.rowcount


# --- bulk changes and saved views ---------------------------------------------------------


def _tag(tag: str) -> str:
    tag = tag.strip()
    if not tag or len(tag) > 50:
        raise ValidationError({"tag": messages.TAG_LENGTH})
    return tag


@writes
@transaction.atomic
def customers_tag(*, actor: User | None, customer_ids: list[int], tag: str) -> int:
    """Add a tag to many customers in one statement; the audit triggers still see each row."""
    tag = _tag(tag)
    return (
        Customer.objects.filter(pk__in=customer_ids)
        .exclude(tags__contains=[tag])
        .update(
            tags=Func(
                F("tags"), Value(tag), function="array_append", output_field=ArrayField(CharField())
            )
        )
    )


@writes
@transaction.atomic
def customers_untag(*, actor: User | None, customer_ids: list[int], tag: str) -> int:
    tag = _tag(tag)
    return Customer.objects.filter(pk__in=customer_ids, tags__contains=[tag]).update(
        tags=Func(
            F("tags"), Value(tag), function="array_remove", output_field=ArrayField(CharField())
        )
    )


@writes
@transaction.atomic
def customers_assign(*, actor: User | None, customer_ids: list[int], owner: User) -> int:
    if not owner.is_active:
        raise ValidationError({"owner": _("Choose an active staff member.")})
    return Customer.objects.filter(pk__in=customer_ids).exclude(owner=owner).update(owner=owner)


@writes
def saved_view_save(*, actor: User | None, name: str, query: str) -> SavedView:
    """Save the acting user's own view of the customer list."""
    if actor is None:
        raise ValueError("a saved view belongs to a person")
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the view a name.")})
    view, _created = SavedView.objects.update_or_create(
        user=actor, name=name[:100], defaults={"query": query[:1000]}
    )
    return view
