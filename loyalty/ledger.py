"""The ledger's building blocks for one account at a time, used by the services inside their
transaction: open (or find) an account, lock it, credit points into a new lot, debit points
from the oldest-expiring lots. Every function here expects to run inside a transaction and,
except account_open, on an account already locked with account_lock."""

import datetime
import secrets

from django.db import connection, transaction
from django.db.models import F

from crm.accounts.models import User
from customers.models import Customer
from loyalty.errors import InsufficientPoints
from loyalty.models import Account, LedgerEntry, Lot, LotUse, Tier
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


def debit(
    *,
    account: Account,
    kind: str,
    points: int,
    actor: User | None,
    note: str = "",
    idempotency_key: str | None = None,
    **links: object,
) -> LedgerEntry:
    """Take `points` (> 0) from the locked account's lots, oldest expiry first (lots that never
    expire last). InsufficientPoints when the balance is short: nothing is written then."""
    assert transaction.get_connection().in_atomic_block
    if account.balance < points:
        raise InsufficientPoints(balance=account.balance, wanted=points)
    entry = LedgerEntry.objects.create(
        account=account,
        kind=kind,
        points=-points,
        note=note,
        idempotency_key=idempotency_key,
        actor=actor if getattr(actor, "pk", None) else None,
        **links,
    )
    lots = Lot.objects.filter(account=account, remaining__gt=0).order_by(
        F("expires_on").asc(nulls_last=True), "id"
    )
    uses: list[LotUse] = []
    changed: list[Lot] = []
    wanted = points
    for lot in lots.iterator(chunk_size=200):
        take = min(lot.remaining, wanted)
        lot.remaining -= take
        wanted -= take
        uses.append(LotUse(entry=entry, lot=lot, points=take))
        changed.append(lot)
        if not wanted:
            break
    if wanted:
        # The cached balance covered it but the lots did not: a mismatch reconciliation will
        # report; refuse rather than write an entry the lots cannot back.
        raise InsufficientPoints(balance=points - wanted, wanted=points)
    Lot.objects.bulk_update(changed, ["remaining"])
    LotUse.objects.bulk_create(uses)
    _balance_add(account, -points)
    return entry


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
