"""The nightly work of the programme, per tenant, in chunks of accounts: expiry, tier
evaluation, reconciliation and birthday bonuses. Each is idempotent: run twice on a day, the
second run changes nothing (expiry empties lots, so they are not found again; bonuses carry a
unique key; issues are recorded once while open)."""

import datetime

from django.db import connection, transaction

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from loyalty.orders import credits_write
from loyalty.programme import local_today, programme, tenant_zone
from loyalty.tiers import tiers_evaluate

CHUNK = 500

EXPIRE_SQL = """
WITH l AS (
    SELECT id, account_id, remaining FROM loyalty_lot
    WHERE account_id = ANY(%(accounts)s) AND remaining > 0 AND expires_on < %(today)s
), e AS (
    INSERT INTO loyalty_ledgerentry (account_id, kind, bonus, points, qualifying, shortfall,
        note, occurred_at, created_at, actor_id)
    SELECT account_id, 'expire', '', -sum(remaining)::int, 0, 0, '', now(), now(), %(actor)s
    FROM l GROUP BY account_id
    RETURNING id, account_id, points
), u AS (
    INSERT INTO loyalty_lotuse (entry_id, lot_id, points)
    SELECT e.id, l.id, l.remaining FROM l JOIN e ON e.account_id = l.account_id
), z AS (
    UPDATE loyalty_lot SET remaining = 0 FROM l WHERE loyalty_lot.id = l.id
)
UPDATE loyalty_account a SET balance = a.balance + e.points FROM e WHERE a.id = e.account_id
"""


def _actor_id(actor: User | None) -> int | None:
    pk = getattr(actor, "pk", None)
    return pk if isinstance(pk, int) else None


@writes
def points_expire(*, actor: User | None, today: datetime.date | None = None) -> int:
    """Expire every lot whose last day (in the tenant's time zone) is before `today`; returns
    how many accounts lost points. One transaction per chunk of accounts."""
    today = today or local_today()
    done = 0
    after = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT account_id FROM loyalty_lot WHERE remaining > 0"
                " AND expires_on < %s AND account_id > %s ORDER BY account_id LIMIT %s",
                [today, after, CHUNK],
            )
            accounts = [row[0] for row in cursor.fetchall()]
            if not accounts:
                return done
            cursor.execute(
                "SELECT id FROM loyalty_account WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                [accounts],
            )
            cursor.execute(
                EXPIRE_SQL, {"accounts": accounts, "today": today, "actor": _actor_id(actor)}
            )
            done += cursor.rowcount
        after = accounts[-1]


@writes
def tiers_refresh(*, actor: User | None, today: datetime.date | None = None) -> int:
    """Evaluate every member's tier: upgrades at once, downgrades after the grace days."""
    today = today or local_today()
    changed = 0
    after = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM loyalty_account WHERE id > %s ORDER BY id LIMIT %s",
                    [after, CHUNK],
                )
                accounts = [row[0] for row in cursor.fetchall()]
            if not accounts:
                return changed
            changed += tiers_evaluate(account_ids=accounts, today=today)
        after = accounts[-1]


RECONCILE_SQL = (
    # The balance is the sum of the entries.
    """
    INSERT INTO loyalty_reconciliationissue (account_id, kind, expected, found, found_at)
    SELECT a.id, 'balance', coalesce(s.total, 0), a.balance, now()
    FROM loyalty_account a
    LEFT JOIN (SELECT account_id, sum(points) AS total FROM loyalty_ledgerentry
               GROUP BY account_id) s ON s.account_id = a.id
    WHERE a.balance <> coalesce(s.total, 0)
    ON CONFLICT DO NOTHING
    """,
    # The lots' remaining points add up to the balance.
    """
    INSERT INTO loyalty_reconciliationissue (account_id, kind, expected, found, found_at)
    SELECT a.id, 'lots', a.balance, coalesce(s.total, 0), now()
    FROM loyalty_account a
    LEFT JOIN (SELECT account_id, sum(remaining) AS total FROM loyalty_lot
               GROUP BY account_id) s ON s.account_id = a.id
    WHERE a.balance <> coalesce(s.total, 0)
    ON CONFLICT DO NOTHING
    """,
    # Each lot's remaining points are its points less what entries took from it.
    """
    INSERT INTO loyalty_reconciliationissue (account_id, kind, expected, found, found_at)
    SELECT l.account_id, 'lot_uses', l.points - coalesce(u.used, 0), l.remaining, now()
    FROM loyalty_lot l
    LEFT JOIN (SELECT lot_id, sum(points) AS used FROM loyalty_lotuse GROUP BY lot_id) u
        ON u.lot_id = l.id
    WHERE l.remaining <> l.points - coalesce(u.used, 0)
    ON CONFLICT DO NOTHING
    """,
)


@writes
@transaction.atomic
def ledger_reconcile(*, actor: User | None) -> int:
    """Check every account against its ledger and lots; record each new mismatch (an open
    issue is not recorded twice). Returns how many issues were recorded."""
    recorded = 0
    with connection.cursor() as cursor:
        # Each check is one statement, so it sees one consistent snapshot: the services change
        # balance, entries and lots together in one transaction.
        for sql in RECONCILE_SQL:
            cursor.execute(sql)
            recorded += cursor.rowcount
    return recorded


BIRTHDAY_SRC = """
SELECT a.id AS account_id, 'bonus' AS kind, 'birthday' AS bonus, %(bonus)s::int AS points,
    0 AS qualifying, NULL::bigint AS order_id,
    'birthday:' || a.id || ':' || %(year)s AS idempotency_key, now() AS occurred_at,
    %(actor)s::int AS actor_id
FROM loyalty_account a JOIN customers_customer c ON c.id = a.customer_id
WHERE c.erased_at IS NULL AND c.birthday IS NOT NULL
  AND extract(month FROM c.birthday) = %(month)s
  AND (extract(day FROM c.birthday) = %(day)s
       OR (%(feb28)s AND extract(month FROM c.birthday) = 2 AND extract(day FROM c.birthday) = 29))
  AND a.id > %(after)s AND a.id <= %(upto)s
"""


@writes
def birthday_bonuses(*, actor: User | None, today: datetime.date | None = None) -> int:
    """Give members whose birthday is today (in the tenant's time zone; 29 February birthdays
    on the 28th in other years) the birthday bonus, once a year."""
    bonus = programme().birthday_bonus
    if not bonus:
        return 0
    today = today or local_today(tenant_zone())
    feb28 = today.month == 2 and today.day == 28
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    credited = 0
    after = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM loyalty_account")
        last = cursor.fetchone()[0]
    while after < last:
        upto = after + CHUNK * 20
        with transaction.atomic():
            credited += len(
                credits_write(
                    BIRTHDAY_SRC,
                    {
                        "bonus": bonus,
                        "year": str(today.year),
                        "month": today.month,
                        "day": today.day,
                        "feb28": feb28 and not leap,
                        "after": after,
                        "upto": upto,
                        "actor": _actor_id(actor),
                    },
                )
            )
        after = upto
    return credited
