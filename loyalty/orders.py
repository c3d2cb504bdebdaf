"""Points for orders, set-based: the listeners customers.order_hooks calls with every list of
orders written (services, imports, undo) or about to be removed.

An import hands over batches of thousands of order ids, so everything here is a fixed number
of statements per call, whatever the list's length:

1. the accounts of the orders' customers are locked, in id order (so concurrent writers
   cannot deadlock), and opened for customers with completed orders and no account yet
   (sign-up bonus);
2. completed orders without an earn entry earn: entries and lots in one statement; the
   unique "one earn per order" index makes a re-import or a retried post earn nothing
   (ON CONFLICT DO NOTHING);
3. refunded or cancelled orders that earned and were not reversed give their points back
   (loyalty.reversal), as do orders about to be removed; members who now qualify for a higher
   tier move up at once (so their next orders earn at its multiplier);
4. referrers of members whose first order earned get the referral bonus (once: its
   idempotency key), and the accounts' balances and qualifying points change
   (loyalty.balances).

A single list does all four at once. Inside customers.order_hooks' `orders_in_batches` (an
import's commit or undo: many lists, one transaction) step 4 waits for the block's end, once
for all its lists (`orders_batches`): each member's account row is updated once an import
rather than once a batch (bench/loyalty.py), besides the few whose tier goes up on the way.
Accounts stay locked from their first list to the commit.

Earned points: floor(amount x points per unit x the highest matching earn rule x the tier's
multiplier), as of the order's date in the tenant's time zone (promotions are dated)."""

import datetime
import zoneinfo
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection

from crm.accounts.models import User
from loyalty import reversal
from loyalty.balances import BalanceChanges
from loyalty.models import EarnRule, Programme, Tier
from loyalty.programme import local_today, programme, tenant_zone
from loyalty.tiers import tiers_raise

# Credits (earn and bonus rows from a SELECT named `src` with account_id, kind, bonus, points,
# qualifying, order_id, idempotency_key, occurred_at, actor_id) become entries and lots in one
# statement, which answers what each account is owed (loyalty.balances applies it).
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
SELECT account_id, sum(points)::bigint, sum(qualifying)::bigint FROM ins GROUP BY account_id
"""

# Everything below is driven by the batch's own customers, looked up by index: a join with
# the whole accounts table would scan it (and its versions, which an import's one transaction
# piles up) once per batch.
CUSTOMERS_SQL = """
SELECT customer_id, bool_or(status = 'completed'),
    array_agg(id) FILTER (WHERE status IN ('refunded', 'cancelled'))
FROM customers_order WHERE id = ANY(%s) GROUP BY customer_id
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
# with their tier's multiplier, qualifying points and tier.
LOCK_SQL = """
SELECT a.id, a.customer_id, coalesce(t.multiplier, 1), a.qualifying_points, a.tier_id
FROM loyalty_account a
LEFT JOIN loyalty_tier t ON t.id = a.tier_id
WHERE a.customer_id = ANY(%s) ORDER BY a.id FOR UPDATE OF a
"""

# An order's earn, even of 0 points (it marks the order as earned and counts on the spend
# basis). The earn rules' subquery is left out when no rule is active. "Earned already?" is a
# lookup per order in the one-earn-per-order index (a LATERAL ... LIMIT 1): as NOT EXISTS, with
# an import's new entries not yet in the statistics, the planner hashed every earn entry of the
# tenant for each batch, which made an import's time grow with the square of its orders.
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
LEFT JOIN LATERAL (
    SELECT e.id FROM loyalty_ledgerentry e WHERE e.order_id = o.id AND e.kind = 'earn' LIMIT 1
) earned ON true
WHERE o.id = ANY(%(ids)s) AND o.status = 'completed'
  AND earned.id IS NULL
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
    """Run CREDIT_SQL over `src` and change the balances (the accounts locked by the caller);
    the ids of the accounts credited."""
    changes = BalanceChanges()
    changes.add_rows(_credits(src, params))
    return [account_id for account_id, _q, _t in changes.apply()]


def _credits(
    src: str, params: dict[str, Any], run: "_Run | None" = None
) -> list[tuple[int, int, int]]:
    """CREDIT_SQL over `src`: (account id, points, qualifying) owed to each account. The
    programme and time zone are the run's when given (read once a run)."""
    zone = run.zone if run is not None else tenant_zone()
    months = (run.rules if run is not None else programme()).expiry_months
    values = {"tz": str(zone), "months": months, **params}
    with connection.cursor() as cursor:
        cursor.execute(CREDIT_SQL.format(src=src), values)
        return list(cursor.fetchall())


def _due_a_higher_tier(
    credited: list[tuple[int, int, int | None]], tiers: list[tuple[int, int, int]]
) -> list[int]:
    """The accounts whose qualifying points now reach a tier above theirs (few: most orders
    leave the tier as it is, and the tiers, (id, position, threshold), are a handful)."""
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


@dataclass
class _Run:
    """What the listeners keep across the lists of orders of one transaction: the locked
    accounts, the balance changes and earning accounts not applied yet, the programme."""

    actor_id: int | None
    rules: Programme
    zone: zoneinfo.ZoneInfo
    today: datetime.date
    earn_src: str
    tiers: list[tuple[int, int, int]]  # (id, position, threshold)
    # The atomic block of the transaction the run belongs to (a run left behind by mistake
    # is never used by another transaction).
    atomic: Any = None
    # customer id -> (account id, tier multiplier), each locked.
    accounts: dict[int, tuple[int, Decimal]] = field(default_factory=dict)
    # account id -> (customer id, qualifying points, tier id) as the account row has them.
    standing: dict[int, tuple[int, int, int | None]] = field(default_factory=dict)
    balances: BalanceChanges = field(default_factory=BalanceChanges)
    earned: set[int] = field(default_factory=set)

    @classmethod
    def new(cls, actor: User | None) -> "_Run":
        zone = tenant_zone()
        return cls(
            actor_id=_actor_id(actor),
            rules=programme(),
            zone=zone,
            today=local_today(zone),
            earn_src=earn_src(),
            tiers=list(Tier.objects.values_list("id", "position", "threshold")),
            atomic=connection.atomic_blocks[0] if connection.in_atomic_block else None,
        )


_batches_run: ContextVar[_Run | None] = ContextVar("loyalty_orders_run", default=None)


def _current_run() -> _Run | None:
    run = _batches_run.get()
    if run is None or not connection.in_atomic_block:
        return None
    return run if connection.atomic_blocks[0] is run.atomic else None


@contextmanager
def orders_batches(*, actor: User | None) -> Iterator[None]:
    """customers.order_hooks batches listener: the lists of orders written or removed inside
    it change the balances and pay referral bonuses once, at its end (tiers rise on the
    way)."""
    run = _Run.new(actor)
    token = _batches_run.set(run)
    try:
        yield
        _run_finish(run)
    finally:
        _batches_run.reset(token)


def _accounts_locked(run: _Run, customer_ids: list[int], *, again: bool = False) -> None:
    """Lock the accounts of these customers the run has not locked yet (`again`: read those
    it has again, after their tier changed)."""
    wanted = sorted(c for c in customer_ids if again or c not in run.accounts)
    if not wanted:
        return
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, [wanted])
        for account_id, customer_id, multiplier, qualifying, tier_id in cursor.fetchall():
            run.accounts[customer_id] = (account_id, multiplier)
            run.standing[account_id] = (customer_id, qualifying, tier_id)


def _tiers_raised(run: _Run, account_ids: set[int]) -> None:
    """Members of these accounts who now qualify for a higher tier move up at once (so their
    next orders earn at its multiplier), counting the qualifying points not applied to their
    account rows yet (those still wait for the run's end: one row update for the tier)."""
    due = _due_a_higher_tier(
        [
            (a, run.standing[a][1] + run.balances.qualifying(a), run.standing[a][2])
            for a in sorted(account_ids)
            if a in run.standing
        ],
        run.tiers,
    )
    if not due:
        return
    tiers_raise(
        account_ids=due,
        today=run.today,
        pending={a: run.balances.qualifying(a) for a in due},
    )
    _accounts_locked(run, [run.standing[a][0] for a in due], again=True)


def orders_written(*, actor: User | None, order_ids: Sequence[int]) -> None:
    """customers.order_hooks listener: earn, reverse and bonuses for these orders."""
    ids = sorted({int(i) for i in order_ids})
    if not ids:
        return
    run = _current_run()
    if run is not None:
        _orders_earn(run, ids)
        return
    run = _Run.new(actor)
    _orders_earn(run, ids)
    _run_finish(run)


def _orders_earn(run: _Run, ids: list[int]) -> None:
    rules = run.rules
    with connection.cursor() as cursor:
        cursor.execute(CUSTOMERS_SQL, [ids])
        rows = cursor.fetchall()
    customers = {customer_id: completed for customer_id, completed, _undone in rows}
    # Only these can need a reversal (loyalty.reversal checks their status again, locked).
    undone = sorted(order_id for _c, _done, undone in rows for order_id in undone or ())
    _accounts_locked(run, list(customers))
    missing = sorted(c for c, completed in customers.items() if completed and c not in run.accounts)
    opened: list[int] = []
    if missing:
        starting = _starting_tier_id()
        with connection.cursor() as cursor:
            cursor.execute(
                ACCOUNTS_OPEN_SQL,
                {"customers": missing, "tier": starting, "since": run.today if starting else None},
            )
            opened = [row[0] for row in cursor.fetchall()]
        # Ours, or opened meanwhile by a concurrent writer (the insert waited for it).
        _accounts_locked(run, missing)
    locked = [run.accounts[c] + (c,) for c in sorted(customers) if c in run.accounts]
    if not locked:
        return
    if opened and rules.signup_bonus:
        run.balances.add_rows(
            _credits(
                SIGNUP_SRC,
                {"bonus": rules.signup_bonus, "accounts": opened, "actor": run.actor_id},
                run,
            )
        )
    earned = _credits(
        run.earn_src,
        {
            "ids": ids,
            "account_ids": [a for a, _m, _c in locked],
            "customer_ids": [c for _a, _m, c in locked],
            "multipliers": [m for _a, m, _c in locked],
            "rate": rules.points_per_unit,
            "spend": rules.tier_basis == Programme.TierBasis.SPEND,
            "actor": run.actor_id,
        },
        run,
    )
    run.balances.add_rows(earned)
    run.earned.update(account_id for account_id, _p, _q in earned)
    if undone:
        reversal.orders_reverse(
            order_ids=undone, actor_id=run.actor_id, only_undone=True, balances=run.balances
        )
    _tiers_raised(run, {account_id for account_id, _p, _q in earned})


def _run_finish(run: _Run) -> None:
    """Referral bonuses for the members who earned, then every balance once (tiers were
    raised as the orders earned; bonuses do not qualify)."""
    if run.earned and run.rules.referral_bonus:
        earned = sorted(run.earned)
        with connection.cursor() as cursor:
            # The referrers' accounts, locked (in id order) before their bonus is written.
            cursor.execute(
                "SELECT id FROM loyalty_account WHERE id IN (SELECT referred_by_id"
                " FROM loyalty_account WHERE id = ANY(%s)) ORDER BY id FOR UPDATE",
                [earned],
            )
        run.balances.add_rows(
            _credits(
                REFERRAL_SRC,
                {"bonus": run.rules.referral_bonus, "accounts": earned, "actor": run.actor_id},
                run,
            )
        )
    run.earned.clear()
    run.balances.apply()


def orders_removing(*, actor: User | None, order_ids: Sequence[int]) -> None:
    """customers.order_hooks listener: orders about to be deleted (an import undone) give back
    the points they earned."""
    ids = sorted({int(i) for i in order_ids})
    if not ids:
        return
    current = _current_run()
    run = current or _Run.new(actor)
    with connection.cursor() as cursor:
        cursor.execute(CUSTOMERS_SQL, [ids])
        customers = sorted(row[0] for row in cursor.fetchall())
    _accounts_locked(run, customers)
    reversal.orders_reverse(
        order_ids=ids, actor_id=run.actor_id, only_undone=False, balances=run.balances
    )
    if current is None:
        _run_finish(run)


def _starting_tier_id() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM loyalty_tier WHERE threshold = 0 ORDER BY position LIMIT 1")
        row = cursor.fetchone()
    return row[0] if row else None
