"""The ledger's building blocks for one account at a time, used by the services inside their
transaction: open (or find) an account, lock it, credit points into a new lot, debit points
from the oldest-expiring lots. Every function here expects to run inside a transaction and,
except account_open, on an account already locked with account_lock."""

import datetime
import secrets

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.accounts.models import User
from customers.models import Customer
from loyalty.errors import InsufficientPoints
from loyalty.models import Account, Adjustment, LedgerEntry, Lot, LotUse, Redemption, Tier
from loyalty.programme import expiry_date, local_today, programme, tenant_zone

# Referral codes: four random characters, then the customer id in hex, so codes never clash
# (the SQL path in loyalty.orders builds them the same way).
_CODE_ALPHABET = "0123456789ABCDEF"


def referral_code_for(customer_id: int) -> str:
    prefix = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(4))
    return f"{prefix}{customer_id:X}"


def starting_tier() -> Tier | None:
    return Tier.objects.filter(threshold=0).order_by("position").first()


def account_lock(account_id: int) -> Account:
    return Account.objects.select_for_update().get(pk=account_id)


def account_open(*, customer: Customer, actor: User | None) -> Account:
    """The customer's account, locked; made (with the sign-up bonus) when there is none. Safe
    against a concurrent opening: the insert does nothing when the other one won."""
    existing = Account.objects.select_for_update().filter(customer_id=customer.pk).first()
    if existing is not None:
        return existing
    tier = starting_tier()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO loyalty_account (customer_id, balance, qualifying_points, tier_id,"
            " tier_since, referral_code, created_at) VALUES (%s, 0, 0, %s, %s, %s, now())"
            " ON CONFLICT (customer_id) DO NOTHING RETURNING id",
            [
                customer.pk,
                tier.pk if tier else None,
                local_today() if tier else None,
                referral_code_for(customer.pk),
            ],
        )
        created = cursor.fetchone()
    account = Account.objects.select_for_update().get(customer_id=customer.pk)
    if created is not None:
        bonus = programme().signup_bonus
        if bonus:
            credit(
                account=account,
                kind=LedgerEntry.Kind.BONUS,
                bonus=LedgerEntry.Bonus.SIGNUP,
                points=bonus,
                actor=actor,
                idempotency_key=f"signup:{account.pk}",
            )
    return account


def _balance_add(account: Account, points: int) -> None:
    Account.objects.filter(pk=account.pk).update(balance=F("balance") + points)
    account.balance += points


def credit(
    *,
    account: Account,
    kind: str,
    points: int,
    actor: User | None,
    bonus: str = "",
    note: str = "",
    idempotency_key: str | None = None,
    occurred_at: datetime.datetime | None = None,
    **links: object,
) -> LedgerEntry:
    """Add `points` (> 0) to the locked account as a new lot expiring after the programme's
    months."""
    assert transaction.get_connection().in_atomic_block
    entry = LedgerEntry(
        account=account,
        kind=kind,
        bonus=bonus,
        points=points,
        note=note,
        idempotency_key=idempotency_key,
        actor=actor if getattr(actor, "pk", None) else None,
        **links,
    )
    if occurred_at is not None:
        entry.occurred_at = occurred_at
    entry.save()
    Lot.objects.create(
        account=account,
        entry=entry,
        points=points,
        remaining=points,
        expires_on=expiry_date(entry.occurred_at, programme().expiry_months, tenant_zone()),
    )
    _balance_add(account, points)
    return entry


# The lots a debit takes from, oldest expiry first, in one query over the first few open
# lots (a redemption rarely needs more; when it does, the rest are read in chunks).
TAKE_SQL = """
SELECT id, least(remaining, %(points)s - before) FROM (
    SELECT id, remaining,
        coalesce(sum(remaining) OVER (ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING
                                      AND 1 PRECEDING), 0) AS before
    FROM (SELECT id, remaining, row_number() OVER (ORDER BY expires_on NULLS LAST, id) AS n
          FROM (SELECT id, remaining, expires_on FROM loyalty_lot
                WHERE account_id = %(account)s AND remaining > 0
                ORDER BY expires_on NULLS LAST, id LIMIT %(cap)s) first_lots) numbered
) running
WHERE before < %(points)s
ORDER BY before
"""
TAKE_CAP = 200

# The entry, what it took from each lot, the lots and the balance: one statement.
DEBIT_SQL = """
WITH entry AS (
    INSERT INTO loyalty_ledgerentry (account_id, kind, bonus, points, qualifying, shortfall,
        redemption_id, adjustment_id, idempotency_key, note, occurred_at, created_at, actor_id)
    VALUES (%(account)s, %(kind)s, '', %(debit)s, 0, 0, %(redemption)s, %(adjustment)s,
        %(key)s, %(note)s, %(now)s, %(now)s, %(actor)s)
    RETURNING id
), uses AS (
    INSERT INTO loyalty_lotuse (entry_id, lot_id, points)
    SELECT entry.id, t.lot, t.points
    FROM entry, unnest(%(lots)s::bigint[], %(takes)s::int[]) AS t(lot, points)
), lots AS (
    UPDATE loyalty_lot l SET remaining = l.remaining - t.points
    FROM unnest(%(lots)s::bigint[], %(takes)s::int[]) AS t(lot, points) WHERE l.id = t.lot
), balance AS (
    UPDATE loyalty_account SET balance = balance + %(debit)s WHERE id = %(account)s
)
SELECT id FROM entry
"""


def _takes(account: Account, points: int) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(TAKE_SQL, {"account": account.pk, "points": points, "cap": TAKE_CAP})
        takes = [(lot, take) for lot, take in cursor.fetchall()]
    if sum(take for _lot, take in takes) >= points:
        return takes
    # More than TAKE_CAP lots needed: walk them all.
    takes, wanted = [], points
    lots = Lot.objects.filter(account=account, remaining__gt=0).order_by(
        F("expires_on").asc(nulls_last=True), "id"
    )
    for lot_id, remaining in lots.values_list("id", "remaining").iterator(chunk_size=500):
        take = min(remaining, wanted)
        takes.append((lot_id, take))
        wanted -= take
        if not wanted:
            break
    return takes


def debit(
    *,
    account: Account,
    kind: str,
    points: int,
    actor: User | None,
    note: str = "",
    idempotency_key: str | None = None,
    redemption: Redemption | None = None,
    adjustment: Adjustment | None = None,
) -> LedgerEntry:
    """Take `points` (> 0) from the locked account's lots, oldest expiry first (lots that never
    expire last). InsufficientPoints when the balance is short: nothing is written then."""
    assert transaction.get_connection().in_atomic_block
    if account.balance < points:
        raise InsufficientPoints(balance=account.balance, wanted=points)
    takes = _takes(account, points)
    covered = sum(take for _lot, take in takes)
    if covered < points:
        # The cached balance covered it but the lots did not: a mismatch reconciliation will
        # report; refuse rather than write an entry the lots cannot back.
        raise InsufficientPoints(balance=covered, wanted=points)
    now = timezone.now()
    user = actor if isinstance(getattr(actor, "pk", None), int) else None
    with connection.cursor() as cursor:
        cursor.execute(
            DEBIT_SQL,
            {
                "account": account.pk,
                "kind": kind,
                "debit": -points,
                "redemption": redemption.pk if redemption else None,
                "adjustment": adjustment.pk if adjustment else None,
                "key": idempotency_key,
                "note": note,
                "now": now,
                "actor": user.pk if user else None,
                "lots": [lot for lot, _take in takes],
                "takes": [take for _lot, take in takes],
            },
        )
        entry_id = cursor.fetchone()[0]
    account.balance -= points
    return LedgerEntry(
        id=entry_id,
        account=account,
        kind=kind,
        points=-points,
        note=note,
        idempotency_key=idempotency_key,
        redemption=redemption,
        adjustment=adjustment,
        occurred_at=now,
        created_at=now,
        actor=user,
    )


def give_back(
    *, account: Account, entry: LedgerEntry, kind: str, actor: User | None, **links: object
) -> LedgerEntry:
    """Undo a debit (a cancelled redemption): its points go back into the lots they came from,
    which keep their expiry dates (a lot past its date expires at the next expiry run)."""
    uses = list(LotUse.objects.filter(entry=entry).select_related("lot"))
    points = sum(use.points for use in uses)
    back = LedgerEntry.objects.create(
        account=account,
        kind=kind,
        points=points,
        actor=actor if getattr(actor, "pk", None) else None,
        **links,
    )
    for use in uses:
        Lot.objects.filter(pk=use.lot_id).update(remaining=F("remaining") + use.points)
    LotUse.objects.bulk_create(
        [LotUse(entry=back, lot_id=use.lot_id, points=-use.points) for use in uses]
    )
    _balance_add(account, points)
    return back
