"""Taking back an order's points (refunded, cancelled, or removed by an import's undo), for a
whole list of orders in a fixed number of statements.

An order's points come back from its own lot first, then from the account's other lots, oldest
expiry first. Points already spent cannot come back and the balance never goes negative: what
is missing is the entry's `shortfall`, shown beside it. The tier loses what the order
qualified for (`qualifying`), spent or not."""

import dataclasses
from collections.abc import Sequence

from django.db import connection

from loyalty.balances import BalanceChanges
from loyalty.models import LedgerEntry, LotUse

FIND_SQL = """
SELECT e.order_id, e.account_id, e.points, e.qualifying, l.id
FROM loyalty_ledgerentry e
LEFT JOIN loyalty_lot l ON l.entry_id = e.id
{orders}
WHERE e.kind = 'earn' AND e.order_id = ANY(%(ids)s) {status}
  AND NOT EXISTS (SELECT 1 FROM loyalty_ledgerentry r
                  WHERE r.order_id = e.order_id AND r.kind = 'reverse')
ORDER BY e.order_id
"""


@dataclasses.dataclass
class _Reversal:
    order_id: int
    account_id: int
    points: int
    qualifying: int
    own_lot: int | None
    taken: dict[int, int] = dataclasses.field(default_factory=dict)  # lot id -> points

    @property
    def recovered(self) -> int:
        return sum(self.taken.values())


def orders_reverse(
    *,
    order_ids: Sequence[int],
    actor_id: int | None,
    only_undone: bool,
    balances: BalanceChanges | None = None,
) -> int:
    """Reverse the earn of each order in `order_ids` that earned and was not reversed: with
    only_undone, just the refunded and cancelled ones. Returns how many were reversed. The
    accounts' balances change at once, or are added to `balances` for the caller to apply
    (loyalty.balances)."""
    if only_undone:
        sql = FIND_SQL.format(
            orders="JOIN customers_order o ON o.id = e.order_id",
            status="AND o.status IN ('refunded', 'cancelled')",
        )
    else:
        sql = FIND_SQL.format(orders="", status="")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": list(order_ids)})
        found = [_Reversal(*row) for row in cursor.fetchall()]
        if not found:
            return 0
        accounts = sorted({r.account_id for r in found})
        cursor.execute(
            "SELECT id FROM loyalty_account WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [accounts]
        )
        # Lost a race with another reverser: those orders are reversed already.
        cursor.execute(sql, {"ids": [r.order_id for r in found]})
        found = [_Reversal(*row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT id, account_id, remaining FROM loyalty_lot"
            " WHERE account_id = ANY(%s) AND remaining > 0"
            " ORDER BY account_id, expires_on NULLS LAST, id",
            [accounts],
        )
        open_lots: dict[int, dict[int, int]] = {}
        for lot_id, account_id, remaining in cursor.fetchall():
            open_lots.setdefault(account_id, {})[lot_id] = remaining
    for item in found:
        lots = open_lots.get(item.account_id, {})
        wanted = item.points
        order = ([item.own_lot] if item.own_lot in lots else []) + [
            lot for lot in lots if lot != item.own_lot
        ]
        for lot_id in order:
            if not wanted:
                break
            take = min(lots[lot_id], wanted)
            if take:
                lots[lot_id] -= take
                item.taken[lot_id] = take
                wanted -= take
    entries = LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                account_id=item.account_id,
                kind=LedgerEntry.Kind.REVERSE,
                points=-item.recovered,
                qualifying=-item.qualifying,
                shortfall=item.points - item.recovered,
                order_id=item.order_id,
                actor_id=actor_id,
            )
            for item in found
        ]
    )
    LotUse.objects.bulk_create(
        [
            LotUse(entry=entry, lot_id=lot_id, points=points)
            for entry, item in zip(entries, found, strict=True)
            for lot_id, points in item.taken.items()
        ]
    )
    taken_by_lot: dict[int, int] = {}
    changes = balances if balances is not None else BalanceChanges()
    for item in found:
        changes.add(item.account_id, -item.recovered, -item.qualifying)
        for lot_id, points in item.taken.items():
            taken_by_lot[lot_id] = taken_by_lot.get(lot_id, 0) + points
    if taken_by_lot:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE loyalty_lot l SET remaining = l.remaining - t.points"
                " FROM unnest(%s::bigint[], %s::int[]) AS t(id, points) WHERE l.id = t.id",
                [list(taken_by_lot), list(taken_by_lot.values())],
            )
    if balances is None:
        changes.apply()
    return len(found)
