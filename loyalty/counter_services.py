"""What staff do at the counter, on top of the core's services (loyalty.services): each calls
the core's write and, in the same transaction, notes it on the customer's timeline. Undoing an
imported adjustment (loyalty.transfer_imports) is here too: the ledger is append-only, so undo
writes the opposite entry instead of removing one."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.accounts.models import User
from crm.lib.audit_actor import writes
from customers.models import Customer
from customers.services import timeline_event_add
from loyalty import ledger, services
from loyalty.models import Adjustment, LedgerEntry, Redemption, Reward

EVENT_REDEEM = "points_redeem"
EVENT_REDEEM_CANCEL = "points_redeem_cancel"
EVENT_ADJUST = "points_adjust"


def _reward_text(redemption: Redemption) -> str:
    return redemption.reward.name if redemption.reward else _("points only")


@writes
@transaction.atomic
def counter_redeem(
    *,
    actor: User | None,
    customer: Customer,
    points: int,
    reward: Reward | None,
    note: str,
    idempotency_key: str,
) -> Redemption:
    """Redeem at the counter (loyalty.services.points_redeem). The page's key makes a second
    click of the same form return the first redemption and note nothing twice."""
    seen = Redemption.objects.filter(idempotency_key=idempotency_key).exists()
    redemption = services.points_redeem(
        actor=actor,
        customer=customer,
        points=points,
        reward=reward,
        note=note,
        idempotency_key=idempotency_key,
    )
    if not seen:
        timeline_event_add(
            actor=actor,
            customer=customer,
            event=EVENT_REDEEM,
            title=_("Redeemed %(points)d points: %(reward)s")
            % {"points": redemption.points, "reward": _reward_text(redemption)},
            body=redemption.note,
        )
    return redemption


@writes
@transaction.atomic
def counter_redemption_cancel(*, actor: User | None, redemption: Redemption) -> Redemption:
    redemption = services.redemption_cancel(actor=actor, redemption=redemption)
    timeline_event_add(
        actor=actor,
        customer=redemption.account.customer,
        event=EVENT_REDEEM_CANCEL,
        title=_("Redemption #%(id)d cancelled: %(points)d points given back")
        % {"id": redemption.pk, "points": redemption.points},
    )
    return redemption


def _adjust_title(adjustment: Adjustment) -> str:
    if adjustment.status == Adjustment.Status.PENDING:
        return _("Adjustment of %(points)+d points asked for (awaiting approval)") % {
            "points": adjustment.points
        }
    if adjustment.status == Adjustment.Status.REJECTED:
        return _("Adjustment of %(points)+d points rejected") % {"points": adjustment.points}
    return _("Points adjusted by %(points)+d") % {"points": adjustment.points}


def _note(actor: User | None, adjustment: Adjustment) -> None:
    timeline_event_add(
        actor=actor,
        customer=adjustment.account.customer,
        event=EVENT_ADJUST,
        title=_adjust_title(adjustment),
        body=adjustment.reason,
    )


@writes
@transaction.atomic
def counter_adjust(
    *, actor: User | None, customer: Customer, points: int, reason: str
) -> Adjustment:
    adjustment = services.points_adjust(
        actor=actor, customer=customer, points=points, reason=reason
    )
    _note(actor, adjustment)
    return adjustment


@writes
@transaction.atomic
def counter_adjustment_decide(
    *, actor: User | None, adjustment: Adjustment, approve: bool
) -> Adjustment:
    if approve:
        adjustment = services.adjustment_approve(actor=actor, adjustment=adjustment)
    else:
        adjustment = services.adjustment_reject(actor=actor, adjustment=adjustment)
    _note(actor, adjustment)
    return adjustment


@writes
@transaction.atomic
def adjustment_undo(*, actor: User | None, adjustment: Adjustment, reason: str) -> None:
    """Take back an adjustment: a pending one is rejected; an applied one gets the opposite
    entry (an applied adjustment of its own, under no limit: it restores what was). A grant
    already spent cannot be taken back: ValidationError."""
    account = ledger.account_lock(adjustment.account_id)
    adjustment = Adjustment.objects.select_for_update().get(pk=adjustment.pk)
    if adjustment.status == Adjustment.Status.REJECTED:
        return
    if adjustment.status == Adjustment.Status.PENDING:
        services.adjustment_reject(actor=actor, adjustment=adjustment)
        return
    if adjustment.points > 0 and account.balance < adjustment.points:
        raise ValidationError(
            _("%(points)d points were granted and the balance is %(balance)d now.")
            % {"points": adjustment.points, "balance": account.balance}
        )
    user = actor if isinstance(getattr(actor, "pk", None), int) else None
    opposite = Adjustment.objects.create(
        account=account,
        points=-adjustment.points,
        reason=reason,
        status=Adjustment.Status.APPLIED,
        requested_by=user,
        decided_by=user,
        decided_at=timezone.now(),
    )
    if opposite.points > 0:
        ledger.credit(
            account=account,
            kind=LedgerEntry.Kind.ADJUST,
            points=opposite.points,
            actor=actor,
            note=reason,
            adjustment=opposite,
        )
    else:
        ledger.debit(
            account=account,
            kind=LedgerEntry.Kind.ADJUST,
            points=-opposite.points,
            actor=actor,
            note=reason,
            adjustment=opposite,
        )
