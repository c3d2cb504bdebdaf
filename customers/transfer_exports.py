"""The customers and orders export kinds: the customer list's current filter (re-parsed from its
query string, with the reader's own scope) and every order the reader may see.

Rows come straight from ``values_list`` with phones and emails aggregated in SQL (one correlated
``string_agg`` each), read through a server-side cursor: no model instances, no per-chunk
prefetch, so a million rows stream in seconds. Personal data is masked exactly as on the page
(``crm.accounts.masking``) for readers without "see personal data"; the operator's command line
(``user=None``) gets everything unmasked.

Header names are the customer fields' keys, the same names the importer maps automatically, so an
export imports back unchanged (phones and emails separated by spaces, tags by commas). The tenant's
active custom fields follow as one column each, named "custom_<key>" (the customer form's input
names), with the stored value (ISO dates, plain numbers), personal ones masked like the page.
"""

from collections.abc import Iterator
from typing import Any

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from crm.accounts import capabilities as cap
from crm.accounts.masking import MASK, mask_address, mask_birthday, mask_email, mask_phone
from crm.accounts.permissions import can_view_personal_data
from crm.transfer.exporting import ExportKind, InvalidFilter, export_kind_register
from customers import schema, selectors
from customers.custom_fields import active, field_definitions, form_name
from customers.export_columns import ExportColumn, annotation_name, export_columns
from customers.forms import CustomerSearchForm
from customers.models import Customer, CustomerEmail, CustomerPhone, CustomField, Order

# The export's fixed columns (customers.schema); their cells come from _customer_rows, which
# reads them in this order.
CUSTOMER_HEADERS = schema.export_headers()

ORDER_HEADERS = (
    "number",
    "customer_external_id",
    "customer_phone",
    "customer_email",
    "ordered_at",
    "amount",
    "currency",
    "item_count",
    "channel",
    "store",
    "status",
)

CHUNK = 2000


def customer_query(params: QueryDict, user: Any) -> selectors.CustomerQuery:
    """The customer list's filter from its query string, parsed by the list's own form (custom
    field filters included). One that cannot be read (a renamed choice in a saved view, an
    owner who is gone) is refused with the list's own messages, never exported unfiltered."""
    form = CustomerSearchForm(params or None, user=user)
    if not form.is_bound:
        return selectors.CustomerQuery()
    if not form.is_valid():
        raise InvalidFilter(" ".join(form.invalid_filters()))
    return form.to_query()


def _phones() -> Subquery:
    return Subquery(
        CustomerPhone.objects.filter(customer=OuterRef("pk"))
        .values("customer")
        .annotate(all=StringAgg("e164", " ", order_by=("-is_primary", "id")))
        .values("all")
    )


def _emails() -> Subquery:
    return Subquery(
        CustomerEmail.objects.filter(customer=OuterRef("pk"))
        .values("customer")
        .annotate(all=StringAgg("email", " ", order_by=("-is_primary", "id")))
        .values("all")
    )


def _personal(user: Any) -> bool:
    return user is None or can_view_personal_data(user)


def _masked_list(text: str | None, masker: Any) -> str:
    return " ".join(masker(v) for v in (text or "").split())


def _custom_columns() -> list[CustomField]:
    return active(field_definitions())


def customer_headers(user: Any, params: QueryDict | None = None) -> tuple[str, ...]:
    """The customers kind's columns for this tenant: the fixed ones, the registered ones this
    reader gets, then one per active custom field (what `_customer_rows` reads)."""
    registered = tuple(c.header for c in export_columns(user))
    return CUSTOMER_HEADERS + registered + tuple(form_name(d) for d in _custom_columns())


def _custom_cells(
    definitions: list[CustomField], values: dict[str, Any] | None, personal: bool
) -> list[str]:
    values = values or {}
    cells = []
    for definition in definitions:
        value = values.get(definition.key)
        if value in (None, ""):
            cells.append("")
        elif definition.personal and not personal:
            cells.append(MASK * 6)
        else:
            cells.append(str(value))
    return cells


# Export columns read from an annotation of _customer_rows rather than the field itself.
_SOURCES = {"phones": "_phones", "emails": "_emails", "owner": "_owner", "team": "_team"}


def _customer_rows(customers: QuerySet[Customer], user: Any) -> Iterator[list[Any]]:
    personal = _personal(user)
    definitions = _custom_columns()
    extra: list[ExportColumn] = export_columns(user)
    rows = (
        customers.annotate(
            _phones=_phones(), _emails=_emails(), _owner=F("owner__email"), _team=F("team__name")
        )
        .annotate(**{annotation_name(c): c.annotation() for c in extra})
        .values_list(
            *(_SOURCES.get(key, key) for key in CUSTOMER_HEADERS),
            *(annotation_name(c) for c in extra),
            "custom",
        )
    )
    n_fixed = len(CUSTOMER_HEADERS)
    extra_cells = [(n_fixed + n, c.to_cell) for n, c in enumerate(extra)]
    # Cells by position (a list and a few assignments: this loop runs a million times); a
    # column not named here is written as read.
    at = {key: n for n, key in enumerate(CUSTOMER_HEADERS)}
    i_phones, i_emails, i_birthday, i_address = (
        at["phones"],
        at["emails"],
        at["birthday"],
        at["address"],
    )
    i_tags, i_owner, i_team, i_created = at["tags"], at["owner"], at["team"], at["created_at"]
    for row in rows.iterator(chunk_size=CHUNK):
        cells = list(row)
        custom = cells.pop()
        birthday, address = cells[i_birthday], cells[i_address]
        if personal:
            cells[i_phones] = cells[i_phones] or ""
            cells[i_emails] = cells[i_emails] or ""
            cells[i_birthday] = birthday.isoformat() if birthday else ""
        else:
            cells[i_phones] = _masked_list(cells[i_phones], mask_phone)
            cells[i_emails] = _masked_list(cells[i_emails], mask_email)
            cells[i_birthday] = mask_birthday(birthday) if birthday else ""
            cells[i_address] = mask_address(address) if address else ""
        cells[i_tags] = ",".join(cells[i_tags])
        cells[i_owner] = cells[i_owner] or ""
        cells[i_team] = cells[i_team] or ""
        cells[i_created] = cells[i_created].isoformat()
        for i, to_cell in extra_cells:
            cells[i] = to_cell(cells[i])
        cells += _custom_cells(definitions, custom, personal)
        yield cells


def customers_export_rows(user: Any, params: QueryDict) -> Iterator[list[Any]]:
    return _customer_rows(selectors.customers_filtered(user, customer_query(params, user)), user)


def customers_export_count(user: Any, params: QueryDict) -> int | None:
    return selectors.customers_filtered(user, customer_query(params, user)).order_by().count()


def selection_rows(user: Any, customers: QuerySet[Customer]) -> Iterator[list[Any]]:
    """Rows for the list's "export selection" (the ticked customers), same columns."""
    return _customer_rows(customers.order_by("name_sort", "id"), user)


def _visible_orders(user: Any) -> QuerySet[Order]:
    if user is None:
        return Order.objects.all()
    return Order.objects.filter(customer__in=selectors.visible_customers(user).values("pk"))


def orders_export_rows(user: Any, params: QueryDict) -> Iterator[list[Any]]:
    personal = _personal(user)
    first_phone = Subquery(
        CustomerPhone.objects.filter(customer=OuterRef("customer"))
        .order_by("-is_primary", "id")
        .values("e164")[:1]
    )
    first_email = Subquery(
        CustomerEmail.objects.filter(customer=OuterRef("customer"))
        .order_by("-is_primary", "id")
        .values("email")[:1]
    )
    rows = (
        _visible_orders(user)
        .annotate(_ext=F("customer__external_id"), _phone=first_phone, _email=first_email)
        .order_by("-ordered_at", "-id")
        .values_list(
            "number",
            "_ext",
            "_phone",
            "_email",
            "ordered_at",
            "amount",
            "currency",
            "item_count",
            "channel",
            "store",
            "status",
        )
    )
    for number, ext, phone, email, at, amount, *rest in rows.iterator(chunk_size=CHUNK):
        if not personal:
            phone = mask_phone(phone) if phone else ""
            email = mask_email(email) if email else ""
        yield [number, ext, phone or "", email or "", at.isoformat(), str(amount), *rest]


def orders_export_count(user: Any, params: QueryDict) -> int | None:
    return _visible_orders(user).count()


def register() -> None:
    export_kind_register(
        ExportKind(
            key="customers",
            label=_("Customers"),
            capability=cap.EXPORT,
            headers=CUSTOMER_HEADERS,
            rows_for=customers_export_rows,
            estimated_count=customers_export_count,
            headers_for=customer_headers,
        )
    )
    export_kind_register(
        ExportKind(
            key="orders",
            label=_("Orders"),
            capability=cap.EXPORT,
            headers=ORDER_HEADERS,
            rows_for=orders_export_rows,
            estimated_count=orders_export_count,
        )
    )
