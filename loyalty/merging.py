"""Point accounts in customer merges (customers.merge.MergeHandler).

Merging: when only the dropped customer has an account, it becomes the survivor's. When both
have one, the dropped account's entries, lots, redemptions, adjustments, tier history and
referrals move to the survivor's, whose balance grows by the dropped balance; the dropped
account row is removed (its image kept for the undo). The survivor keeps its tier unless the
dropped one's was higher.

Undoing: the rows go back and the balances are split again. Refused when points that came
over were spent or expired since (the moved lots' remaining points changed): splitting the
balance again could not be right then."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext as _

from customers.models import Customer
from loyalty.models import (
    Account,
    Adjustment,
    LedgerEntry,
    Lot,
    ReconciliationIssue,
    Redemption,
    TierChange,
)

_MOVED = {
    "entries": LedgerEntry,
    "redemptions": Redemption,
    "adjustments": Adjustment,
    "tier_changes": TierChange,
    "issues": ReconciliationIssue,
}
_ACCOUNT_FIELDS = (
    "id",
    "balance",
    "qualifying_points",
    "tier_id",
    "tier_since",
    "below_tier_since",
    "referral_code",
    "referred_by_id",
    "created_at",
)


def _locked(customer_ids: list[int]) -> dict[int, Account]:
    return {
        a.customer_id: a
        for a in Account.objects.select_for_update(of=("self",))
        .filter(customer_id__in=customer_ids)
        .select_related("tier")
        .order_by("pk")
    }


def accounts_merge(keep: Customer, drop: Customer) -> dict[str, Any]:
    accounts = _locked([keep.pk, drop.pk])
    kept, dropped = accounts.get(keep.pk), accounts.get(drop.pk)
    if dropped is None:
        return {}
    if kept is None:
        Account.objects.filter(pk=dropped.pk).update(customer_id=keep.pk)
        return {"whole": dropped.pk}
    data: dict[str, Any] = {
        "kept": kept.pk,
        "account": {f: _json(getattr(dropped, f)) for f in _ACCOUNT_FIELDS},
        "kept_tier": [kept.tier_id, _json(kept.tier_since)],
        "kept_referred_by": kept.referred_by_id,
    }
    for key, model in _MOVED.items():
        rows = model._default_manager.filter(account_id=dropped.pk)
        data[key] = list(rows.values_list("pk", flat=True))
        rows.update(account_id=kept.pk)
    lots = Lot.objects.filter(account_id=dropped.pk)
    data["lots"] = [[pk, remaining] for pk, remaining in lots.values_list("pk", "remaining")]
    lots.update(account_id=kept.pk)
    referrals = Account.objects.filter(referred_by_id=dropped.pk).exclude(pk=kept.pk)
    data["referrals"] = list(referrals.values_list("pk", flat=True))
    referrals.update(referred_by_id=kept.pk)
    changes: dict[str, Any] = {
        "balance": kept.balance + dropped.balance,
        "qualifying_points": kept.qualifying_points + dropped.qualifying_points,
    }
    if kept.referred_by_id in (None, dropped.pk) and dropped.referred_by_id != kept.pk:
        changes["referred_by_id"] = dropped.referred_by_id
    if dropped.tier and (kept.tier is None or dropped.tier.position > kept.tier.position):
        changes["tier_id"], changes["tier_since"] = dropped.tier_id, dropped.tier_since
    Account.objects.filter(pk=dropped.pk).delete()
    Account.objects.filter(pk=kept.pk).update(**changes)
    return data


def accounts_merge_revert(keep: Customer, dropped_id: int, data: dict[str, Any]) -> None:
    if not data:
        return
    if "whole" in data:
        moved = Account.objects.select_for_update().filter(pk=data["whole"]).first()
        if moved is None or moved.customer_id != keep.pk:
            raise ValidationError(
                _("The merged points account changed since; it cannot be undone.")
            )
        Account.objects.filter(pk=moved.pk).update(customer_id=dropped_id)
        return
    kept = Account.objects.select_for_update().filter(pk=data["kept"], customer_id=keep.pk).first()
    lots = dict(
        Lot.objects.filter(pk__in=[pk for pk, _r in data["lots"]]).values_list("pk", "remaining")
    )
    unchanged = kept is not None and all(
        lots.get(pk) == remaining for pk, remaining in data["lots"]
    )
    if not unchanged or kept is None:
        raise ValidationError(
            _("Points the merge brought over were spent or expired since; it cannot be undone.")
        )
    image = data["account"]
    balance = int(image["balance"])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO loyalty_account (id, customer_id, balance, qualifying_points, tier_id,"
            " tier_since, below_tier_since, referral_code, referred_by_id, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                image["id"],
                dropped_id,
                balance,
                image["qualifying_points"],
                image["tier_id"],
                image["tier_since"],
                image["below_tier_since"],
                image["referral_code"],
                image["referred_by_id"],
                image["created_at"],
            ],
        )
    for key, model in _MOVED.items():
        model._default_manager.filter(pk__in=data[key]).update(account_id=image["id"])
    Lot.objects.filter(pk__in=[pk for pk, _r in data["lots"]]).update(account_id=image["id"])
    Account.objects.filter(pk__in=data["referrals"]).update(referred_by_id=image["id"])
    kept_tier, kept_since = data["kept_tier"]
    Account.objects.filter(pk=kept.pk).update(
        balance=kept.balance - balance,
        qualifying_points=kept.qualifying_points - int(image["qualifying_points"]),
        tier_id=kept_tier,
        tier_since=kept_since,
        referred_by_id=data["kept_referred_by"],
    )


def _json(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
