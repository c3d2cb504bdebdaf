"""Reads for the duplicates queue: which customers of the tenant look like the same person.

Detection never compares every customer with every other. Each rule first blocks on an
indexed equality (the same E.164 phone, the same email, the same birthday, the same city and
first two letters of name_sort) and only compares names (pg_trgm similarity) inside a block."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from crm.lib.tenancy import current_schema
from customers.models import Customer, DuplicatePair

NAME_SIMILARITY = 0.5

# Stable codes stored in DuplicatePair.reasons, their weights and their words.
REASON_SCORES = {"phone": 90, "email": 85, "name_birthday": 70, "name_city": 50}
REASON_LABELS = {
    "phone": _("same phone number"),
    "email": _("same email address"),
    "name_birthday": _("similar name, same birthday"),
    "name_city": _("similar name, same city"),
}

# Each query yields (lower id, higher id) pairs; every join is an equality on an indexed or
# hashed column, so the work grows with the block sizes, not with the square of the table.
_RULES = {
    "phone": """
        SELECT DISTINCT p1.customer_id, p2.customer_id
        FROM customers_customerphone p1
        JOIN customers_customerphone p2 ON p2.e164 = p1.e164 AND p2.customer_id > p1.customer_id
        JOIN customers_customer c1 ON c1.id = p1.customer_id
        JOIN customers_customer c2 ON c2.id = p2.customer_id
        WHERE c1.erased_at IS NULL AND c2.erased_at IS NULL
    """,
    "email": """
        SELECT DISTINCT e1.customer_id, e2.customer_id
        FROM customers_customeremail e1
        JOIN customers_customeremail e2 ON e2.email = e1.email AND e2.customer_id > e1.customer_id
        JOIN customers_customer c1 ON c1.id = e1.customer_id
        JOIN customers_customer c2 ON c2.id = e2.customer_id
        WHERE c1.erased_at IS NULL AND c2.erased_at IS NULL
    """,
    "name_birthday": """
        SELECT c1.id, c2.id
        FROM customers_customer c1
        JOIN customers_customer c2 ON c2.birthday = c1.birthday AND c2.id > c1.id
        WHERE c1.birthday IS NOT NULL AND c1.erased_at IS NULL AND c2.erased_at IS NULL
          AND similarity(c1.name_sort, c2.name_sort) >= %(similarity)s
    """,
    "name_city": """
        SELECT c1.id, c2.id
        FROM customers_customer c1
        JOIN customers_customer c2
          ON lower(c2.city) = lower(c1.city)
         AND left(c2.name_sort, 2) = left(c1.name_sort, 2)
         AND c2.id > c1.id
        WHERE c1.city <> '' AND c1.erased_at IS NULL AND c2.erased_at IS NULL
          AND similarity(c1.name_sort, c2.name_sort) >= %(similarity)s
    """,
}


def pair_score(reasons: Iterable[str]) -> int:
    """The strongest reason's weight, plus 10 for each further reason, at most 100."""
    weights = sorted((REASON_SCORES[r] for r in reasons), reverse=True)
    if not weights:
        return 0
    return min(100, weights[0] + 10 * (len(weights) - 1))


def reasons_display(reasons: Iterable[str]) -> list[str]:
    return [str(REASON_LABELS.get(code, code)) for code in reasons]


def candidate_pairs() -> dict[tuple[int, int], list[str]]:
    """Every pair of live customers of the current tenant that some rule matches, with the
    codes of the rules (in REASON_SCORES order)."""
    found: dict[tuple[int, int], list[str]] = {}
    with connection.cursor() as cursor:
        for code, sql in _RULES.items():
            cursor.execute(sql, {"similarity": NAME_SIMILARITY})
            for a, b in cursor.fetchall():
                found.setdefault((a, b), []).append(code)
    return found


@dataclass
class QueueRow:
    pair: DuplicatePair
    a: Customer
    b: Customer
    reasons: list[str]


def open_pairs(visible: QuerySet[Customer]) -> QuerySet[DuplicatePair]:
    """Pairs not dismissed whose two customers are both in `visible` (the user's scope)."""
    return (
        DuplicatePair.objects.filter(dismissed_at__isnull=True)
        .filter(Q(customer_a__in=visible) & Q(customer_b__in=visible))
        .select_related("customer_a", "customer_b")
        .order_by("-score", "id")
    )


def queue_page(
    visible: QuerySet[Customer], *, after: tuple[int, int] | None = None, size: int = 50
) -> tuple[list[QueueRow], tuple[int, int] | None]:
    """One page of the queue, keyset-paged by (score desc, id); returns the rows and the key of
    the next page (None on the last)."""
    pairs = open_pairs(visible)
    if after is not None:
        score, pk = after
        pairs = pairs.filter(Q(score__lt=score) | Q(score=score, id__gt=pk))
    rows = list(pairs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    result = [QueueRow(p, p.customer_a, p.customer_b, reasons_display(p.reasons)) for p in rows]
    next_key = (rows[-1].score, rows[-1].pk) if more and rows else None
    return result, next_key


REFRESH_KEY = "duplicates-refresh:{schema}"


def refresh_state() -> dict[str, str]:
    """{"running": iso time the refresh was asked for, or "", "last": iso time it last ran}."""
    return cache.get(REFRESH_KEY.format(schema=current_schema())) or {}


def refresh_state_set(**state: str) -> None:
    cache.set(REFRESH_KEY.format(schema=current_schema()), state, timeout=None)
