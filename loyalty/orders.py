"""Points for orders, set-based: the listeners customers.order_hooks calls with every list of
orders written (services, imports, undo) or about to be removed.

An import hands over batches of thousands of order ids, so everything here is a fixed number
of statements per call, whatever the list's length:

1. the accounts of the orders' customers are locked, in id order (so concurrent writers
   cannot deadlock), and opened for customers with completed orders and no account yet
   (sign-up bonus);
2. completed orders without an earn entry earn: entry, lot and balance in one statement; the
   unique "one earn per order" index makes a re-import or a retried post earn nothing
   (ON CONFLICT DO NOTHING);
3. refunded or cancelled orders that earned and were not reversed give their points back
   (loyalty.reversal), as do orders about to be removed;
4. referrers of members whose first order just earned get the referral bonus (once: its
   idempotency key), and members who now qualify for a higher tier move up at once.

Earned points: floor(amount x points per unit x the highest matching earn rule x the tier's
multiplier), as of the order's date in the tenant's time zone (promotions are dated)."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import connection

from crm.accounts.models import User
from loyalty import reversal
from loyalty.models import EarnRule, Programme, Tier
from loyalty.programme import local_today, programme, tenant_zone
from loyalty.tiers import tiers_raise

# Credits (earn and bonus rows from a SELECT named `src` with account_id, kind, bonus, points,
# qualifying, order_id, idempotency_key, occurred_at, actor_id) become entries, lots and
# balances in one statement.
CREDIT_SQL = """
WITH ins AS (
    INSERT INTO loyalty_ledgerentry (account_id, kind, bonus, points, qualifying, shortfall,
        order_id, idempotency_key, note, occurred_at, created_at, actor_id)
    SELECT account_id, kind, bonus, points, qualifying, 0, order_id, idempotency_key, '',
        occurred_at, now(), actor_id
    FROM ({src}) src WHERE points > 0 OR kind = 'earn'
    ON CONFLICT DO NOTHING
    RETURNING id, account_id, points, qualifying, occurred_at
), lots AS (
    INSERT INTO loyalty_lot (account_id, entry_id, points, remaining, expires_on, created_at)
    SELECT account_id, id, points, points,
        ((occurred_at AT TIME ZONE %(tz)s)::date + make_interval(months => %(months)s))::date,
        now()
    FROM ins WHERE points > 0
)
UPDATE loyalty_account a SET balance = a.balance + t.points,
    qualifying_points = a.qualifying_points + t.qualifying
FROM (SELECT account_id, sum(points)::int AS points, sum(qualifying) AS qualifying FROM ins
      GROUP BY account_id) t
WHERE a.id = t.account_id
RETURNING a.id, a.qualifying_points, a.tier_id
"""

# Everything below is driven by the batch's own customers, looked up by index: a join with
# the whole accounts table would scan it (and its versions, which an import's one transaction
# piles up) once per batch.
CUSTOMERS_SQL = """
SELECT customer_id, bool_or(status = 'completed') FROM customers_order
WHERE id = ANY(%s) GROUP BY customer_id
"""

ACCOUNTS_OPEN_SQL = """
INSERT INTO loyalty_account (customer_id, balance, qualifying_points, tier_id, tier_since,
    referral_code, created_at)
SELECT c, 0, 0, %(tier)s, %(since)s, upper(substr(md5(random()::text), 1, 4)) || upper(to_hex(c)),
    now()
FROM unnest(%(customers)s::bigint[]) AS c
ON CONFLICT (customer_id) DO NOTHING
RETURNING id
"""

# The accounts of these customers, locked in id order (concurrent writers cannot deadlock),
# with their tier's multiplier.
LOCK_SQL = """
SELECT a.id, a.customer_id, coalesce(t.multiplier, 1) FROM loyalty_account a
LEFT JOIN loyalty_tier t ON t.id = a.tier_id
WHERE a.customer_id = ANY(%s) ORDER BY a.id FOR UPDATE OF a
"""

# An order's earn, even of 0 points (it marks the order as earned and counts on the spend
# basis). The earn rules' subquery is left out when no rule is active.
EARN_SRC = """
SELECT a.id AS account_id, 'earn' AS kind, '' AS bonus,
    floor(o.amount * %(rate)s * {rule} * a.multiplier)::int AS points,
    CASE WHEN %(spend)s THEN floor(o.amount)::int
        ELSE floor(o.amount * %(rate)s * {rule} * a.multiplier)::int
    END AS qualifying,
    o.id AS order_id, NULL AS idempotency_key, o.ordered_at AS occurred_at,
    %(actor)s::int AS actor_id
FROM customers_order o
JOIN unnest(%(account_ids)s::bigint[], %(customer_ids)s::bigint[], %(multipliers)s::numeric[])
    AS a(id, customer_id, multiplier) ON a.customer_id = o.customer_id
{rules}
WHERE o.id = ANY(%(ids)s) AND o.status = 'completed'
  AND NOT EXISTS (SELECT 1 FROM loyalty_ledgerentry e WHERE e.order_id = o.id AND e.kind = 'earn')
"""
EARN_RULES = """
LEFT JOIN LATERAL (
    SELECT max(rule.multiplier) AS multiplier FROM loyalty_earnrule rule
    WHERE rule.active
      AND (rule.channel = '' OR rule.channel = o.channel)
      AND (rule.store = '' OR rule.store = o.store)
      AND (rule.starts_on IS NULL OR rule.starts_on <= (o.ordered_at AT TIME ZONE %(tz)s)::date)
      AND (rule.ends_on IS NULL OR rule.ends_on >= (o.ordered_at AT TIME ZONE %(tz)s)::date)
) r ON true
"""


def earn_src() -> str:
    if EarnRule.objects.filter(active=True).exists():
        return EARN_SRC.format(rule="coalesce(r.multiplier, 1)", rules=EARN_RULES)
    return EARN_SRC.format(rule="1", rules="")


SIGNUP_SRC = """
SELECT a.id AS account_id, 'bonus' AS kind, 'signup' AS bonus, %(bonus)s::int AS points,
    0 AS qualifying, NULL::bigint AS order_id, 'signup:' || a.id AS idempotency_key,
    now() AS occurred_at, %(actor)s::int AS actor_id
FROM loyalty_account a WHERE a.id = ANY(%(accounts)s)
"""

# Referrers of members who have an earn now: the bonus once per referred member.
REFERRAL_SRC = """
SELECT a.referred_by_id AS account_id, 'bonus' AS kind, 'referral' AS bonus,
    %(bonus)s::int AS points, 0 AS qualifying, NULL::bigint AS order_id,
    'referral:' || a.id AS idempotency_key, now() AS occurred_at, %(actor)s::int AS actor_id
FROM loyalty_account a
WHERE a.id = ANY(%(accounts)s) AND a.referred_by_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM loyalty_ledgerentry e WHERE e.account_id = a.id AND e.kind = 'earn')
"""


def credits_write(src: str, params: dict[str, Any]) -> list[int]:
    """Run CREDIT_SQL over `src`; the ids of the accounts credited."""
    return [account_id for account_id, _q, _t in _credits(src, params)]


def _credits(src: str, params: dict[str, Any]) -> list[tuple[int, int, int | None]]:
    """CREDIT_SQL over `src`: (account id, qualifying points now, tier id) of each account."""
    programme_row = programme()
    values = {"tz": str(tenant_zone()), "months": programme_row.expiry_months, **params}
    with connection.cursor() as cursor:
        cursor.execute(CREDIT_SQL.format(src=src), values)
        return list(cursor.fetchall())


def _due_a_higher_tier(credited: list[tuple[int, int, int | None]]) -> list[int]:
    """The accounts whose qualifying points now reach a tier above theirs (few: most orders
    leave the tier as it is, and the tiers are a handful of rows)."""
    tiers = list(Tier.objects.values_list("id", "position", "threshold"))
    position: dict[int | None, int] = {tier_id: pos for tier_id, pos, _threshold in tiers}
    return [
        account_id
        for account_id, qualifying, tier_id in credited
        if any(
            threshold <= qualifying and pos > position.get(tier_id, 0)
            for _id, pos, threshold in tiers
        )
    ]


def _actor_id(actor: User | None) -> int | None:
    return getattr(actor, "pk", None) if isinstance(getattr(actor, "pk", None), int) else None


def _accounts_locked(customer_ids: list[int]) -> list[tuple[int, int, Decimal]]:
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, [customer_ids])
        return list(cursor.fetchall())


def orders_written(*, actor: User | None, order_ids: Sequence[int]) -> None:
    """customers.order_hooks listener: earn, reverse and bonuses for these orders."""
    ids = sorted({int(i) for i in order_ids})
    if not ids:
        return
    rules = programme()
    zone = tenant_zone()
    today = local_today(zone)
    actor_id = _actor_id(actor)
    with connection.cursor() as cursor:
        cursor.execute(CUSTOMERS_SQL, [ids])
        customers = dict(cursor.fetchall())
    locked = _accounts_locked(sorted(customers))
    have = {customer_id for _id, customer_id, _m in locked}
    missing = sorted(c for c, completed in customers.items() if completed and c not in have)
    opened: list[int] = []
    if missing:
        starting = _starting_tier_id()
        with connection.cursor() as cursor:
            cursor.execute(
                ACCOUNTS_OPEN_SQL,
                {"customers": missing, "tier": starting, "since": today if starting else None},
            )
            opened = [row[0] for row in cursor.fetchall()]
        # Ours, or opened meanwhile by a concurrent writer (the insert waited for it).
        locked += _accounts_locked(missing)
    if not locked:
        return
    if opened and rules.signup_bonus:
        credits_write(
            SIGNUP_SRC, {"bonus": rules.signup_bonus, "accounts": opened, "actor": actor_id}
        )
    credited = _credits(
        earn_src(),
        {
            "ids": ids,
            "account_ids": [a for a, _c, _m in locked],
            "customer_ids": [c for _a, c, _m in locked],
            "multipliers": [m for _a, _c, m in locked],
            "rate": rules.points_per_unit,
            "spend": rules.tier_basis == Programme.TierBasis.SPEND,
            "tz": str(zone),
            "actor": actor_id,
        },
    )
    earned = [account_id for account_id, _q, _t in credited]
    reversal.orders_reverse(order_ids=ids, actor_id=actor_id, only_undone=True)
    if earned and rules.referral_bonus:
        credits_write(
            REFERRAL_SRC, {"bonus": rules.referral_bonus, "accounts": earned, "actor": actor_id}
        )
    due = _due_a_higher_tier(credited)
    if due:
        tiers_raise(account_ids=due, today=today)


def orders_removing(*, actor: User | None, order_ids: Sequence[int]) -> None:
    """customers.order_hooks listener: orders about to be deleted (an import undone) give back
    the points they earned."""
    ids = sorted({int(i) for i in order_ids})
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(CUSTOMERS_SQL, [ids])
            customers = sorted(row[0] for row in cursor.fetchall())
        _accounts_locked(customers)
        reversal.orders_reverse(order_ids=ids, actor_id=_actor_id(actor), only_undone=False)


def _starting_tier_id() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM loyalty_tier WHERE threshold = 0 ORDER BY position LIMIT 1")
        row = cursor.fetchone()
    return row[0] if row else None
