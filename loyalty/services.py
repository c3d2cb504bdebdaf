"""Every write of the loyalty programme a person (or the API) asks for: redeeming, cancelling a
redemption, adjusting points (with approval above the limit), linking a referral. Each runs in
one transaction under the account's row lock, and changes the balance only with its entry.

Order points are written by the order listeners (loyalty.orders); the nightly jobs are in
loyalty.jobs."""

from collections.abc import Collection, Sequence

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts import capabilities as cap
from crm.accounts.models import User
from crm.lib.audit_actor import writes
from customers.models import Customer
from loyalty import ledger
from loyalty.errors import InsufficientPoints
from loyalty.models import Account, Adjustment, LedgerEntry, Redemption, Reward
from loyalty.orders import SIGNUP_SRC, credits_write
from loyalty.programme import local_today, programme

__all__ = [
    "InsufficientPoints",
    "adjustment_approve",
    "adjustment_reject",
    "points_adjust",
    "points_redeem",
    "redemption_cancel",
    "referral_link",
    "referrals_link_bulk",
]

KEY_MAX = 200


def _user(actor: User | None) -> User | None:
    return actor if isinstance(getattr(actor, "pk", None), int) else None


def _check_reward(reward: Reward, account: Account, points: int) -> None:
    if not reward.active:
        raise ValidationError(_("This reward is not offered any more."))
    today = local_today()
    if (reward.valid_from and today < reward.valid_from) or (
        reward.valid_until and today > reward.valid_until
    ):
        raise ValidationError(_("This reward is not valid today."))
    if points != reward.points_cost:
        raise ValidationError(
            _("This reward costs %(cost)d points.") % {"cost": reward.points_cost}
        )
    if reward.stock is not None and reward.stock < 1:
        raise ValidationError(_("This reward is out of stock."))
    if reward.per_customer_limit is not None:
        taken = Redemption.objects.filter(
            account=account, reward=reward, status=Redemption.Status.COMPLETED
        ).count()
        if taken >= reward.per_customer_limit:
            raise ValidationError(
                _("This customer has had this reward %(n)d times, the most allowed.")
                % {"n": reward.per_customer_limit}
            )


def _replayed(key: str, customer: Customer) -> Redemption | None:
    first = Redemption.objects.filter(idempotency_key=key).select_related("account").first()
    if first is not None and first.account.customer_id != customer.pk:
        raise ValidationError(_("This idempotency key was used for another customer."))
    return first


def _redemption_insert(redemption: Redemption) -> Redemption:
    """Insert without a savepoint: a key taken meanwhile (for another customer: the account
    lock serialises this one's) inserts nothing instead of breaking the transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO loyalty_redemption (account_id, reward_id, points, status, note,"
            " idempotency_key, created_at, actor_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            [
                redemption.account_id,
                redemption.reward_id,
                redemption.points,
                redemption.status,
                redemption.note,
                redemption.idempotency_key,
                redemption.created_at,
                redemption.actor_id,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        raise ValidationError(_("This idempotency key was used for another customer."))
    redemption.pk = row[0]
    redemption._state.adding = False
    return redemption


@writes
@transaction.atomic
def points_redeem(
    *,
    actor: User | None,
    customer: Customer,
    points: int,
    reward: Reward | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> Redemption:
    """Spend `points` of the customer's balance (on `reward` when given), oldest-expiring points
    first. The same idempotency key again returns the first redemption and changes nothing."""
    key = (idempotency_key or "").strip() or None
    if key is not None and len(key) > KEY_MAX:
        raise ValidationError(_("The idempotency key is too long."))
    if key is not None and (first := _replayed(key, customer)) is not None:
        return first
    if points <= 0:
        raise ValidationError(_("Redeem at least one point."))
    account = Account.objects.select_for_update().filter(customer_id=customer.pk).first()
    if account is None:
        raise InsufficientPoints(balance=0, wanted=points)
    # A request with the same key that held the lock before this one has committed by now.
    if key is not None and (first := _replayed(key, customer)) is not None:
        return first
    if reward is not None:
        reward = Reward.objects.select_for_update().get(pk=reward.pk)
        _check_reward(reward, account, points)
    if account.balance < points:
        raise InsufficientPoints(balance=account.balance, wanted=points)
    redemption = _redemption_insert(
        Redemption(
            account=account,
            reward=reward,
            points=points,
            note=note.strip(),
            idempotency_key=key,
            actor=_user(actor),
            created_at=timezone.now(),
        )
    )
    ledger.debit(
        account=account,
        kind=LedgerEntry.Kind.REDEEM,
        points=points,
        actor=actor,
        note=note.strip(),
        redemption=redemption,
    )
    if reward is not None and reward.stock is not None:
        Reward.objects.filter(pk=reward.pk).update(stock=F("stock") - 1)
    return redemption


@writes
@transaction.atomic
def redemption_cancel(*, actor: User | None, redemption: Redemption) -> Redemption:
    """Give a redemption's points back to the lots they came from (and the reward its stock)."""
    account = ledger.account_lock(redemption.account_id)
    redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
    if redemption.status == Redemption.Status.CANCELLED:
        raise ValidationError(_("This redemption was already cancelled."))
    spent = LedgerEntry.objects.get(redemption=redemption, kind=LedgerEntry.Kind.REDEEM)
    ledger.give_back(
        account=account,
        entry=spent,
        kind=LedgerEntry.Kind.REDEEM_CANCEL,
        actor=actor,
        redemption=redemption,
    )
    if redemption.reward_id is not None:
        Reward.objects.filter(pk=redemption.reward_id, stock__isnull=False).update(
            stock=F("stock") + 1
        )
    redemption.status = Redemption.Status.CANCELLED
    redemption.cancelled_at = timezone.now()
    redemption.cancelled_by = _user(actor)
    redemption.save(update_fields=["status", "cancelled_at", "cancelled_by"])
    return redemption


def _apply(adjustment: Adjustment, account: Account, actor: User | None) -> None:
    if adjustment.points > 0:
        ledger.credit(
            account=account,
            kind=LedgerEntry.Kind.ADJUST,
            points=adjustment.points,
            actor=actor,
            note=adjustment.reason,
            adjustment=adjustment,
        )
    else:
        ledger.debit(
            account=account,
            kind=LedgerEntry.Kind.ADJUST,
            points=-adjustment.points,
            actor=actor,
            note=adjustment.reason,
            adjustment=adjustment,
        )


@writes
@transaction.atomic
def points_adjust(
    *, actor: User | None, customer: Customer, points: int, reason: str
) -> Adjustment:
    """Grant (points > 0) or deduct points by hand, with a reason. Above the programme's limit
    the adjustment waits for a second user's approval (adjustment_approve)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the points are adjusted.")})
    if points == 0:
        raise ValidationError({"points": _("Adjust by at least one point.")})
    if customer.erased_at is not None:
        raise ValidationError(_("This customer was erased."))
    account = ledger.account_open(customer=customer, actor=actor)
    over_limit = abs(points) > programme().adjustment_limit
    if not over_limit and points < 0 and account.balance < -points:
        raise InsufficientPoints(balance=account.balance, wanted=-points)
    adjustment = Adjustment.objects.create(
        account=account,
        points=points,
        reason=reason,
        status=Adjustment.Status.PENDING if over_limit else Adjustment.Status.APPLIED,
        requested_by=_user(actor),
        decided_by=None if over_limit else _user(actor),
        decided_at=None if over_limit else timezone.now(),
    )
    if not over_limit:
        _apply(adjustment, account, actor)
    return adjustment


def _pending(adjustment: Adjustment) -> tuple[Account, Adjustment]:
    account = ledger.account_lock(adjustment.account_id)
    adjustment = Adjustment.objects.select_for_update().get(pk=adjustment.pk)
    if adjustment.status != Adjustment.Status.PENDING:
        raise ValidationError(_("This adjustment was decided already."))
    return account, adjustment


@writes
@transaction.atomic
def adjustment_approve(*, actor: User | None, adjustment: Adjustment) -> Adjustment:
    """A second user (with "Adjust points above the limit") applies a pending adjustment."""
    account, adjustment = _pending(adjustment)
    user = _user(actor)
    if user is None or not user.has_perm(cap.perm(cap.POINTS_OVER_LIMIT)):
        raise ValidationError(_("Only staff who may adjust points above the limit can approve."))
    if adjustment.requested_by_id == user.pk:
        raise ValidationError(_("Someone other than the requester must approve an adjustment."))
    _apply(adjustment, account, actor)
    adjustment.status = Adjustment.Status.APPLIED
    adjustment.decided_by = user
    adjustment.decided_at = timezone.now()
    adjustment.save(update_fields=["status", "decided_by", "decided_at"])
    return adjustment


@writes
@transaction.atomic
def adjustment_reject(*, actor: User | None, adjustment: Adjustment) -> Adjustment:
    _account, adjustment = _pending(adjustment)
    adjustment.status = Adjustment.Status.REJECTED
    adjustment.decided_by = _user(actor)
    adjustment.decided_at = timezone.now()
    adjustment.save(update_fields=["status", "decided_by", "decided_at"])
    return adjustment


@writes
@transaction.atomic
def referral_link(*, actor: User | None, customer: Customer, code: str) -> None:
    """Record that `customer` was referred by the member whose referral code is `code`. The
    referrer earns the referral bonus when the customer's first order completes."""
    code = code.strip().upper()
    referrer = Account.objects.filter(referral_code=code).first() if code else None
    if referrer is None:
        raise ValidationError({"referral_code": _("No member has this referral code.")})
    if referrer.customer_id == customer.pk:
        raise ValidationError({"referral_code": _("A customer cannot refer themselves.")})
    account = ledger.account_open(customer=customer, actor=actor)
    referrer = Account.objects.select_for_update().get(pk=referrer.pk)
    if account.referred_by_id is not None:
        raise ValidationError({"referral_code": _("This customer was referred already.")})
    # Walk up from the referrer: meeting the customer would close a cycle.
    seen: set[int] = set()
    current: Account | None = referrer
    while current is not None and current.pk not in seen:
        if current.pk == account.pk:
            raise ValidationError(
                {"referral_code": _("This customer referred that member (directly or not).")}
            )
        seen.add(current.pk)
        current = current.referred_by
    Account.objects.filter(pk=account.pk).update(referred_by=referrer)


# New members referred by an import (customers.import_extensions): their accounts opened with
# the link in one statement; a customer with an account already is left as it is.
_REFERRED_OPEN_SQL = """
INSERT INTO loyalty_account (customer_id, balance, qualifying_points, tier_id, tier_since,
    referral_code, referred_by_id, created_at)
SELECT x.c, 0, 0, %(tier)s, %(since)s,
    upper(substr(md5(random()::text), 1, 4)) || upper(to_hex(x.c)), x.r, now()
FROM unnest(%(customers)s::bigint[], %(referrers)s::bigint[]) AS x(c, r)
ON CONFLICT (customer_id) DO NOTHING
RETURNING id
"""


def referral_codes_refused(codes: Collection[str]) -> dict[str, str]:
    """Of these codes (as typed), those no member has, with the reason (one query)."""
    wanted = {code: code.strip().upper() for code in codes}
    known = set(
        Account.objects.filter(referral_code__in=set(wanted.values())).values_list(
            "referral_code", flat=True
        )
    )
    return {
        code: _("No member has the referral code “%(code)s”.") % {"code": code}
        for code, normal in wanted.items()
        if normal not in known
    }


@writes
@transaction.atomic
def referrals_link_bulk(*, actor: User | None, pairs: Sequence[tuple[int, str]]) -> int:
    """Open the accounts of new customers referred by the members whose codes go with them,
    (customer id, code) pairs, set-based: one lookup, one insert, the sign-up bonuses in one
    statement. The referrer earns the bonus when the customer's first order completes
    (loyalty.orders). Self-referral and cycles cannot arise (the customers had no account, so
    no code); a customer with an account already keeps it as it is. The number linked."""
    if not pairs:
        return 0
    codes = sorted({code.strip().upper() for _customer, code in pairs})
    with connection.cursor() as cursor:
        # The referrers, kept from going away (an undo elsewhere) until this commits.
        cursor.execute(
            "SELECT referral_code, id FROM loyalty_account WHERE referral_code = ANY(%s)"
            " ORDER BY id FOR KEY SHARE",
            [codes],
        )
        referrers = dict(cursor.fetchall())
    unknown = sorted(set(codes) - set(referrers))
    if unknown:
        message = _("No member has the referral code “%(code)s”.") % {"code": unknown[0]}
        raise ValidationError({"referral_code": message})
    by_customer = {int(customer): referrers[code.strip().upper()] for customer, code in pairs}
    chosen = sorted(by_customer.items())
    tier = ledger.starting_tier()
    with connection.cursor() as cursor:
        cursor.execute(
            _REFERRED_OPEN_SQL,
            {
                "customers": [c for c, _r in chosen],
                "referrers": [r for _c, r in chosen],
                "tier": tier.pk if tier else None,
                "since": local_today() if tier else None,
            },
        )
        opened = [row[0] for row in cursor.fetchall()]
    bonus = programme().signup_bonus
    if opened and bonus:
        user = _user(actor)
        credits_write(
            SIGNUP_SRC, {"bonus": bonus, "accounts": opened, "actor": user.pk if user else None}
        )
    return len(opened)
