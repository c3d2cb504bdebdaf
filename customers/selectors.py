"""Reads of customer records, shared by pages, exports and reports. Every one applies the
reader's record scope; searching by phone or email needs "see personal data"."""

import base64
import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from crm.accounts.permissions import can_view_personal_data, scope_filter
from crm.lib.contacts import digits_only, name_sort_key
from customers.models import ConsentEvent, Customer, CustomerEmail, CustomerPhone


def visible_customers(user: Any) -> QuerySet[Customer]:
    """The customers this user may see at all."""
    return Customer.objects.filter(scope_filter(user, owner_field="owner", team_field="team"))


@dataclass(frozen=True)
class CustomerQuery:
    text: str = ""
    stage: str = ""
    tag: str = ""
    owner_id: int | None = None
    team_id: int | None = None
    order: str = "name"  # "name" or "newest"


def _search(customers: QuerySet[Customer], user: Any, text: str) -> QuerySet[Customer]:
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    if not folded:
        return customers
    match = Q(name_sort__contains=folded)
    if " " in folded:
        # "wang fang" as well as "wangfang": pinyin is stored without spaces.
        match |= Q(name_sort__contains=folded.replace(" ", ""))
    if can_view_personal_data(user):
        # Only those who may see phones and emails may search by them: otherwise a search
        # would confirm a number or an address the page then masks.
        digits = digits_only(folded)
        if len(digits) >= 3:
            phone_match = Q(digits__contains=digits)
            national = digits.lstrip("0")  # "021 5555 0000" is stored as 86215555 0000
            if national != digits and len(national) >= 3:
                phone_match |= Q(digits__contains=national)
            phones = CustomerPhone.objects.filter(phone_match, customer=OuterRef("pk"))
            match |= Q(Exists(phones))
        if "@" in folded or "." in folded:
            emails = CustomerEmail.objects.filter(customer=OuterRef("pk"), email__contains=folded)
            match |= Q(Exists(emails))
    return customers.filter(match)


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[Any] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        return None
    return values if isinstance(values, list) else None


@dataclass
class CustomerPage:
    customers: list[Customer]
    next_cursor: str | None


def customer_page(
    user: Any, query: CustomerQuery, *, after: str = "", size: int = 50
) -> CustomerPage:
    """One page of the customer list: keyset pagination (no OFFSET, no COUNT), phones and emails
    in one extra query each."""
    customers = _search(visible_customers(user), user, query.text)
    if query.stage:
        customers = customers.filter(stage=query.stage)
    if query.tag:
        customers = customers.filter(tags__contains=[query.tag])
    if query.owner_id is not None:
        customers = customers.filter(owner_id=query.owner_id)
    if query.team_id is not None:
        customers = customers.filter(team_id=query.team_id)
    position = _decode(after) if after else None
    if query.order == "newest":
        if position and isinstance(position[0], int):
            customers = customers.filter(id__lt=position[0])
        customers = customers.order_by("-id")
    else:
        if position and len(position) == 2:
            name, pk = position
            customers = customers.filter(Q(name_sort__gt=name) | Q(name_sort=name, id__gt=pk))
        customers = customers.order_by("name_sort", "id")
    rows = list(
        customers.select_related("owner", "team").prefetch_related(
            Prefetch("phones", queryset=CustomerPhone.objects.order_by("-is_primary", "id")),
            Prefetch("emails", queryset=CustomerEmail.objects.order_by("-is_primary", "id")),
        )[: size + 1]
    )
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = _encode([last.pk] if query.order == "newest" else [last.name_sort, last.pk])
    return CustomerPage(customers=rows, next_cursor=next_cursor)


def customer_for(user: Any, pk: int) -> Customer:
    """One customer the user may see; Customer.DoesNotExist otherwise (a 404 to the view,
    whether the record is out of scope or another tenant's)."""
    return visible_customers(user).select_related("owner", "team").get(pk=pk)


def consent_current(customer: Customer) -> dict[str, ConsentEvent | None]:
    """The latest event per channel: the state the customer is in now."""
    latest: dict[str, ConsentEvent | None] = dict.fromkeys(ConsentEvent.Channel.values)
    for event in customer.consent_events.order_by("channel", "-at", "-id").distinct("channel"):
        latest[event.channel] = event
    return latest


@dataclass
class DuplicateCandidate:
    customer: Customer
    reasons: list[str]
    # Out of the user's scope: the page says such a customer exists, never who it is.
    visible: bool = True


def likely_duplicates(
    user: Any,
    *,
    e164s: list[str],
    emails: list[str],
    name: str,
    birthday: Any,
    city: str,
    exclude_pk: int | None = None,
) -> list[DuplicateCandidate]:
    """Customers who are probably the same person: the same phone, the same email, or a similar
    name with the same birthday or city. All customers are checked, so nobody adds a duplicate
    of a record outside their scope; those come back marked not visible. Phones and emails are
    compared only for users who may see them, or the warning would confirm them."""
    candidates: dict[int, DuplicateCandidate] = {}

    def note(customer: Customer, reason: str) -> None:
        candidate = candidates.setdefault(customer.pk, DuplicateCandidate(customer, []))
        candidate.reasons.append(reason)

    everyone = Customer.objects.filter(erased_at__isnull=True)
    if exclude_pk is not None:
        everyone = everyone.exclude(pk=exclude_pk)
    may_compare_contacts = can_view_personal_data(user)
    if e164s and may_compare_contacts:
        for customer in everyone.filter(phones__e164__in=e164s).distinct()[:10]:
            note(customer, _("same phone number"))
    if emails and may_compare_contacts:
        for customer in everyone.filter(emails__email__in=emails).distinct()[:10]:
            note(customer, _("same email address"))
    if name.strip() and (birthday or city.strip()):
        similar = everyone.annotate(
            likeness=TrigramSimilarity("name_sort", name_sort_key(name))
        ).filter(likeness__gte=0.5)
        if birthday:
            for customer in similar.filter(birthday=birthday)[:10]:
                note(customer, _("similar name, same birthday"))
        if city.strip():
            for customer in similar.filter(city__iexact=city.strip())[:10]:
                note(customer, _("similar name, same city"))
    if candidates:
        visible = set(
            visible_customers(user).filter(pk__in=candidates).values_list("pk", flat=True)
        )
        for pk, candidate in candidates.items():
            candidate.visible = pk in visible
    return list(candidates.values())


def customers_counted() -> int:
    """Customers held against the plan's limit (erased ones included: their orders stay)."""
    return Customer.objects.count()


def customers_filtered(user: Any, query: CustomerQuery) -> QuerySet[Customer]:
    """Every customer the list shows for this filter, in the list's order (for exports): the
    same scope, search and filters as ``customer_page``, without paging. ``user=None`` is the
    operator's command line: all customers."""
    customers = Customer.objects.all() if user is None else visible_customers(user)
    if user is not None:
        customers = _search(customers, user, query.text)
    elif query.text:
        folded = unicodedata.normalize("NFKC", query.text).casefold().strip()
        customers = customers.filter(name_sort__contains=folded)
    if query.stage:
        customers = customers.filter(stage=query.stage)
    if query.tag:
        customers = customers.filter(tags__contains=[query.tag])
    if query.owner_id is not None:
        customers = customers.filter(owner_id=query.owner_id)
    if query.team_id is not None:
        customers = customers.filter(team_id=query.team_id)
    if query.order == "newest":
        return customers.order_by("-id")
    return customers.order_by("name_sort", "id")
