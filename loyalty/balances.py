"""Changes owed to accounts' cached balance and qualifying points, gathered while entries are
written and applied in one statement.

An import writes its orders' entries batch by batch in one transaction; applying each batch's
changes at once would update every member's account row about ten times in that transaction
(each update a new row version that later reads walk past, and key checks at commit). The
entries' writers add their changes here instead and the account rows are updated once, at the
end, in the same transaction and under the row locks taken before the entries were written; so
the balance still changes only in the transaction that writes the entries. Until then the
balance lags the ledger, in this transaction only: nothing in it may read a balance in the
meantime (reversals take points from lots, never from the balance)."""

from django.db import connection


class BalanceChanges:
    def __init__(self) -> None:
        self._changes: dict[int, list[int]] = {}  # account id -> [points, qualifying]

    def __bool__(self) -> bool:
        return bool(self._changes)

    def add(self, account_id: int, points: int, qualifying: int) -> None:
        change = self._changes.setdefault(account_id, [0, 0])
        change[0] += points
        change[1] += qualifying

    def add_rows(self, rows: list[tuple[int, int, int]]) -> None:
        """(account id, points, qualifying) rows, as the credit statements return them."""
        for account_id, points, qualifying in rows:
            self.add(account_id, points, qualifying)

    def qualifying(self, account_id: int) -> int:
        """The qualifying points owed to this account and not applied yet."""
        change = self._changes.get(account_id)
        return change[1] if change else 0

    def apply(self) -> list[tuple[int, int, int | None]]:
        """Update the accounts (locked by the caller), once each; (account id, qualifying
        points now, tier id) of each. Forgets the changes applied."""
        wanted = sorted(self._changes)
        if not wanted:
            return []
        changes = [self._changes.pop(a) for a in wanted]
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE loyalty_account a SET balance = a.balance + t.points,"
                " qualifying_points = a.qualifying_points + t.qualifying"
                " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])"
                " AS t(id, points, qualifying)"
                " WHERE a.id = t.id AND (t.points <> 0 OR t.qualifying <> 0)"
                " RETURNING a.id, a.qualifying_points, a.tier_id",
                [wanted, [c[0] for c in changes], [c[1] for c in changes]],
            )
            return list(cursor.fetchall())
