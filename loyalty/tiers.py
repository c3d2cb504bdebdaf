"""Tier evaluation for a list of accounts in a fixed number of statements.

A member's qualifying amount over the programme's rolling window is what their orders' earn
entries qualified for (their points, or on the spend basis the orders' whole currency units;
orders since reversed do not count; redeeming never lowers it). The nightly evaluation computes
it exactly and caches it on the account; orders raise and lower the cache in between, so an
upgrade right after an order needs no sum over the ledger. The tier is the highest whose
threshold it reaches. Upgrades happen at once (also right after an order earns); a downgrade
waits until the member has been below their tier for the grace days, counted from the first
evaluation that found it."""

import dataclasses
import datetime
from collections.abc import Mapping, Sequence

from django.db import connection
from django.utils import timezone

from loyalty.programme import months_later, programme

# Exact: what the window's earns qualified for, less those of orders reversed since.
QUALIFYING_SQL = """
WITH q AS (
    SELECT a.id, a.tier_id, coalesce(ct.position, 0) AS position, a.below_tier_since,
        (SELECT coalesce(sum(e.qualifying), 0)::bigint FROM loyalty_ledgerentry e
         WHERE e.account_id = a.id AND e.kind = 'earn' AND e.occurred_at >= %(since)s
           AND NOT EXISTS (SELECT 1 FROM loyalty_ledgerentry r
                           WHERE r.order_id = e.order_id AND r.kind = 'reverse')
        ) AS qualifying
    FROM loyalty_account a LEFT JOIN loyalty_tier ct ON ct.id = a.tier_id
    WHERE a.id = ANY(%(ids)s)
)
{pick}
"""
# What the cached qualifying points say (between evaluations: orders raise and lower them),
# with what an import's orders add and loyalty.balances has not applied yet.
CACHED_SQL = """
WITH q AS (
    SELECT a.id, a.tier_id, coalesce(ct.position, 0) AS position, a.below_tier_since,
        a.qualifying_points + coalesce(p.qualifying, 0) AS qualifying
    FROM loyalty_account a LEFT JOIN loyalty_tier ct ON ct.id = a.tier_id
    LEFT JOIN unnest(%(pending_ids)s::bigint[], %(pending)s::bigint[]) AS p(id, qualifying)
        ON p.id = a.id
    WHERE a.id = ANY(%(ids)s)
)
{pick}
"""
PICK = """
SELECT q.id, q.tier_id, q.position, q.below_tier_since, q.qualifying, t.id,
    coalesce(t.position, 0)
FROM q LEFT JOIN LATERAL (
    SELECT id, position FROM loyalty_tier WHERE threshold <= q.qualifying
    ORDER BY position DESC LIMIT 1
) t ON true
ORDER BY q.id
"""


@dataclasses.dataclass(frozen=True)
class Standing:
    account_id: int
    tier_id: int | None
    position: int
    below_since: datetime.date | None
    qualifying: int
    target_id: int | None
    target_position: int


def window_start(today: datetime.date) -> datetime.datetime:
    months = programme().tier_window_months
    start = months_later(today, -months)
    return timezone.make_aware(datetime.datetime.combine(start, datetime.time.min))


def standings(
    account_ids: Sequence[int],
    today: datetime.date,
    *,
    exact: bool,
    pending: Mapping[int, int] | None = None,
) -> list[Standing]:
    sql = (QUALIFYING_SQL if exact else CACHED_SQL).format(pick=PICK)
    pending = pending or {}
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "since": window_start(today),
                "ids": list(account_ids),
                "pending_ids": list(pending),
                "pending": list(pending.values()),
            },
        )
        return [Standing(*row) for row in cursor.fetchall()]


def _write(
    moves: list[tuple[Standing, int | None]],
    pending: list[int],
    cleared: list[int],
    today: datetime.date,
) -> None:
    with connection.cursor() as cursor:
        if moves:
            cursor.execute(
                "UPDATE loyalty_account a SET tier_id = t.tier, tier_since = %s,"
                " below_tier_since = NULL"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS t(id, tier) WHERE a.id = t.id",
                [today, [s.account_id for s, _t in moves], [t for _s, t in moves]],
            )
            cursor.execute(
                "INSERT INTO loyalty_tierchange (account_id, from_tier_id, to_tier_id,"
                " qualifying, at) SELECT * , now() FROM unnest(%s::bigint[], %s::bigint[],"
                " %s::bigint[], %s::bigint[])",
                [
                    [s.account_id for s, _t in moves],
                    [s.tier_id for s, _t in moves],
                    [t for _s, t in moves],
                    [s.qualifying for s, _t in moves],
                ],
            )
        if pending:
            cursor.execute(
                "UPDATE loyalty_account SET below_tier_since = %s WHERE id = ANY(%s)",
                [today, pending],
            )
        if cleared:
            cursor.execute(
                "UPDATE loyalty_account SET below_tier_since = NULL WHERE id = ANY(%s)",
                [cleared],
            )


def tiers_raise(
    *, account_ids: Sequence[int], today: datetime.date, pending: Mapping[int, int] | None = None
) -> int:
    """Move the (locked) accounts that now qualify for a higher tier up at once. `pending`:
    qualifying points of accounts written to the ledger and not yet to the account row
    (loyalty.balances), counted as if they were."""
    moves: list[tuple[Standing, int | None]] = [
        (s, s.target_id)
        for s in standings(account_ids, today, exact=False, pending=pending)
        if s.target_id is not None and s.target_position > s.position
    ]
    _write(moves, [], [], today)
    return len(moves)


def tiers_evaluate(*, account_ids: Sequence[int], today: datetime.date) -> int:
    """Upgrades at once, downgrades after the grace days; returns how many tiers changed."""
    grace = datetime.timedelta(days=programme().downgrade_grace_days)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM loyalty_account WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            [list(account_ids)],
        )
    moves: list[tuple[Standing, int | None]] = []
    pending: list[int] = []
    cleared: list[int] = []
    found = standings(account_ids, today, exact=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE loyalty_account a SET qualifying_points = t.q"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS t(id, q)"
            " WHERE a.id = t.id AND a.qualifying_points <> t.q",
            [[s.account_id for s in found], [s.qualifying for s in found]],
        )
    for s in found:
        if s.target_position > s.position or (s.tier_id is None and s.target_id is not None):
            moves.append((s, s.target_id))
        elif s.target_position < s.position:
            if today - (s.below_since or today) >= grace:
                moves.append((s, s.target_id))
            elif s.below_since is None:
                pending.append(s.account_id)
        elif s.below_since is not None:
            cleared.append(s.account_id)
    _write(moves, pending, cleared, today)
    return len(moves)
